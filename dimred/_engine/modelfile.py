"""The model file: weights and scaler as safetensors tensors, everything else as JSON in its metadata.

Nothing is pickled: the file opens with the ``safetensors`` library alone, and its metadata says which plugin
and options rebuild the network. Loading checks the file against that description before any tensor is used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from dimred._core.atomic import write_bytes
from dimred._core.errors import DimredError
from dimred._engine.device import TORCH_DTYPES
from dimred._engine.scaling import Scaler

FORMAT = "dimred-model"
FORMAT_VERSION = 1
FILENAME = "model.safetensors"
MODEL_PREFIX = "model."
SCALER_PREFIX = "scaler."
JSON_FIELDS = ("model_options", "loss_options", "training", "feature_names", "dataset_options", "versions")


class ModelFileError(DimredError):
    """A model file that cannot be used, and why."""


def model_tensors(module: torch.nn.Module, scaler: Scaler) -> dict[str, torch.Tensor]:
    """The tensors a model file holds: copies on the CPU (parameters may be views into one shared buffer)."""
    tensors = {MODEL_PREFIX + key: value for key, value in module.state_dict().items()}
    tensors |= {SCALER_PREFIX + key: value for key, value in scaler.tensors().items()}
    return {key: value.detach().to("cpu", copy=True).contiguous() for key, value in tensors.items()}


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the tensors' names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def save_model(path: Path, module: torch.nn.Module, scaler: Scaler, description: dict[str, Any]) -> None:
    """Write the model file atomically. ``description`` values that are not strings are stored as JSON.

    Refuses weights that are not finite: a diverged model is never saved as a result.
    """
    tensors = model_tensors(module, scaler)
    broken = [name for name, tensor in tensors.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if broken:
        raise DimredError(f"not saving {path}: non-finite values in {', '.join(broken)}")
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "scaler": scaler.kind,
                "sha256": tensors_digest(tensors)}  # fmt: skip
    metadata |= {key: value if isinstance(value, str) else json.dumps(value) for key, value in description.items()}
    write_bytes(path, save(tensors, metadata=metadata))


def package_versions() -> dict[str, str]:
    def version(distribution: str) -> str:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    return {name: version(name) for name in ("dimred", "torch", "numpy", "safetensors")}


def describe_model(
    model: str,
    model_options: dict[str, Any],
    loss: str,
    loss_options: dict[str, Any],
    n_features: int,
    n_components: int,
    feature_names: Sequence[str] | None,
    dtype: str,
    training: dict[str, Any],
    **provenance: Any,
) -> dict[str, Any]:
    """The metadata that rebuilds a trained network: plugin names and options, widths, training settings."""
    return {
        "model": model,
        "model_options": model_options,
        "loss": loss,
        "loss_options": loss_options,
        "n_features": str(n_features),
        "n_components": str(n_components),
        "feature_names": None if feature_names is None else [str(name) for name in feature_names],
        "dtype": dtype,
        "training": training,
        "versions": package_versions(),
        **provenance,
    }


@dataclass(frozen=True)
class ModelFile:
    """What a model file says: its metadata (JSON fields decoded) and its tensors."""

    path: Path
    metadata: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    def model_state(self) -> dict[str, torch.Tensor]:
        return {key[len(MODEL_PREFIX) :]: value for key, value in self.tensors.items() if key.startswith(MODEL_PREFIX)}

    def fail(self, problem: str) -> ModelFileError:
        return ModelFileError(f"model file {self.path}: {problem}")


def resolve_path(path: str | Path) -> Path:
    """A run directory stands for the model file inside it."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.exists():
        raise ModelFileError(f"no model file at {path}")
    return path


def read_model_file(path: str | Path) -> ModelFile:
    """Open a model file and check its header; a file that is not a dimred model says what it is not."""
    path = resolve_path(path)
    try:
        with safe_open(path, framework="pt") as opened:
            metadata = dict(opened.metadata() or {})
            tensors = {key: opened.get_tensor(key) for key in opened.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"model file {path}: not a readable safetensors file ({error})") from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"model file {path}: not a dimred model (no format '{FORMAT}' in its metadata)")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(
            f"model file {path}: format version {metadata.get('format_version')!r} is not one this dimred reads "
            f"({FORMAT_VERSION})"
        )
    for key in JSON_FIELDS:
        if key in metadata:
            try:
                metadata[key] = json.loads(metadata[key])
            except json.JSONDecodeError:
                raise ModelFileError(f"model file {path}: metadata field '{key}' is not valid JSON") from None
    for key in ("model", "n_features", "dtype", "scaler", "sha256"):
        if key not in metadata:
            raise ModelFileError(f"model file {path}: metadata field '{key}' is missing")
    if tensors_digest(tensors) != metadata["sha256"]:
        raise ModelFileError(f"model file {path}: its tensors do not match the checksum saved with them (altered?)")
    broken = [name for name, tensor in tensors.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if broken:
        raise ModelFileError(f"model file {path}: non-finite values (NaN or infinity) in {', '.join(sorted(broken))}")
    return ModelFile(path, metadata, tensors)


def restore_scaler(model_file: ModelFile, n_features: int, device: torch.device, dtype: torch.dtype) -> Scaler:
    parts = {}
    for name in ("offset", "factor"):
        tensor = model_file.tensors.get(SCALER_PREFIX + name)
        if tensor is None:
            raise model_file.fail(f"tensor '{SCALER_PREFIX}{name}' is missing")
        if tuple(tensor.shape) != (n_features,):
            raise model_file.fail(
                f"tensor '{SCALER_PREFIX}{name}' has shape {tuple(tensor.shape)}, expected ({n_features},)"
            )
        parts[name] = tensor.to(device=device, dtype=dtype)
    return Scaler(model_file.metadata["scaler"], parts["offset"], parts["factor"])


def restore_module(model_file: ModelFile, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Load the file's weights into ``module`` (freshly built from the metadata) after checking names and shapes."""
    dtype_name = model_file.metadata["dtype"]
    if dtype_name not in TORCH_DTYPES:
        raise model_file.fail(f"unknown dtype '{dtype_name}'")
    expected = module.state_dict()
    found = model_file.model_state()
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        details = [
            f"missing tensors {missing}" if missing else "",
            f"unexpected tensors {unexpected}" if unexpected else "",
        ]
        raise model_file.fail(
            "its tensors do not match the network its metadata describes: " + "; ".join(filter(None, details))
        )
    for name, tensor in expected.items():
        if found[name].shape != tensor.shape:
            raise model_file.fail(
                f"tensor '{MODEL_PREFIX}{name}' has shape {tuple(found[name].shape)}, "
                f"the network needs {tuple(tensor.shape)}"
            )
    module = module.to(device=device, dtype=TORCH_DTYPES[dtype_name])
    module.load_state_dict(found)
    return module.eval()
