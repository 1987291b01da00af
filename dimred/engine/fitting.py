"""Fitting a model plugin to a matrix: scaling, building the network, training. Shared by runs and Reducer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from dimred.contracts import Loss, Model
from dimred.engine.scaling import Scaler
from dimred.engine.training import Progress, TrainingPlan, train
from dimred.resolve import blame


@dataclass(eq=False)
class Fit:
    """A trained network with its scaler, and how the training went. ``X`` is the scaled training data."""

    module: torch.nn.Module
    scaler: Scaler
    history: list[dict[str, float]]
    train_seconds: float
    X: torch.Tensor


def fit(
    network_plugin: Model,
    objective: Loss,
    X_raw: np.ndarray,
    plan: TrainingPlan,
    *,
    scaler: str,
    seed: int,
    device: torch.device,
    dtype: torch.dtype,
    progress: Progress | None = None,
) -> Fit:
    """Fit the scaler on ``X_raw``, build the plugin's network and train it; the result is in eval mode."""
    torch.manual_seed(seed)
    X_device = torch.as_tensor(np.require(X_raw, requirements=["C", "W"]), device=device).to(dtype)
    fitted_scaler = Scaler.fit(scaler, X_device)
    X = fitted_scaler.transform(X_device)
    with blame(network_plugin, "build its network"):
        module = network_plugin.build(X.shape[1]).to(device=device, dtype=dtype)
    generator = torch.Generator(device=device).manual_seed(seed)
    started = time.perf_counter()
    history = train(module, objective, X, plan, generator, progress)
    return Fit(module, fitted_scaler, history, time.perf_counter() - started, X)
