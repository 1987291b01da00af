"""The stages every entry point shares: resolve plugins -> load data -> fit -> evaluate -> save -> report.

``dimred.run``, ``Reducer.fit``, ``dimred.evaluate`` and ``dimred compare`` are short compositions of these
functions; each stage does one job.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dimred._api.fitted import AsGiven, FittedModel
from dimred._core.atomic import write_bytes
from dimred._core.contracts import (
    Callback,
    ComparisonRecord,
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
)
from dimred._core.errors import PluginError, SkippedPluginWarning, UsageError, blame
from dimred._core.options import to_dict
from dimred._core.runfiles import (
    COMPARISON_FIGURE_FILES,
    COMPARISON_TABLE_FILES,
    CONFIG_FILE,
    HELD_OUT_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
)
from dimred._core.settings import LOOP_SETTINGS, TrainingSettings, check_holdout, checked_suggestions
from dimred._engine import evaluation, fitting
from dimred._engine.device import as_tensor, computes_bf16, resolve_device, resolve_dtype
from dimred._engine.distributed import World
from dimred._engine.scaling import Scaler
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
from dimred._io.validation import check_matrix
from dimred._io.written import snapshot

Echo = Callable[[str], None]
AUTO_HOLDOUT = 0.1  # the share of rows held out by default...
AUTO_HOLDOUT_ROWS = 500  # ...from data sets of this many rows


def silent(_text: str) -> None:
    """Where lines go when nobody listens."""


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
    if isinstance(model, EstimatorModel) and (
        added := [name for name in chosen if name not in defaults_of("callback")]
    ):
        # a warning, not a refusal: a comparison gives its callbacks to every model, for the networks among them
        warnings.warn(f"model '{model.name}' is fitted in one call, without training steps, so callback "
                      f"'{added[0]}', which acts while a model trains, does nothing for it (reporters log the "
                      "results: --reporter)", stacklevel=2)  # fmt: skip
    return TrainingPlugins(model, terms, instantiate_several("callback", chosen, groups))


def settled(plugins: TrainingPlugins, shape: tuple[int, int]) -> TrainingPlugins:
    """The plugins with the choices a network model and its losses make for training data of ``shape`` written
    into their options (``options_for``), as new plugins: the ones given may serve other data later."""
    if isinstance(plugins.model, EstimatorModel):
        return plugins
    model = _with_options_for(plugins.model, shape[1])
    terms = [Term(_with_options_for(term.loss, *shape), term.weight) for term in plugins.terms]
    return dataclasses.replace(plugins, model=model, terms=terms)


def _with_options_for(plugin: Model | Loss, *data_shape: int) -> Any:
    """The plugin itself where ``options_for`` leaves its options as they are, else a new one with them."""
    with blame(plugin, "settle its options for the data (options_for)"):
        options = plugin.options_for(*data_shape)
    if options is plugin.options or options == plugin.options:
        return plugin
    if not isinstance(options, type(plugin.options)):
        raise PluginError(f"{plugin.kind} '{plugin.name}' must return its Options from options_for, not "
                          f"{type(options).__name__}")  # fmt: skip
    return type(plugin)(options)


def resolve_reporters(names: Sequence[str] | None, groups: dict[str, dict[str, Any]]) -> list[Reporter]:
    return instantiate_several("reporter", chosen_names("reporter", names, adds_to_defaults=False), groups)


def resolve_metrics(groups: dict[str, dict[str, Any]]) -> list[Metric]:
    """Every installed metric, with the options set as ``metric.NAME.OPTION``: the built-in ones first, so that
    a plugin's value under a name one of them reports is the one refused."""
    installed = sorted(get_registry().plugins("metric"), key=lambda info: not info.builtin)  # stable: by name
    return instantiate_several("metric", [info.name for info in installed], groups)


# -- load ------------------------------------------------------------------------------------------------------
def load_data(source: Dataset, seed: int) -> tuple[Data, np.ndarray]:
    """The dataset's data and its checked matrix."""
    with blame(source, "load its data"):
        data = source.load(seed)
    if not isinstance(data, Data):
        raise PluginError(f"dataset '{source.name}' must return dimred.plugin.Data from load, not "
                          f"{type(data).__name__}")  # fmt: skip
    return data, check_matrix(data.X, data_name(source), min_rows=1)  # too few rows: one usage error, below


