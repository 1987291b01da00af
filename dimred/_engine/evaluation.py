"""Running a trained model over data and scoring the result, always in eval mode.

The reference tutorial measures its error with dropout still active and batch norm using batch statistics.
dimred reports the eval-mode figure; the train-mode one is kept too, labelled as such, for comparison.
"""

from __future__ import annotations

import copy
import math
import warnings
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from dimred._core import measures
from dimred._core.contracts import Metric, MetricContext
from dimred._core.errors import DimredError, PluginError, blame
from dimred._core.jsonable import json_ready_fields
from dimred._engine.device import seeded

EVAL_BATCH = 1 << 14  # rows per forward pass; bounds the float64 copies (100 MB for 784 columns)
METRIC_SAMPLE = 5000  # neighbourhood metrics beyond this many points use a seeded random subsample
NEIGHBOURS = 10
FEW_ROWS = 20
FAILED_METRICS = "failed_metrics"  # the metrics key that maps each metric plugin that raised to its message


OVERFLOW_ADVICE = "its weights or input overflow; retrain with a lower learning rate, or check the input's scale"


@torch.inference_mode()
def encode(
    module: torch.nn.Module, X: torch.Tensor, batch: int = EVAL_BATCH, *, exact: bool = True,
    advice: str = OVERFLOW_ADVICE, model: str = "the model",
) -> torch.Tensor:  # fmt: skip
    """The codes of every row of ``X``, computed in eval mode in batches; all finite, or an error that names
    ``model`` and ends with ``advice``.

    ``exact=False`` runs the network as it is, skipping the float64 copy (see ``_inference_network``): for a
    quick look during training, where a step's float32 rounding does not matter."""
    network, compute_dtype = _inference_network(module, X) if exact else (module.eval(), X.dtype)
    parts = [checked_encoding(network.encode(rows), rows)
             for rows in (X[start : start + batch].to(compute_dtype) for start in range(0, len(X), batch))]  # fmt: skip
    return finite(torch.cat(parts).to(X.dtype), f"the codes of {model}", advice)


def checked_encoding(z: object, x: torch.Tensor, dtypes: tuple[torch.dtype, ...] = ()) -> torch.Tensor:
    """``z``, where it is what a network's ``encode`` must return for the rows ``x``: a tensor of one row of codes
    per row (in one of ``dtypes``, where given: training decodes them); named here, before decode or
    ``torch.cat`` meets it and fails in its own words (a matrix product's shapes or dtypes)."""
    if not isinstance(z, torch.Tensor):
        raise ValueError(f"its encode must return the codes as a torch.Tensor, got {type(z).__name__}")
    if z.ndim != 2 or len(z) != len(x) or z.shape[1] < 1:  # codes of no values: nothing a model file could hold
        raise ValueError(f"its encode must return codes of shape ({len(x)}, n_components), n_components at least 1, "
                         f"got a tensor of shape {tuple(z.shape)}")  # fmt: skip
    if dtypes and z.dtype not in dtypes:
        raise ValueError(f"its encode must return codes in the rows' dtype ({dtypes[0]}), got {z.dtype}")
    return z


@torch.inference_mode()
def decode(module: torch.nn.Module, Z: torch.Tensor, batch: int = EVAL_BATCH, *,
           model: str = "the model") -> torch.Tensor:  # fmt: skip
    """The reconstructions of every code in ``Z``, computed in eval mode in batches; all finite, or an error that
    names ``model``."""
    network, compute_dtype = _inference_network(module, Z)
    parts = [network.decode(Z[start : start + batch].to(compute_dtype)) for start in range(0, len(Z), batch)]
    return finite(torch.cat(parts).to(Z.dtype), f"the reconstructions of {model}")


def _inference_network(module: torch.nn.Module, values: torch.Tensor) -> tuple[torch.nn.Module, torch.dtype]:
    """The network that maps ``values``, in eval mode, and the dtype it computes in.

    On the CPU a float32 network runs as a float64 copy whose results are rounded back to float32: they are
    then the float32 rounding of the exact result, whatever order a matrix product's terms are summed in (the
    batch size, ONNX Runtime's kernels: the ONNX export computes the same way). Elsewhere the network runs as
    it is.
    """
    module.eval()
    if not _exact_in_float64(values):
        return module, values.dtype
    return _float64_copy(module), torch.float64


