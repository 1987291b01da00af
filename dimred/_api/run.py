"""``dimred.run``: train a model on a dataset, evaluate it in eval mode, save it and report, as ``dimred run``
does."""

from __future__ import annotations

import contextlib
import functools
import shlex
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dimred._api import pipeline, reporting, rows
from dimred._api.arguments import AUTO, check_callables, check_flags, check_out, check_training
from dimred._api.config import TOP_LEVEL_SETTINGS
from dimred._api.resume import as_going_on, check_resumable
from dimred._core.contracts import Data, EstimatorModel, HeldOut, Metric, Plugin, silent
from dimred._core.errors import UsageError
from dimred._core.runfiles import CHECKPOINT_NAME, CONFIG_FILE, FAILED_MARKER, METRICS_FILE, RUN_RESULTS
from dimred._core.settings import TrainingSettings, check_new_seed
from dimred._engine import distributed
from dimred._engine.callbacks import restore_states
from dimred._engine.modelfile import package_versions
from dimred._host.objective import LossSpec, describe_terms
from dimred._host.resolve import describe, group_settings, instantiate
from dimred._io.folderlock import check_unlocked
from dimred._io.rundir import (
    check_claimable,
    claimed_directory,
    default_run_directory,
    write_json,
)

if TYPE_CHECKING:
    from dimred._api.reducer import Reducer

CHECKPOINT_CALLBACK = "checkpoint"  # the built-in callback that saves the state every --checkpoint-every steps


