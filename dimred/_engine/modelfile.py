"""The model file: weights and scaler as safetensors tensors, everything else as JSON in its metadata.

Nothing is pickled: the file opens with the ``safetensors`` library alone, and its metadata says which plugin
and options rebuild the network. Loading checks the file against that description before any tensor is used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load, save

from dimred._core.defaults import SCALERS
from dimred._core.errors import DimredError, UsageError
from dimred._core.jsonable import json_ready_fields
from dimred._core.runfiles import (
    CHECKPOINT_NAME,
    COMPARISON_TABLE_FILES,
    CONFIG_FILE,
    FAILED_MARKER,
    METRICS_FILE,
    MODEL_FILE,
    MODELS_FOLDER,
)
from dimred._engine.device import TORCH_DTYPES
from dimred._engine.scaling import Scaler

FORMAT = "dimred-model"
FORMAT_VERSION = 1
MODEL_PREFIX = "model."
SCALER_PREFIX = "scaler."
# The JSON fields and the JSON type each must have (a forged file may hold a list where an object belongs).
JSON_FIELDS = {"model_options": dict, "loss_options": dict, "training": dict, "requested": dict,
               "feature_names": list, "dataset_options": dict, "versions": dict}  # fmt: skip
READ_PROVENANCE = {"dataset": str, "dataset_options": dict}  # provenance fields dimred itself reads back
REQUIRED = ("model", "n_features", "dtype", "scaler", "sha256")
OWN_FIELDS = {"format", "format_version", "scaler", "sha256", "model", "model_options", "loss", "loss_options",
              "n_features", "n_components", "feature_names", "dtype", "training", "requested", "versions"}  # fmt: skip
MAX_INTEGER = 2**63 - 1  # torch sizes and numpy integers are 64-bit: larger numbers overflow inside them


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


def model_bytes(module: torch.nn.Module, scaler: Scaler, description: dict[str, Any], name: str | Path) -> bytes:
    """The model file's bytes. ``description`` values that are not strings are stored as JSON.

    Refuses weights that are not finite: a diverged model is never saved as a result (``name`` says where to).
    """
    tensors = model_tensors(module, scaler)
    broken = [name for name, tensor in tensors.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if broken:
        raise DimredError(f"not saving {name}: non-finite values in {', '.join(broken)}")
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "scaler": scaler.kind,
                "sha256": tensors_digest(tensors)}  # fmt: skip
    metadata |= {key: value if isinstance(value, str) else json.dumps(value) for key, value in description.items()}
    return _sorted_header(save(tensors, metadata=metadata))


def _sorted_header(blob: bytes) -> bytes:
    """The same safetensors file with its JSON header's keys in sorted order. safetensors writes the metadata in
    an order that changes from process to process, so two identical models would otherwise differ byte for byte
    (and in checksum). The header is the 8-byte little-endian length, then JSON padded with spaces to a multiple
    of 8 bytes; the tensors' offsets count from its end, so they stay valid."""
    length = int.from_bytes(blob[:8], "little")
    header = json.dumps(json.loads(blob[8 : 8 + length]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + blob[8 + length :]


BASE_PACKAGES = ("dimred", "torch", "numpy", "scikit-learn", "safetensors")  # what a run may compute with


def package_versions(*plugin_packages: str) -> dict[str, str]:
    """The versions of dimred's own packages, and of the packages that provided a plugin (a model file records
    its model plugin's, so that one that is not installed where it is loaded can be named)."""

    def version(distribution: str) -> str:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    return {name: version(name) for name in dict.fromkeys((*BASE_PACKAGES, *plugin_packages))}


def check_provenance(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """Fields a caller adds to a model file's metadata (the data set it was trained on...) as JSON holds them; a
    name the file's own metadata uses, or a value JSON cannot hold, is a UsageError."""
    clashing = sorted(set(provenance) & OWN_FIELDS)
    if clashing:
        raise UsageError(f"'{clashing[0]}' is a field of the model file's own metadata; give the provenance "
                         f"another name (taken: {', '.join(sorted(OWN_FIELDS))})")  # fmt: skip
    for name, value in provenance.items():  # the fields dimred reads back must be what reading expects
        kind = READ_PROVENANCE.get(name)
        if kind is not None and not isinstance(value, kind):
            raise UsageError(f"provenance {name} must be a {kind.__name__}, as dimred reads it back, not "
                             f"{type(value).__name__} ({value!r})")  # fmt: skip
    return json_ready_fields(provenance, lambda name, why: UsageError(
        f"provenance {name} is {why}; a model file's metadata holds text, finite numbers, and lists and dicts of "
        "them"))  # fmt: skip


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
    requested: dict[str, Any] | None,
    model_package: str | None = None,
    **provenance: Any,
) -> dict[str, Any]:
    """The metadata that rebuilds a trained network: plugin names and options, widths, training settings,
    (``requested``) the options and settings as the fit was given them, before dimred chose for the data, and the
    versions of the packages, the model plugin's (``model_package``) among them."""
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
        **({} if requested is None else {"requested": requested}),
        "versions": package_versions(*([model_package] if model_package else [])),
        **provenance,
    }


@dataclass(frozen=True)
class ModelFile:
    """What a model file says: its metadata (JSON fields decoded) and its tensors. ``path`` names where it came
    from in messages (a pickled Reducer's model has no file)."""

    path: Path | str
    metadata: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    def model_state(self) -> dict[str, torch.Tensor]:
        return {key[len(MODEL_PREFIX) :]: value for key, value in self.tensors.items() if key.startswith(MODEL_PREFIX)}

    def fail(self, problem: str) -> ModelFileError:
        return ModelFileError(f"model file {self.path}: {problem}")

    @property
    def n_features(self) -> int:
        return int(self.metadata["n_features"])

    @property
    def stored_values(self) -> int:
        """How many numbers the file holds: no width or count of the network it describes can be larger."""
        return sum(tensor.numel() for tensor in self.tensors.values())


def resolve_path(path: str | Path) -> Path:
    """A run directory stands for the model file inside it."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.exists():
        why = _why_none(path.parent) if path.name == MODEL_FILE else ""
        raise ModelFileError(f"no model file at {path}{why}")
    return path


def _why_none(folder: Path) -> str:
    """For a run directory without a model file: that the run did not finish (and how to go on where it can), or
    which model the run used, and why such a run keeps none; for a comparison's folder, where its models are."""
    if any((folder / name).exists() for name in COMPARISON_TABLE_FILES):
        return (f": {folder} is a comparison's folder; compare --save keeps each model there as "
                f"{MODELS_FOLDER}/MODEL.safetensors")  # fmt: skip
    if (folder / CHECKPOINT_NAME).exists():  # a killed run leaves no marker, one that failed marks its folder
        return f": the run there did not finish; continue it with dimred run --resume {folder}"
    if (folder / FAILED_MARKER).exists():
        return ": the run there did not finish; run it again"
    try:
        model = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))["model"]["name"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return ""
    if not (folder / METRICS_FILE).exists():
        return f": the run there did not finish (it trained model '{model}'); run it again"
    return (f": the run trained model '{model}', which keeps no model file when its fitted state is the training "
            "set itself (such as Isomap's or t-SNE's), or the file was removed since")  # fmt: skip


def read_model_file(path: str | Path) -> ModelFile:
    """Open a model file and check it (see ``check_model_file``); a file that is not a dimred model says what it
    is not."""
    path = resolve_path(path)
    if path.is_dir():  # safetensors would say 'No such device (os error 19)'
        raise ModelFileError(f"model file {path} is a folder, not a model file")
    try:
        path.open("rb").close()  # safetensors says 'No such file or directory' of a file it may not read
    except PermissionError:
        raise ModelFileError(f"model file {path} is not readable (permission denied)") from None
    except OSError:
        pass  # safetensors' own message follows
    try:
        with safe_open(path, framework="pt") as opened:
            metadata = dict(opened.metadata() or {})
            tensors = {key: opened.get_tensor(key) for key in opened.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"model file {path}: not a readable safetensors file ({error})") from None
    return check_model_file(ModelFile(path, metadata, tensors))


def read_model_bytes(data: bytes, name: str) -> ModelFile:
    """A model file's bytes (as ``model_bytes`` makes them), checked like a file; ``name`` stands for it in
    messages."""
    try:
        tensors = load(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])  # validated by load()
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"model file {name}: not a readable safetensors file ({error})") from None
    return check_model_file(ModelFile(name, dict(header.get("__metadata__") or {}), tensors))


