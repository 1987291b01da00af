"""Fitting a model plugin to a matrix: scaling, building the network, training. Shared by runs and Reducer."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dimred._core.contracts import Callback, Loss, Model, Term, TrainingData, silent
from dimred._core.errors import DimredError, PluginError, UsageError, blame, first_line
from dimred._core.runfiles import CHECKPOINT_NAME
from dimred._core.settings import TrainingSettings
from dimred._engine import distributed, evaluation, rows
from dimred._engine.callbacks import Dispatcher, TrainingHandle
from dimred._engine.checkpoint import read_checkpoint
from dimred._engine.device import as_tensor, seeded, torch_default_dtype
from dimred._engine.distributed import World
from dimred._engine.scaling import Scaler, rounding_advice
from dimred._engine.training import Trainer
from dimred._io.validation import DataError

LONG_PREPARATION_ROWS = 100_000  # from here a loss's preparation is announced (ne-tsne's graph: about 10 s)
FINGERPRINT_ROWS = 1000  # evenly spaced rows whose values the fingerprint of checkpoints before WHOLE_DATA hashed
WHOLE_DATA = "all:"  # starts the fingerprint of every value of the data
HASHED_BYTES_AT_ONCE = 1 << 26  # a memory-mapped file is hashed a slice of this size at a time
STREAM_ROWS = 2_000_000  # above this many rows, training reads minibatches from the array where it lies
EVALUATION_ROWS = 1_000_000  # and evaluation (errors, metrics, plots) uses a seeded sample of this many,
EVALUATION_VALUES = 3_000_000  # fewer for wide rows: this many values (a float64 copy of them 24 MB),
FEWEST_EVALUATION_ROWS = 10_000  # but never fewer rows than this


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
    stop_reason: str | None = None  # why training ended before its last step, if it did
    run_key: str = ""  # the callbacks' Training.run_key, for the run's reporters


def _prepares(term: Term) -> bool:
    """Whether a loss overrides ``prepare`` (and so needs all the data at once)."""
    return type(term.loss).prepare is not Loss.prepare


def fit(
    network_plugin: Model,
    terms: Sequence[Term],
    X_raw: np.ndarray,
    settings: TrainingSettings,
    *,
    device: torch.device,
    dtype: torch.dtype,
    callbacks: Sequence[Callback] = (),
    claim: Callable[[], Path | None] = lambda: None,
    resume: bool = False,
    world: World | None = None,
    echo: Callable[[str], None] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Fit:
    """Fit the scaler on ``X_raw``, build the plugin's network and train it; the result is in eval mode.

    Randomness comes from ``settings.seed`` alone, and the caller's global torch RNG is left as it was (fits in
    threads of one process take turns); gradients are on whatever the caller's context (``torch.no_grad``).
    ``claim`` gives the run folder callbacks may write into (checkpoints), called once every check has passed
    and training is about to start, so that a refusal leaves the folder as it was; ``resume`` continues from the
    checkpoint saved there. ``config`` is the run's configuration, for the callbacks (``Training.config``).
    """
    world = world or World()
    with seeded(settings.seed, device), torch_default_dtype(), torch.inference_mode(False), torch.enable_grad():
        return _fit(network_plugin, terms, X_raw, settings, device, dtype, callbacks, claim, resume, world,
                    echo or silent, config or {})  # fmt: skip


def _scaled_rows(X_raw: np.ndarray, settings: TrainingSettings, terms: Sequence[Term], device, dtype):
    """The scaler fitted on the rows, the scaled rows, and for streamed data the rows evaluation samples."""
    if len(X_raw) <= STREAM_ROWS:
        X_device = as_tensor(X_raw, device, dtype)
        fitted_scaler = Scaler.fit(settings.scaler, X_device)
        _check_rounded_away(X_raw, fitted_scaler, dtype)
        return fitted_scaler, fitted_scaler.transform(X_device), None
    # train from the array where it lies (memory-mapped .npy files)
    if settings.batch_size is None or settings.batch_size >= len(X_raw):  # a batch of every row is the full batch
        given = "full" if settings.batch_size is None else settings.batch_size
        raise UsageError(f"--batch-size {given} (batch_size) trains on every row at each step, which only data of at "
                         f"most {STREAM_ROWS} rows does; these {len(X_raw)} rows are streamed from where they lie in "
                         "minibatches: give a batch size below their number")  # fmt: skip
    for term in filter(_prepares, terms):
        raise UsageError(f"loss '{term.name}' (named, or the model's own where none was) precomputes over the whole "
                         f"data set, which is kept in memory only up to {STREAM_ROWS} rows, and this has "
                         f"{len(X_raw)}; train on a random sample of at most that many rows saved as its own .npy "
                         "file (the encoder then maps the rest with dimred encode), or with a loss that streams, "
                         "such as --loss mse")  # fmt: skip
    fitted_scaler = Scaler.fit_chunks(settings.scaler, rows.chunks(X_raw, dtype)).to(device)
    _check_rounded_away(X_raw, fitted_scaler, dtype)
    X = rows.MappedRows(X_raw, fitted_scaler, device, dtype)
    return fitted_scaler, X, streamed_sample(X_raw, settings.seed)


def streamed_sample(X_raw: np.ndarray, seed: int) -> torch.Tensor | None:
    """The rows evaluation scores of data it streams (None: all of them): a seeded sample of ``EVALUATION_ROWS``,
    fewer for wide rows, since the sample, its codes and reconstructions are held in memory in float64 (10^6 rows
    of 96 columns had taken 4.7 GB)."""
    n_rows, n_columns = X_raw.shape
    size = min(EVALUATION_ROWS, max(FEWEST_EVALUATION_ROWS, EVALUATION_VALUES // max(n_columns, 1)))
    return evaluation.metric_sample(n_rows, seed, size=size)


def _plan(settings: TrainingSettings, config: Mapping[str, Any]) -> str:
    """What a training process plans, as text to compare between processes: its steps, batches, network and
    loss (its seed only draws other rows and dropout)."""
    return json.dumps({"training": dataclasses.asdict(settings.replace(seed=0)), "model": config.get("model"),
                       "loss": config.get("loss")}, sort_keys=True, default=str)  # fmt: skip


def _cast_is_exact(given: np.dtype, dtype: torch.dtype) -> bool:
    """Whether every value of ``given`` is one of ``dtype`` too: floats no wider, whole numbers of no more bits
    than its mantissa holds (int32's values from 2^24 on are rounded in float32, int64's from 2^53 in float64:
    200 distinct int32 rows near 2^30 had been trained as one point, every figure 1.0, with exit 0)."""
    if given.kind == "f":
        return given.itemsize <= dtype.itemsize
    bits = given.itemsize * 8 - (given.kind == "i")  # a bool's one bit counts as a byte's: exact anyway
    return bits <= 1 - math.log2(torch.finfo(dtype).eps)  # the mantissa's bits, its leading one included


def _check_rounded_away(X_raw: np.ndarray, scaler: Scaler, dtype: torch.dtype) -> None:
    """Warn, naming the first such column, where a column that varies in the data as given is one value once
    cast to the training dtype (1e6 + 0.01 spreads in float32): the model cannot see it at all, and the scaler,
    which sees one value (its ``constant`` flags), has nothing to warn of (``Scaler.warn_if_coarse`` covers
    columns rounded to a few). Refuse data whose rows are all one point once cast (1e-300 * rows underflow to 0
    in float32). Only the columns the scaler found constant are read again."""
    if _cast_is_exact(np.dtype(X_raw.dtype), dtype):
        return
    constant, scaled = scaler.constant, scaler.kind != "none"
    lost: dict[int, tuple[float, float]] = {}  # a column that varies as given: its lowest value and its spread
    for column in np.flatnonzero(constant.cpu().numpy()):
        low, high = X_raw[:, column].min(), X_raw[:, column].max()
        if high > low:
            lost[int(column)] = (low, high - low)
    type_name = str(dtype).removeprefix("torch.")
    if lost and bool(constant.all()):
        widest = max(lost, key=lambda column: lost[column][1])
        low, spread = lost[widest]
        raise DataError(f"in {type_name} all {len(X_raw)} rows of the data are the same point: every column that "
                        f"varies (by at most {spread:.4g}, column {widest} counting from 0) is one number once cast; "
                        f"{rounding_advice(spread, low, dtype, scaled)}")  # fmt: skip
    if lost:
        column, (low, spread) = next(iter(lost.items()))
        warnings.warn(f"column {column} (counting from 0) varies by {spread:.4g} around {low:.6g}, but in "
                      f"{type_name} every value is the same number, so the model cannot see it; "
                      f"{rounding_advice(spread, low, dtype, scaled)}", stacklevel=4)  # fmt: skip


def _fit(network_plugin, terms, X_raw, settings, device, dtype, callbacks, claim, resume, world, echo,
         config) -> Fit:  # fmt: skip
    # before anything one process could refuse alone, which would leave the others waiting
    distributed.check_same_data(world, device, X_raw.shape, functools.partial(sampled_fingerprint, X_raw),
                                functools.partial(_plan, settings, config))  # fmt: skip
    fitted_scaler, X, evaluated = _scaled_rows(X_raw, settings, terms, device, dtype)
    fitted_scaler.check_savable()  # a trained network is saved with its scaling
    fitted_scaler.warn_if_coarse(dtype)
    fitted_scaler.warn_if_squeezed(X_raw)
    with blame(network_plugin, "build its network"):
        module = network_plugin.build(X.shape[1])
        if not isinstance(module, torch.nn.Module):
            raise PluginError(f"model '{network_plugin.name}' must build a torch.nn.Module, not a "
                              f"{type(module).__name__}")  # fmt: skip
        if missing := [method for method in ("encode", "decode") if not callable(getattr(module, method, None))]:
            raise PluginError(f"model '{network_plugin.name}' must build a network with encode(x) and decode(z) "
                              f"methods; its {type(module).__name__} has no {missing[0]}()")  # fmt: skip
        if not any(parameter.requires_grad for parameter in module.parameters()):
            raise PluginError(f"model '{network_plugin.name}' built a network with no trainable parameters, so "
                              "there is nothing to train; a model fitted in one call (a fixed projection) is an "
                              "EstimatorModel")  # fmt: skip
        module = module.to(device=device, dtype=dtype)
    n_components = getattr(network_plugin.options, "n_components", None)
    started = time.perf_counter()
    preparing = [term for term in terms if _prepares(term)]
    if preparing:  # only in-memory data gets here (see above)
        prepared_from = TrainingData(
            X.detach().cpu().numpy(), settings.seed, n_components, device, distributed.computed_once(world, device)
        )
        for term in preparing:
            if len(X) >= LONG_PREPARATION_ROWS and world.is_main:  # minutes of a kNN graph would pass in silence
                echo(f"loss '{term.name}': preparing on {len(X)} rows (once per data set)...")
            with blame(term.loss, "prepare"):
                term.loss.prepare(prepared_from)
    generator = torch.Generator(device=device).manual_seed(settings.seed)  # the same batch order in every process
    if world.distributed:
        torch.manual_seed(settings.seed + world.rank)  # but each process its own dropout masks
    trainer = Trainer(module, terms, X, settings, generator, world, functools.partial(data_fingerprint, X_raw))
    dispatcher = Dispatcher(callbacks)
    directory = claim()  # every check has passed: from here on the run writes
    checkpoint = None if directory is None else directory / CHECKPOINT_NAME
    if resume and checkpoint is not None:
        tensors, facts = read_checkpoint(checkpoint)
        _restore(trainer, tensors, facts, checkpoint)  # the callbacks got theirs before the run was checked
    handle = TrainingHandle(trainer, settings, network_plugin, directory=directory, checkpoint=checkpoint, echo=echo,
                            callback_states=dispatcher.states, config=config)  # fmt: skip
    if resume and checkpoint is not None:
        handle.stop_reason = facts.get("stop_reason")
    preparation_seconds = time.perf_counter() - started
    try:
        dispatcher.start(handle)
        # a loss or callback that fails is named by its own message, another process that stopped as that
        with blame(network_plugin, "train"), distributed.peers_failing(world):
            history = trainer.run(dispatcher)
        dispatcher.end()
    except BaseException as error:  # interrupted too: callbacks close what they opened
        dispatcher.fail(error)
        raise
    seconds = preparation_seconds + trainer.seconds_before
    X_evaluated = X if evaluated is None else X[evaluated]
    stopped_early = handle.stop_reason if trainer.step < trainer.total else None  # a stop at the last step: none
    return Fit(module, fitted_scaler, history, seconds, X_evaluated, None if evaluated is None else evaluated.numpy(),
               stopped_early, handle.run_key)  # fmt: skip


def sampled_fingerprint(X_raw: np.ndarray) -> str:
    """sha256 of the shape, the dtype and FINGERPRINT_ROWS evenly spaced rows: quick to take of a file larger
    than memory (what training processes compare, and the fingerprint of checkpoints before WHOLE_DATA)."""
    digest = hashlib.sha256(f"{X_raw.shape} {X_raw.dtype}".encode())
    for row in np.unique(np.linspace(0, len(X_raw) - 1, min(len(X_raw), FINGERPRINT_ROWS)).astype(np.int64)):
        digest.update(np.ascontiguousarray(X_raw[row]))  # a row at a time: no copy of a thousand wide rows
    return digest.hexdigest()


def data_fingerprint(X_raw: np.ndarray, like: str | None = None) -> str:
    """sha256 of the shape, the dtype and every value of the data as given (in memory or memory-mapped, read in
    chunks): what tells a resume that it trains on the data its checkpoint was saved from, whatever the device it
    resumes on. ``like``: a checkpoint's fingerprint, to be made as that one was (one without WHOLE_DATA hashed
    only FINGERPRINT_ROWS evenly spaced rows)."""
    if like is not None and not like.startswith(WHOLE_DATA):
        return sampled_fingerprint(X_raw)
    digest = hashlib.sha256(f"{X_raw.shape} {X_raw.dtype}".encode())
    chunk_rows = max(1, HASHED_BYTES_AT_ONCE // max(1, X_raw[:1].nbytes))
    for start in range(0, len(X_raw), chunk_rows):
        digest.update(np.ascontiguousarray(X_raw[start : start + chunk_rows]))
    return WHOLE_DATA + digest.hexdigest()


def _restore(trainer: Trainer, tensors: dict[str, torch.Tensor], facts: dict[str, Any], checkpoint: Path) -> None:
    """The trainer where the checkpoint left it; a checkpoint of another network or optimizer, or a damaged one,
    is said in one line (torch's own words had run to a dozen lines of 'size mismatch', or said only
    'the size of tensor a must match the size of tensor b')."""
    wanted = {key: tuple(value.shape) for key, value in trainer.module.state_dict().items()}
    saved = {
        key.removeprefix("model."): tuple(value.shape) for key, value in tensors.items() if key.startswith("model.")
    }
    if saved != wanted:
        name = next(key for key in sorted(wanted.keys() | saved.keys()) if wanted.get(key) != saved.get(key))
        held = f"holds {name} of shape {saved[name]}" if name in saved else f"lacks {name}"
        needs = f"it of shape {wanted[name]}" if name in wanted else "no such tensor"
        raise DimredError(f"checkpoint {checkpoint} is not this run's: it {held}, where the run's network has "
                          f"{needs}; start the run again there with --overwrite")  # fmt: skip
    try:
        trainer.restore(tensors, facts)
        logged = trainer.history[-1]["step"] if trainer.history else 0
        if not logged <= trainer.step <= trainer.total:
            raise ValueError(f"step {trainer.step} of a run of {trainer.total} steps, logged to step {logged}")
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as error:
        raise DimredError(f"checkpoint {checkpoint} does not fit this run ({first_line(error)}): it was written "
                          "with another optimizer or settings, or was damaged; start the run again there with "
                          "--overwrite") from None  # fmt: skip
