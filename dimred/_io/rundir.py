"""The run directory: where a run's artifacts go, each written atomically."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dimred._core.atomic import write_text
from dimred._core.errors import UsageError

RUNS_FOLDER = Path("runs")


def timestamped_directory(parent: Path, name: str) -> Path:
    """``parent/<name>-<timestamp>``, with a counter added if that name is taken."""
    stem = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate, counter = parent / stem, 1
    while candidate.exists():
        counter += 1
        candidate = parent / f"{stem}-{counter}"
    return candidate


def default_run_directory(dataset: str, model: str) -> Path:
    """``runs/<dataset>-<model>-<timestamp>``, with a counter added if that name is taken."""
    return timestamped_directory(RUNS_FOLDER, f"{dataset}-{model}")


def prepare_run_directory(path: Path, *, overwrite: bool) -> Path:
    """Create the run directory; an existing non-empty one is used only with ``overwrite``."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path} is a file, not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise UsageError(
            f"run directory {path} already exists and is not empty; choose another --out or pass --overwrite"
        )
    path.mkdir(parents=True, exist_ok=True)
    remove_stray_temporaries(path)
    return path


def remove_stray_temporaries(path: Path) -> None:
    """Delete temporary files that a killed run left behind (``atomic_path``'s ``.NAME.XXXX.tmp*`` files)."""
    for stray in path.glob(".*.tmp*"):
        if stray.is_file():
            stray.unlink()


def write_json(path: Path, content: Any) -> None:
    """Strict JSON: a value that is not a finite number is written as null, never as a bare NaN token."""
    write_text(path, json.dumps(_finite(content), indent=2, sort_keys=False, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_history(path: Path, history: Sequence[dict[str, float]]) -> None:
    """The loss history as CSV, one row per logging interval."""
    buffer = io.StringIO()
    if history:
        writer = csv.DictWriter(buffer, fieldnames=list(history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
    write_text(path, buffer.getvalue())