def check_model_file(model_file: ModelFile) -> ModelFile:
    """Check everything the file says before anything is built from it: its format, the JSON and the type of
    every metadata field, the checksum, finite tensors, counts within what the file stores, the scaler."""
    metadata = model_file.metadata
    if metadata.get("format") != FORMAT:
        raise model_file.fail(f"not a dimred model (no format '{FORMAT}' in its metadata)")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise model_file.fail(
            f"format version {metadata.get('format_version')!r} is not one this dimred reads ({FORMAT_VERSION})"
        )
    _decode_json_fields(model_file)
    for key in REQUIRED:
        if key not in metadata:
            raise model_file.fail(f"metadata field '{key}' is missing")
    if tensors_digest(model_file.tensors) != metadata["sha256"]:
        raise model_file.fail("its tensors do not match the checksum saved with them (altered?)")
    tensors = model_file.tensors
    broken = [name for name, tensor in tensors.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if broken:
        raise model_file.fail(f"non-finite values (NaN or infinity) in {', '.join(sorted(broken))}")
    _check_descriptions(model_file)
    _check_scaler(model_file)
    return model_file


def _decode_json_fields(model_file: ModelFile) -> None:
    for key, kind in JSON_FIELDS.items():
        if key not in model_file.metadata:
            continue
        try:
            value = json.loads(model_file.metadata[key])
        except (ValueError, TypeError, RecursionError):  # ValueError: JSON's, or a whole number of 4 300+ digits
            raise model_file.fail(f"metadata field '{key}' is not valid JSON") from None
        if not isinstance(value, kind) and not (key == "feature_names" and value is None):
            expected = "an object" if kind is dict else "a list"
            raise model_file.fail(f"metadata field '{key}' must be {expected}, not {type(value).__name__}")
        model_file.metadata[key] = value


def _numbers(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(where, number) for every number inside a JSON value."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _numbers(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{where}[{index}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield where, value


def _check_descriptions(model_file: ModelFile) -> None:
    """The fields the network is rebuilt from, within bounds: the checked numbers cannot overflow, allocate more
    than the file holds, or disagree with the tensors."""
    metadata = model_file.metadata
    for key in ("dtype", "scaler", "model"):
        if not isinstance(metadata[key], str):
            raise model_file.fail(f"metadata field '{key}' must be a string")
    if metadata["dtype"] not in TORCH_DTYPES:
        raise model_file.fail(f"unknown dtype '{metadata['dtype']}'; dimred writes {', '.join(TORCH_DTYPES)}")
    if metadata["scaler"] not in SCALERS:
        raise model_file.fail(f"unknown scaler '{metadata['scaler']}'; dimred writes {', '.join(SCALERS)}")
    for key in ("n_features", "n_components"):
        _check_count(model_file, key)
    for key in ("model_options", "loss_options", "training", "requested"):
        for where, number in _numbers(metadata.get(key), key):
            if not math.isfinite(number):
                raise model_file.fail(f"metadata value {where} = {number} is not a finite number")
            if abs(number) > MAX_INTEGER:
                raise model_file.fail(f"metadata value {where} = {number} is out of range (at most {MAX_INTEGER})")
    names = metadata.get("feature_names")
    if names is not None and (len(names) != model_file.n_features or not all(isinstance(n, str) for n in names)):
        raise model_file.fail(f"metadata field 'feature_names' must be {model_file.n_features} strings")


def _check_count(model_file: ModelFile, key: str) -> None:
    """A width such as n_features: a whole number from 1 to the number of values the file stores."""
    text = model_file.metadata.get(key)
    if text is None and key != "n_features":
        return
    limit = model_file.stored_values
    if not (isinstance(text, str) and text.isdecimal() and len(text) <= 19 and 1 <= int(text) <= limit):
        raise model_file.fail(
            f"metadata field '{key}' must be a whole number from 1 to {limit} (the values the file holds), not {text!r}"
        )


def _check_scaler(model_file: ModelFile) -> None:
    n_features = model_file.n_features
    parts = {}
    for name in ("offset", "factor"):
        tensor = model_file.tensors.get(SCALER_PREFIX + name)
        if tensor is None:
            raise model_file.fail(f"tensor '{SCALER_PREFIX}{name}' is missing")
        if tuple(tensor.shape) != (n_features,):
            raise model_file.fail(
                f"tensor '{SCALER_PREFIX}{name}' has shape {tuple(tensor.shape)}, expected ({n_features},)"
            )
        parts[name] = tensor
    problem = Scaler(model_file.metadata["scaler"], parts["offset"], parts["factor"]).problem()
    if problem is not None:
        raise model_file.fail(f"its scaler is not one fitted on data: {problem}")


def check_option_sizes(model_file: ModelFile) -> None:
    """For a network that cannot be built on the meta device first: every whole number in the model options must
    fit in what the file stores (a width larger than that cannot describe this file's tensors)."""
    limit = model_file.stored_values
    for where, number in _numbers(model_file.metadata.get("model_options"), "model_options"):
        if abs(number) > limit:
            raise model_file.fail(f"metadata value {where} = {number} is larger than the {limit} values the file holds")


class Slot(NamedTuple):
    """What a network holds under one name of its state dict: the shape, and whether of floating-point numbers
    (a batch norm's count of batches is a whole number)."""

    shape: tuple[int, ...]
    floating: bool


def check_network(model_file: ModelFile, slots: Mapping[str, Slot]) -> None:
    """The file's model tensors must be exactly the network's (``slots``, its state dict's): names, shapes, and
    floating-point numbers of the metadata's type where the network holds floating-point numbers, none elsewhere."""
    state = model_file.model_state()
    missing = sorted(set(slots) - set(state))
    extra = sorted(set(state) - set(slots))
    if missing or extra:
        details = [
            f"missing tensors {missing}" if missing else "",
            f"tensors the network has no place for {extra}" if extra else "",
        ]
        raise model_file.fail(
            "its tensors do not match the network its metadata describes: " + "; ".join(filter(None, details))
        )
    dtype = TORCH_DTYPES[model_file.metadata["dtype"]]
    for name, slot in slots.items():
        tensor, full_name = state[name], MODEL_PREFIX + name
        if tuple(tensor.shape) != slot.shape:
            raise model_file.fail(
                f"tensor '{full_name}' has shape {tuple(tensor.shape)}, the network needs {slot.shape}"
            )
        found = str(tensor.dtype).removeprefix("torch.")
        if slot.floating and tensor.dtype != dtype:
            raise model_file.fail(f"tensor '{full_name}' is {found}, but the metadata says the network is "
                                  f"{model_file.metadata['dtype']}")  # fmt: skip
        if not slot.floating and tensor.is_floating_point():
            raise model_file.fail(f"tensor '{full_name}' is {found}, but the network holds whole numbers there")


def network_slots(module: torch.nn.Module) -> dict[str, Slot]:
    return {name: Slot(tuple(tensor.shape), tensor.is_floating_point()) for name, tensor in module.state_dict().items()}


def restore_scaler(model_file: ModelFile, device: torch.device, dtype: torch.dtype) -> Scaler:
    """The file's scaler (checked when the file was read) on ``device`` in ``dtype``."""
    offset, factor = (model_file.tensors[SCALER_PREFIX + name].to(device=device, dtype=dtype)
                      for name in ("offset", "factor"))  # fmt: skip
    return Scaler(model_file.metadata["scaler"], offset, factor)


def restore_module(model_file: ModelFile, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Load the file's weights into ``module`` (freshly built from the metadata) after checking names and shapes."""
    check_network(model_file, network_slots(module))
    module = module.to(device=device, dtype=TORCH_DTYPES[model_file.metadata["dtype"]])
    module.load_state_dict(model_file.model_state())
    return module.eval()
