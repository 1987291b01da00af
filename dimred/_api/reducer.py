"""``dimred.Reducer``, a scikit-learn estimator over any model plugin, and ``dimred.load`` for saved models."""

from __future__ import annotations

import dataclasses
import datetime
import numbers
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from dimred._api.arguments import check_flags
from dimred._api.fitted import FittedModel, read_fitted
from dimred._api.rows import MIN_ROWS
from dimred._core import defaults
from dimred._core.contracts import Callback, EstimatorModel, Model, keeps_no_model_file
from dimred._core.errors import UsageError, path_argument
from dimred._core.runfiles import MODEL_FILE
from dimred._core.settings import LOOP_SETTINGS, TrainingSettings, check_new_seed, device_name
from dimred._engine import evaluation
from dimred._engine.device import as_tensor, available_here
from dimred._host.registry import get_registry
from dimred._host.resolve import instantiate
from dimred._io.csvlayout import is_number
from dimred._io.validation import DataError, check_matrix

_VALID_DTYPES = [np.float64, np.float32]
DATES = "mM"  # numpy's kinds of timedelta64 and datetime64: they convert to numbers, nanoseconds, and mean none
DEFAULT_COMPONENTS = 2
_OPTION_MAPPINGS = ("model_options", "loss_options", "callback_options")  # parameters that map names to options
FAR_OUT = "the rows lie too far out of the training rows' range for its arithmetic; check their units and scale"
PROGRESS_CALLBACK = "progress"  # the built-in progress bar, shown only with verbose=True or when named
_PICKLED_MODEL = "model_file_bytes_"
_REBUILT_ON_UNPICKLING = {"fitted_", "module_", "scaler_", "device_"}  # torch objects, from the model file's bytes