def figures_of(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The single figures among a run's metrics (not the curves), for a short repr."""
    return {name: value for name, value in metrics.items() if isinstance(value, int | float)}


@dataclass(eq=False)
class RunResult:
    """What a run produced. ``path`` is the run directory, or None when nothing was written; ``failures`` names
    the metric and reporter plugins that failed (each was skipped; everything else was saved)."""

    metrics: dict[str, Any]
    history: list[dict[str, float]]
    path: Path | None
    config: dict[str, Any]
    codes: np.ndarray
    data: Data | None = field(default=None, repr=False)  # the rows the codes belong to (labels, colours, images)
    make_reducer: Callable[[], Reducer] | None = field(default=None, repr=False)
    failures: list[str] = field(default_factory=list)  # metrics and reporters that failed and were skipped
    run_key: str = ""  # the reporters' RunRecord.run_key

    def __repr__(self) -> str:  # the history and the curves among the metrics run to thousands of numbers
        return (f"RunResult(path={str(self.path) if self.path else None!r}, codes={self.codes.shape}, "
                f"steps={self.steps}, metrics={figures_of(self.metrics)!r})")  # fmt: skip

    @property
    def steps(self) -> int:
        """The optimizer steps the run trained for (0 for a model fitted in one call)."""
        return int(self.history[-1]["step"]) if self.history else 0

    @property
    def color(self) -> np.ndarray | None:
        """The dataset's colour values of the rows, for plots."""
        return None if self.data is None else self.data.color

    @functools.cached_property
    def reducer(self) -> Reducer | None:
        """The trained model as a fitted dimred.Reducer; None for a model that keeps its training rows as its
        state and maps no new rows by a saved function (Isomap, t-SNE, UMAP).

        Built on first use: scikit-learn, which Reducer builds on, takes most of a second to import.
        """
        return None if self.make_reducer is None else self.make_reducer()


def _training_settings(training: TrainingSettings | None, keywords: Mapping[str, Any]) -> TrainingSettings:
    if training is not None and keywords:
        raise UsageError(f"give training settings either as training= or as keywords, not both: {sorted(keywords)}")
    return training or TrainingSettings.from_mapping(keywords, "dimred.run")


def _run_directory(out: str | Path | None, dataset: str, model: str, *, resume: bool, overwrite: bool,
                   writes: Sequence[str]) -> Path | None:  # fmt: skip
    """The run directory to write into (None: nothing is written), checked but not yet created; a file of the
    user's there under a name in ``writes`` is refused."""
    if resume and (out is None or out == AUTO):
        raise UsageError("resume needs the run directory of the run to continue")
    if out is None:
        return None
    directory = default_run_directory(dataset, model) if out == AUTO else Path(out)
    if resume and (directory / METRICS_FILE).exists() and not (directory / FAILED_MARKER).exists():
        raise UsageError(f"run {directory} is already complete: it has its {METRICS_FILE}, written once its model "
                         "and results were (a plot its reporters had not drawn yet is all a stop after it can leave "
                         "out); to start it again there, run it with --overwrite instead of --resume (overwrite=True): "
                         f"dimred run --config {shlex.quote(str(directory / CONFIG_FILE))} --out "
                         f"{shlex.quote(str(directory))} --overwrite")  # fmt: skip
    check_claimable(directory, overwrite=overwrite, resume=resume, writes=writes)
    if directory.is_dir():  # a one-call model takes its folder only once it has fitted: refused now, not then
        check_unlocked(directory)
    return directory


def _check_compatible(training: TrainingSettings, callbacks: Sequence[Plugin], reporters: Sequence[Plugin], *,
                      out: str | Path | None, resume: bool, overwrite: bool, distributed: bool) -> None:  # fmt: skip
    """Refuse settings that cannot go together, before any data is read."""
    if resume and overwrite:  # one continues what is there, the other replaces it
        raise UsageError("resume=True (--resume) continues the run in its folder, overwrite=True (--overwrite) "
                         "starts it again there: give one of them")  # fmt: skip
    if distributed and resume:
        raise UsageError("resume=True (--resume) runs in one process; under torchrun, start the run again instead")
    if training.checkpoint_every is not None and out is None:
        raise UsageError("checkpoints need a run directory (out)")
    if training.checkpoint_every is not None and CHECKPOINT_CALLBACK not in {c.name for c in callbacks}:
        raise UsageError(f"--checkpoint-every saves through the '{CHECKPOINT_CALLBACK}' callback, which this run "
                         f"leaves out (no-{CHECKPOINT_CALLBACK}); drop one of the two")  # fmt: skip
    if out is not None:  # two reporters writing one file of its folder: one would write over the other's
        reporting.check_one_writer_each(reporters)


def _held_out(data: Data, X_raw: np.ndarray, fraction: float, seed: int,
              maps_new_rows: bool) -> tuple[Data, np.ndarray, Data | None, np.ndarray | None]:  # fmt: skip
    """The training rows (data and matrix) and the held-out ones (None without a held-out share)."""
    if not fraction:
        return data, X_raw, None, None
    train_rows, held_rows = rows.split_rows(len(X_raw), data.labels, fraction, seed)
    rows.check_split(X_raw, train_rows, held_rows, fraction, seed, maps_new_rows)
    return data.rows(train_rows), X_raw[train_rows], data.rows(held_rows), X_raw[held_rows]


def _config(source: Plugin, fitted: Mapping[str, Any], reporters: Sequence[Plugin], metrics: Sequence[Plugin], *,
            device: str, processes: int, holdout: float) -> dict[str, Any]:  # fmt: skip
    """The run's config.json: the plugins as described (the model, loss, callbacks and training as fitted to the
    data, ``fitted``), where it ran, and the package versions."""
    config = {
        "dataset": describe(source),
        "model": fitted["model"],
        "loss": fitted["loss"],
        "reporters": [describe(reporter) for reporter in reporters],
        "callbacks": fitted["callbacks"],
        "metrics": [describe(metric) for metric in metrics],
        "training": fitted["training"],
        "device_used": device,
        "processes": processes,
        "threads": torch.get_num_threads(),  # on the CPU another count trains other weights (float rounding)
        "versions": package_versions(),
    }  # fmt: skip
    for key in TOP_LEVEL_SETTINGS:  # kept at the top level, as config files have them
        config[key] = config["training"].pop(key)
    config["holdout"] = holdout
    return config


def _scores(outcome: pipeline.Outcome, data: Data, held: Data | None, X_held: np.ndarray | None,
            metrics: Sequence[Metric], seed: int,
            say: Callable[[str], None]) -> tuple[dict[str, Any], Any, HeldOut | None]:  # fmt: skip
    """The metrics on the training rows and, where rows were held out, on those (``holdout.*``), with what the
    reporters get of each scoring."""
    pipeline.announce_scoring(say, len(outcome.X), 0 if X_held is None else len(X_held))
    scores, context = pipeline.score(outcome, data, metrics, seed)
    if held is None or X_held is None:
        return scores, context, None
    held_scores, held_out = pipeline.score_held_out(outcome, held, X_held, data.labels, metrics, seed)
    return scores | held_scores, context, held_out


def run(
    dataset: str,
    model: str,
    *,
    loss: LossSpec | None = None,
    reporters: Sequence[str] | None = None,
    callbacks: Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    training: TrainingSettings | None = None,
    holdout: float | None = None,
    out: str | Path | None = AUTO,
    overwrite: bool = False,
    resume: bool = False,
    echo: Callable[[str], None] | None = None,
    **training_settings: Any,
) -> RunResult:
    """Train ``model`` on ``dataset``, evaluate it in eval mode, run the reporters and save everything.

    ``settings`` maps ``"kind.option"`` to a value (``{"dataset.n_samples": 2500}``), as ``--set`` does.
    Training settings are keywords (``steps=3000, lr=0.01, seed=1``: the fields of ``TrainingSettings``) or one
    ``training=TrainingSettings(...)``. ``callbacks`` are added to the default ones (``"no-NAME"`` removes one).
    ``holdout`` is the share of rows set aside (stratified by labels where the data has them) and scored as
    ``holdout.*`` metrics through the model's own transform; None: 0.1 from 500 to 2 000 000 rows (none for a
    model that cannot map new rows, as t-SNE; larger data is streamed from its file and not split), else none;
    0: none.
    ``out`` is the run directory: ``"auto"`` picks ``runs/<dataset>-<model>-<time>``, None writes nothing.
    With ``checkpoint_every`` the training state is saved to ``out/checkpoint.safetensors`` every that many steps;
    ``resume`` continues the killed run in ``out`` from it (give the same settings: the CLI's ``--resume`` reads
    them from the run's config.json). ``echo`` receives the lines reporters print.
    """
    check_out(out)
    check_flags(overwrite=overwrite, resume=resume)
    check_callables(echo=echo)
    check_training(training)
    say = echo or silent
    training = _training_settings(training, training_settings)
    if not resume:  # a run recorded with a larger seed before seeds stopped at 32 bits goes on with it
        check_new_seed(training.seed)
    groups = group_settings(settings)
    source = instantiate("dataset", dataset, groups.pop("dataset", {}))
    plugins = pipeline.resolve_training(model, loss, groups=groups, callbacks=callbacks)
    chosen_reporters = pipeline.resolve_reporters(reporters, groups)
    metric_plugins = pipeline.resolve_metrics(groups)
    world, device = distributed.join(training.device)
    _check_compatible(training, plugins.callbacks, chosen_reporters, out=out, resume=resume, overwrite=overwrite,
                      distributed=world.distributed)  # fmt: skip
    if not world.is_main:  # under torchrun only process 0 writes, reports and scores (it returns before reporting)
        out, say = None, silent
    writes = RUN_RESULTS + reporting.files_of(chosen_reporters)
    directory = _run_directory(out, dataset, model, resume=resume, overwrite=overwrite, writes=writes)

    computed_in = None if isinstance(plugins.model, EstimatorModel) else training.dtype  # one-call: float64
    data, X_raw = pipeline.load_data(source, training.seed, computed_in)
    maps_new_rows = getattr(plugins.model, "can_transform", True)
    fraction = rows.holdout_fraction(holdout, len(X_raw), maps_new_rows)
    rows.check_fittable(X_raw, plugins.model, pipeline.data_name(source))
    data, X_raw, held, X_held = _held_out(data, X_raw, fraction, training.seed, maps_new_rows)
    unsettled = {"model": describe(plugins.model), "loss": describe_terms(plugins.terms)}
    pipeline.check_one_call_settings(plugins.model, training, X_raw.shape)
    plugins, training, device = pipeline.prepared(plugins, training, X_raw.shape, device)
    config = _config(source, pipeline.fit_config(plugins, training, len(X_raw)), chosen_reporters, metric_plugins,
                     device=str(device), processes=world.size, holdout=fraction)  # fmt: skip
    recorded, states = check_resumable(directory, config, unsettled, X_raw) if resume else (config, {})
    restore_states(plugins.callbacks, states)  # a resumed callback may refuse the run by its state, as the others
    reporting.check_run([*plugins.callbacks, *chosen_reporters], config)
    if recorded.get("processes", 1) > world.size:
        warnings.warn(f"run {directory} trained in {recorded['processes']} processes (torchrun) and resumes in one: "
                      "it goes on as one process trains (batch norm over the whole batch, one dropout stream), not "
                      "bit for bit where the processes would have ended", stacklevel=2)  # fmt: skip
    going_on = as_going_on(recorded, config)  # a resumed run may go on otherwise than it started: it says so
    with contextlib.ExitStack() as claims:
        claimed: list[Path | None] = []

        def claim() -> Path | None:
            """The run folder, claimed once everything is checked (for a network, as its training starts): from
            then on a failure removes it (or marks it failed); a refusal before leaves it as it was."""
            claimed.append(claims.enter_context(claimed_directory(
                directory, overwrite=overwrite, resume=resume, resumable_by=CHECKPOINT_NAME, finished_by=METRICS_FILE,
                writes=writes, automatic=out == AUTO)))  # fmt: skip
            if claimed[0] is not None:
                write_json(claimed[0] / CONFIG_FILE, going_on)
            return claimed[0]

        outcome = pipeline.fit(plugins, X_raw, training, feature_names=data.feature_names,
                               data_named=pipeline.data_name(source), claim=claim, resume=resume, world=world,
                               device=device, echo=say, config=going_on)  # fmt: skip
        directory = claimed[0]
        distributed.leave(world)
        if not world.is_main:
            return RunResult({}, outcome.history, None, config, np.empty((0, 0)))
        if outcome.evaluated is not None:  # streamed data: evaluation sees a seeded sample of the rows
            data = data.rows(outcome.evaluated)
        if outcome.stop_reason is not None:
            steps = outcome.history[-1]["step"] if outcome.history else 0  # 0: stopped as it started
            say(f"training stopped early at step {steps}: {outcome.stop_reason}")
        metrics, context, held_out = _scores(outcome, data, held, X_held, metric_plugins, training.seed, say)
        if outcome.model is not None:  # where its model file says it came from (encode reads the same layer)
            outcome.model.trained_on = (dataset, config["dataset"]["options"])
        if directory is not None:
            pipeline.save_results(directory, outcome, metrics, held)
        if directory is not None and outcome.model is None:
            say(f"model '{model}' keeps no model file: its fitted state is the training set itself (the metrics "
                "and plots are saved, and config.json repeats the run)")  # fmt: skip
        record = pipeline.record_of(dataset, model, data, outcome, metrics, context, directory, say, held_out,
                                    going_on)  # fmt: skip
        failures = reporting.failures_of(metrics) + reporting.report(
            chosen_reporters, record, named=pipeline.names_other_reporters(reporters)
        )
    reporting.warn_skipped(failures)
    make_reducer = None if outcome.model is None else outcome.model.reducer
    return RunResult(metrics, outcome.history, directory, config, record.codes, data, make_reducer, failures,
                     record.run_key)  # fmt: skip
