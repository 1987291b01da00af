"""The library API: ``run`` trains, evaluates and saves a model as ``dimred run`` does; ``evaluate`` scores a
trained model on other data as ``dimred evaluate`` does."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dimred._core import defaults as defaults
from dimred._core.contracts import Data, EstimatorModel, Reporter, RunRecord
from dimred._core.errors import DimredError, UsageError
from dimred._engine import distributed, evaluation, fitting, modelfile
from dimred._engine.checkpoint import FILENAME as CHECKPOINT
from dimred._engine.device import as_tensor, resolve_device, resolve_dtype
from dimred._engine.modelfile import package_versions
from dimred._engine.scaling import Scaler
from dimred._engine.training import Progress, TrainingPlan
from dimred._host.objective import LossSpec, describe_terms, options_of, spec_text, terms_from_settings
from dimred._host.registry import get_registry
from dimred._host.resolve import blame, default_reporters, describe, group_settings, instantiate
from dimred._io.rundir import (
    default_run_directory,
    prepare_run_directory,
    timestamped_directory,
    write_history,
    write_json,
)
from dimred._io.validation import check_matrix

if TYPE_CHECKING:
    from dimred._api.reducer import Reducer

AUTO = "auto"
EVALUATIONS_FOLDER = "evaluations"


@dataclass(eq=False)
class RunResult:
    """What a run produced. ``path`` is the run directory, or None when nothing was written."""

    metrics: dict[str, Any]
    history: list[dict[str, float]]
    path: Path | None
    config: dict[str, Any]
    codes: np.ndarray
    color: np.ndarray | None = None  # the dataset's colour values, for plots
    make_reducer: Callable[[], Reducer] | None = field(default=None, repr=False)

    @functools.cached_property
    def reducer(self) -> Reducer | None:
        """The trained model as a fitted dimred.Reducer; None for one-call models (EstimatorModel).

        Built on first use: scikit-learn, which Reducer builds on, takes most of a second to import.
        """
        return None if self.make_reducer is None else self.make_reducer()


@dataclass(eq=False)
class EvaluationResult:
    """A trained model's metrics on a dataset. ``path`` is the folder written, or None."""

    metrics: dict[str, Any]
    path: Path | None
    codes: np.ndarray


def _reporters(names: Sequence[str] | None, groups: dict[str, dict[str, Any]]) -> list[Reporter]:
    chosen = [
        instantiate("reporter", name, groups.pop(f"reporter.{name}", {}), f"reporter.{name}")
        for name in dict.fromkeys(default_reporters() if names is None else names)
    ]
    if groups:
        raise UsageError(f"settings for a reporter that is not in this run: {', '.join(sorted(groups))}")
    return chosen


def _load_data(source, seed: int) -> tuple[Data, np.ndarray]:
    with blame(source, "load its data"):
        data = source.load(seed)
    return data, check_matrix(data.X, f"the data of dataset '{source.name}'")


def _report(reporters: Sequence[Reporter], record: RunRecord) -> None:
    for reporter in reporters:
        with blame(reporter, "report"):
            reporter.report(record)


