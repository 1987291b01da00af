"""Checks on the data users hand to dimred, with messages that say what is wrong and where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dimred._core.errors import DimredError

_CHUNK_ROWS = 1 << 20


class DataError(DimredError, ValueError):
    """Data that dimred cannot work on (a ValueError too, as scikit-learn's conventions expect)."""


def check_matrix(X: Any, what: str = "X", min_rows: int = 2) -> np.ndarray:
    """``X`` as a 2-D array of finite numbers with at least ``min_rows`` rows and 1 column; never modifies ``X``."""
    array = np.asarray(X)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{what} must hold numbers, got values of type {array.dtype}")
    if np.iscomplexobj(array):
        raise DataError(f"{what} holds complex numbers; dimred works on real numbers only")
    if array.ndim != 2:
        raise DataError(f"{what} must be 2-D (samples x features), got shape {array.shape}")
    if array.shape[0] < min_rows or array.shape[1] < 1:
        raise DataError(f"{what} needs at least {min_rows} samples and 1 feature, got shape {array.shape}")
    for start in range(0, len(array), _CHUNK_ROWS) if array.dtype.kind == "f" else ():
        bad = ~np.isfinite(array[start : start + _CHUNK_ROWS])  # in chunks: no n x d temporary for big files
        if bad.any():
            row, column = np.argwhere(bad)[0]
            row += start
            value = "NaN" if np.isnan(array[row, column]) else ("inf" if array[row, column] > 0 else "-inf")
            raise DataError(f"{what} has {value} at row {row}, column {column} (counting from 0)")
    return array


def columns_by_name(names: Sequence[Any], trained: Sequence[Any], where: str, what: str = "columns") -> list[int]:
    """The positions in ``names`` (a file's header, a data set's genes) of the ``trained`` names, in the trained
    order; other columns are left out. A trained name that ``names`` lacks is an error naming the first few."""
    position = {str(name): index for index, name in enumerate(names)}
    missing = [str(name) for name in trained if str(name) not in position]
    if missing:
        raise DataError(f"{where} lacks {len(missing)} of the {len(trained)} {what} the model was trained on "
                        f"(first: {', '.join(missing[:3])})")  # fmt: skip
    return [position[str(name)] for name in trained]