def data_name(source: Dataset) -> str:
    """How messages name a dataset's data: by its plugin, and by its file where it reads one."""
    path = getattr(source.options, "path", None)
    return f"the data of dataset '{source.name}'" + (f" ({path})" if path else "")


MIN_ROWS = 3  # below this a neighbourhood has no other member to compare, and every score is trivially perfect


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


def check_fittable(X: np.ndarray, model: Model | EstimatorModel) -> None:
    """Refuse data that no model can reduce meaningfully, before anything is trained or written."""
    _check_enough_rows(X, "train and score a model on")
    n_components = getattr(model.options, "n_components", None)
    if isinstance(n_components, int) and n_components > X.shape[1]:
        raise UsageError(f"model '{model.name}' would make {n_components} components from {X.shape[1]} columns: a "
                         f"reduction needs n_components at most {X.shape[1]} (--set model.n_components=N; a "
                         "Reducer's n_components=N)")  # fmt: skip
    _check_not_one_point(X, "reduce")


def check_scorable(X: np.ndarray) -> None:
    """Refuse data on which every neighbourhood score of a trained model would be trivially perfect."""
    _check_enough_rows(X, "score a model on")
    _check_not_one_point(X, "score")


def _check_enough_rows(X: np.ndarray, doing: str) -> None:
    if len(X) < MIN_ROWS:
        rows = "1 row is" if len(X) == 1 else f"{len(X)} rows are"
        raise UsageError(f"{rows} too few to {doing}; give at least {MIN_ROWS}")


def _is_one_point(X: np.ndarray) -> bool:
    return not np.any(X.max(axis=0) > X.min(axis=0))


def _check_not_one_point(X: np.ndarray, doing: str) -> None:
    if _is_one_point(X):
        raise UsageError(f"all {len(X)} rows of the data are the same point: there is no structure to {doing}")


def holdout_fraction(requested: float | None, n_rows: int, maps_new_rows: bool = True) -> float:
    """The share of rows held out: ``requested``, or by default AUTO_HOLDOUT of data sets of at least
    AUTO_HOLDOUT_ROWS rows (and none of data streamed from disk, which is never copied, nor for a model that
    cannot map new rows, which would only train on fewer)."""
    if requested is None:
        return AUTO_HOLDOUT if maps_new_rows and AUTO_HOLDOUT_ROWS <= n_rows <= fitting.STREAM_ROWS else 0.0
    check_holdout(requested)
    if requested and n_rows > fitting.STREAM_ROWS:
        raise UsageError(f"data above {fitting.STREAM_ROWS} rows is streamed from its file and not split: --holdout 0")
    fraction = float(str(requested)) if isinstance(requested, np.floating) else float(requested)  # float32's 0.2
    return fraction + 0.0  # -0.0 recorded as 0.0