def run(
    dataset: str,
    model: str,
    *,
    loss: LossSpec | None = None,
    reporters: Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = defaults.BATCH_SIZE,
    lr: float = defaults.LR,
    schedule: str = defaults.SCHEDULE,
    dtype: str = defaults.DTYPE,
    scaler: str = defaults.SCALER,
    device: str = defaults.DEVICE,
    seed: int = defaults.SEED,
    out: str | Path | None = AUTO,
    overwrite: bool = False,
    checkpoint_every: int | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    echo: Callable[[str], None] | None = None,
) -> RunResult:
    """Train ``model`` on ``dataset``, evaluate it in eval mode, run the reporters and save everything.

    ``settings`` maps ``"kind.option"`` to a value (``{"dataset.n_samples": 2500}``), as ``--set`` does.
    Without ``steps`` or ``epochs`` the run takes ``defaults.STEPS`` optimizer steps; ``batch_size=None`` trains on
    the full batch. ``out`` is the run directory: ``"auto"`` picks ``runs/<dataset>-<model>-<time>``, None
    writes nothing. ``checkpoint_every`` saves the training state to ``out/checkpoint.safetensors`` every that
    many steps; ``resume`` continues the killed run in ``out`` from it (give the same settings: the CLI's
    ``--resume`` reads them from the run's config.json). ``echo`` receives the lines reporters print.
    """
    groups = group_settings(settings or {})
    data_source = instantiate("dataset", dataset, groups.pop("dataset", {}))
    network_plugin = instantiate("model", model, groups.pop("model", {}))
    terms = terms_from_settings(loss or network_plugin.default_loss, groups)
    chosen_reporters = _reporters(reporters, groups)
    if steps is None and epochs is None:
        steps = defaults.STEPS
    plan = TrainingPlan(steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule)
    world, torch_device = distributed.join(resolve_device(device))
    torch_dtype = resolve_dtype(dtype, torch_device)
    if world.distributed and resume:
        raise UsageError("--resume runs in one process; under torchrun, start the run again instead")
    if not world.is_main:  # under torchrun only process 0 writes, reports and scores
        out, chosen_reporters, echo, progress, checkpoint_every = None, [], None, None, None
    if checkpoint_every is not None and checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be at least 1, got {checkpoint_every}")
    directory = None
    if resume and (out is None or out == AUTO):
        raise UsageError("resume needs the run directory of the run to continue")
    if (checkpoint_every or resume) and out is None:
        raise UsageError("checkpoints need a run directory (out)")
    if out is not None:
        directory = default_run_directory(dataset, model) if out == AUTO else Path(out)
        if resume and (directory / modelfile.FILENAME).exists():
            raise UsageError(f"run {directory} is already complete: it has its {modelfile.FILENAME}")
        prepare_run_directory(directory, overwrite=overwrite or resume)

    data, X_raw = _load_data(data_source, seed)
    config = {
        "dataset": describe(data_source),
        "model": describe(network_plugin),
        "loss": describe_terms(terms),
        "reporters": [describe(reporter) for reporter in chosen_reporters],
        "training": {
            "steps": plan.total_steps(len(X_raw)),
            "epochs": epochs,
            "batch_size": plan.batch_for(len(X_raw)),
            "lr": lr,
            "schedule": schedule,
            "checkpoint_every": checkpoint_every,
        },
        "dtype": dtype,
        "scaler": scaler,
        "device": device,
        "device_used": str(torch_device),
        "seed": seed,
        "versions": package_versions(),
    }
    if directory is not None:
        write_json(directory / "config.json", config)

    if isinstance(network_plugin, EstimatorModel):
        outcome = _fit_estimator(network_plugin, X_raw, scaler, seed)
    else:
        checkpoint = None if directory is None else directory / CHECKPOINT
        fit = fitting.fit(network_plugin, terms, X_raw, plan, scaler=scaler, seed=seed, device=torch_device,
                          dtype=torch_dtype, progress=progress, checkpoint=checkpoint,
                          checkpoint_every=checkpoint_every, resume=resume, world=world)  # fmt: skip
        distributed.leave(world)
        if not world.is_main:
            return RunResult({}, fit.history, None, config, np.empty((0, 0)))
        settings_of_reducer = {"model": model, "n_components": None, "model_options": config["model"]["options"],
                               "loss": spec_text(terms), "loss_options": options_of(terms), "steps": steps,
                               "epochs": epochs, "batch_size": batch_size, "lr": lr, "schedule": schedule,
                               "dtype": dtype, "scaler": scaler, "device": device, "random_state": seed}  # fmt: skip
        outcome = _apply_network(fit, settings_of_reducer, data.feature_names)
        if fit.evaluated is not None:  # streamed data: evaluation sees a seeded sample of the rows
            data = _subset(data, fit.evaluated)

    metrics, context = evaluation.score(outcome.X, outcome.codes, outcome.reconstruction, seed, _metric_plugins(),
                                        data.intrinsic, outcome.module)  # fmt: skip
    metrics |= {"train_seconds": outcome.train_seconds, "transform_seconds": outcome.transform_seconds,
                "evaluated_rows": len(outcome.X)}  # fmt: skip
    if directory is not None:
        if outcome.module is not None:
            description = modelfile.describe_model(
                model, config["model"]["options"], spec_text(terms), options_of(terms), X_raw.shape[1],
                outcome.codes.shape[1], data.feature_names, dtype, dataclasses.asdict(plan) | {"random_state": seed},
                dataset=dataset, dataset_options=config["dataset"]["options"],
            )  # fmt: skip
            modelfile.save_model(directory / modelfile.FILENAME, outcome.module, outcome.scaler, description)
            write_history(directory / "history.csv", outcome.history)
        write_json(directory / "metrics.json", metrics)
    record = RunRecord(dataset, model, data, outcome.X.cpu().numpy(), outcome.codes.cpu().numpy(),
                       None if outcome.reconstruction is None else outcome.reconstruction.cpu().numpy(),
                       outcome.history, metrics, directory, echo or (lambda _text: None), context)  # fmt: skip
    _report(chosen_reporters, record)
    return RunResult(metrics, outcome.history, directory, config, record.codes, data.color, outcome.make_reducer)