def _exact_in_float64(values: torch.Tensor) -> bool:
    """Whether a network maps ``values`` as a float64 copy (float32 rows on the CPU; see ``_inference_network``)."""
    return values.device.type == "cpu" and values.dtype == torch.float32


_FLOAT64_COPIES: weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module] = weakref.WeakKeyDictionary()


@torch.inference_mode()  # the copy's tensors are inference tensors, made and refreshed in inference mode only
def _float64_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A float64 copy of ``module`` in eval mode, holding its current weights.

    Copying a module is slow next to a small batch, so the copy is kept between calls and only its tensors are
    refreshed each time: an optimizer may update weights in ways no version counter records.
    """
    tensors = _tensors(module)
    kept = _FLOAT64_COPIES.get(module)
    if kept is None or [tensor.shape for tensor in _tensors(kept)] != [tensor.shape for tensor in tensors]:
        kept = _FLOAT64_COPIES[module] = copy.deepcopy(module).double().eval()
    else:
        for target, source in zip(_tensors(kept), tensors, strict=True):
            target.copy_(source)
    return kept


def _tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    return [*module.parameters(), *module.buffers()]


def finite(values: torch.Tensor, what: str, advice: str = OVERFLOW_ADVICE, first_row: int = 0) -> torch.Tensor:
    """``values`` if every one is a finite number: a NaN or inf is never handed on as a result. Messages count
    the rows from ``first_row`` (a batch's place in its file)."""
    bad_rows = ~torch.isfinite(values).reshape(len(values), -1).all(dim=1)
    if bad_rows.any():
        first = first_row + int(bad_rows.nonzero()[0, 0])
        raise DimredError(f"{what} are not finite (NaN or inf) for {int(bad_rows.sum())} of "
                          f"{len(values)} rows, the first at row {first} (counting from 0): {advice}")  # fmt: skip
    return values


def _reported_values(metric: Metric, values: Any) -> dict[str, Any]:
    """A metric plugin's values as they are reported: numpy and torch numbers as Python ones. Anything JSON
    cannot hold, and a number that is not finite, fails the metric, so NaN is never reported as a figure
    (None is how a metric says it does not apply)."""
    if not isinstance(values, Mapping):
        raise PluginError(f"metric '{metric.name}' returned {type(values).__name__}, not a dict of named values")
    unnamed = [name for name in values if not isinstance(name, str) or not name.strip()]
    if unnamed:
        raise PluginError(f"metric '{metric.name}' named a value {unnamed[0]!r}; name every value with non-blank "
                          "text")  # fmt: skip
    return json_ready_fields(values, lambda name, why: PluginError(
        f"metric '{metric.name}' gave {name} = {why} (None says that a metric does not apply; give numbers, text, "
        "or lists and dicts of them)"))  # fmt: skip


@torch.inference_mode()
def _train_mode_rmse(module: torch.nn.Module, X: torch.Tensor, seed: int) -> float:
    """The error as the reference tutorial measures it: dropout on, batch norm on batch statistics. The dropout
    masks come from ``seed``; the caller's global RNG is left as it was."""
    noisy = copy.deepcopy(module).train()  # a copy, so batch norm's running statistics stay untouched
    if _exact_in_float64(X):  # as eval mode computes: float32 could overflow where eval mode's error is finite
        noisy, X = noisy.double(), X.double()
    with seeded(seed, X.device):
        return measures.rmse(X, noisy.decode(noisy.encode(X)))


def metric_sample(n_samples: int, seed: int, size: int = METRIC_SAMPLE) -> torch.Tensor | None:
    """The rows the neighbourhood metrics use: all of them (None) up to ``size``, else a seeded subsample."""
    if n_samples <= size:
        return None
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n_samples, generator=generator)[:size].sort().values


# dimred's own fields beside the metrics' values, those the pipeline adds to metrics.json too, and the prefix of
# the held-out rows' values: no metric may report under them (holdout.transform is None where the model cannot
# map new rows)
OWN_FIELDS = (FAILED_METRICS, "rmse_train_mode", "neighbours", "metric_sample_size", "n_samples", "train_seconds",
              "transform_seconds", "evaluated_rows", "stopped_early", "stop_reason", "steps_trained", "rows",
              "scaler", "transform")  # fmt: skip
HELD_OUT_PREFIX = "holdout."


