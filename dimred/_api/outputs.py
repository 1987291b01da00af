"""Checks of what a fitted model gives before anything is scored or saved: one finite code per row, finite
reconstructions of the rows' shape, a one-call model's outputs as real numbers, and its saved state computing what
it computed."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dimred._core.contracts import EstimatorModel, Model
from dimred._core.errors import PluginError, blame

# a one-call model's saved state is checked on every row, this many values at a time: at once, a million rows of
# 100 columns had their reconstructions and the comparison's temporaries set the run's peak memory
CHECKED_VALUES = 1 << 22


def saved_module(plugin: EstimatorModel, X: torch.Tensor, transformed: torch.Tensor, codes: torch.Tensor,
                  back: torch.Tensor | None) -> torch.nn.Module | None:  # fmt: skip
    """A one-call model's fitted state as a module (``fitted_module``), checked as ``dimred.load`` will use it:
    built again by ``build`` with the state loaded, it must encode the rows ``X`` as ``transform`` did
    (``transformed``) and decode their ``codes`` as ``inverse_transform`` did (``back``, None without an
    inverse), else its model file would compute other values than the run reports, with exit 0. None: nothing to
    save."""
    with blame(plugin, "give its fitted state as a module (fitted_module)"):
        module = plugin.fitted_module()
    if module is None:
        return None
    if not isinstance(module, torch.nn.Module) or not all(hasattr(module, name) for name in ("encode", "decode")):
        raise PluginError(f"model '{plugin.name}' must give a torch.nn.Module with encode(x) and decode(z) from "
                          f"fitted_module (or None: nothing to save); it gave a {type(module).__name__}")  # fmt: skip
    with blame(plugin, "build the network its fitted state loads into (build, as dimred.load does)"):
        rebuilt = plugin.build(X.shape[1])
        _load_state(rebuilt, module.state_dict())
    rebuilt = rebuilt.double().eval()
    step = max(1, CHECKED_VALUES // max(1, X.shape[1]))
    for start in range(0, len(X), step):
        rows = slice(start, start + step)
        with torch.no_grad(), blame(plugin, "compute with the module of its fitted state"):
            computed = {"encode": (rebuilt.encode(X[rows]), transformed[rows], "transform")}
            if back is not None:  # the inverse the run already took of the codes, not taken again
                computed["decode"] = (rebuilt.decode(codes[rows]), back[rows], "inverse_transform")
        for method, (got, expected, by) in computed.items():
            _check_same(plugin, got, expected, method, by)
    return rebuilt


def _check_same(plugin: EstimatorModel, got: torch.Tensor, expected: torch.Tensor, method: str, by: str) -> None:
    """The rebuilt module's values (``got`` from ``method``) must be the plugin's own (``expected`` from ``by``)."""
    if got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-4, atol=1e-6):
        apart = f"up to {(got - expected).abs().max():.3g} apart" if got.shape == expected.shape else "other shapes"
        raise PluginError(f"model '{plugin.name}': the module of its fitted state (fitted_module, rebuilt by build) "
                          f"computes other values with {method} than its {by} ({apart}); a model file of it would "
                          "not give what the run reports")  # fmt: skip


def _load_state(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``load_state_dict``, its error said on one line: torch says what is wrong (a size mismatch) on the lines
    after "Error(s) in loading state_dict for Net:", which an error line leaves out."""
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        raise RuntimeError(" ".join(line.strip() for line in str(error).splitlines() if line.strip())) from None


def check_outputs(plugin: Model, X: torch.Tensor, codes: torch.Tensor, reconstruction: torch.Tensor | None,
                  coded_by: str, decoded_by: str) -> None:  # fmt: skip
    """A fitted model's codes of the rows ``X`` (from its method ``coded_by``) must be one finite code of
    n_components values per row, and its reconstructions (from ``decoded_by``) finite rows of ``X``'s shape: a
    plugin that breaks this would otherwise be scored, or fail in a metric's words."""
    check_codes(plugin, X, codes, coded_by)
    if reconstruction is not None:
        check_reconstruction(plugin, X, reconstruction, decoded_by)


def check_codes(plugin: Model, X: torch.Tensor, codes: torch.Tensor, coded_by: str, width: int | None = None) -> None:
    """``width``: the codes' width where the model has no ``n_components`` option (another method's codes')."""
    width = getattr(plugin.options, "n_components", width)
    shape = (len(X), width if width is not None else "n_components")
    if codes.ndim != 2 or len(codes) != len(X) or (width is not None and codes.shape[1] != width):
        raise PluginError(f"model '{plugin.name}' must give codes of shape {shape} from {coded_by} for {len(X)} "
                          f"rows; it gave {tuple(codes.shape)}")  # fmt: skip
    _check_finite(plugin, codes, coded_by)


def check_reconstruction(plugin: Model, X: torch.Tensor, reconstruction: torch.Tensor, decoded_by: str) -> None:
    if reconstruction.shape != X.shape:
        raise PluginError(f"model '{plugin.name}' must give rows of shape {tuple(X.shape)} from {decoded_by}; it "
                          f"gave {tuple(reconstruction.shape)}")  # fmt: skip
    _check_finite(plugin, reconstruction, decoded_by)


def _check_finite(plugin: Model, values: torch.Tensor, method: str) -> None:
    if not bool(torch.isfinite(values).all()):
        raise PluginError(f"model '{plugin.name}' gave values that are not finite (NaN or inf) from {method}")


def checked_codes(plugin: EstimatorModel, X: torch.Tensor, codes: Any, coded_by: str,
                   width: int | None = None) -> torch.Tensor:  # fmt: skip
    """A one-call model's codes of the rows ``X``, checked before anything (its inverse_transform) meets them."""
    checked = as_real_numbers(plugin, codes, coded_by)
    check_codes(plugin, X, checked, coded_by, width)
    return checked


def inverse(plugin: EstimatorModel, X: torch.Tensor, codes: torch.Tensor) -> torch.Tensor | None:
    """A one-call model's reconstructions of the rows ``X`` from their ``codes``, where it has an inverse."""
    if not plugin.can_inverse_transform:
        return None
    with blame(plugin, "inverse_transform its codes"):
        reconstruction = plugin.inverse_transform(codes.numpy())
    checked = as_real_numbers(plugin, reconstruction, "inverse_transform")
    check_reconstruction(plugin, X, checked, "inverse_transform")
    return checked


def as_real_numbers(plugin: EstimatorModel, values: Any, method: str) -> torch.Tensor:
    """A one-call model's output as a float64 tensor, refused by name where it is not numbers: numpy would keep
    the real part of complex codes with a warning alone (complex values with no imaginary part are taken)."""
    if values is None:
        raise PluginError(f"model '{plugin.name}' must give an array of numbers from {method}; it gave None")
    with blame(plugin, f"give an array from {method}"):
        array = np.asarray(values)
    if array.dtype.kind == "c":
        if np.any(array.imag):
            raise PluginError(f"model '{plugin.name}' must give real numbers from {method}; it gave complex values")
        array = array.real
    try:
        numbers = array.astype(np.float64, copy=False)
    except (TypeError, ValueError):  # a sparse matrix, text
        raise PluginError(f"model '{plugin.name}' must give an array of numbers from {method}; it gave a "
                          f"{type(values).__name__}") from None  # fmt: skip
    return torch.from_numpy(numbers if numbers.flags.writeable else numbers.copy())
