"""The model file: weights and scaler as safetensors tensors, everything else as JSON in its metadata.

Nothing is pickled: the file opens with the ``safetensors`` library alone, and its metadata says which plugin
and options rebuild the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from dimred.atomic import write_bytes
from dimred.engine.scaling import Scaler

FORMAT = "dimred-model"
FORMAT_VERSION = 1
MODEL_PREFIX = "model."
SCALER_PREFIX = "scaler."


def model_tensors(module: torch.nn.Module, scaler: Scaler) -> dict[str, torch.Tensor]:
    """The tensors a model file holds: copies on the CPU (parameters may be views into one shared buffer)."""
    tensors = {MODEL_PREFIX + key: value for key, value in module.state_dict().items()}
    tensors |= {SCALER_PREFIX + key: value for key, value in scaler.tensors().items()}
    return {key: value.detach().to("cpu", copy=True).contiguous() for key, value in tensors.items()}


def save_model(path: Path, module: torch.nn.Module, scaler: Scaler, description: dict[str, Any]) -> None:
    """Write the model file atomically. ``description`` values that are not strings are stored as JSON."""
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "scaler": scaler.kind}
    metadata |= {key: value if isinstance(value, str) else json.dumps(value) for key, value in description.items()}
    write_bytes(path, save(model_tensors(module, scaler), metadata=metadata))
