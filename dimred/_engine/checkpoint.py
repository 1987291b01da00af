"""Training checkpoints: safetensors tensors (weights, optimizer moments, RNG states) plus JSON facts, no pickle."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from dimred._core.atomic import write_bytes
from dimred._core.errors import DimredError
from dimred._core.runfiles import CHECKPOINT_FORMAT

FORMAT_VERSION = "1"


def write_checkpoint(path: Path, tensors: dict[str, torch.Tensor], facts: dict[str, Any]) -> None:
    """Replace the checkpoint at ``path`` atomically: a kill leaves the previous one or this one."""
    tensors = {key: value.detach().to("cpu", copy=True).contiguous() for key, value in tensors.items()}
    metadata = {"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, "facts": json.dumps(facts)}
    write_bytes(path, save(tensors, metadata=metadata))


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.exists():
        raise DimredError(f"{path.parent} has no checkpoint to resume from: the run saved none before it stopped "
                          "(one every checkpoint_every=N steps, --checkpoint-every N); start it again there with "
                          "overwrite=True (--overwrite)")  # fmt: skip
    try:
        with safe_open(path, framework="pt") as opened:
            metadata = opened.metadata() or {}
            tensors = {key: opened.get_tensor(key) for key in opened.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError) as error:
        raise DimredError(f"checkpoint {path} is not readable ({error})") from None
    if metadata.get("format") != CHECKPOINT_FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise DimredError(f"{path} is not a dimred checkpoint of format version {FORMAT_VERSION}")
    if nan := next((key for key, tensor in tensors.items() if tensor.is_floating_point() and tensor.isnan().any()), 0):
        # a resume had trained on from it and blamed the model's learning rate for the NaN loss that followed
        raise DimredError(f"checkpoint {path} holds NaN in {nan}: it is damaged, or training had diverged before it "
                          "was saved; start the run again there with overwrite=True (--overwrite), at a lower learning "
                          "rate if it diverged")  # fmt: skip
    return tensors, _checked_facts(path, metadata.get("facts"))


# What a checkpoint's facts hold where they hold it (training.py's and callbacks.py's), each of one kind
_FACT_KINDS = {"step": int, "logged_step": int, "optimizer_steps": int, "history": list, "data": str,
               "callbacks": dict, "stop_reason": str, "config": dict}  # fmt: skip


def _checked_facts(path: Path, text: Any) -> dict[str, Any]:
    """The JSON facts of the checkpoint at ``path``, refused as damaged where they are not what dimred writes (a
    resume had failed with 'unexpected KeyError', or trained on from a history of NaN and exited 0)."""
    try:
        facts = json.loads(text)
    except (TypeError, ValueError, RecursionError):  # none, not JSON, nested too deeply, a number too long
        facts = None
    if not (isinstance(facts, dict) and "step" in facts and _as_written(facts)):
        raise DimredError(f"checkpoint {path} is damaged: its facts (step, history, settings) are not what dimred "
                          "writes; start the run again there with overwrite=True (--overwrite)")  # fmt: skip
    return facts


def _as_written(facts: dict[str, Any]) -> bool:
    """Whether each of the facts is of its kind, and the history holds finite losses alone."""
    kinds = all(facts.get(key) is None or isinstance(facts[key], kind) for key, kind in _FACT_KINDS.items())
    return kinds and all(isinstance(row, dict) and all(_finite(value) for value in row.values())
                         for row in facts.get("history") or [])  # fmt: skip


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
