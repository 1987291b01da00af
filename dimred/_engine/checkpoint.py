"""Training checkpoints: safetensors tensors (weights, optimizer moments, RNG states) plus JSON facts, no pickle."""

from __future__ import annotations

import json
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
    return tensors, json.loads(metadata["facts"])