def split_rows(n_rows: int, labels: np.ndarray | None, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out row numbers (each sorted): a seeded random ``fraction`` of the rows, of every label's
    rows where there are labels (stratified: each label's share within one row of ``fraction``, the rows left
    over by rounding going to the labels nearest to another row, so that many small classes still hold out
    ``fraction`` of the rows). Every label keeps a training row, since a held-out row of a class the model never
    saw could only be misclassified: the rows a class of one cannot give are held out from the larger classes.
    Labels that leave too few rows besides one per label (an id column; many small classes) stratify nothing, and
    classes left without a training row (a class of one held out too) are warned of."""
    rng = np.random.default_rng(seed)
    # rounded up, as scikit-learn's split (the tolerance keeps 0.2 * 1795 at 359); any fraction holds out a row
    held_count = max(math.ceil(fraction * n_rows - 1e-9), 1 if fraction else 0)
    groups = [np.arange(n_rows)] if labels is None else [np.flatnonzero(labels == value) for value in np.unique(labels)]
    if held_count > n_rows - len(groups):
        groups = [np.arange(n_rows)]
    shuffled = [rng.permutation(group) for group in groups]
    sizes = np.array([len(group) for group in groups])
    shares = fraction * sizes
    counts = np.floor(shares).astype(int)
    tie_breaks = np.random.default_rng([seed, 1]).random(len(groups))
    nearest_first = np.lexsort((tie_breaks, counts - shares))
    while (short := held_count - int(counts.sum())) > 0:
        with_room = nearest_first[counts[nearest_first] < sizes[nearest_first] - 1]
        if not len(with_room):  # one group, all of it asked for: the check below refuses it
            break
        counts[with_room[:short]] += 1
    held = np.sort(np.concatenate([group[:count] for group, count in zip(shuffled, counts, strict=True)]))
    train = np.setdiff1d(np.arange(n_rows), held)
    if min(len(held), len(train)) < MIN_ROWS:
        raise UsageError(f"--holdout {fraction:g} of {n_rows} rows leaves {len(train)} to train on and {len(held)} "
                         f"to test on (each needs {MIN_ROWS}); choose another fraction or --holdout 0")  # fmt: skip
    if labels is not None:
        _warn_of_classes_held_out_whole(labels, train, fraction)
    return train, held


def check_split(
    X: np.ndarray, train: np.ndarray, held: np.ndarray, fraction: float, seed: int, maps_new_rows: bool = True
) -> None:
    """Refuse a split that left either side all one point where the data is not (most rows alike, and the few
    that differ all on the other side): training would see no structure, or every neighbourhood score of the
    held-out rows would be trivially perfect (rows that a model which cannot map new rows never scores aside)."""
    sides = [(train, "training rows", "train on")]
    if maps_new_rows:
        sides.append((held, "held-out rows", "score"))
    for rows, side, doing in sides:
        if _is_one_point(X[rows]):
            raise UsageError(f"--holdout {fraction:g} with seed {seed} left the {len(rows)} {side} all one point "
                             f"(the rows that differ are on the other side): there is nothing to {doing}; choose "
                             "another fraction or --holdout 0")  # fmt: skip


def _warn_of_classes_held_out_whole(labels: np.ndarray, train: np.ndarray, fraction: float) -> None:
    """Warn where the split left classes without a training row: their held-out rows can only be misclassified
    (too many classes for the fraction to keep one training row each)."""
    classes = np.unique(labels)
    unseen = np.setdiff1d(classes, labels[train])
    if len(unseen):
        spare = len(labels) - len(classes)  # rows beyond one per class: the most a stratified split holds out
        most = math.floor(1000 * spare / len(labels) + 1e-9) / 1000  # rounded down: that fraction keeps them
        advice = (f"hold out at most {most:g} to keep one of each" if spare >= MIN_ROWS else
                  "too few rows are left beside one per class to hold any out: --holdout 0")  # fmt: skip
        these = "1 class has" if len(unseen) == 1 else f"{len(unseen)} classes have"
        held_labels = np.delete(labels, train)
        scored = ("their held-out rows count as misclassified" if np.isin(held_labels, labels[train]).any() else
                  "no held-out row's class has one, so there is no held-out accuracy")  # fmt: skip
        warnings.warn(f"--holdout {fraction:g} cannot keep a training row for each of the labels' {len(classes)} "
                      f"classes in {len(labels)} rows, so the rows were held out without stratifying: {these} no "
                      f"training row, and {scored}; {advice}", stacklevel=2)  # fmt: skip


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
        reconstruction = evaluation.decode(fit.module, codes)
    check_outputs(plugins.model, fit.X, codes, reconstruction, "encode (eval mode)", "decode (eval mode)")
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
    X_numpy = X.numpy()
    with blame(plugin, "fit"):
        started = time.perf_counter()
        fitted_codes = plugin.fit_transform(X_numpy, settings.seed % 2**32)
        fit_seconds = time.perf_counter() - started
    codes = _checked_codes(plugin, X, fitted_codes, "fit_transform")
    width = codes.shape[1]  # transform's codes must be as wide, where no n_components option says how wide
    transform_seconds, transformed = None, codes
    if plugin.can_transform:
        with blame(plugin, "transform its training rows"):
            started = time.perf_counter()
            transformed = plugin.transform(X_numpy)
            transform_seconds = time.perf_counter() - started
        transformed = _checked_codes(plugin, X, transformed, "transform", width)
    back = _inverse(plugin, X, codes)

    def apply(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        scaled = scaler.transform(as_tensor(rows, dtype=torch.float64))
        with blame(plugin, "transform new rows"):
            new_codes = _checked_codes(plugin, scaled, plugin.transform(scaled.numpy()), "transform", width)
        return scaled, new_codes, _inverse(plugin, scaled, new_codes)

    module = _saved_module(plugin, X, transformed, codes, back)
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


def _saved_module(plugin: EstimatorModel, X: torch.Tensor, transformed: torch.Tensor, codes: torch.Tensor,
                  back: torch.Tensor | None) -> torch.nn.Module | None:  # fmt: skip
    """A one-call model's fitted state as a module (``fitted_module``), checked as ``dimred.load`` will use it:
    built again by ``build`` with the state loaded, it must encode the rows ``X`` as ``transform`` did
    (``transformed``) and decode their ``codes`` as ``inverse_transform`` did (``back``, None without an
    inverse), else its model file would compute other values than the run reports, with exit 0. None: nothing to
    save."""
    with blame(plugin, "give its fitted state as a module (fitted_module)"):
        module = plugin.fitted_module()
    if module is None:
        return None
    if not isinstance(module, torch.nn.Module) or not all(hasattr(module, name) for name in ("encode", "decode")):
        raise PluginError(f"model '{plugin.name}' must give a torch.nn.Module with encode(x) and decode(z) from "
                          f"fitted_module (or None: nothing to save); it gave a {type(module).__name__}")  # fmt: skip
    with blame(plugin, "build the network its fitted state loads into (build, as dimred.load does)"):
        rebuilt = plugin.build(X.shape[1])
        rebuilt.load_state_dict(module.state_dict())
    rebuilt = rebuilt.double().eval()
    with torch.no_grad(), blame(plugin, "compute with the module of its fitted state"):
        computed = {"encode": (rebuilt.encode(X), transformed, "transform")}
        if back is not None:  # the inverse the run already took of the codes, not taken again
            computed["decode"] = (rebuilt.decode(codes), back, "inverse_transform")
    for method, (got, expected, by) in computed.items():
        if got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-4, atol=1e-6):
            apart = f"up to {(got - expected).abs().max():.3g} apart" if got.shape == expected.shape else "other shapes"
            raise PluginError(f"model '{plugin.name}': the module of its fitted state (fitted_module, rebuilt by "
                              f"build) computes other values with {method} than its {by} ({apart}); a model file "
                              "of it would not give what the run reports")  # fmt: skip
    return rebuilt


def check_outputs(plugin: Model, X: torch.Tensor, codes: torch.Tensor, reconstruction: torch.Tensor | None,
                  coded_by: str, decoded_by: str) -> None:  # fmt: skip
    """A fitted model's codes of the rows ``X`` (from its method ``coded_by``) must be one finite code of
    n_components values per row, and its reconstructions (from ``decoded_by``) finite rows of ``X``'s shape: a
    plugin that breaks this would otherwise be scored, or fail in a metric's words."""
    _check_codes(plugin, X, codes, coded_by)
    if reconstruction is not None:
        _check_reconstruction(plugin, X, reconstruction, decoded_by)


def _check_codes(plugin: Model, X: torch.Tensor, codes: torch.Tensor, coded_by: str, width: int | None = None) -> None:
    """``width``: the codes' width where the model has no ``n_components`` option (another method's codes')."""
    width = getattr(plugin.options, "n_components", width)
    shape = (len(X), width if width is not None else "n_components")
    if codes.ndim != 2 or len(codes) != len(X) or (width is not None and codes.shape[1] != width):
        raise PluginError(f"model '{plugin.name}' must give codes of shape {shape} from {coded_by} for {len(X)} "
                          f"rows; it gave {tuple(codes.shape)}")  # fmt: skip
    _check_finite(plugin, codes, coded_by)


def _check_reconstruction(plugin: Model, X: torch.Tensor, reconstruction: torch.Tensor, decoded_by: str) -> None:
    if reconstruction.shape != X.shape:
        raise PluginError(f"model '{plugin.name}' must give rows of shape {tuple(X.shape)} from {decoded_by}; it "
                          f"gave {tuple(reconstruction.shape)}")  # fmt: skip
    _check_finite(plugin, reconstruction, decoded_by)


def _check_finite(plugin: Model, values: torch.Tensor, method: str) -> None:
    if not bool(torch.isfinite(values).all()):
        raise PluginError(f"model '{plugin.name}' gave values that are not finite (NaN or inf) from {method}")


def _checked_codes(plugin: EstimatorModel, X: torch.Tensor, codes: Any, coded_by: str,
                   width: int | None = None) -> torch.Tensor:  # fmt: skip
    """A one-call model's codes of the rows ``X``, checked before anything (its inverse_transform) meets them."""
    checked = as_real_numbers(plugin, codes, coded_by)
    _check_codes(plugin, X, checked, coded_by, width)
    return checked


def _inverse(plugin: EstimatorModel, X: torch.Tensor, codes: torch.Tensor) -> torch.Tensor | None:
    """A one-call model's reconstructions of the rows ``X`` from their ``codes``, where it has an inverse."""
    if not plugin.can_inverse_transform:
        return None
    with blame(plugin, "inverse_transform its codes"):
        reconstruction = plugin.inverse_transform(codes.numpy())
    checked = as_real_numbers(plugin, reconstruction, "inverse_transform")
    _check_reconstruction(plugin, X, checked, "inverse_transform")
    return checked


def as_real_numbers(plugin: EstimatorModel, values: Any, method: str) -> torch.Tensor:
    """A one-call model's output as a float64 tensor, refused by name where it is not numbers: numpy would keep
    the real part of complex codes with a warning alone (complex values with no imaginary part are taken)."""
    if values is None:
        raise PluginError(f"model '{plugin.name}' must give an array of numbers from {method}; it gave None")
    with blame(plugin, f"give an array from {method}"):
        array = np.asarray(values)
    if array.dtype.kind == "c":
        if np.any(array.imag):
            raise PluginError(f"model '{plugin.name}' must give real numbers from {method}; it gave complex values")
        array = array.real
    try:
        numbers = array.astype(np.float64, copy=False)
    except (TypeError, ValueError):  # a sparse matrix, text
        raise PluginError(f"model '{plugin.name}' must give an array of numbers from {method}; it gave a "
                          f"{type(values).__name__}") from None  # fmt: skip
    return torch.from_numpy(numbers if numbers.flags.writeable else numbers.copy())


def fit(
    plugins: TrainingPlugins,
    X_raw: np.ndarray,
    settings: TrainingSettings,
    *,
    feature_names: Sequence[str] | None = None,
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
    (for a network, as its training starts); ``resume`` continues from the checkpoint there.
    ``plugins``, ``settings`` and ``device`` are as ``prepared`` gives them for ``X_raw``; ``given`` is what
    ``as_given`` made of them before (the model file records it); ``config`` the run's configuration, for the
    callbacks."""
    check_fittable(X_raw, plugins.model)
    if isinstance(plugins.model, EstimatorModel):
        claim()
        return fit_estimator(plugins.model, X_raw, settings, feature_names, given)
    options = {"claim": claim, "resume": resume, "world": world, "device": device, "echo": echo,
               "given": given, "config": config}  # fmt: skip
    return _fit_network(plugins, X_raw, settings, feature_names, options)


# -- evaluate --------------------------------------------------------------------------------------------------
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
RESULT_FILES = (MODEL_FILE, HISTORY_FILE, METRICS_FILE, HELD_OUT_FILE)  # what save_results may write


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
def report(reporters: Sequence[Reporter], record: RunRecord | ComparisonRecord) -> list[str]:
    """Hand a run (``report``) or a comparison (``report_comparison``) to every reporter; one that fails is
    skipped, and its failure returned, so the others still report."""
    comparing = isinstance(record, ComparisonRecord)
    action = "report the comparison" if comparing else "report"
    own = COMPARISON_RESULTS if comparing else RUN_RESULTS
    written = results_written(record.directory, own) if reporters else {}
    failures = []
    for reporter in reporters:
        before = results_state(record.directory, own)
        try:
            with blame(reporter, action, skipped=True):
                (reporter.report_comparison if comparing else reporter.report)(record)
            check_results_kept(reporter, record.directory, before, written)
        except PluginError as error:
            failures.append(str(error))
    return failures


# the results dimred has written when the reporters start, which no reporter may change
RUN_RESULTS = (MODEL_FILE, CONFIG_FILE, METRICS_FILE, HISTORY_FILE, HELD_OUT_FILE)
COMPARISON_RESULTS = (*COMPARISON_TABLE_FILES, *COMPARISON_FIGURE_FILES)


def results_state(directory: Path | None, names: Sequence[str]) -> dict[str, tuple[int, int, int] | None]:
    """Each of these files of ``directory`` as ``written.snapshot`` tells it apart from a rewrite (its inode, size
    and time; None where there is none)."""
    if directory is None:
        return {}
    files = snapshot(Path(directory))
    return {name: files.get(name) for name in names}


def results_written(directory: Path | None, names: Sequence[str]) -> dict[str, bytes | None]:
    """The contents of these files of ``directory`` (None where there is none), to put back what a reporter
    changes."""
    if directory is None:
        return {}
    paths = {name: Path(directory) / name for name in names}
    return {name: path.read_bytes() if path.is_file() else None for name, path in paths.items()}


def check_results_kept(reporter: Reporter, directory: Path | None, before: Mapping[str, Any],
                       written: Mapping[str, bytes | None] | None = None) -> None:  # fmt: skip
    """Refuses a reporter that changed a file of ``before`` (``results_state`` ahead of it); where ``written``
    (``results_written``) holds the files as dimred wrote them, puts each back, or removes one that was not there."""
    after = results_state(directory, list(before))
    changed = [name for name, state in before.items() if after[name] != state]
    if not changed:
        return
    for name in changed if written is not None else ():
        path = Path(directory) / name
        if written[name] is None:
            path.unlink(missing_ok=True)
        else:
            write_bytes(path, written[name])
    restored = "" if written is None else " (put back as dimred wrote them)"
    raise PluginError(
        f"reporter '{reporter.name}' changed {', '.join(changed)}, dimred's own results in "
        f"{directory}{restored}: a reporter writes files of its own, through run.artifact(NAME)"
    )


def check_run(plugins: Sequence[Callback | Reporter], config: Mapping[str, Any]) -> None:
    """Let each callback and reporter refuse the run as configured (``Plugin.check_run``), before it starts."""
    for plugin in plugins:
        with blame(plugin, "check the run's configuration"):
            plugin.check_run(config)


def warn_skipped(failures: Sequence[str]) -> None:
    """Warn about each plugin that failed and was skipped, so a library caller hears of it (the CLI says it in
    its Error line instead)."""
    for failure in failures:
        warnings.warn(f"{failure} (skipped; the other results are saved)", SkippedPluginWarning, stacklevel=3)


def failures_of(metrics: Mapping[str, Any]) -> list[str]:
    """The messages of the metric plugins that failed on the training rows, then those that failed otherwise (or
    only) on the held-out ones, saying so."""
    on_training = list(metrics.get(evaluation.FAILED_METRICS, {}).values())
    on_held_out = metrics.get(f"{evaluation.HELD_OUT_PREFIX}{evaluation.FAILED_METRICS}", {}).values()
    return on_training + [f"{message} (on the held-out rows)" for message in on_held_out if message not in on_training]


def record_of(name: str, model: str, data: Data, outcome: Outcome, metrics: dict[str, Any], context: Any,
              directory: Path | None, echo: Echo, held_out: HeldOut | None = None,
              config: Mapping[str, Any] | None = None) -> RunRecord:  # fmt: skip
    """What reporters see of a run or an evaluation."""
    reconstruction = None if outcome.reconstruction is None else outcome.reconstruction.cpu().numpy()
    return RunRecord(name, model, data, outcome.X.cpu().numpy(), outcome.codes.cpu().numpy(), reconstruction,
                     outcome.history, metrics, directory, echo, context, held_out, outcome.run_key,
                     dict(config or {}))  # fmt: skip