class Reducer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Dimensionality reduction with any dimred model plugin, as a scikit-learn transformer.

    ``transform`` gives the codes, ``inverse_transform`` the reconstructions, both in eval mode and in the
    units of the input (the scaler fitted on the training data is applied and undone). The parameters mirror
    ``dimred run``'s options; ``model_options`` are the model plugin's own (``n_components`` is passed to the
    model when it declares that option; ``model_options`` may give it where ``n_components`` is left at its
    default, not another value beside it). A model without an ``n_components`` option chooses the width of its
    codes itself: ``n_components`` must then be None, the default (2) or the width the model gives, and any
    other value is a UsageError naming the model. ``loss`` is a loss or a weighted sum (``"mse+geodesic:10"``;
    default: the model's own) and ``loss_options`` maps a loss name to its options. ``random_state`` is the
    seed, as ``dimred.run``'s ``seed``; None, a ``numpy.random.RandomState`` or a ``Generator`` draws one, as
    scikit-learn's estimators do (None from numpy's global generator: ``np.random.seed`` makes such a fit
    repeatable), and a model file records it as None; ``callbacks`` are added to the default ones
    (``"no-NAME"`` removes one) and ``callback_options`` maps a callback name to its options.

    ``verbose`` (default False) shows training progress as ``dimred.run`` does: a progress bar on stderr in a
    terminal, a line per tenth of the steps elsewhere once a fit takes 2 s. False fits silently, as
    scikit-learn's estimators do; ``callbacks`` that name the progress callback decide over ``verbose``
    (``["progress"]`` shows it, ``["no-progress"]`` hides it). Like ``callbacks``, ``verbose`` is not kept in a
    model file: a loaded Reducer, or a run's, is silent unless set otherwise.

    After ``fit``, ``history_`` holds the losses logged while training and ``train_seconds_`` its time; a Reducer
    loaded from a model file has an empty ``history_`` and ``train_seconds_`` None (the file keeps the network;
    a run folder's ``history.csv`` and ``metrics.json`` keep its log).

    The training loop's parameters (``steps``, ``epochs``, ``batch_size``, ``lr``, ``weight_decay``,
    ``schedule``, ``precision``, ``optimizer``) apply to models trained by dimred's loop only: a model fitted in
    one call (``pca``, ``kernel-pca``) ignores them, as scikit-learn's estimators ignore the parameters of a
    choice not taken (so that ``GridSearchCV`` may search ``model``), and its fitted attributes and model file
    record the loop's defaults, not the values ignored. Their values are still checked. (``dimred run`` refuses
    them for such a model instead.) ``dtype`` is the training loop's, as the loop's other settings: models
    fitted in one call compute in float64, and their ONNX exports take float64 rows. ``get_feature_names_out``
    names the codes ``reducer0``, ``reducer1``, ... as scikit-learn's own decompositions do, so
    ``set_output(transform="pandas")`` and ``ColumnTransformer`` work.

    ``save`` / ``dimred.load`` are the safe, portable format: tensors and JSON, checked on reading. A Reducer
    also pickles (``joblib.dump``, worker processes), so that it works wherever scikit-learn estimators go; the
    pickle holds the fitted model as those same model-file bytes, rebuilt through the same checks, and no torch
    object. Unpickling a file from someone you do not trust is never safe, whatever it holds.
    """

    def __init__(
        self,
        model: str = "mlp-ae",
        n_components: int | None = DEFAULT_COMPONENTS,
        model_options: dict[str, Any] | None = None,
        loss: str | None = None,
        loss_options: dict[str, dict[str, Any]] | None = None,
        steps: int | None = None,
        epochs: int | None = None,
        batch_size: int | str | None = "auto",
        lr: float | str = "auto",
        weight_decay: float | str = "auto",
        schedule: str = defaults.SCHEDULE,
        dtype: str = defaults.DTYPE,
        precision: str = defaults.PRECISION,
        optimizer: str = defaults.OPTIMIZER,
        scaler: str = defaults.SCALER,
        device: str = defaults.DEVICE,
        random_state: int | np.random.RandomState | np.random.Generator | None = None,
        callbacks: list[str] | None = None,
        callback_options: dict[str, dict[str, Any]] | None = None,
        verbose: bool = False,
    ) -> None:
        self.model = model
        self.n_components = n_components
        self.model_options = model_options
        self.loss = loss
        self.loss_options = loss_options
        self.steps = steps
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.dtype = dtype
        self.precision = precision
        self.optimizer = optimizer
        self.scaler = scaler
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks
        self.callback_options = callback_options
        self.verbose = verbose

    def set_params(self, **params: Any) -> Reducer:
        """scikit-learn's, and also one option inside an options mapping by its path, as a grid search names it:
        ``model_options__hidden=[64, 64]``, ``loss_options__ne-tsne__exaggeration=1.0`` (the mapping is copied,
        never changed in place)."""
        paths = {key: key.split("__") for key in params if "__" in key and key.split("__")[0] in _OPTION_MAPPINGS}
        mappings = {parameter: params.get(parameter, getattr(self, parameter)) for parameter in _OPTION_MAPPINGS}
        for key, (parameter, *path) in paths.items():  # every path checked before anything is set
            if not all(path):
                raise UsageError(f"set_params: {key!r} names no option (an empty name after '__')")
            mappings[parameter] = _with_option(mappings[parameter], path, params.pop(key), parameter)
        super().set_params(**params)
        for parameter in {parameter for parameter, *_path in paths.values()}:
            setattr(self, parameter, mappings[parameter])
        return self

    def __sklearn_tags__(self) -> Any:  # scikit-learn's Tags
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]  # see _numpy
        return tags

    def _model_class(self) -> type[Model]:
        return get_registry().get("model", self.model).cls

    def _model_plugin(self) -> Model:
        wanted = self.n_components
        if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, numbers.Integral)):
            raise UsageError(f"n_components is the number of code dimensions, a whole number (or None: the model's "
                             f"choice), not {wanted!r}")  # fmt: skip
        values = dict(_options_mapping(self.model_options, "model_options", "the model's option names"))
        declared = {field.name for field in dataclasses.fields(self._model_class().Options)}
        if self.n_components is not None and "n_components" in declared:
            given = values.setdefault("n_components", self.n_components)
            if given != self.n_components and self.n_components != DEFAULT_COMPONENTS:  # model_options' over a default
                raise UsageError(f"n_components={self.n_components!r} and model_options' n_components={given!r} "
                                 "disagree; give the size of the codes as n_components only")  # fmt: skip
        return instantiate("model", self.model, values)

    def _loss_options(self) -> dict[str, Mapping[str, Any]] | None:
        if self.loss_options is None:
            return None
        return _options_by_plugin(self.loss_options, "loss_options", "loss")

    def _callback_settings(self) -> dict[str, dict[str, Any]]:
        """``callback_options`` as the grouped settings the pipeline takes (``callback.NAME``: options)."""
        by_callback = _options_by_plugin(self.callback_options or {}, "callback_options", "callback")
        return {f"callback.{name}": dict(values) for name, values in by_callback.items()}

    def _shown_callbacks(self, callbacks: list[Callback]) -> list[Callback]:
        """The resolved ``callbacks`` less the progress bar where ``verbose`` is False and ``callbacks`` does not
        name it (``callbacks`` were checked when they were resolved)."""
        if not isinstance(self.verbose, bool | np.bool_ | numbers.Integral):
            raise UsageError(f"verbose must be True or False, got {self.verbose!r}")
        if self.verbose or PROGRESS_CALLBACK in (self.callbacks or ()):
            return callbacks
        return [callback for callback in callbacks if callback.name != PROGRESS_CALLBACK]

    def training_settings(self) -> TrainingSettings:
        """The estimator's parameters as dimred's training settings (``random_state`` is the seed, or what draws
        one: ``_seed_of``). A model fitted in one call runs no training loop: it gets the loop's defaults, whatever
        the loop's parameters say (they are still checked)."""
        seed = _seed_of(self.random_state)
        values = {name: getattr(self, name) for name in TrainingSettings.names() if hasattr(self, name)}
        settings = TrainingSettings.from_mapping(values | {"seed": seed}, "Reducer")
        check_new_seed(settings.seed)
        return _loop_defaults(settings) if issubclass(self._model_class(), EstimatorModel) else settings

    def fit(self, X: Any, y: Any = None) -> Reducer:
        """Train on the rows of ``X`` (an array or DataFrame of numbers); ``y`` is ignored. A fit that fails
        leaves the estimator as it was: a refit on 3 columns that failed had left a model of 4 expecting 3."""
        before = _fitted_state(self)
        try:
            return self._fit(X)
        except BaseException:
            for name in _fitted_state(self):
                delattr(self, name)
            vars(self).update(before)
            raise

    def _fit(self, X: Any) -> Reducer:
        from dimred._api import pipeline, reporting

        X = check_matrix(validate_data(self, _readable(X), dtype=_VALID_DTYPES, ensure_min_samples=MIN_ROWS,
                                       ensure_all_finite=False))  # fmt: skip
        model = self._model_plugin()
        if not getattr(model, "can_transform", True) or keeps_no_model_file(
            type(model)
        ):  # t-SNE, Isomap, UMAP: before a fit
            raise self._not_a_reducer()
        plugins = pipeline.resolve_training(self.model, self.loss, loss_options=self._loss_options(), model=model,
                                            callbacks=self.callbacks, groups=self._callback_settings())  # fmt: skip
        plugins = dataclasses.replace(plugins, callbacks=self._shown_callbacks(plugins.callbacks))
        settings = self.training_settings()  # a one-call model's without the loop's parameters, ignored
        given = pipeline.as_given(plugins, settings, seed_drawn=_draws_seed(self.random_state))
        plugins, settings, device = pipeline.prepared(plugins, settings, X.shape)
        config = pipeline.fit_config(plugins, settings, len(X))
        reporting.check_run(plugins.callbacks, config)
        fitted = pipeline.fit(plugins, X, settings, feature_names=getattr(self, "feature_names_in_", None),
                              device=device, given=given, config=config)  # fmt: skip
        if fitted.model is None:
            raise self._not_a_reducer()
        self._check_width(plugins.model, X.shape[1], fitted.model.n_components)
        self.adopt(fitted.model)
        return self

    def _check_width(self, model: Model, n_features: int, width: int) -> None:
        """Refuse codes of ``width`` from a model without an ``n_components`` option where ``n_components`` is set
        to another width than None or the default (which leave the width to the model)."""
        wanted = self.n_components
        if wanted in (None, DEFAULT_COMPONENTS, width) or hasattr(model.options, "n_components"):
            return
        raise UsageError(f"model '{self.model}' has no n_components option: it chooses the width of its codes "
                         f"itself ({width} for {n_features} columns), so n_components={wanted} cannot be "
                         f"honoured; give n_components=None (the model's width) or {width}, or set the width "
                         "through the model's own options (model_options)")  # fmt: skip

    def _not_a_reducer(self) -> UsageError:
        return UsageError(f"model '{self.model}' keeps its training rows as its state and cannot be a fitted "
                          "Reducer or be saved; use dimred.run or dimred.compare for it")  # fmt: skip

    def adopt(self, fitted: FittedModel) -> None:
        """Take a trained network as this estimator's fitted state."""
        self.fitted_ = fitted
        self.module_ = fitted.module
        self.scaler_ = fitted.scaler
        self.model_options_ = fitted.model_options
        self.loss_ = fitted.loss
        self.loss_options_ = fitted.loss_options
        self.device_ = fitted.scaler.offset.device
        self.n_features_in_ = fitted.n_features
        self.n_components_ = fitted.n_components
        self.history_ = fitted.history
        self.train_seconds_ = fitted.train_seconds
        names = fitted.feature_names_array()
        if names is not None:
            self.feature_names_in_ = names

    @property
    def _n_features_out(self) -> int:
        """The number of output features (the code size), for ``get_feature_names_out``."""
        return self.n_components_

    def to_tensor(self, X: np.ndarray, what: str = "the data") -> torch.Tensor:
        """Rows as a tensor on the model's device and in its dtype (``what`` names them in errors)."""
        return as_tensor(X, self.device_, self.scaler_.offset.dtype, what)

    @staticmethod
    def _numpy(values: torch.Tensor, like: np.ndarray, first_row: int = 0) -> np.ndarray:
        """Results in float64 for float64 input, float32 otherwise (scikit-learn's dtype convention); results
        beyond float32's range (a float64 model's) are refused, not written as inf (rows counted from
        ``first_row``, where ``like`` is a batch of a file's rows)."""
        results = values.cpu().numpy()
        target = np.float64 if like.dtype == np.float64 else np.float32
        with np.errstate(over="ignore"):
            narrowed = results.astype(target, copy=False)
        if narrowed.dtype.itemsize < results.dtype.itemsize and not np.isfinite(narrowed).all():
            row = first_row + int(np.flatnonzero(~np.isfinite(narrowed).all(axis=1))[0])
            raise DataError(f"row {row} (counting from 0) of the results is beyond float32's range (the input's type); "
                            "give the input as float64 to have float64 results")  # fmt: skip
        return narrowed

    def transform(self, X: Any) -> np.ndarray:
        """The codes of the rows of ``X``, computed in eval mode with the training scaler."""
        check_is_fitted(self, "module_")
        X = validate_data(self, _readable(X), dtype=_VALID_DTYPES, reset=False, ensure_all_finite=False)
        return self.encode_rows(check_matrix(X, min_rows=1))

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """The reconstructions of codes ``Z``, in the units of the input."""
        check_is_fitted(self, "module_")
        Z = check_matrix(check_array(_readable(Z, "Z"), dtype=_VALID_DTYPES, ensure_all_finite=False), "Z", min_rows=1)
        if Z.shape[1] != self.n_components_:
            raise ValueError(f"Z has {Z.shape[1]} columns, but the model's codes have {self.n_components_}")
        return self.decode_rows(Z)

    def encode_rows(self, X: np.ndarray, first_row: int = 0) -> np.ndarray:
        """``transform`` for a checked 2-D float array of the right width (no scikit-learn validation); messages
        count its rows from ``first_row``."""
        codes = evaluation.encode(self.module_, self.scaler_.transform(self.to_tensor(X)), advice=FAR_OUT)
        return self._numpy(codes, X, first_row)

    def decode_rows(self, Z: np.ndarray, first_row: int = 0) -> np.ndarray:
        """``inverse_transform`` for a checked 2-D float array of codes; messages count its rows from
        ``first_row``."""
        decoded = evaluation.decode(self.module_, self.to_tensor(Z, "Z"))
        unscaled = self.scaler_.inverse_transform(decoded)
        return self._numpy(
            evaluation.finite(unscaled, "the model's reconstructions", "the codes lie too far out", first_row),
            Z,
            first_row,
        )

    def save(self, path: str | Path, *, overwrite: bool = False, **provenance: Any) -> Path:
        """Write the model file (safetensors plus JSON metadata) and return its path.

        ``path`` is a ``.safetensors`` file, or an existing directory, which gets ``model.safetensors`` (the name
        ``dimred.load`` looks for in a directory). An existing file is replaced only with ``overwrite=True``.
        ``provenance`` adds metadata fields, such as the dataset the model was trained on: text, finite numbers,
        or lists and dicts of them, under names the file's own metadata does not use (``model``, ``scaler``...).
        """
        check_is_fitted(self, "module_")
        check_flags(overwrite=overwrite)
        path = path_argument(path, "path", "a .safetensors file's or a directory's path")
        if path.is_dir():
            path = path / MODEL_FILE
        elif path.suffix.lower() != ".safetensors":
            raise UsageError(f"cannot save to {path}: name a .safetensors file or an existing directory")
        if path.exists() and not overwrite:
            raise UsageError(f"{path} already exists; choose another path or pass overwrite=True")
        self.fitted_.save(path, **provenance)
        return path

    def __getstate__(self) -> dict[str, Any]:
        """The estimator's parameters and, when fitted, its model as model-file bytes: no torch object."""
        state = super().__getstate__()
        if "fitted_" in state:
            state = {name: value for name, value in state.items() if name not in _REBUILT_ON_UNPICKLING}
            state[_PICKLED_MODEL] = self.fitted_.to_bytes()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the fitted model through ``dimred.load``'s checks, on the estimator's ``device``."""
        state = {"verbose": False} | dict(state)  # pickled before the parameter: silent, as its default
        data = state.pop(_PICKLED_MODEL, None)
        super().__setstate__(state)
        if data is not None:
            device = self.device
            if not available_here(device):  # pickled where a GPU was, unpickled where none is
                warnings.warn(f"this Reducer was pickled with device={device!r}, which this machine does not have; "
                              "its model is loaded on the CPU (set_params(device='cpu') before fitting again here)",
                              stacklevel=2)  # fmt: skip
                device = "cpu"
            fitted = read_fitted(data, device, "(a pickled Reducer)")
            fitted.history, fitted.train_seconds = self.history_, self.train_seconds_
            self.adopt(fitted)

    def to_onnx(
        self, directory: str | Path, overwrite: bool = False, opset: int = defaults.ONNX_OPSET
    ) -> dict[str, Path]:
        """Write ``encoder.onnx`` (raw rows -> codes) and ``decoder.onnx`` (codes -> raw rows) into ``directory``,
        the training scaler folded into both, for ONNX Runtime (needs ``pip install 'dimred[onnx]'``), in ONNX
        ``opset`` (as ``dimred export --opset``).

        Returns the paths by role (``{"encoder": ..., "decoder": ...}``); existing files are replaced only with
        ``overwrite``. ``dimred.load`` remains the way back into dimred.
        """
        from dimred._api.export import export_onnx

        return export_onnx(self, directory, overwrite=overwrite, opset=opset)


def _fitted_state(reducer: Reducer) -> dict[str, Any]:
    """The attributes a fit sets (named as scikit-learn names them: ending in one underscore)."""
    return {name: value for name, value in vars(reducer).items() if name.endswith("_") and not name.startswith("_")}


def _options_mapping(values: Any, parameter: str, keys: str) -> Mapping[str, Any]:
    """``values`` if it maps names to values (None: no options), else a UsageError naming ``parameter``."""
    if values is None:
        return {}
    if not isinstance(values, Mapping) or not all(isinstance(key, str) for key in values):
        raise UsageError(f"{parameter} must map {keys} to values (a dict), got {values!r}")
    return values


def _readable(X: Any, name: str = "X") -> Any:
    """``X`` as scikit-learn's checks can read it: a torch tensor detached and on the CPU (numpy reads neither
    one that requires grad nor one on a GPU). An AnnData object, or a backed file's sparse X, is refused by
    name: scikit-learn would call it a scalar or a ragged sequence; so is a column or cell of text (a
    DataFrame's labels, say), which scikit-learn names by its value alone."""
    from scipy import sparse

    if isinstance(X, torch.Tensor):  # numpy has no bfloat16: float32 holds each of its values exactly
        return X.detach().cpu().to(torch.float32 if X.dtype == torch.bfloat16 else X.dtype)
    arrays = isinstance(X, np.ndarray) or sparse.issparse(X)  # a view's matrix (adata[cells].X) is one
    if type(X).__module__.partition(".")[0] == "anndata" and not arrays:
        raise UsageError(
            f"X is anndata's {type(X).__name__}, not a matrix; pass its matrix: adata.X (.toarray() where "
            "it is sparse; a backed file's adata.to_memory() first), adata.layers[NAME] or adata.to_df()"
        )
    _check_numbers(X, name)
    return X


def _check_numbers(X: Any, name: str) -> None:
    """Refuse, by name, a DataFrame's columns whose values are not numbers (text, categories of text, dates), or
    an array's first cell of text that is no number; values numpy reads as numbers pass, whatever their dtype."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items"):  # a DataFrame
        others = [str(column) for column, dtype in dtypes.items() if not _numbers_column(X[column], dtype)]
        if others:
            listed, several = ", ".join(map(repr, others)), len(others) > 1
            raise DataError(f"{name}'s column{'s' if several else ''} {listed} hold{'' if several else 's'} values "
                            f"that are not numbers (text, categories or dates); leave {'them' if several else 'it'} "
                            f"out ({name}.drop(columns=[{listed}])): dimred reduces numbers")  # fmt: skip
    elif isinstance(X, np.ndarray) and X.dtype.kind in DATES:
        raise DataError(f"{name} holds dates or times ({X.dtype}), not numbers; dimred reduces numbers")
    elif isinstance(X, np.ndarray) and X.dtype.kind in "OUS" and X.ndim == 2 and not _reads_as_numbers(X):
        for (row, column), cell in np.ndenumerate(X):
            if isinstance(cell, datetime.date | datetime.timedelta | np.datetime64 | np.timedelta64):
                raise DataError(f"{name} holds {cell!r} at row {row}, column {column} (counting from 0), a date or a "
                                "time, not a number; dimred reduces numbers")  # fmt: skip
            text = cell.decode(errors="replace") if isinstance(cell, bytes) else cell
            if isinstance(text, str) and not is_number(text):  # other cells: scikit-learn's TypeError says it
                raise DataError(f"{name} holds {text!r} at row {row}, column {column} (counting from 0), which is "
                                "not a number; dimred reduces numbers")  # fmt: skip


def _numbers_column(values: Any, dtype: Any) -> bool:
    kind = getattr(dtype, "kind", "O")  # pandas' own dtypes (categories) may have none
    return kind in "biuf" or (kind not in DATES and _reads_as_numbers(values))


def _reads_as_numbers(values: Any) -> bool:
    try:
        np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _draws_seed(random_state: Any) -> bool:
    """Whether ``random_state`` draws the fit's seed instead of being it."""
    return random_state is None or isinstance(random_state, np.random.RandomState | np.random.Generator)


def _seed_of(random_state: Any) -> Any:
    """The seed of a fit: ``random_state`` where it is one (TrainingSettings checks that it is a whole number),
    else one drawn from it as scikit-learn's estimators draw theirs: None draws from numpy's global generator."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    if _draws_seed(random_state):
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    return random_state


def _loop_defaults(settings: TrainingSettings) -> TrainingSettings:
    """``settings`` with the training loop's settings at their defaults: what a one-call model is fitted and
    recorded with, since it runs no loop (``dimred run`` refuses them instead; see
    ``pipeline.check_one_call_settings``)."""
    unset = TrainingSettings()
    return settings.replace(**{name: getattr(unset, name) for name in LOOP_SETTINGS})


def _with_option(values: Any, path: list[str], value: Any, parameter: str) -> dict[str, Any]:
    """A copy of the options mapping ``values`` with ``value`` at ``path`` (mappings made where missing)."""
    copied = dict(_options_mapping(values, parameter, "names"))
    name, *rest = path
    copied[name] = _with_option(copied.get(name), rest, value, f"{parameter}[{name!r}]") if rest else value
    return copied


def _options_by_plugin(values: Any, parameter: str, kind: str) -> dict[str, Mapping[str, Any]]:
    """``{plugin name: {option: value}}`` checked at both levels (``loss_options``, ``callback_options``)."""
    by_plugin = _options_mapping(values, parameter, f"{kind} names")
    return {name: _options_mapping(options, f"{parameter}[{name!r}]", f"the {kind}'s option names")
            for name, options in by_plugin.items()}  # fmt: skip


def as_fitted_reducer(model: Reducer | str | Path, device: str) -> Reducer:
    """``model`` if it is a fitted Reducer (NotFittedError if it is not fitted), else the one the run directory
    or model file it names holds, on ``device``."""
    if isinstance(model, Reducer):
        check_is_fitted(model, "module_")
        return model
    if isinstance(model, str | Path):
        return load(model, device=device)
    raise UsageError(f"give a fitted dimred.Reducer or a run directory / model file, not {model!r}")


def computes_in(model: Reducer) -> str:
    """The dtype a fitted model computes in, as its saved scaling says: float64 for a float64 run's and a
    classical method's however it was fitted (``Reducer.dtype`` is the training loop's, float32 by default), else
    float32."""
    return "float64" if model.scaler_.offset.dtype == torch.float64 else "float32"


def load(path: str | Path, device: str | torch.device = defaults.DEVICE) -> Reducer:
    """A fitted Reducer rebuilt from a model file (or the run directory holding one), in eval mode on ``device``.

    Only the file's tensors and JSON metadata are read: no pickle, no code from the file.
    """
    path = path_argument(path, "path", "a model file's or a run directory's path")
    return read_fitted(path, device).reducer(device=device_name(device))
