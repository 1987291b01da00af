"""A trained network with everything needed to use, save and describe it: the one place a model file is written
and the one place a fitted ``Reducer`` is built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dimred._core.settings import TrainingSettings
from dimred._engine import evaluation, modelfile
from dimred._engine.device import as_tensor
from dimred._engine.scaling import Scaler

if TYPE_CHECKING:
    from dimred._api.reducer import Reducer


@dataclass(eq=False)
class FittedModel:
    """A trained torch network, its scaler, and what it was trained with."""

    model: str
    model_options: dict[str, Any]
    loss: str
    loss_options: dict[str, dict[str, Any]]
    settings: TrainingSettings
    module: torch.nn.Module
    scaler: Scaler
    feature_names: Sequence[str] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0

    @property
    def n_features(self) -> int:
        return int(self.scaler.offset.shape[0])

    @property
    def n_components(self) -> int:
        return int(evaluation.encode(self.module, self.scaler.offset.unsqueeze(0)).shape[1])

    def save(self, path: Path, **provenance: Any) -> None:
        """Write the model file (safetensors plus JSON metadata); ``provenance`` adds fields such as the dataset."""
        training = self.settings.record() | {"random_state": self.settings.seed}  # random_state: files before 0.2
        description = modelfile.describe_model(
            self.model, self.model_options, self.loss, self.loss_options, self.n_features, self.n_components,
            self.feature_names, self.settings.dtype, training, **provenance,
        )  # fmt: skip
        modelfile.save_model(path, self.module, self.scaler, description)

    def reducer(self, **parameters: Any) -> Reducer:
        """This model as a fitted ``dimred.Reducer`` (``parameters`` override the estimator's parameters)."""
        from dimred._api.reducer import Reducer  # scikit-learn takes most of a second to import

        reducer = Reducer(model=self.model, n_components=self.model_options.get("n_components"),
                          model_options=self.model_options, loss=self.loss, loss_options=self.loss_options)  # fmt: skip
        # every training setting the estimator takes as a parameter, under its own name (the seed: random_state)
        settings = self.settings.record() | {"random_state": self.settings.seed}
        reducer.set_params(**{name: value for name, value in settings.items() if name in reducer.get_params()})
        reducer.set_params(**parameters)
        reducer.adopt(self)
        return reducer

    def apply(self, X_raw: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """New raw rows scaled with the training scaler, their codes and reconstructions (eval mode)."""
        X = self.scaler.transform(as_tensor(X_raw, self.scaler.offset.device, self.scaler.offset.dtype))
        codes = evaluation.encode(self.module, X)
        return X, codes, evaluation.decode(self.module, codes)

    def feature_names_array(self) -> np.ndarray | None:
        return None if not self.feature_names else np.asarray(self.feature_names, dtype=object)
