"""Scaling the data before training, kept with the model so new data is scaled the same way.

The reference tutorial re-fits MinMax scaling on every new data set; dimred fits the scaler once on the
training data and saves it beside the weights.
"""

from __future__ import annotations

import torch

from dimred.defaults import SCALERS
from dimred.errors import UsageError


class Scaler:
    """An affine map ``(x - offset) * factor`` per feature, fitted on training data."""

    def __init__(self, kind: str, offset: torch.Tensor, factor: torch.Tensor) -> None:
        self.kind = kind
        self.offset = offset
        self.factor = factor

    @classmethod
    def fit(cls, kind: str, X: torch.Tensor) -> Scaler:
        if kind not in SCALERS:
            raise UsageError(f"unknown scaler '{kind}'; choose from: {', '.join(SCALERS)}")
        if kind == "minmax":
            offset = X.amin(dim=0)
            spread = X.amax(dim=0) - offset
        elif kind == "standard":
            offset = X.mean(dim=0)
            spread = X.std(dim=0)
        else:
            offset = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
            spread = torch.ones_like(offset)
        # A constant feature maps to 0 instead of dividing by zero, as scikit-learn does.
        factor = torch.where(spread > 0, 1.0 / spread, torch.ones_like(spread))
        return cls(kind, offset, factor)

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        return (X - self.offset) * self.factor

    def inverse_transform(self, X: torch.Tensor) -> torch.Tensor:
        return X / self.factor + self.offset

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"offset": self.offset, "factor": self.factor}
