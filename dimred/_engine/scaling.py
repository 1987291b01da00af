"""Scaling the data before training, kept with the model so new data is scaled the same way.

The reference tutorial re-fits MinMax scaling on every new data set; dimred fits the scaler once on the
training data and saves it beside the weights.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from dimred._core.defaults import SCALERS
from dimred._core.errors import UsageError
from dimred._io.validation import DataError

# A fitted factor is 1 / the spread of a feature, and is positive. Beyond these bounds float32 arithmetic
# overflows or loses the data altogether, so a saved scaler outside them is forged or broken, never fitted.
SCALE_LIMIT = 1e30
# Rows are rounded to the model's dtype before they are scaled: a column whose spread spans fewer steps of that
# dtype at its size than this (1e6 +- 0.5 in float32: about 8) loses most of what tells its rows apart.
MIN_STEPS_ACROSS_SPREAD = 10_000
# Once scaled, the middle 90 % of a column's rows span about 0.55 of minmax's unit range on Gaussian data (3.3 for
# standard): a band below this width means a few rows far out squeeze the others together (3 rows of 300 at 1e6
# times the rest left every other row one code; at 100 times, held-out trustworthiness 0.55 where it was 0.93).
SQUEEZED_BAND = 0.03
SQUEEZE_SAMPLE_ROWS = 2_000  # the evenly spaced rows whose middle 90 % are measured
SQUEEZE_CHUNK_VALUES = 1 << 22  # of those, measured a block of columns at a time (32 MB in float64)


class UnsavableColumnError(DataError):
    """A column whose scaling no model file can hold; ``named`` says it of the data set and by the column's name
    where the caller knows them."""

    def __init__(self, column: int, spread: str) -> None:
        self.column, self.spread = column, spread
        super().__init__(self.named())

    def named(self, data_name: str | None = None, column_names: Sequence[object] | None = None) -> str:
        which = f"'{column_names[self.column]}'" if column_names is not None else f"{self.column} (counting from 0)"
        return (
            f"column {which} of {data_name or 'the data'} {self.spread}; a model file holds the scaling of columns "
            "that vary by 1e-30 to 1e30 around a value within 1e30 of 0: rescale the data (by a power of ten)"
        )


class Scaler:
    """An affine map ``(x - offset) * factor`` per feature, fitted on training data."""

    def __init__(
        self, kind: str, offset: torch.Tensor, factor: torch.Tensor, constant: torch.Tensor | None = None
    ) -> None:
        self.kind = kind
        self.offset = offset
        self.factor = factor
        self.constant = constant  # per column, where fitted: whether it held one value (mapped to 0, factor 1)

    @classmethod
    def fit(cls, kind: str, X: torch.Tensor) -> Scaler:
        """Fit on the rows of ``X`` at once."""
        return cls.fit_chunks(kind, [X])

    @classmethod
    def fit_chunks(cls, kind: str, chunks: Iterable[torch.Tensor]) -> Scaler:
        """Fit in one streaming pass over chunks of rows, so the data never has to be in memory at once.

        Statistics accumulate in float64: min/max, and for ``standard`` each chunk's mean and sum of squared
        deviations from it, combined as Chan et al. do (a sum of squares less n times the squared mean loses the
        spread of a column far from 0: 1e6 +- 0.001 came out as 1.0).
        """
        if kind not in SCALERS:
            raise UsageError(f"unknown scaler '{kind}'; choose from: {', '.join(SCALERS)}")
        low = high = mean = deviations = None
        count = 0
        for chunk in chunks:
            values = chunk.double()
            low = values.amin(dim=0) if low is None else torch.minimum(low, values.amin(dim=0))
            high = values.amax(dim=0) if high is None else torch.maximum(high, values.amax(dim=0))
            chunk_mean = values.mean(dim=0)
            chunk_deviations = (values - chunk_mean).square().sum(dim=0)
            if mean is None:
                mean, deviations = chunk_mean, chunk_deviations
            else:
                total, delta = count + len(values), chunk_mean - mean
                mean = mean + delta * (len(values) / total)
                deviations = deviations + chunk_deviations + delta.square() * (count * len(values) / total)
            count += len(values)
            dtype, device = chunk.dtype, chunk.device
        if kind == "minmax":
            offset, spread = low, high - low
        elif kind == "standard":
            offset, spread = mean, (deviations / max(count - 1, 1)).sqrt()
        else:
            offset, spread = torch.zeros_like(low), torch.ones_like(low)
        # A constant feature maps to 0 instead of dividing by zero, as scikit-learn does (its sum of squares can
        # leave a rounding error for a spread: compared by its values instead).
        varies = (spread > 0) & (high > low)
        factor = torch.where(varies, 1.0 / spread, torch.ones_like(spread))
        return cls(kind, offset.to(device=device, dtype=dtype), factor.to(device=device, dtype=dtype), ~varies)

    def to(self, device: torch.device) -> Scaler:
        return Scaler(self.kind, self.offset.to(device), self.factor.to(device), self.constant)

    def warn_if_coarse(self, dtype: torch.dtype) -> None:
        """Warn, naming the first such column, where ``dtype`` rounds a column's values to fewer than
        MIN_STEPS_ACROSS_SPREAD steps across its spread (a column far from 0 for its spread, in float32)."""
        if self.kind == "none":
            return
        spread = 1.0 / self.factor.double()
        _mantissa, exponent = torch.frexp(self.offset.double().abs() + spread)  # x = mantissa * 2^exponent
        spacing = torch.finfo(dtype).eps * torch.pow(2.0, exponent.double() - 1)  # dtype's step at the far end
        steps = spread / spacing
        if self.constant is not None:  # a column of one value has nothing to round away
            steps = steps.masked_fill(self.constant.to(steps.device), math.inf)
        coarse = (steps < MIN_STEPS_ACROSS_SPREAD).nonzero()
        if len(coarse):
            column = int(coarse[0][0])
            warnings.warn(f"column {column} (counting from 0) varies by {spread[column].item():.4g} around "
                          f"{self.offset[column].item():.6g}: in {str(dtype).removeprefix('torch.')} its values are "
                          f"rounded to about {steps[column].item():.0f} steps across that spread before scaling, so "
                          "rows that differ less look alike; "
                          f"{rounding_advice(spread[column].item(), self.offset[column].item(), dtype)}",
                          stacklevel=2)  # fmt: skip

    def warn_if_squeezed(self, X_raw: np.ndarray) -> None:
        """Warn where the scaling, stretched by a few rows far out, squeezes the others into a sliver of the
        range in most of the columns whose rows vary (``SQUEEZED_BAND``): the model can hardly tell them apart,
        and nothing else would say why its figures are poor."""
        if self.kind == "none":
            return
        sample = X_raw[:: max(1, len(X_raw) // SQUEEZE_SAMPLE_ROWS)]
        columns = max(1, SQUEEZE_CHUNK_VALUES // len(sample))
        middle = [np.quantile(np.asarray(sample[:, start : start + columns], dtype=np.float64), [0.05, 0.95], axis=0)
                  for start in range(0, sample.shape[1], columns)]  # fmt: skip
        low, high = np.concatenate(middle, axis=1)
        band = (high - low) * self.factor.double().cpu().numpy()
        varying = band > 0
        squeezed = varying & (band < SQUEEZED_BAND)
        if squeezed.sum() * 2 <= varying.sum():
            return
        column = int(np.argmin(np.where(squeezed, band, np.inf)))
        warnings.warn(f"in {squeezed.sum()} of the {varying.sum()} columns whose rows vary, a few rows lie far "
                      f"outside the rest: scaled ({self.kind}) by a range they stretch, 90 % of the rows span "
                      f"{band[column]:.3g} of column {column} (counting from 0) where the model needs them spread "
                      "over about 1, and may not tell them apart; remove or clip the far-out rows, or transform the "
                      "data (log1p for counts) before reducing it", stacklevel=2)  # fmt: skip

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        return (X - self.offset) * self.factor

    def inverse_transform(self, X: torch.Tensor) -> torch.Tensor:
        return X / self.factor + self.offset

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"offset": self.offset, "factor": self.factor}

    def check_savable(self) -> None:
        """Refuse, naming the column, a scaling that a model file cannot hold (see ``problem``): fitted on a
        column that varies by less than 1e-30 or more than 1e30, or lies beyond 1e30 from 0. Saving it would
        write a file that loading must refuse as not fitted on data."""
        offset, factor = self.offset.double(), self.factor.double()
        offset_holds, factor_holds = self._holdable()
        bad = ~(offset_holds & factor_holds)
        if bad.any():
            column = int(bad.nonzero()[0])
            if self.constant is not None and bool(self.constant[column]):
                spread = f"is {offset[column].item():.4g} in every row"
            else:
                by = _spread_text(factor[column].item(), torch.finfo(self.factor.dtype).max)
                spread = f"varies by {by} around {offset[column].item():.4g}"
            raise UnsavableColumnError(column, spread)

    def _holdable(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per feature, whether the offset and the factor are within what a model file holds (NaN is not)."""
        offset, factor = self.offset.double(), self.factor.double()
        return offset.abs() <= SCALE_LIMIT, (factor >= 1 / SCALE_LIMIT) & (factor <= SCALE_LIMIT)

    def problem(self) -> str | None:
        """Why this scaler cannot have been fitted on data (None when it can): values that are not finite, a
        factor that is not positive or outside 1e-30..1e30, an offset beyond 1e30 in size."""
        offset, factor = self.offset.double(), self.factor.double()
        if self.kind == "none" and not (bool((offset == 0).all()) and bool((factor == 1).all())):
            return "a 'none' scaler leaves the rows as they are (offset 0, factor 1), but this one changes them"
        offset_holds, factor_holds = self._holdable()
        checks = (
            ("offset", offset, offset_holds, "a number from -1e30 to 1e30"),
            ("factor", factor, factor_holds, "a number from 1e-30 to 1e30"),
        )
        for name, values, good, allowed in checks:
            if not good.all():  # NaN compares false, so it is caught here too
                index = int((~good).nonzero()[0][0])
                return f"{name} {values[index].item():g} of feature {index} is not {allowed}"
        return None


def rounding_advice(spread: float, offset: float, dtype: torch.dtype, scaled: bool = True) -> str:
    """What lets a model see the values of a column that ``dtype`` rounds away (``spread`` around ``offset``):
    float64 where the data trains unscaled or a model file can hold the scaling that float64 then fits
    (``check_savable``), unless it trains in float64 already; else a rescale."""
    if not scaled or (spread >= 1 / SCALE_LIMIT and abs(offset) <= SCALE_LIMIT):
        if dtype == torch.float64:
            return "subtract a value near its offset first"
        return 'subtract a value near its offset first, or train in float64 (dtype="float64", --dtype float64)'
    return "scale it by a power of ten (a model file holds the scaling of columns that vary by 1e-30 to 1e30)"


def _spread_text(factor: float, largest: float) -> str:
    """A column's spread from its scaling factor: where 1 / spread overflowed the dtype (factor inf), or the spread
    did (factor 0), how far beyond it lies."""
    if math.isinf(factor):
        return f"less than {1 / largest:.2g}"
    return f"more than {largest:.2g}" if factor == 0 else f"{1 / factor:.4g}"