def _check_names_free(metric: Metric, values: Mapping[str, Any], reported_by: Mapping[str, str]) -> None:
    """Refuses values under a name already reported, which would silently replace another metric's figure."""
    taken = [name for name in values if name in reported_by or name.startswith(HELD_OUT_PREFIX)]
    if taken:
        owner = reported_by.get(taken[0], "dimred")
        raise PluginError(f"metric '{metric.name}' gave {taken[0]}, which {owner} already reports: a metric's values "
                          "need names of their own")  # fmt: skip


def _distinct_points(X: torch.Tensor) -> int:
    """How many distinct rows ``X`` holds, told apart by their projections on one random direction (distinct rows
    share one with probability 0; sorting the rows themselves took 0.2 s on 5 000 images)."""
    direction = torch.randn(X.shape[1], generator=torch.Generator().manual_seed(0), dtype=X.dtype)
    return len(torch.unique(X @ direction))


def score(
    X: torch.Tensor,
    codes: torch.Tensor,
    reconstruction: torch.Tensor | None,
    seed: int,
    metric_plugins: Sequence[Metric],
    intrinsic: np.ndarray | None = None,
    module: torch.nn.Module | None = None,
    labels: np.ndarray | None = None,
    reference: tuple[torch.Tensor, np.ndarray | None] | None = None,
) -> tuple[dict[str, Any], MetricContext]:
    """Every metric plugin's values, and the context they saw (reporters draw from it too); the neighbourhood
    metrics see at most METRIC_SAMPLE rows (a seeded sample). ``reference`` holds the training rows' codes and
    labels when these rows are held out.

    For a torch ``module`` the error as the reference tutorial measures it (train mode) is added, labelled so.
    A metric plugin that raises is skipped and named, with its message, under FAILED_METRICS.
    """
    sample = metric_sample(len(X), seed)

    def pick(values: torch.Tensor) -> torch.Tensor:
        return values if sample is None else values[sample.to(values.device)]

    X_sample, codes_sample = pick(X).double().cpu(), pick(codes).double().cpu()
    rows = "rows" if reference is None else "held-out rows"  # a run's training and held-out rows, apart
    if len(X_sample) < FEW_ROWS:
        warnings.warn(f"neighbourhood scores over only {len(X_sample)} {rows} say little", stacklevel=2)
    elif (distinct := _distinct_points(X_sample)) < FEW_ROWS:  # two points, each many times
        warnings.warn(f"neighbourhood scores over {len(X_sample)} {rows} of only {distinct} distinct points say "
                      "little", stacklevel=2)  # fmt: skip
    k = max(1, min(NEIGHBOURS, (len(X_sample) - 1) // 2))
    true_coordinates = None if intrinsic is None else pick(torch.as_tensor(np.asarray(intrinsic)))
    sampled_labels = None if labels is None else np.asarray(labels)[sample.numpy() if sample is not None else ...]
    reference_codes, reference_labels = (None, None) if reference is None else reference
    if reference_codes is not None:
        reference_codes = reference_codes.double().cpu()
    context = MetricContext(X_sample, codes_sample, true_coordinates, X, reconstruction, k, seed, sampled_labels,
                            reference_codes, reference_labels)  # fmt: skip
    results: dict[str, Any] = {}
    reported_by = dict.fromkeys(OWN_FIELDS, "dimred")
    failed: dict[str, str] = {}
    for metric in metric_plugins:
        try:
            with blame(metric, "compute", skipped=True):
                values = _reported_values(metric, metric.compute(context))
            _check_names_free(metric, values, reported_by)
        except PluginError as error:  # one broken metric costs its own values only, never the trained model
            failed[metric.name] = str(error)
            continue
        results |= values
        reported_by |= dict.fromkeys(values, f"metric '{metric.name}'")
    if module is not None:
        train_mode = _train_mode_rmse(module, pick(X), seed)
        if math.isfinite(train_mode):
            results["rmse_train_mode"] = train_mode
        else:  # reported as a failed metric's value is: never written as if it were a result
            failed["rmse_train_mode"] = f"the reconstruction error in train mode is {train_mode}, not a finite number"
    if failed:
        results[FAILED_METRICS] = failed
    return results | {"neighbours": k, "metric_sample_size": len(X_sample), "n_samples": len(X)}, context
