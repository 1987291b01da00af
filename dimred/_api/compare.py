"""``dimred compare``: several models on one dataset over several seeds, side by side.

Every run goes through ``dimred.run`` (same metrics, same scaling); the result is a table (markdown and CSV)
of the mean and spread over seeds, the embeddings of the first seed side by side, and the R_NX curves.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import numbers
import re
import statistics
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dimred._api import pipeline, reporting, rows
from dimred._api.arguments import AUTO, check_callables, check_flags, check_out
from dimred._api.run import RunResult, run
from dimred._core.atomic import atomic_path, write_text
from dimred._core.contracts import ComparisonRecord, Dataset, EstimatorModel, Model, Reporter, silent
from dimred._core.errors import DimredError, UsageError, did_you_mean, first_line
from dimred._core.runfiles import (
    COMPARISON_CONFIGS_FILE,
    COMPARISON_CSV,
    COMPARISON_FIGURE_FILES,
    COMPARISON_JSON,
    COMPARISON_MARKDOWN,
    COMPARISON_RESULTS,
    MODELS_FOLDER,
)
from dimred._core.scatter import components_shown, rnx_curves, scatter_points
from dimred._core.settings import LOOP_SETTINGS, TrainingSettings, check_holdout
from dimred._engine import evaluation
from dimred._engine.device import resolve_device
from dimred._host.objective import LossSpec, parse_spec
from dimred._host.registry import get_registry
from dimred._host.resolve import (
    chosen_names,
    defaults_of,
    describe,
    group_settings,
    instantiate,
    instantiate_several,
    settings_mapping,
)
from dimred._io.rundir import RUNS_FOLDER, check_claimable, claimed_directory, timestamped_directory, write_json

VOTES_SUFFIX = "_k"  # KEY_k: how many rows voted for KEY where fewer than its k could (a note, not a column)
# figures of the data's labels: shown, as not available, where labels were read but give none (a single class)
LABEL_METRICS = ("knn_accuracy", "silhouette")
# the figures of k neighbours (the rows' "neighbours", fewer than NEIGHBOURS where the rows are few)
NEIGHBOURHOOD_FIGURES = ("trustworthiness", "continuity", "knn_preservation")
COLUMNS = (
    ("train_seconds", "fit s"),
    ("transform_seconds", "transform s"),
    ("rmse", "RMSE"),
    ("trustworthiness", "trustworthiness"),
    ("continuity", "continuity"),
    ("knn_preservation", "kNN preservation"),
    ("rnx_auc", "R_NX area"),
    ("spearman_intrinsic", "Spearman (true coords)"),
    ("knn_accuracy", "kNN accuracy"),
    ("silhouette", "silhouette"),
    ("holdout.rmse", "held-out RMSE"),
    ("holdout.trustworthiness", "held-out trustworthiness"),
    ("holdout.continuity", "held-out continuity"),
    ("holdout.knn_preservation", "held-out kNN preservation"),
    ("holdout.rnx_auc", "held-out R_NX area"),
    ("holdout.spearman_intrinsic", "held-out Spearman (true coords)"),
    ("holdout.knn_accuracy", "held-out kNN accuracy"),
    ("holdout.silhouette", "held-out silhouette"),
    # new rows: umap-learn's transform of its training rows returns the embedding it stored, in no time
    ("holdout.transform_seconds", "held-out transform s"),
)


@dataclass(eq=False)
class Comparison:
    """Every run of every model, the models that failed, and where the comparison was written (None when
    nowhere)."""

    dataset: str
    runs: dict[str, list[RunResult]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # each model that failed, with its error
    skipped: list[str] = field(default_factory=list)  # the metrics and reporters a run skipped, by model and seed
    path: Path | None = None

    def __repr__(self) -> str:  # each run's metrics and history would run to thousands of numbers
        seeds = len(next(iter(self.runs.values()), []))
        return (f"Comparison(dataset={self.dataset!r}, models={list(self.runs)!r}, seeds={seeds}, "
                f"failed={list(self.failed)!r}, path={str(self.path) if self.path else None!r})")  # fmt: skip

    def _repr_markdown_(self) -> str:
        """The table, as a notebook shows the comparison."""
        return self.markdown()

    @property
    def failures(self) -> list[str]:
        """The models that failed and the plugins skipped, each as one phrase."""
        failed = [f"model '{model}' failed ({error})" for model, error in self.failed.items()]
        return failed + [f"{skipped} (skipped)" for skipped in self.skipped]

    def columns(self) -> list[tuple[str, str]]:
        """The table's columns: those of COLUMNS that some run reports (held-out and label figures need a
        held-out split and labels; label figures are shown where the labels give none), then every other figure a
        metric reported (a plugin's), by its name."""
        reported: dict[str, list[Any]] = {}
        for results in self.runs.values():
            for result in results:
                for key, value in result.metrics.items():
                    if value is not None:
                        reported.setdefault(key, []).append(value)
                    elif key.removeprefix(evaluation.HELD_OUT_PREFIX) in LABEL_METRICS:
                        reported.setdefault(key, [])  # labels read that give none: shown as not available
        known = [(key, label) for key, label in COLUMNS if key in reported]
        others = [key for key, values in reported.items()
                  if key not in dict(COLUMNS) and not _is_a_vote_count(key, reported)
                  and all(_is_a_figure(key, value) for value in values)]  # fmt: skip
        return known + [(key, key.replace(evaluation.HELD_OUT_PREFIX, "held-out ")) for key in sorted(others)]

    def summary(self, key: str, model: str) -> tuple[float, float | None] | None:
        """Mean and standard deviation over seeds of one metric (no deviation from one seed: a single run has
        no spread to show, not a spread of 0); None when the model does not have it."""
        values = [result.metrics.get(key) for result in self.runs[model]]
        if any(value is None for value in values):
            return None
        # in a power of two near the largest value (exact: the same figures): a plugin metric's finite 1e308 had
        # overflowed the sums ("unexpected OverflowError", the comparison lost)
        exponent = math.frexp(max(abs(value) for value in values))[1]
        scaled = [math.ldexp(value, -exponent) for value in values]
        return math.ldexp(statistics.fmean(scaled), exponent), _deviation(scaled, exponent)

    def _votes(self, key: str, model: str) -> str:
        """' (k=N)' where fewer rows than a metric's k voted (its KEY_k, the same for every seed of a model), and
        where the rows' neighbourhoods are smaller than the usual NEIGHBOURS (few rows, training or held out):
        the figures side by side had read as comparable, and as the columns' k."""
        metrics = self.runs[model][0].metrics
        voted = metrics.get(key + VOTES_SUFFIX)
        prefix = evaluation.HELD_OUT_PREFIX if key.startswith(evaluation.HELD_OUT_PREFIX) else ""
        neighbours = metrics.get(prefix + "neighbours")
        if voted is None and key.removeprefix(prefix) in NEIGHBOURHOOD_FIGURES and neighbours != evaluation.NEIGHBOURS:
            voted = neighbours
        return "" if voted is None else f" (k={voted})"

    def markdown(self) -> str:
        columns = self.columns()
        header = "| method | " + " | ".join(label for _key, label in columns) + " |"
        lines = [header, "|" + "---|" * (len(columns) + 1)]
        for model in self.runs:
            cells = []
            for key, _label in columns:
                found = self.summary(key, model)
                number = "{:.3g}" if key.endswith("_seconds") or found is None else _decimals_or_digits(found[0])
                cells.append("n/a" if found is None else _mean_and_spread(number, *found) + self._votes(key, model))
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        for model, error in self.failed.items():
            lines.append(f"| {model} | failed: {error.replace('|', '/')} |" + " |" * (len(columns) - 1))
        seeds = len(next(iter(self.runs.values()), []))
        over = "one seed" if seeds == 1 else f"mean ± standard deviation over {seeds} seeds"
        first = next((results[0].metrics for results in self.runs.values() if results), {})
        return "\n".join(lines) + f"\n\n{over}, dataset {self.dataset}{_sampling_note(first)}\n"

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        columns = self.columns()
        writer.writerow(["method", *(f"{key}_{part}" for key, _label in columns for part in ("mean", "std")), "error"])
        for model in self.runs:
            cells: list[Any] = [model]
            for key, _label in columns:
                found = self.summary(key, model)
                mean, spread = found or (None, None)
                cells += ["" if value is None else f"{value:.6g}" for value in (mean, spread)]
            writer.writerow([*cells, ""])
        for model, error in self.failed.items():
            writer.writerow([model, *[""] * (2 * len(columns)), error])
        return buffer.getvalue()


def _sampling_note(metrics: Mapping[str, Any]) -> str:
    """Where the neighbourhood figures came from a seeded sample of the rows (large data), how many they saw."""
    seen = []
    for prefix, which in (("", "training"), (evaluation.HELD_OUT_PREFIX, "held-out")):
        size, n = metrics.get(f"{prefix}metric_sample_size"), metrics.get(f"{prefix}n_samples")
        if size is not None and n is not None and size < n:
            seen.append(f"{size} of the {n} {which} rows")
    return f"; neighbourhood figures on a seeded sample of {' and '.join(seen)}" if seen else ""


def _is_a_vote_count(key: str, reported: Mapping[str, Any]) -> bool:
    """Whether ``key`` is KEY_k beside a reported KEY: how many rows voted for it, a note on its cells."""
    return key.endswith(VOTES_SUFFIX) and key.removesuffix(VOTES_SUFFIX) in reported


def _is_a_figure(key: str, value: Any) -> bool:
    """A metric's number, not one of dimred's own fields (row counts, neighbours, timings)."""
    own = key.removeprefix(evaluation.HELD_OUT_PREFIX) in evaluation.OWN_FIELDS
    return not own and isinstance(value, int | float) and not isinstance(value, bool)


def _deviation(scaled: list[float], exponent: int) -> float | None:
    """The standard deviation of values given as ``scaled`` * 2^``exponent``; None for one value, which has no
    spread to show, and for a spread beyond floats' range."""
    if len(scaled) < 2:
        return None
    try:
        return math.ldexp(statistics.stdev(scaled), exponent)
    except OverflowError:
        return None


def _decimals_or_digits(mean: float) -> str:
    """Three decimals where they show the figure (scores, errors of scaled data), else three significant digits:
    an RMSE of 4e-4 had read 0.000, and a plugin's 1e308 a number of 309 digits."""
    return "{:.3f}" if mean == 0 or 1e-3 <= abs(mean) < 1e6 else "{:.3g}"


def _mean_and_spread(number: str, mean: float, spread: float | None) -> str:
    """The mean in ``number``'s format, and its spread in three decimals or, below 0.001, three significant digits
    (a spread of 0.0003 had read 0.000, as if the seeds agreed)."""
    if spread is None:
        return number.format(mean)
    spread_number = _decimals_or_digits(spread) if number == "{:.3f}" else number
    return f"{number.format(mean)} ± {spread_number.format(spread)}"


def _draw_embeddings(comparison: Comparison, path: Path) -> None:
    from matplotlib.figure import Figure

    models = list(comparison.runs)
    columns = min(len(models), PANELS_PER_ROW)
    lines = math.ceil(len(models) / columns)
    figure = Figure(figsize=(4 * columns, 4 * lines), layout="constrained")
    for index, model in enumerate(models, start=1):
        result = comparison.runs[model][0]
        labels = None if result.data is None else result.data.labels
        # one legend, at the right of the first row
        title = model + components_shown(result.codes.shape[1])
        axes = scatter_points(figure, (lines, columns, index), result.codes[:, :2], title, color=result.color,
                              labels=labels, legend=index == columns,  # beside the first row's last panel
                              color_name=None if result.data is None else result.data.color_name)  # fmt: skip
        axes.set_xticks([])
        axes.set_yticks([])
    # on two lines: one panel (4 inches) is narrower than the whole sentence
    seeds = "seed 0\n(the table gives the means over the seeds)" if _several_seeds(comparison) else "seed 0"
    figure.suptitle(f"{comparison.dataset}, {seeds}")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")


def _several_seeds(comparison: Comparison) -> bool:
    """Whether the table holds means over seeds (a model ran more than seed 0), which the figures' seed 0 is not."""
    return any(len(results) > 1 for results in comparison.runs.values())


def _draw_rnx(comparison: Comparison, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    first_seeds = {model: results[0].metrics for model, results in comparison.runs.items()}
    seeds = " (the table: means over seeds)" if _several_seeds(comparison) else ""
    title = f"{comparison.dataset}: neighbourhood preservation, seed 0{seeds}"
    rnx_curves(figure.add_subplot(111), first_seeds, title)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")


def compare(
    dataset: str,
    models: Sequence[str],
    *,
    seeds: int = 1,
    settings: Mapping[str, Any] | None = None,
    out: str | Path | None = AUTO,
    overwrite: bool = False,
    save: bool = False,
    echo: Callable[[str], None] | None = None,
    **run_options: Any,
) -> Comparison:
    """Run every model on ``dataset`` with seeds 0..seeds-1 and tabulate the metrics.

    ``settings`` sets dataset and metric options for every run (``{"dataset.n_samples": 3000}``), a loss's
    options for the runs that train with it as ``loss.NAME.OPTION`` (``{"loss.ne-tsne.neighbours": 15}``) and a
    model's own options as ``model.NAME.OPTION`` (``{"model.ne-ae.n_components": 3}``); ``run_options`` (steps, lr,
    device...) go to every ``dimred.run``, except the loss and the training loop's settings to a model fitted in
    one call. Every model trains on the same rows: without a ``holdout``,
    a model that cannot map new rows (t-SNE) holds out the rows the others hold out by default. ``save`` keeps
    each model's seed-0 fit as ``models/<model>.safetensors`` in the output folder (for ``dimred.load``,
    ``encode``, ``export``). ``reporters`` and ``callbacks`` among ``run_options`` go to every run (``["mlflow"]``
    logs each to MLflow, nested in a run of the comparison; the runs write no folders, so file-writing reporters
    have nothing to write into), and ``settings`` hold their options (``{"reporter.mlflow.experiment": "x"}``).
    """
    check_flags(overwrite=overwrite, save=save)
    check_callables(echo=echo)
    models = _named_models(models)
    if isinstance(seeds, bool) or not isinstance(seeds, numbers.Integral) or seeds < 1:
        raise UsageError(f"seeds is how many seeds to run, a whole number from 1, got {seeds!r}")
    seeds = int(seeds)
    settings = settings_mapping(settings)
    run_options = dict(run_options)
    reporters = run_options.pop("reporters", None) or []  # each run's (MLflow's, say): its results stay in memory
    if taken := sorted({"seed", "resume"} & set(run_options)):
        raise UsageError(f"compare sets {taken[0]} for each run itself (seeds=N runs seeds 0 to N-1); leave it out")
    _check_run_options(run_options)
    settings, per_model, loss_settings = _split_settings(settings, models)
    # unknown names and bad options fail before anything runs, once: the models' own, the data set's, the metrics',
    # the losses'
    plugins = {model: instantiate("model", model, per_model[model], f"model.{model}") for model in models}
    losses = {model: _losses_of(plugin, run_options.get("loss")) for model, plugin in plugins.items()}
    _check_loss_settings(loss_settings, losses)
    own_settings = {  # each model's runs' own
        model: {f"model.{option}": value for option, value in own.items()}
        | _settings_of_losses(loss_settings, losses[model])
        for model, own in per_model.items()
    }
    shared = group_settings(settings)
    source = instantiate("dataset", dataset, shared.pop("dataset", {}))
    pipeline.resolve_metrics(shared)
    # the default reporters that show the comparison in its folder (the explorer) take their options from here,
    # not the runs (which write no folder)
    comparison_reporters = _comparison_defaults(reporters, shared) if out is not None else []
    settings = {key: value for key, value in settings.items()
                if not key.startswith(tuple(f"reporter.{shown.name}." for shown in comparison_reporters))}  # fmt: skip
    runs_reporters = pipeline.resolve_reporters(reporters, shared)  # they show the comparison too, at the end
    runs_callbacks = instantiate_several(
        "callback", chosen_names("callback", run_options.get("callbacks"), adds_to_defaults=True), shared)  # fmt: skip
    described = {"reporters": list(map(describe, runs_reporters)), "callbacks": list(map(describe, runs_callbacks))}
    reporting.check_run([*runs_callbacks, *runs_reporters], described)
    _check_values(run_options)
    check_out(out)
    if save and out is None:
        raise UsageError("save keeps the models in the output folder: give out")
    directory = None
    showing = _showing_comparisons([*comparison_reporters, *runs_reporters])
    if out is not None:
        reporting.check_one_writer_each(showing)
    writes = COMPARISON_RESULTS + (_saved_files(models) if save else ()) + reporting.files_of(showing)
    if out is not None:
        directory = timestamped_directory(RUNS_FOLDER, f"compare-{dataset}") if out == AUTO else Path(out)
        check_claimable(directory, overwrite=overwrite, resume=False, writes=writes, work="comparison")
    say = echo or silent
    shape = _shape_every_run_takes(source, run_options.get("holdout"), seeds, plugins.values())
    run_options = _same_holdout_for_all(shape[0], plugins.values(), run_options)
    _check_loop_settings_apply(plugins, run_options, shape)
    for plugin in plugins.values():  # refused before any model runs, as dimred run refuses it
        try:
            rows.check_components(plugin, shape[1])
        except UsageError as error:
            raise UsageError(_as_compare_says(error, plugin)) from None
    # claimed before the first model runs: a folder that cannot be had, or another comparison's, fails now, not
    # after all the work; a comparison that fails or is stopped removes the folder it created (one it was given
    # with overwrite has lost the earlier comparison's files by then, as a run's has)
    with claimed_directory(directory, overwrite=overwrite, writes=writes, automatic=out == AUTO,
                           work="comparison") as directory:  # fmt: skip
        comparison = _compared(dataset, models, seeds, plugins, settings, own_settings, run_options, reporters, say)
        if directory is not None:
            _write(comparison, directory)
        skipped = len(comparison.skipped)
        # after the files: a tracker may log them
        _report(comparison, directory, say, showing)
        if directory is not None and len(comparison.skipped) > skipped:  # a reporter that failed is listed too
            _write_comparison_json(comparison, directory)
        if save:  # which needs a folder (checked above)
            _keep_models(comparison, directory / MODELS_FOLDER, say)
    comparison.path = directory
    return comparison


def _named_models(models: Sequence[str]) -> list[str]:
    """The models to compare, each a model plugin's name, once."""
    if isinstance(models, str):
        raise UsageError(f"models must be a list of names, e.g. [{models!r}], not a string")
    if not models:
        raise UsageError("name at least one model to compare (--model NAME, repeatable)")
    models = list(models)  # a generator's names, once
    for model in models:  # each a plugin's name (a dict or list would not even be a key of the models' table)
        get_registry().get("model", model)
    if repeated := sorted({model for model in models if models.count(model) > 1}):
        raise UsageError(f"model '{repeated[0]}' is named twice; name each model once (its seeds: seeds=N, --seeds N)")
    return models


def _check_values(run_options: Mapping[str, Any]) -> None:
    """The held-out share, the device and the training settings every run gets, refused once before any runs."""
    if run_options.get("holdout") is not None:
        check_holdout(run_options["holdout"])
    if "device" in run_options:  # an absent GPU is one error, not one per model
        resolve_device(run_options["device"])
    TrainingSettings.from_mapping(
        {name: value for name, value in run_options.items() if name in TrainingSettings.names()}
    )


PANELS_PER_ROW = 3  # the embeddings figure wraps its panels (4 inches each) into rows of at most this many
# what compare hands on to every run besides the training loop's settings
RUN_OPTIONS = ("loss", "callbacks", "holdout")
FOLDER_SETTINGS = ("checkpoint_every",)  # compare's runs write no folders


def _check_run_options(run_options: Mapping[str, Any]) -> None:
    """Names compare does not take, refused in its own words before anything runs (each run had refused them as
    dimred.run's, and checkpoints as needing a folder that had been given: every network model failed)."""
    if folder := sorted(set(FOLDER_SETTINGS) & set(run_options)):
        raise UsageError(f"compare's runs write no folders of their own, so {folder[0]} has nothing to write into; "
                         "leave it out (train the model alone with dimred run to keep checkpoints)")  # fmt: skip
    allowed = [*RUN_OPTIONS, *(name for name in TrainingSettings.names() if name not in ("seed", *FOLDER_SETTINGS))]
    if unknown := sorted(set(run_options) - set(allowed)):
        raise UsageError(f"dimred.compare: unknown setting '{unknown[0]}'{did_you_mean(unknown[0], allowed)}; "
                         f"allowed: {', '.join(allowed)}")  # fmt: skip


def _check_loop_settings_apply(plugins: Mapping[str, Model], run_options: Mapping[str, Any],
                               shape: tuple[int, int]) -> None:  # fmt: skip
    """A training loop's setting where every compared model is fitted in one call applies to none of them: refused
    as dimred run refuses it for such a model (it had been dropped without a word); where a network is compared,
    it is the network's."""
    if not all(isinstance(plugin, EstimatorModel) for plugin in plugins.values()):
        return
    given = TrainingSettings.from_mapping({name: value for name, value in run_options.items() if name in LOOP_SETTINGS})
    n_rows, n_columns = shape
    for plugin in plugins.values():  # on the rows its runs train on, as dimred run checks them
        fraction = rows.holdout_fraction(run_options.get("holdout"), n_rows, getattr(plugin, "can_transform", True))
        pipeline.check_one_call_settings(plugin, given, (n_rows - rows.held_out_count(n_rows, fraction), n_columns))


def _compared(dataset: str, models: Sequence[str], seeds: int, plugins: Mapping[str, Model],
              settings: Mapping[str, Any], own_settings: Mapping[str, dict[str, Any]], run_options: dict[str, Any],
              reporters: Any, say: Callable[[str], None]) -> Comparison:  # fmt: skip
    """Every model's runs, one per seed, each with the comparison's ``settings`` and its model's ``own_settings``;
    a model that fails is named in the comparison and the others go on. One error where every model failed."""
    comparison = Comparison(dataset)
    errors: dict[str, DimredError] = {}
    names = list(models)  # each named once (refused otherwise)
    for place, model in enumerate(names, start=1):
        for seed in range(seeds):
            say(f"{model}, seed {seed}...")
            try:
                options = _run_options_for(plugins[model], run_options)
                with _warnings_as_compare_says(plugins[model]):
                    result = run(dataset, model, settings=settings | own_settings[model], seed=seed, out=None,
                                 reporters=reporters, **options)  # fmt: skip
            except DimredError as error:  # this model failed: the others are still compared
                errors[model] = error
                comparison.failed[model] = f"seed {seed}: {_as_compare_says(error, plugins[model])}"
                comparison.runs.pop(model, None)
                going_on = "; the others go on" if place < len(names) else ""
                say(f"{model} failed at seed {seed}{going_on} (the error is said at the end)")
                break
            comparison.runs.setdefault(model, []).append(result)
            comparison.skipped += [f"{model}, seed {seed}: {failure}" for failure in result.failures]
    if len(errors) == len(names):  # nothing compared: one error, and no folder it made
        _raise_for_all(errors, plugins)
    return comparison


SHARED_KINDS = ("dataset.", "metric.", "reporter.", "callback.")  # settings every run takes alike


def _split_settings(settings: Mapping[str, Any], models: Iterable[str]) -> tuple[dict, dict[str, dict], dict]:
    """The settings every run takes (dataset, metric, reporter and callback options), each model's own options,
    given as ``model.NAME.OPTION`` (a setting for a model not compared is named), and the losses' options, given
    as ``loss.NAME.OPTION``, for the runs that train with that loss."""
    shared = {key: value for key, value in settings.items() if key.startswith(SHARED_KINDS)}
    own: dict[str, dict[str, Any]] = {name: {} for name in models}
    losses: dict[str, Any] = {}
    for key, value in settings.items():
        if key in shared:
            continue
        kind, _, rest = key.partition(".")
        name, _, option = rest.rpartition(".")
        if kind not in ("model", "loss") or not name:
            raise UsageError(f"compare takes dataset.OPTION, metric.NAME.OPTION, reporter.NAME.OPTION and "
                             f"callback.NAME.OPTION settings for every run, loss.NAME.OPTION for the runs that train "
                             f"with that loss and model.NAME.OPTION for one model's, not {key!r}")  # fmt: skip
        if kind == "loss":
            losses[key] = value
            continue
        if name not in own:
            raise UsageError(f"setting {key!r} is for model '{name}', which is not compared here: "
                             f"{', '.join(own)}")  # fmt: skip
        own[name][option] = value
    return shared, own, losses


def _losses_of(model: Model, loss: LossSpec | None) -> list[str]:
    """The losses a compared model trains with: the comparison's ``loss``, else its own default; none for a
    model fitted in one call."""
    if isinstance(model, EstimatorModel):
        return []
    return [name for name, _weight in parse_spec(loss or model.default_loss)]


def _check_loss_settings(loss_settings: Mapping[str, Any], losses: Mapping[str, list[str]]) -> None:
    """Refuse, before anything runs, options for a loss no compared model trains with, and bad ones (built once,
    as each run would build them)."""
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in loss_settings.items():
        name, _, option = key.removeprefix("loss.").rpartition(".")
        grouped.setdefault(name, {})[option] = value
    for name, options in grouped.items():
        if not any(name in trained for trained in losses.values()):
            get_registry().get("loss", name)  # an unknown name as such, with the valid ones
            each = ", ".join(f"{model}: {'+'.join(trained) or 'none (fitted in one call)'}"
                             for model, trained in losses.items())  # fmt: skip
            raise UsageError(f"loss.{name} options are for loss '{name}', which no compared model trains with "
                             f"({each}); in Python, loss= names the loss every network trains with")  # fmt: skip
        instantiate("loss", name, options, prefix=f"loss.{name}")


def _settings_of_losses(loss_settings: Mapping[str, Any], trained: list[str]) -> dict[str, Any]:
    """The ``loss.NAME.OPTION`` settings of the losses a model trains with."""
    return {key: value for key, value in loss_settings.items()
            if key.removeprefix("loss.").rpartition(".")[0] in trained}  # fmt: skip


def _shape_every_run_takes(source: Dataset, holdout: float | None, seeds: int,
                           models: Iterable[Model]) -> tuple[int, int]:  # fmt: skip
    """How many rows and columns the data set has; data that no run could take (unreadable, too few rows, one point, a
    ``holdout`` that leaves too few rows on a side, or that leaves some seed's training rows or, where every model
    scores them, its held-out rows all one point) is refused here once, before any model runs. Each seed's split
    is checked on that seed's data (a generated set's differ)."""
    maps_new_rows = [getattr(model, "can_transform", True) for model in models]
    for seed in range(seeds):
        data, X = pipeline.load_data(source, seed)
        rows.check_scorable(X, pipeline.data_name(source))
        fraction = rows.holdout_fraction(holdout, len(X), any(maps_new_rows))
        if fraction:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # each run warns of its own split
                train, held = rows.split_rows(len(X), data.labels, fraction, seed)
            rows.check_split(X, train, held, fraction, seed, all(maps_new_rows))
    return X.shape


def _same_holdout_for_all(n_rows: int, models: Iterable[Model], run_options: Mapping[str, Any]) -> dict[str, Any]:
    """The run options with the default holdout made explicit where some models map new rows and others (t-SNE)
    do not: every model then trains on the same rows, and one without a transform has no held-out figures,
    instead of training on all the rows where the others train on nine tenths."""
    maps_new_rows = {getattr(model, "can_transform", True) for model in models}
    if run_options.get("holdout") is not None or len(maps_new_rows) < 2:
        return dict(run_options)
    return {**run_options, "holdout": rows.holdout_fraction(None, n_rows)}


def _run_options_for(model: Model, run_options: Mapping[str, Any]) -> dict[str, Any]:
    """What a model takes of the comparison's run options: one fitted in one call takes no loss and no setting
    of the training loop (those are for the networks compared with it)."""
    if not isinstance(model, EstimatorModel):
        return dict(run_options)
    return {name: value for name, value in run_options.items() if name not in (*LOOP_SETTINGS, "loss")}


def _raise_for_all(errors: Mapping[str, DimredError], plugins: Mapping[str, Model]) -> None:
    """The error of a comparison in which every model failed: the one message where all failed alike (a file
    that cannot be read), else each model's; a usage error where every model refused the settings or data."""
    kind = UsageError if all(isinstance(error, UsageError) for error in errors.values()) else DimredError
    messages = {model: _as_compare_says(error, plugins[model]) for model, error in errors.items()}
    if len(set(messages.values())) == 1:
        raise kind(next(iter(messages.values())))
    raise kind("every model failed: " + "; ".join(f"{model}: {message}" for model, message in messages.items()))


@contextlib.contextmanager
def _warnings_as_compare_says(model: Model) -> Iterator[None]:
    """The warnings of a model's run, said once it ends (fails too) as compare says them: each the same warning
    (its class and attributes), its text rewritten."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            yield
    except BaseException:
        with contextlib.suppress(Warning):  # one the filters make an error: never in place of the run's own
            _warn_again(caught, model)
        raise
    _warn_again(caught, model)


def _warn_again(caught: list[warnings.WarningMessage], model: Model) -> None:
    for warning in caught:
        message = warning.message
        if isinstance(message, Warning) and len(message.args) == 1 and isinstance(message.args[0], str):
            message.args = (_as_compare_says(message.args[0], model),)
        warnings.warn_explicit(message, warning.category, warning.filename, warning.lineno,
                               module=_module_of(warning.filename))  # fmt: skip


def _module_of(filename: str) -> str | None:
    """The dotted name of the module a warning came from, for the filters that name one (dimred._api.run)."""
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == filename:
            return name
    return None


def _as_compare_says(message: object, model: Model) -> str:
    """A run's error or warning as compare says it: an option of the model that it names (``model.OPTION``) named
    as compare takes it (``model.NAME.OPTION``)."""
    names = "|".join(re.escape(option.name) for option in dataclasses.fields(model.options))
    if not names:
        return str(message)
    return re.sub(rf"(?<![\w.-])model\.(?=(?:{names})\b)", f"model.{model.name}.", str(message))


def _write(comparison: Comparison, directory: Path) -> None:
    """The figures, then the tables, configs.json (each run's settings, to reproduce it with dimred run --config)
    and comparison.json, which lists a figure that could not be drawn."""
    if comparison.runs:
        for name, draw in zip(COMPARISON_FIGURE_FILES, (_draw_embeddings, _draw_rnx), strict=True):
            _draw_or_skip(comparison, directory / name, draw)
    write_text(directory / COMPARISON_MARKDOWN, comparison.markdown())
    write_text(directory / COMPARISON_CSV, comparison.csv())
    # without the runs' reporters: they wrote no folder, and a rerun in one draws the default plots
    configs = {model: [{key: value for key, value in result.config.items() if key != "reporters"} for result in results]
               for model, results in comparison.runs.items()}  # fmt: skip
    write_json(directory / COMPARISON_CONFIGS_FILE, configs)
    _write_comparison_json(comparison, directory)


def _draw_or_skip(comparison: Comparison, path: Path, draw: Callable[[Comparison, Path], None]) -> None:
    """A figure matplotlib cannot draw (its rc settings ask for a LaTeX it cannot find, or a backend it does not
    know) is skipped, as a run skips a plot reporter that fails: the comparison's figures had been lost with it."""
    try:
        draw(comparison, path)
    except DimredError:  # writing the file (a full disk): no figure, and no table either
        raise
    except Exception as error:
        failure = f"the figure {path.name} could not be drawn: {first_line(error)}"
        comparison.skipped.append(failure)
        reporting.warn_skipped([failure])


def _write_comparison_json(comparison: Comparison, directory: Path) -> None:
    """comparison.json: every run's metrics, the models that failed and the plugins that were skipped."""
    metrics = {model: [result.metrics for result in results] for model, results in comparison.runs.items()}
    write_json(directory / COMPARISON_JSON, {**metrics, "failed": comparison.failed, "skipped": comparison.skipped})


def _comparison_defaults(named: Sequence[str], groups: dict[str, dict[str, Any]]) -> list[Reporter]:
    """The default reporters that show a comparison (``report_comparison``, the explorer) and that the runs do not
    name, each with its ``reporter.NAME.*`` options (taken out of ``groups``)."""
    registry = get_registry()
    names = [name for name in defaults_of("reporter")
             if name not in named and _shows_comparisons(registry.get("reporter", name).cls)]  # fmt: skip
    return [instantiate("reporter", name, groups.pop(f"reporter.{name}", {}), f"reporter.{name}") for name in names]


def _shows_comparisons(reporter: type[Reporter]) -> bool:
    return reporter.report_comparison is not Reporter.report_comparison


def _showing_comparisons(reporters: Sequence[Reporter]) -> list[Reporter]:
    return [shown for shown in reporters if _shows_comparisons(type(shown))]


def _report(comparison: Comparison, directory: Path | None, echo: Callable[[str], None],
            reporters: Sequence[Reporter]) -> None:  # fmt: skip
    """Hand the first seed's codes to ``reporters`` (those that show comparisons, ``report_comparison``: the
    comparison's defaults, then its runs', after the files they may log are written); one that fails is skipped,
    as in a run, and listed among the comparison's skipped plugins."""
    if not reporters or not comparison.runs:
        return
    first = {model: results[0] for model, results in comparison.runs.items()}
    data = next(iter(first.values())).data  # every model's first run trained on the same rows
    codes = {model: result.codes for model, result in first.items() if len(result.codes) == len(data.X)}
    keys = tuple(result.run_key for results in comparison.runs.values() for result in results)
    record = ComparisonRecord(comparison.dataset, data, codes, directory, echo, keys, dict(comparison.failed))
    failures = reporting.report(reporters, record)
    comparison.skipped += failures
    reporting.warn_skipped(failures)


def _saved_files(models: Sequence[str]) -> tuple[str, ...]:
    """What ``save`` writes: the models folder and a model file per model (a user's file under one of those
    names is refused before anything runs)."""
    return (MODELS_FOLDER, *(f"{MODELS_FOLDER}/{model}.safetensors" for model in models))


def _keep_models(comparison: Comparison, folder: Path, echo: Callable[[str], None]) -> None:
    """Each model's first fit (seed 0) as a model file ``folder/<model>.safetensors``, for ``dimred.load``; a
    model that keeps none (its fitted state is the training set) is named. (The model files of an earlier
    comparison in the folder were removed when the comparison claimed it.)"""
    for model, results in comparison.runs.items():
        reducer = results[0].reducer
        if reducer is None:
            echo(f"{model} keeps no model file: its fitted state is the training set itself")
        else:
            folder.mkdir(exist_ok=True)  # only where a model is kept: no empty folder
            reducer.save(folder / f"{model}.safetensors", overwrite=True, dataset=comparison.dataset)