@dataclass(eq=False)
class _Outcome:
    """A fitted model's output on its training data, whatever kind of model it is."""

    X: torch.Tensor
    codes: torch.Tensor
    reconstruction: torch.Tensor | None
    history: list[dict[str, float]]
    train_seconds: float
    transform_seconds: float | None
    module: torch.nn.Module | None = None
    scaler: Scaler | None = None
    make_reducer: Callable[[], Reducer] | None = None


def _apply_network(fit: fitting.Fit, reducer_settings: dict[str, Any], feature_names: Sequence[str] | None) -> _Outcome:
    started = time.perf_counter()
    codes = evaluation.encode(fit.module, fit.X)
    transform_seconds = time.perf_counter() - started
    reconstruction = evaluation.decode(fit.module, codes)

    def make_reducer() -> Reducer:
        from dimred._api.reducer import Reducer

        reducer = Reducer(**reducer_settings)
        reducer.n_features_in_ = int(fit.scaler.offset.shape[0])
        if feature_names:
            reducer.feature_names_in_ = np.asarray(feature_names, dtype=object)
        settings = reducer_settings
        reducer._adopt(fit.module, fit.scaler, settings["model_options"], settings["loss"], settings["loss_options"])
        reducer.history_, reducer.train_seconds_ = fit.history, fit.train_seconds
        return reducer

    return _Outcome(fit.X, codes, reconstruction, fit.history, fit.train_seconds, transform_seconds, fit.module,
                    fit.scaler, make_reducer)  # fmt: skip


def _fit_estimator(plugin: EstimatorModel, X_raw: np.ndarray, scaler: str, seed: int) -> _Outcome:
    """Fit a one-call model on the scaled data (float64, CPU); measure its transform where it has one."""
    X_tensor = as_tensor(X_raw, dtype=torch.float64)
    X = Scaler.fit(scaler, X_tensor).transform(X_tensor)
    X_numpy = X.numpy()
    with blame(plugin, "fit"):
        started = time.perf_counter()
        codes = np.asarray(plugin.fit_transform(X_numpy, seed), dtype=np.float64)
        fit_seconds = time.perf_counter() - started
        transform_seconds = None
        if plugin.can_transform:
            started = time.perf_counter()
            plugin.transform(X_numpy)
            transform_seconds = time.perf_counter() - started
        reconstruction = plugin.inverse_transform(codes) if plugin.can_inverse_transform else None
    return _Outcome(X, torch.from_numpy(codes), None if reconstruction is None else torch.as_tensor(reconstruction),
                    [], fit_seconds, transform_seconds)  # fmt: skip


