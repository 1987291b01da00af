"""The stages every entry point shares: resolve plugins -> load data -> fit -> evaluate -> save -> report.

``dimred.run``, ``Reducer.fit``, ``dimred.evaluate`` and ``dimred compare`` are compositions of these functions,
with ``rows`` (which rows train and which are held out), ``outputs`` (the checks of what a fitted model gives) and
``reporting`` (the reporters' turn); each stage does one job.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dimred._api import outputs, rows
from dimred._api.fitted import AsGiven, FittedModel
from dimred._core.contracts import (
    Callback,
    Data,
    Dataset,
    EstimatorModel,
    HeldOut,
    Loss,
    Metric,
    Model,
    Reporter,
    RunRecord,
    Term,
    new_run_key,
    silent,
)
from dimred._core.errors import PluginError, UsageError, blame
from dimred._core.options import build, to_dict
from dimred._core.runfiles import (
    HELD_OUT_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
)
from dimred._core.settings import LOOP_SETTINGS, TrainingSettings, checked_suggestions
from dimred._engine import evaluation, fitting
from dimred._engine.device import as_tensor, computes_bf16, resolve_device, resolve_dtype
from dimred._engine.distributed import World
from dimred._engine.scaling import Scaler, UnsavableColumnError
from dimred._host.objective import (
    LossSpec,
    build_terms,
    describe_terms,
    options_of,
    parse_spec,
    spec_text,
    terms_from_settings,
)
from dimred._host.registry import get_registry
from dimred._host.resolve import chosen_names, defaults_of, describe, instantiate, instantiate_several
from dimred._io.rundir import write_history, write_json, write_row_numbers
from dimred._io.validation import DataError, check_matrix

Echo = Callable[[str], None]


# -- resolve ---------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class TrainingPlugins:
    """What training needs: the model plugin, the weighted losses and the callbacks."""

    model: Model
    terms: list[Term]
    callbacks: list[Callback]


def resolve_training(
    model_name: str,
    loss: LossSpec | None,
    *,
    groups: dict[str, dict[str, Any]] | None = None,
    loss_options: Mapping[str, Mapping[str, Any]] | None = None,
    model: Model | None = None,
    callbacks: Sequence[str] | None = None,
) -> TrainingPlugins:
    """Instantiate the model, its losses and the callbacks, taking their options out of ``groups`` (grouped
    ``--set`` settings) or, for the Reducer, from ``loss_options``."""
    groups = {} if groups is None else groups
    loss = loss or None  # an empty spec is the model's own loss, whichever kind of model it is
    model = model or instantiate("model", model_name, groups.pop("model", {}))
    # a one-call model's run records its default loss (mse), which a rerun of its config.json gives back
    if loss is not None and isinstance(model, EstimatorModel) and parse_spec(loss) != parse_spec(model.default_loss):
        raise UsageError(f"model '{model.name}' is fitted in one call and takes no loss (got {loss!r}); give "
                         f"none, or its own ({model.default_loss!r})")  # fmt: skip
    spec = loss or model.default_loss
    if loss is None:  # a loss the user did not name: one missing is the model's choice, so say so
        installed = get_registry().names("loss")
        missing = [name for name, _weight in parse_spec(spec) if name not in installed]
        if missing:
            raise PluginError(f"model '{model.name}' trains with loss '{missing[0]}' by default (its default_loss), "
                              f"which is not installed; name one with --loss: {', '.join(installed)}")  # fmt: skip
    terms = build_terms(spec, loss_options) if loss_options is not None else terms_from_settings(spec, groups)
    chosen = chosen_names("callback", callbacks, adds_to_defaults=True)
    made = instantiate_several("callback", chosen, groups)  # an unknown name refused before any word of it
    if isinstance(model, EstimatorModel) and (
        added := [name for name in chosen if name not in defaults_of("callback")]
    ):
        # a warning, not a refusal: a comparison gives its callbacks to every model, for the networks among them
        warnings.warn(f"model '{model.name}' is fitted in one call, without training steps, so callback "
                      f"'{added[0]}', which acts while a model trains, does nothing for it (reporters log the "
                      "results: --reporter)", stacklevel=2)  # fmt: skip
    return TrainingPlugins(model, terms, made)


def settled(plugins: TrainingPlugins, shape: tuple[int, int]) -> TrainingPlugins:
    """The plugins with the choices a network model and its losses make for training data of ``shape`` written
    into their options (``options_for``), as new plugins: the ones given may serve other data later."""
    if isinstance(plugins.model, EstimatorModel):
        return plugins
    model = settled_for(plugins.model, shape[1])
    terms = [Term(settled_for(term.loss, *shape), term.weight) for term in plugins.terms]
    return dataclasses.replace(plugins, model=model, terms=terms)


def settled_for(plugin: Model | Loss, *data_shape: int) -> Any:
    """The plugin itself where ``options_for`` leaves its options as they are, else a new one with them, each
    checked as a user's value is: the model file and config.json record them, and a value dimred refuses there
    (text for a number, NaN) had made a run that exited 0 and could be neither loaded nor repeated."""
    with blame(plugin, "settle its options for the data (options_for)"):
        options = plugin.options_for(*data_shape)
    if options is plugin.options or options == plugin.options:
        return plugin
    if not isinstance(options, type(plugin.options)):
        raise PluginError(f"{plugin.kind} '{plugin.name}' must return its Options from options_for, not "
                          f"{type(options).__name__}")  # fmt: skip
    values = {field.name: getattr(options, field.name) for field in dataclasses.fields(options)}
    try:
        options = build(type(options), values, prefix=f"{plugin.kind}.{plugin.name}")
    except UsageError as error:
        raise PluginError(f"{plugin.kind} '{plugin.name}' chose options for the data (options_for) that dimred "
                          f"refuses: {error}") from None  # fmt: skip
    return type(plugin)(options)


def resolve_reporters(names: Sequence[str] | None, groups: dict[str, dict[str, Any]]) -> list[Reporter]:
    return instantiate_several("reporter", chosen_names("reporter", names, adds_to_defaults=False), groups)


def names_other_reporters(names: Sequence[str] | None) -> bool:
    """Whether ``names`` choose reporters other than the default set (a run's config.json lists the defaults it
    ran where the user named none)."""
    return names is not None and set(names) != set(defaults_of("reporter"))


def resolve_metrics(groups: dict[str, dict[str, Any]]) -> list[Metric]:
    """Every installed metric, with the options set as ``metric.NAME.OPTION``: the built-in ones first, so that
    a plugin's value under a name one of them reports is the one refused."""
    installed = sorted(get_registry().plugins("metric"), key=lambda info: not info.builtin)  # stable: by name
    return instantiate_several("metric", [info.name for info in installed], groups)


