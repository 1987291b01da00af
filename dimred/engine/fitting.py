"""Fitting a model plugin to a matrix: scaling, building the network, training. Shared by runs and Reducer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dimred.contracts import Model, TrainingData
from dimred.engine.checkpoint import read_checkpoint, write_checkpoint
from dimred.engine.distributed import World
from dimred.engine.scaling import Scaler
from dimred.engine.training import Progress, Trainer, TrainingPlan
from dimred.objective import Term
from dimred.resolve import blame


@dataclass(eq=False)
class Fit:
    """A trained network with its scaler, and how the training went. ``X`` is the scaled training data;
    ``train_seconds`` includes the losses' preparation."""

    module: torch.nn.Module
    scaler: Scaler
    history: list[dict[str, float]]
    train_seconds: float
    X: torch.Tensor


def fit(
    network_plugin: Model,
    terms: Sequence[Term],
    X_raw: np.ndarray,
    plan: TrainingPlan,
    *,
    scaler: str,
    seed: int,
    device: torch.device,
    dtype: torch.dtype,
    progress: Progress | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    world: World | None = None,
) -> Fit:
    """Fit the scaler on ``X_raw``, build the plugin's network and train it; the result is in eval mode.

    With ``checkpoint`` and ``checkpoint_every``, the training state is saved there every that many steps;
    ``resume`` continues from the state saved there.
    """
    torch.manual_seed(seed)
    X_device = torch.as_tensor(np.require(X_raw, requirements=["C", "W"]), device=device).to(dtype)
    fitted_scaler = Scaler.fit(scaler, X_device)
    X = fitted_scaler.transform(X_device)
    with blame(network_plugin, "build its network"):
        module = network_plugin.build(X.shape[1]).to(device=device, dtype=dtype)
    n_components = getattr(network_plugin.options, "n_components", None)
    started = time.perf_counter()
    for term in terms:
        with blame(term.loss, "prepare"):
            term.loss.prepare(TrainingData(X.detach().cpu().numpy(), seed, n_components, device))
    world = world or World()
    generator = torch.Generator(device=device).manual_seed(seed)  # the same batch order in every process
    if world.distributed:
        torch.manual_seed(seed + world.rank)  # but each process its own dropout masks
    trainer = Trainer(module, [(term.name, term.weight, term.loss) for term in terms], X, plan, generator, world)
    if resume and checkpoint is not None:
        trainer.restore(*read_checkpoint(checkpoint))
    save = None if checkpoint is None or not world.is_main else (lambda state: write_checkpoint(checkpoint, state))
    preparation_seconds = time.perf_counter() - started
    history = trainer.run(progress, checkpoint_every, save)
    return Fit(module, fitted_scaler, history, preparation_seconds + trainer.seconds_before, X)