def _subset(data: Data, rows: np.ndarray) -> Data:
    def pick(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.asarray(values[rows])

    return Data(
        X=pick(data.X), color=pick(data.color), intrinsic=pick(data.intrinsic), feature_names=data.feature_names
    )


def _metric_plugins() -> list:
    return [instantiate("metric", info.name) for info in get_registry().plugins("metric")]


def _evaluation_directory(model: Reducer | str | Path, dataset: str, out: str | Path | None) -> Path | None:
    if out != AUTO:
        return None if out is None else Path(out)
    if not isinstance(model, str | Path):  # a Reducer in memory has no run directory
        return None
    run_directory = Path(model) if Path(model).is_dir() else Path(model).parent
    return timestamped_directory(run_directory / EVALUATIONS_FOLDER, dataset)


def evaluate(
    model: Reducer | str | Path,
    dataset: str,
    *,
    settings: Mapping[str, Any] | None = None,
    refit_scaler: bool = False,
    reporters: Sequence[str] | None = None,
    seed: int = 1,
    device: str = defaults.DEVICE,
    out: str | Path | None = AUTO,
    echo: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Metrics and plots of a trained model (a Reducer, a run directory or a model file) on ``dataset``.

    New data goes through the scaler saved at training time; ``refit_scaler=True`` fits a new one on this data,
    as the reference tutorial does. ``seed`` seeds the data; its default, 1, differs from the training default
    so that a default evaluation sees fresh data. With ``out="auto"`` results go to a new
    ``evaluations/<dataset>-<time>`` folder inside the model's run directory, never over the training results.
    """
    groups = group_settings(settings or {})
    if set(groups) & {"model", "loss"}:
        raise UsageError("evaluate takes dataset.* and reporter.* settings; the model's options are in its file")
    data_source = instantiate("dataset", dataset, groups.pop("dataset", {}))
    chosen_reporters = _reporters(reporters, groups)
    from dimred._api.reducer import load  # scikit-learn comes with it: imported only when needed

    reducer = load(model, device=device) if isinstance(model, str | Path) else model
    directory = _evaluation_directory(model, dataset, out)
    if directory is not None:
        prepare_run_directory(directory, overwrite=False)
    data, X_raw = _load_data(data_source, seed)
    if X_raw.shape[1] != reducer.n_features_in_:
        raise DimredError(f"X has {X_raw.shape[1]} features, but the model expects {reducer.n_features_in_}")
    X_device = reducer.to_tensor(X_raw)
    scaler = Scaler.fit(reducer.scaler_.kind, X_device) if refit_scaler else reducer.scaler_
    X = scaler.transform(X_device)
    codes = evaluation.encode(reducer.module_, X)
    reconstruction = evaluation.decode(reducer.module_, codes)
    metrics, context = evaluation.score(X, codes, reconstruction, seed, _metric_plugins(), data.intrinsic,
                                        reducer.module_)  # fmt: skip
    metrics["scaler"] = "refitted on this data" if refit_scaler else "saved with the model"
    if directory is not None:
        config = {"model": str(model) if isinstance(model, str | Path) else reducer.model,
                  "dataset": describe(data_source), "refit_scaler": refit_scaler, "seed": seed}  # fmt: skip
        write_json(directory / "config.json", config)
        write_json(directory / "metrics.json", metrics)
    record = RunRecord(dataset, reducer.model, data, X.cpu().numpy(), codes.cpu().numpy(),
                       reconstruction.cpu().numpy(), [], metrics, directory, echo or (lambda _text: None),
                       context)  # fmt: skip
    _report(chosen_reporters, record)
    return EvaluationResult(metrics, directory, record.codes)
