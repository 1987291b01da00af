"""Scaling the data before training, kept with the model so new data is scaled the same way.

The reference tutorial re-fits MinMax scaling on every new data set; dimred fits the scaler once on the
training data and saves it beside the weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from dimred._core.defaults import SCALERS
from dimred._core.errors import UsageError
from dimred._io.validation import DataError

# A fitted factor is 1 / the spread of a feature, and is positive. Beyond these bounds float32 arithmetic
# overflows or loses the data altogether, so a saved scaler outside them is forged or broken, never fitted.
SCALE_LIMIT = 1e30


class Scaler:
    """An affine map ``(x - offset) * factor`` per feature, fitted on training data."""

    def __init__(self, kind: str, offset: torch.Tensor, factor: torch.Tensor) -> None:
        self.kind = kind
        self.offset = offset
        self.factor = factor

    @classmethod
    def fit(cls, kind: str, X: torch.Tensor) -> Scaler:
        """Fit on the rows of ``X`` at once."""
        return cls.fit_chunks(kind, [X])

    @classmethod
    def fit_chunks(cls, kind: str, chunks: Iterable[torch.Tensor]) -> Scaler:
        """Fit in one streaming pass over chunks of rows, so the data never has to be in memory at once.

        Statistics accumulate in float64 (min/max; or count, sum and sum of squares for ``standard``).
        """
        if kind not in SCALERS:
            raise UsageError(f"unknown scaler '{kind}'; choose from: {', '.join(SCALERS)}")
        low = high = total = squares = None
        count = 0
        for chunk in chunks:
            values = chunk.double()
            low = values.amin(dim=0) if low is None else torch.minimum(low, values.amin(dim=0))
            high = values.amax(dim=0) if high is None else torch.maximum(high, values.amax(dim=0))
            total = values.sum(dim=0) if total is None else total + values.sum(dim=0)
            squares = values.square().sum(dim=0) if squares is None else squares + values.square().sum(dim=0)
            count += len(values)
            dtype, device = chunk.dtype, chunk.device
        _check_span(low, high, dtype)
        if kind == "minmax":
            offset, spread = low, high - low
        elif kind == "standard":
            offset = total / count
            spread = ((squares - count * offset.square()).clamp(min=0) / max(count - 1, 1)).sqrt()
        else:
            offset, spread = torch.zeros_like(low), torch.ones_like(low)
        # A constant feature maps to 0 instead of dividing by zero, as scikit-learn does.
        factor = torch.where(spread > 0, 1.0 / spread, torch.ones_like(spread))
        return cls(kind, offset.to(device=device, dtype=dtype), factor.to(device=device, dtype=dtype))

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        return (X - self.offset) * self.factor

    def inverse_transform(self, X: torch.Tensor) -> torch.Tensor:
        return X / self.factor + self.offset

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"offset": self.offset, "factor": self.factor}

    def problem(self) -> str | None:
        """Why this scaler cannot have been fitted on data (None when it can): values that are not finite, a
        factor that is not positive or outside 1e-30..1e30, an offset beyond 1e30 in size."""
        offset, factor = self.offset.double(), self.factor.double()
        checks = (
            ("offset", offset, (offset.abs() <= SCALE_LIMIT), "a number from -1e30 to 1e30"),
            ("factor", factor, (factor >= 1 / SCALE_LIMIT) & (factor <= SCALE_LIMIT), "a number from 1e-30 to 1e30"),
        )
        for name, values, good, allowed in checks:
            if not good.all():  # NaN compares false, so it is caught here too
                index = int((~good).nonzero()[0][0])
                return f"{name} {values[index].item():g} of feature {index} is not {allowed}"
        return None


def _check_span(low: torch.Tensor, high: torch.Tensor, dtype: torch.dtype) -> None:
    """Refuse a column whose values lie further apart than ``dtype`` reaches: each value within range, but their
    difference, which scaling computes, would be infinite (from -3e38 to 3e38 in float32)."""
    limit = torch.finfo(dtype).max
    wide = (high - low) > limit
    if wide.any():
        column = int(wide.nonzero()[0])
        raise DataError(f"column {column} (counting from 0) of the data spans {low[column].item():.4g} to "
                        f"{high[column].item():.4g}, further apart than {str(dtype)[6:]} (±{limit:.3g}) that the "
                        "model computes in can hold; rescale the data, or train with --dtype float64")  # fmt: skip