# -- load ------------------------------------------------------------------------------------------------------
def load_data(source: Dataset, seed: int, computed_in: str | None = None) -> tuple[Data, np.ndarray]:
    """The dataset's data and its checked matrix (its values within ``computed_in``'s range, the dtype of the
    model that will see them: a value found beyond it later would be counted among the rows of one side of a
    held-out split, or found after the training)."""
    with blame(source, "load its data"):
        data = source.load(seed)
    if not isinstance(data, Data):
        raise PluginError(f"dataset '{source.name}' must return dimred.plugin.Data from load, not "
                          f"{type(data).__name__}")  # fmt: skip
    checked = check_matrix(data.X, data_name(source), min_rows=1, computed_in=computed_in,
                           column_names=data.feature_names)  # fmt: skip
    return data, checked  # too few rows: one usage error, below


def data_name(source: Dataset) -> str:
    """How messages name a dataset's data: by its plugin, and by its file where it reads one."""
    path = getattr(source.options, "path", None)
    return f"the data of dataset '{source.name}'" + (f" ({path})" if path else "")


def recorded_training(training: TrainingSettings, n_rows: int) -> dict[str, Any]:
    """Resolved settings as config.json records them: with the steps and batch size the loop takes for these
    rows."""
    return training.for_rows(n_rows).record() | {"steps": training.total_steps(n_rows)}


def fit_config(plugins: TrainingPlugins, settings: TrainingSettings, n_rows: int) -> dict[str, Any]:
    """The configuration of a fit without a data set (a Reducer's), as config.json records its parts."""
    return {"model": describe(plugins.model), "loss": describe_terms(plugins.terms),
            "callbacks": [describe(callback) for callback in plugins.callbacks],
            "training": recorded_training(settings, n_rows)}  # fmt: skip


