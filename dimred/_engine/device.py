"""Choosing the torch device and dtype a run computes on."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import numpy as np
import torch

from dimred._core.defaults import DEVICES
from dimred._core.errors import UsageError
from dimred._core.settings import device_name
from dimred._io.validation import DataError, beyond_range

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(requested: str | torch.device) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; naming an absent accelerator is an error."""
    requested = device_name(requested)
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": _mps_available()}
    if requested not in available:
        raise UsageError(f"unknown device '{requested}'; choose from: {', '.join(DEVICES)}")
    if not available[requested]:
        usable = ", ".join(name for name in DEVICES if name == "auto" or available.get(name))
        raise UsageError(f"device '{requested}' is not available on this machine; usable here: {usable}")
    return torch.device(requested)


def as_tensor(
    X: np.ndarray,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    what: str = "the data",
    first_row: int = 0,
) -> torch.Tensor:
    """The caller's rows as a tensor on ``device`` in ``dtype``; the caller's array is never modified.

    Read-only input (memory maps) is copied first: torch wants writable memory. ``what`` names the rows in the
    error about a value ``dtype`` cannot hold, counted from ``first_row`` (the rows of a chunk of ``what``).
    """
    tensor = torch.as_tensor(np.require(X, requirements=["C", "W"]), device=device)
    if dtype is None:
        return tensor
    converted = tensor.to(dtype)
    if tensor.is_floating_point() and torch.finfo(dtype).max < torch.finfo(tensor.dtype).max:
        _check_range(tensor, converted, what, first_row)
    return converted


def _check_range(original: torch.Tensor, converted: torch.Tensor, what: str, first_row: int) -> None:
    """Refuse finite values that the narrower dtype turns into inf (1e39 in float32), naming the first one."""
    overflow = torch.isinf(converted) & torch.isfinite(original)
    if overflow.any():
        row, column = (int(index) for index in overflow.reshape(len(original), -1).nonzero()[0])
        value = float(original.reshape(len(original), -1)[row, column])
        raise DataError(
            f"{what} has {value:.4g} at row {first_row + row}, column {column} (counting from 0), "
            f"{beyond_range(str(converted.dtype).removeprefix('torch.'))}"
        )


_GLOBAL_RNG_LOCK = threading.RLock()


def _new_lock_after_fork() -> None:
    """A child forked while a thread of the parent held the lock gets a free one (that thread is not there)."""
    global _GLOBAL_RNG_LOCK
    _GLOBAL_RNG_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_new_lock_after_fork)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Torch's global random generator (dropout masks, a plugin's first weights) seeded with ``seed`` inside, and
    the caller's state put back after. The generator is the process's: fits that overlap in threads take turns
    here, since each would otherwise draw from the other's stream and the same seed would give other codes (so a
    plugin must not wait inside a fit for a fit in another thread: that one waits for it)."""
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


_DEFAULT_DTYPE_LOCK = threading.Lock()
_default_dtype_users = 0
_callers_default_dtype = torch.float32


@contextlib.contextmanager
def torch_default_dtype() -> Iterator[None]:
    """Torch's own default dtype (float32) inside, whatever the caller set with ``torch.set_default_dtype``: the
    tensors a plugin makes without naming a dtype (its layers' first weights, its constants) are then the same,
    so a seed trains the same codes, and layers built in float64 meet float32 rows nowhere. The setting is the
    process's: fits that overlap in threads share it, and the last to end puts the caller's back."""
    global _default_dtype_users, _callers_default_dtype
    with _DEFAULT_DTYPE_LOCK:
        if _default_dtype_users == 0:
            _callers_default_dtype = torch.get_default_dtype()
            torch.set_default_dtype(torch.float32)
        _default_dtype_users += 1
    try:
        yield
    finally:
        with _DEFAULT_DTYPE_LOCK:
            _default_dtype_users -= 1
            if _default_dtype_users == 0:
                torch.set_default_dtype(_callers_default_dtype)


def computes_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively: CUDA GPUs from Ampere on, CPUs whose oneDNN has bfloat16
    kernels (AVX-512 or AMX on x86, bf16 on Arm); elsewhere bfloat16 layers are emulated and slower."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)  # private, so looked up with care
    return bool(supported is not None and supported())


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The floating-point type to train in; MPS has no float64."""
    if name == "float64" and device.type == "mps":
        raise UsageError("dtype float64 is not supported on the mps device; use float32")
    return TORCH_DTYPES[name]


def available_here(requested: str) -> bool:
    """Whether ``requested`` (a device setting) names a device this machine has."""
    try:
        resolve_device(requested)
    except UsageError:
        return False
    return True
