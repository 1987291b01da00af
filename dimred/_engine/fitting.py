"""Fitting a model plugin to a matrix: scaling, building the network, training. Shared by runs and Reducer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dimred._core.contracts import Loss, Model, TrainingData
from dimred._core.errors import UsageError
from dimred._engine import evaluation, rows
from dimred._engine.checkpoint import read_checkpoint, write_checkpoint
from dimred._engine.device import as_tensor
from dimred._engine.distributed import World
from dimred._engine.scaling import Scaler
from dimred._engine.training import Progress, Trainer, TrainingPlan
from dimred._host.objective import Term
from dimred._host.resolve import blame

STREAM_ROWS = 2_000_000  # above this many rows, training reads minibatches from the array where it lies
EVALUATION_ROWS = 1_000_000  # and evaluation (errors, metrics, plots) uses a seeded sample of this many


@dataclass(eq=False)
class Fit:
    """A trained network with its scaler, and how the training went. ``X`` is the scaled training data, or, for
    data streamed from where it lies, the seeded sample of rows ``evaluated`` (row numbers) that evaluation
    uses; ``train_seconds`` includes the losses' preparation."""

    module: torch.nn.Module
    scaler: Scaler
    history: list[dict[str, float]]
    train_seconds: float
    X: torch.Tensor
    evaluated: np.ndarray | None = None


def _prepares(term: Term) -> bool:
    """Whether a loss overrides ``prepare`` (and so needs all the data at once)."""
    return type(term.loss).prepare is not Loss.prepare


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
    evaluated = None
    if len(X_raw) > STREAM_ROWS:  # train from the array where it lies (memory-mapped .npy files)
        if plan.batch_size is None:
            raise UsageError(f"full-batch training needs the data in memory; use minibatches above {STREAM_ROWS} rows")
        for term in filter(_prepares, terms):
            raise UsageError(f"loss '{term.name}' precomputes over the whole data set, which is kept in memory "
                             f"only up to {STREAM_ROWS} rows")  # fmt: skip
        fitted_scaler = Scaler.fit_chunks(scaler, rows.chunks(X_raw, dtype))
        fitted_scaler = Scaler(scaler, fitted_scaler.offset.to(device), fitted_scaler.factor.to(device))
        X = rows.MappedRows(X_raw, fitted_scaler, device, dtype)
        evaluated = evaluation.metric_sample(len(X_raw), seed, size=EVALUATION_ROWS)
    else:
        X_device = as_tensor(X_raw, device, dtype)
        fitted_scaler = Scaler.fit(scaler, X_device)
        X = fitted_scaler.transform(X_device)
    with blame(network_plugin, "build its network"):
        module = network_plugin.build(X.shape[1]).to(device=device, dtype=dtype)
    n_components = getattr(network_plugin.options, "n_components", None)
    started = time.perf_counter()
    preparing = [term for term in terms if _prepares(term)]
    if preparing:  # only in-memory data gets here (see above)
        prepared_from = TrainingData(X.detach().cpu().numpy(), seed, n_components, device)
        for term in preparing:
            with blame(term.loss, "prepare"):
                term.loss.prepare(prepared_from)
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
    seconds = preparation_seconds + trainer.seconds_before
    if evaluated is None:
        return Fit(module, fitted_scaler, history, seconds, X)
    return Fit(module, fitted_scaler, history, seconds, X[evaluated], evaluated.numpy())
