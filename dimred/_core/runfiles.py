"""The files dimred keeps in a run folder for itself: while a run is unfinished, its checkpoint and failure note
(not results to hand on), and always the list of the files the runs there wrote."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

FAILED_MARKER = "FAILED.txt"  # says why the run did not finish, and how to continue it
CHECKPOINT_NAME = "checkpoint.safetensors"  # the engine's checkpoint file: dropped when a failed run is replaced
UNFINISHED_RUN_FILES = frozenset({FAILED_MARKER, CHECKPOINT_NAME})
MANIFEST_NAME = ".dimred-files.json"  # the files the runs in a folder wrote (dimred._io.written keeps it)


def listed_files(folder: Path) -> list[str]:
    """The relative paths the folder's list names; an unreadable or edited list names nothing outside it."""
    try:
        names = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(names, list):
        return []
    return [name for name in names if isinstance(name, str) and name and _relative(PurePosixPath(name))]


def _relative(path: PurePosixPath) -> bool:
    return not path.is_absolute() and ".." not in path.parts