def suggested_training(model: Model | EstimatorModel, shape: tuple[int, int]) -> dict[str, Any]:
    """The model's ``training_defaults`` for data of ``shape``, checked: a plugin that suggests a setting dimred
    does not have, or a value a user could not give, is named."""
    with blame(model, "suggest training settings (training_defaults)"):
        suggested = model.training_defaults(*shape) or {}  # None: nothing to suggest
    try:
        return checked_suggestions(suggested)
    except UsageError as error:
        raise PluginError(f"model '{model.name}' suggests training settings dimred refuses: {error}") from None


def as_given(plugins: TrainingPlugins, settings: TrainingSettings, *, seed_drawn: bool = False) -> AsGiven:
    """The model and loss options and training settings before ``prepared`` chooses for the data, as the model
    file records them; ``seed_drawn``: the seed was drawn for this fit (random_state None), recorded as None."""
    training = settings.record() | ({"seed": None} if seed_drawn else {})
    return AsGiven(to_dict(plugins.model.options), options_of(plugins.terms), training)


def prepared(
    plugins: TrainingPlugins, settings: TrainingSettings, shape: tuple[int, int], device: torch.device | None = None
) -> tuple[TrainingPlugins, TrainingSettings, torch.device | None]:
    """What a fit of data of ``shape`` trains with, and a run records: the plugins with their choices for the data
    settled (``settled``), the settings with the model's suggestions where the user left them automatic (bfloat16
    only where the device computes it natively), and the device a network trains on (``device``, else the
    settings'; a one-call model's is left as given)."""
    plugins = settled(plugins, shape)
    suggested = suggested_training(plugins.model, shape)
    if isinstance(plugins.model, EstimatorModel):
        return plugins, settings.resolved(suggested), device
    device = device or resolve_device(settings.device)
    return plugins, settings.resolved(suggested, bf16_native=computes_bf16(device)), device


def check_one_call_settings(model: Model, given: TrainingSettings, shape: tuple[int, int]) -> None:
    """A one-call model runs no training loop: refuse a loop setting given other than its default, or than the
    value a run records for it (which a rerun of its config.json gives back)."""
    if not isinstance(model, EstimatorModel):
        return
    unset = TrainingSettings()
    recorded = recorded_training(unset.resolved(suggested_training(model, shape)), shape[0])
    for name in LOOP_SETTINGS:
        value = getattr(given, name)
        if value not in (getattr(unset, name), recorded[name]):
            raise UsageError(f"model '{model.name}' is fitted in one call, without training steps: "
                             f"--{name.replace('_', '-')} ({name}) does not apply to it; leave it out")  # fmt: skip


# -- fit -------------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Outcome:
    """A fitted model's output on its training data (eval mode), whatever kind of model it is.

    ``X`` is the scaled data the outputs belong to; ``evaluated`` the row numbers of a sample when only a sample
    was evaluated (streamed data); ``model`` the trained network, or a classical method's state where it fits in
    tensors (None for the others).
    """

    X: torch.Tensor
    codes: torch.Tensor
    reconstruction: torch.Tensor | None
    history: list[dict[str, float]]
    train_seconds: float
    transform_seconds: float | None
    model: FittedModel | None = None
    evaluated: np.ndarray | None = None
    stop_reason: str | None = None
    apply: Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] | None = None
    run_key: str = field(default_factory=new_run_key)  # the callbacks' Training.run_key, where it trained


def _fit_network(plugins: TrainingPlugins, X_raw: np.ndarray, settings: TrainingSettings,
                 feature_names: Sequence[str] | None, options: dict[str, Any]) -> Outcome:  # fmt: skip
    """Train the model plugin's network on ``X_raw`` and run it over the training rows in eval mode."""
    device, given = options.pop("device"), options.pop("given")
    fit = fitting.fit(plugins.model, plugins.terms, X_raw, settings, device=device,
                      dtype=resolve_dtype(settings.dtype, device), callbacks=plugins.callbacks, **options)  # fmt: skip
    model = FittedModel(plugins.model.name, to_dict(plugins.model.options), spec_text(plugins.terms),
                        options_of(plugins.terms), settings.for_rows(len(X_raw)), fit.module, fit.scaler,
                        None if feature_names is None else tuple(str(name) for name in feature_names), fit.history,
                        fit.train_seconds, given)  # fmt: skip
    with blame(plugins.model, "map rows in eval mode"):
        started = time.perf_counter()
        codes = evaluation.encode(fit.module, fit.X, model=f"model '{plugins.model.name}'")
        transform_seconds = time.perf_counter() - started
        reconstruction = evaluation.decode(fit.module, codes, model=f"model '{plugins.model.name}'")
    outputs.check_outputs(plugins.model, fit.X, codes, reconstruction, "encode (eval mode)", "decode (eval mode)")
    return Outcome(fit.X, codes, reconstruction, fit.history, fit.train_seconds, transform_seconds, model,
                   fit.evaluated, fit.stop_reason, model.apply, fit.run_key)  # fmt: skip


