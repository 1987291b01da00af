"""Running a trained model over data and scoring the result, always in eval mode.

The reference tutorial measures its error with dropout still active and batch norm using batch statistics.
dimred reports the eval-mode figure; the train-mode one is kept too, labelled as such, for comparison.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from dimred.engine import metrics

EVAL_BATCH = 1 << 16
METRIC_SAMPLE = 5000  # neighbourhood metrics beyond this many points use a seeded random subsample
NEIGHBOURS = 10


@torch.inference_mode()
def encode(module: torch.nn.Module, X: torch.Tensor, batch: int = EVAL_BATCH) -> torch.Tensor:
    """The codes of every row of ``X``, computed in eval mode in batches."""
    module.eval()
    return torch.cat([module.encode(X[start : start + batch]) for start in range(0, len(X), batch)])


@torch.inference_mode()
def decode(module: torch.nn.Module, Z: torch.Tensor, batch: int = EVAL_BATCH) -> torch.Tensor:
    """The reconstructions of every code in ``Z``, computed in eval mode in batches."""
    module.eval()
    return torch.cat([module.decode(Z[start : start + batch]) for start in range(0, len(Z), batch)])


@torch.inference_mode()
def _train_mode_rmse(module: torch.nn.Module, X: torch.Tensor) -> float:
    """The error as the reference tutorial measures it: dropout on, batch norm on batch statistics."""
    noisy = copy.deepcopy(module).train()  # a copy, so batch norm's running statistics stay untouched
    return metrics.rmse(X, noisy.decode(noisy.encode(X)))


def metric_sample(n_samples: int, seed: int, size: int = METRIC_SAMPLE) -> torch.Tensor | None:
    """The rows the neighbourhood metrics use: all of them (None) up to ``size``, else a seeded subsample."""
    if n_samples <= size:
        return None
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n_samples, generator=generator)[:size].sort().values


def score(
    module: torch.nn.Module, X: torch.Tensor, codes: torch.Tensor, reconstruction: torch.Tensor, seed: int
) -> dict[str, Any]:
    """Reconstruction error over all rows; trustworthiness and continuity on at most METRIC_SAMPLE rows."""
    sample = metric_sample(len(X), seed)
    X_sample, Z_sample = (X, codes) if sample is None else (X[sample.to(X.device)], codes[sample.to(X.device)])
    k = min(NEIGHBOURS, (len(X_sample) - 1) // 2)
    return {
        "rmse": metrics.rmse(X, reconstruction),
        "rmse_train_mode": _train_mode_rmse(module, X_sample) if len(X_sample) > 1 else float("nan"),
        "trustworthiness": metrics.trustworthiness(X_sample, Z_sample, k) if k >= 1 else float("nan"),
        "continuity": metrics.continuity(X_sample, Z_sample, k) if k >= 1 else float("nan"),
        "neighbours": k,
        "metric_sample_size": len(X_sample),
        "n_samples": len(X),
    }
