"""``dimred.Reducer``, a scikit-learn estimator over any model plugin, and ``dimred.load`` for saved models."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from dimred._core import defaults as defaults
from dimred._core.contracts import Model
from dimred._core.errors import DimredError
from dimred._core.options import to_dict as options_dict
from dimred._engine import evaluation, fitting, modelfile
from dimred._engine.device import as_tensor, resolve_device, resolve_dtype
from dimred._engine.scaling import Scaler
from dimred._engine.training import Progress, TrainingPlan
from dimred._host.objective import build_terms, options_of, spec_text
from dimred._host.registry import get_registry
from dimred._host.resolve import blame, instantiate
from dimred._io.validation import check_matrix

_VALID_DTYPES = [np.float64, np.float32]


class Reducer(TransformerMixin, BaseEstimator):
    """Dimensionality reduction with any dimred model plugin, as a scikit-learn transformer.

    ``transform`` gives the codes, ``inverse_transform`` the reconstructions, both in eval mode and in the
    units of the input (the scaler fitted on the training data is applied and undone). The parameters mirror
    ``dimred run``'s options; ``model_options`` are the model plugin's own (``n_components`` is passed to the
    model when it declares that option). ``loss`` is a loss or a weighted sum (``"mse+geodesic:10"``; default:
    the model's own) and ``loss_options`` maps a loss name to its options.
    """

    def __init__(
        self,
        model: str = "mlp-ae",
        n_components: int | None = 2,
        model_options: dict[str, Any] | None = None,
        loss: str | None = None,
        loss_options: dict[str, dict[str, Any]] | None = None,
        steps: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = defaults.BATCH_SIZE,
        lr: float = defaults.LR,
        schedule: str = defaults.SCHEDULE,
        dtype: str = defaults.DTYPE,
        scaler: str = defaults.SCALER,
        device: str = defaults.DEVICE,
        random_state: int | None = None,
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
        self.schedule = schedule
        self.dtype = dtype
        self.scaler = scaler
        self.device = device
        self.random_state = random_state

    def _model_plugin(self) -> Model:
        values = dict(self.model_options or {})
        declared = {field.name for field in dataclasses.fields(get_registry().get("model", self.model).cls.Options)}
        if self.n_components is not None and "n_components" in declared:
            values.setdefault("n_components", self.n_components)
        return instantiate("model", self.model, values)

    def _plan(self) -> TrainingPlan:
        steps = defaults.STEPS if self.steps is None and self.epochs is None else self.steps
        return TrainingPlan(steps, self.epochs, self.batch_size, self.lr, self.schedule)

    def fit(self, X: Any, y: Any = None, *, progress: Progress | None = None) -> Reducer:
        """Train on the rows of ``X`` (an array or DataFrame of numbers); ``y`` is ignored."""
        X = check_matrix(validate_data(self, X, dtype=_VALID_DTYPES, ensure_min_samples=2, ensure_all_finite=False))
        network_plugin = self._model_plugin()
        terms = build_terms(self.loss or network_plugin.default_loss, self.loss_options or {})
        device = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        result = fitting.fit(
            network_plugin, terms, X, self._plan(), scaler=self.scaler, seed=seed, device=device,
            dtype=resolve_dtype(self.dtype, device), progress=progress,
        )  # fmt: skip
        self.history_ = result.history
        self.train_seconds_ = result.train_seconds
        self._adopt(result.module, result.scaler, options_dict(network_plugin.options), spec_text(terms),
                    options_of(terms))  # fmt: skip
        return self

    def _adopt(
        self, module: torch.nn.Module, scaler: Scaler, model_options: dict, loss: str, loss_options: dict
    ) -> None:
        """Take a trained network as this estimator's fitted state."""
        self.module_ = module
        self.scaler_ = scaler
        self.model_options_ = model_options
        self.loss_ = loss
        self.loss_options_ = loss_options
        self.device_ = scaler.offset.device
        self.n_components_ = int(evaluation.encode(module, scaler.offset.unsqueeze(0)).shape[1])

    def to_tensor(self, X: np.ndarray) -> torch.Tensor:
        """Rows as a tensor on the model's device and in its dtype."""
        return as_tensor(X, self.device_, self.scaler_.offset.dtype)

    @staticmethod
    def _numpy(values: torch.Tensor, like: np.ndarray) -> np.ndarray:
        """Results in float64 for float64 input, float32 otherwise (scikit-learn's dtype convention)."""
        return values.cpu().numpy().astype(np.float64 if like.dtype == np.float64 else np.float32, copy=False)

    def transform(self, X: Any) -> np.ndarray:
        """The codes of the rows of ``X``, computed in eval mode with the training scaler."""
        check_is_fitted(self, "module_")
        X = validate_data(self, X, dtype=_VALID_DTYPES, reset=False, ensure_all_finite=False)
        return self.encode_rows(check_matrix(X, min_rows=1))

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """The reconstructions of codes ``Z``, in the units of the input."""
        check_is_fitted(self, "module_")
        Z = check_matrix(check_array(Z, dtype=_VALID_DTYPES, ensure_all_finite=False), "Z", min_rows=1)
        if Z.shape[1] != self.n_components_:
            raise ValueError(f"Z has {Z.shape[1]} columns, but the model's codes have {self.n_components_}")
        return self.decode_rows(Z)

    def encode_rows(self, X: np.ndarray) -> np.ndarray:
        """``transform`` for a checked 2-D float array of the right width (no scikit-learn validation)."""
        return self._numpy(evaluation.encode(self.module_, self.scaler_.transform(self.to_tensor(X))), X)

    def decode_rows(self, Z: np.ndarray) -> np.ndarray:
        """``inverse_transform`` for a checked 2-D float array of codes."""
        decoded = evaluation.decode(self.module_, self.to_tensor(Z))
        return self._numpy(self.scaler_.inverse_transform(decoded), Z)

    def save(self, path: str | Path, **provenance: Any) -> Path:
        """Write the model file (safetensors plus JSON metadata); a directory gets ``model.safetensors``.

        ``provenance`` adds metadata fields, such as the dataset the model was trained on.
        """
        check_is_fitted(self, "module_")
        path = Path(path)
        if path.is_dir():
            path = path / modelfile.FILENAME
        description = modelfile.describe_model(
            self.model, self.model_options_, self.loss_, self.loss_options_, self.n_features_in_, self.n_components_,
            getattr(self, "feature_names_in_", None), self.dtype,
            dataclasses.asdict(self._plan()) | {"random_state": self.random_state}, **provenance,
        )  # fmt: skip
        modelfile.save_model(path, self.module_, self.scaler_, description)
        return path


def load(path: str | Path, device: str = defaults.DEVICE) -> Reducer:
    """A fitted Reducer rebuilt from a model file (or the run directory holding one), in eval mode on ``device``.

    Only the file's tensors and JSON metadata are read: no pickle, no code from the file.
    """
    model_file = modelfile.read_model_file(path)
    metadata = model_file.metadata
    training = metadata.get("training") or {}
    model_options = metadata.get("model_options") or {}
    reducer = Reducer(
        model=metadata["model"],
        n_components=model_options.get("n_components"),
        model_options=model_options,
        loss=metadata.get("loss"),
        loss_options=metadata.get("loss_options") or {},
        **{key: training[key] for key in ("steps", "epochs", "batch_size", "lr", "schedule") if key in training},
        dtype=metadata["dtype"],
        scaler=metadata["scaler"],
        device=device,
        random_state=training.get("random_state"),
    )
    try:
        n_features = int(metadata["n_features"])
        network_plugin = instantiate("model", reducer.model, model_options)
    except (ValueError, DimredError) as error:
        raise model_file.fail(str(error)) from None
    torch_device = resolve_device(device)
    with blame(network_plugin, "build its network"):
        module = network_plugin.build(n_features)
    module = modelfile.restore_module(model_file, module, torch_device)
    scaler = modelfile.restore_scaler(model_file, n_features, torch_device, next(module.parameters()).dtype)
    reducer.n_features_in_ = n_features
    if metadata.get("feature_names"):
        reducer.feature_names_in_ = np.asarray(metadata["feature_names"], dtype=object)
    reducer._adopt(module, scaler, model_options, reducer.loss or "", reducer.loss_options or {})
    return reducer