def fit_estimator(
    plugin: EstimatorModel,
    X_raw: np.ndarray,
    settings: TrainingSettings,
    feature_names: Sequence[str] | None = None,
    given: AsGiven | None = None,
) -> Outcome:
    """Fit a one-call model on the scaled data (float64, CPU); measure its transform where it has one."""
    X_tensor = as_tensor(X_raw, dtype=torch.float64)
    scaler = Scaler.fit(settings.scaler, X_tensor)
    X = scaler.transform(X_tensor)
    if not bool(torch.isfinite(X).all()):  # a column's spread beyond float64's range: the scaling overflowed
        scaler.check_savable()  # names the column (the model would have said its rows hold NaN)
    X_numpy = X.numpy()
    with blame(plugin, "fit"):
        started = time.perf_counter()
        fitted_codes = plugin.fit_transform(X_numpy, settings.seed)
        fit_seconds = time.perf_counter() - started
    codes = outputs.checked_codes(plugin, X, fitted_codes, "fit_transform")
    width = codes.shape[1]  # transform's codes must be as wide, where no n_components option says how wide
    transform_seconds, transformed = None, codes
    if plugin.can_transform:
        with blame(plugin, "transform its training rows"):
            started = time.perf_counter()
            transformed = plugin.transform(X_numpy)
            transform_seconds = time.perf_counter() - started
        transformed = outputs.checked_codes(plugin, X, transformed, "transform", width)
    back = outputs.inverse(plugin, X, codes)

    def apply(new_rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        scaled = scaler.transform(as_tensor(new_rows, dtype=torch.float64))
        with blame(plugin, "transform new rows"):
            new_codes = outputs.checked_codes(plugin, scaled, plugin.transform(scaled.numpy()), "transform", width)
        return scaled, new_codes, outputs.inverse(plugin, scaled, new_codes)

    module = outputs.saved_module(plugin, X, transformed, codes, back)
    model = None
    if module is not None:  # its state fits in tensors: saved as a model file like a trained network
        scaler.check_savable()
        names = None if feature_names is None else tuple(map(str, feature_names))
        recorded = settings.for_rows(len(X_raw)).replace(dtype="float64")  # as config.json records it
        model = FittedModel(plugin.name, to_dict(plugin.options), "", {}, recorded,
                            module, scaler, names, train_seconds=fit_seconds,
                            as_given=given)  # fmt: skip
    mapper = apply if plugin.can_transform else None
    return Outcome(X, codes, back, [], fit_seconds, transform_seconds, model, apply=mapper)


def fit(
    plugins: TrainingPlugins,
    X_raw: np.ndarray,
    settings: TrainingSettings,
    *,
    feature_names: Sequence[str] | None = None,
    data_named: str | None = None,
    claim: Callable[[], Path | None] = lambda: None,
    resume: bool = False,
    world: World | None = None,
    device: torch.device | None = None,
    echo: Echo = silent,
    given: AsGiven | None = None,
    config: Mapping[str, Any] | None = None,
) -> Outcome:
    """Fit whatever kind of model the plugin is: a one-call estimator, or a network trained by the engine on
    ``device``. ``claim`` gives the run folder, where callbacks write checkpoints, once everything is checked
    (for a network, as its training starts; for a one-call model, once it has fitted: its own refusals, t-SNE's of
    too few rows for its perplexity, come from its fit, and must leave an earlier run's folder as it was);
    ``resume`` continues from the checkpoint there.
    ``plugins``, ``settings`` and ``device`` are as ``prepared`` gives them for ``X_raw``; ``given`` is what
    ``as_given`` made of them before (the model file records it); ``config`` the run's configuration, for the
    callbacks. Messages name the data ``data_named`` (its data set and file) and its columns by ``feature_names``."""
    rows.check_fittable(X_raw, plugins.model, data_named)
    try:
        if isinstance(plugins.model, EstimatorModel):
            outcome = fit_estimator(plugins.model, X_raw, settings, feature_names, given)
            claim()
            return outcome
        options = {"claim": claim, "resume": resume, "world": world, "device": device, "echo": echo,
                   "given": given, "config": config}  # fmt: skip
        return _fit_network(plugins, X_raw, settings, feature_names, options)
    except UnsavableColumnError as error:
        raise DataError(error.named(data_named, feature_names)) from None


# -- evaluate --------------------------------------------------------------------------------------------------
LONG_SCORING_ROWS = 100_000  # from here scoring is announced: a million rows' figures take ten seconds or more


def announce_scoring(echo: Echo, rows: int, held_out: int = 0) -> None:
    """A line before scoring many rows, which would otherwise pass in silence after training's last line."""
    if rows + held_out >= LONG_SCORING_ROWS:
        echo(f"scoring {rows} rows{f' and {held_out} held-out rows' if held_out else ''} in eval mode")


def score(outcome: Outcome, data: Data, metrics: Sequence[Metric], seed: int) -> tuple[dict[str, Any], Any]:
    """Every metric on the outcome (eval mode), with the timings; and the context the metrics saw."""
    module = None if outcome.model is None else outcome.model.module
    if module is not None and not any(True for _parameter in module.parameters()):
        module = None  # a fitted PCA's buffers: no train mode to report
    values, context = evaluation.score(outcome.X, outcome.codes, outcome.reconstruction, seed, metrics,
                                       data.intrinsic, module, data.labels)  # fmt: skip
    values |= {"train_seconds": outcome.train_seconds, "transform_seconds": outcome.transform_seconds,
               "evaluated_rows": len(outcome.X)}  # fmt: skip
    if outcome.stop_reason is not None:
        values |= {"stopped_early": True, "stop_reason": outcome.stop_reason,
                   "steps_trained": int(outcome.history[-1]["step"]) if outcome.history else 0}  # fmt: skip
    return values, context


def score_held_out(
    outcome: Outcome, held: Data, X_held: np.ndarray, train_labels: np.ndarray | None, metrics: Sequence[Metric],
    seed: int,
) -> tuple[dict[str, Any], HeldOut | None]:  # fmt: skip
    """Every metric on the held-out rows, mapped by the fitted model's own transform, as ``holdout.*`` values
    (None for a model that cannot map new rows), and the held-out rows with their codes for the reporters."""
    if outcome.apply is None:
        return {"holdout.rows": len(X_held), "holdout.transform": None}, None
    started = time.perf_counter()
    X, codes, reconstruction = outcome.apply(X_held)
    seconds = time.perf_counter() - started
    values, _context = evaluation.score(X, codes, reconstruction, seed, metrics, held.intrinsic, None, held.labels,
                                        (outcome.codes, train_labels))  # fmt: skip
    values |= {"transform_seconds": seconds, "rows": len(X_held)}
    return {f"{evaluation.HELD_OUT_PREFIX}{key}": value for key, value in values.items()}, HeldOut(
        held, codes.cpu().numpy()
    )


# -- save ------------------------------------------------------------------------------------------------------
def save_results(directory: Path, outcome: Outcome, metrics: dict[str, Any], held: Data | None) -> None:
    """The model file and loss history (for trained networks), metrics.json, and which rows were held out (the
    rows the ``holdout.*`` figures are computed on, where the model maps new rows)."""
    if outcome.model is not None:
        outcome.model.save(directory / MODEL_FILE)
    if outcome.history:
        write_history(directory / HISTORY_FILE, outcome.history)
    if held is not None:
        write_row_numbers(directory / HELD_OUT_FILE, held.row_numbers)
    write_json(directory / METRICS_FILE, metrics)


# -- report ----------------------------------------------------------------------------------------------------
def record_of(dataset: str, model: str, data: Data, outcome: Outcome, metrics: dict[str, Any], context: Any,
              directory: Path | None, echo: Echo, held_out: HeldOut | None = None,
              config: Mapping[str, Any] | None = None) -> RunRecord:  # fmt: skip
    """What reporters see of a run or an evaluation."""
    reconstruction = None if outcome.reconstruction is None else outcome.reconstruction.cpu().numpy()
    return RunRecord(dataset, model, data, outcome.X.cpu().numpy(), outcome.codes.cpu().numpy(), reconstruction,
                     outcome.history, metrics, directory, echo, context, held_out, outcome.run_key,
                     dict(config or {}))  # fmt: skip
