"""Checks on the data users hand to dimred, with messages that say what is wrong and where."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from dimred._core.errors import DimredError

# values read at once in a pass over a big file (each pass makes a few float64 copies of them: about 32 MB each).
# A count of rows instead had taken 2^20 rows whatever their width: 5 GB for a pass over rows of 128 columns.
CHUNK_VALUES = 1 << 22


def chunk_rows(width: int) -> int:
    """Rows of ``width`` columns read at once in a pass over a big file: CHUNK_VALUES values, one row at least."""
    return max(1, CHUNK_VALUES // max(width, 1))


class DataError(DimredError, ValueError):
    """Data that dimred cannot work on (a ValueError too, as scikit-learn's conventions expect)."""


def check_matrix(
    X: Any,
    what: str = "X",
    min_rows: int = 2,
    first_row: int = 0,
    computed_in: str | None = None,
    *,
    row_numbers: np.ndarray | None = None,
    column_names: Sequence[Any] | None = None,
) -> np.ndarray:
    """``X`` as a 2-D array of finite numbers with at least ``min_rows`` rows and 1 column; never modifies ``X``.
    Messages count rows from ``first_row`` (where ``X`` is a batch of a file's rows), or give each row's number
    from ``row_numbers`` (where ``X`` holds rows picked from a data set), and name a column by ``column_names``
    (its name, or its index in the file) where ``X`` holds a file's columns picked for a model, in its order; with
    ``computed_in`` (a numpy float type's name) values beyond that type's range are refused too. Long doubles come
    back as float64 (beyond its range: refused), the widest float torch takes."""
    array = np.asarray(X)
    durations = array.dtype.kind == "m"  # numpy counts timedelta64 among its integers
    if array.dtype == object or durations or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{what} must hold numbers, got values of type {array.dtype}")
    if np.iscomplexobj(array):
        raise DataError(f"{what} holds complex numbers; dimred works on real numbers only")
    if array.ndim != 2:
        raise DataError(f"{what} must be 2-D (samples x features), got shape {array.shape}")
    if array.shape[0] < min_rows or array.shape[1] < 1:
        samples = "sample" if min_rows == 1 else "samples"
        raise DataError(f"{what} needs at least {min_rows} {samples} and 1 feature, got shape {array.shape}")
    wider = array.dtype.kind == "f" and array.dtype.itemsize > 8  # long double: torch takes float64 at most
    # values beyond computed_in's range only where the array's type holds them (not float32's, nor integers')
    narrowed = (
        computed_in is not None and array.dtype.kind == "f" and array.dtype.itemsize > np.dtype(computed_in).itemsize
    )
    ceiling = computed_in if narrowed else ("float64" if wider else None)
    largest = np.finfo(ceiling).max if ceiling else np.inf
    rows = chunk_rows(array.shape[1])
    for start in range(0, len(array), rows) if array.dtype.kind == "f" else ():
        chunk = array[start : start + rows]  # in chunks: no n x d temporary for big files
        bad = ~np.isfinite(chunk)
        # two passes without a temporary first; where a value is not finite (max and min are NaN), the first bad one
        if ceiling and (bad.any() or chunk.max() > largest or chunk.min() < -largest):
            bad |= np.abs(chunk) > largest
        if bad.any():
            row, column = np.argwhere(bad)[0]
            value = chunk[row, column]
            number = first_row + start + row if row_numbers is None else int(row_numbers[start + row])
            label = column if column_names is None else column_names[column]  # a name, or the file's index
            named = isinstance(label, str)
            at = f"at row {number} (counting from 0), column '{label}'" if named else (
                f"at row {number}, column {label} (counting from 0)")  # fmt: skip
            if np.isfinite(value):
                shown = np.format_float_scientific(value, precision=3, trim="-")  # long doubles beyond float64 too
                raise DataError(f"{what} has {shown} {at}, {beyond_range(ceiling)}")
            kind = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
            raise DataError(f"{what} has {kind} {at}")
    return array.astype(np.float64) if wider else array


def beyond_range(dtype: str) -> str:
    """Why a finite value is refused: the model's float type cannot hold it (1e39 in float32)."""
    return f"beyond the range of {dtype} (±{np.finfo(dtype).max:.3g}) that the model computes in; rescale the data"


def columns_by_name(
    names: Sequence[Any], trained: Sequence[Any], where: str, what: str = "columns", verb: str = "was trained on"
) -> list[int]:
    """The positions in ``names`` (a file's header, a data set's genes) of the ``trained`` names, in the trained
    order (``verb``: how messages say the model has them); other columns are left out. A trained name that
    ``names`` lacks is an error naming the first few; so is a trained name that either side repeats (which of its
    columns is which cannot be told by name), unless ``names`` are the trained names in their order."""
    names, trained = [str(name) for name in names], [str(name) for name in trained]
    if names == trained:
        return list(range(len(names)))
    stripped = [name.strip() for name in trained]
    if not set(trained) <= set(names) and len(set(stripped)) == len(set(trained)):
        # a CSV header is read around its spaces, while names given to fit (a DataFrame's) keep theirs
        names, trained = [name.strip() for name in names], stripped
    present = set(names)
    missing = [name for name in trained if name not in present]
    if missing:
        raise DataError(f"{where} lacks {len(missing)} of the {len(trained)} {what} the model {verb} "
                        f"(first: {', '.join(missing[:3])})")  # fmt: skip
    counts, trained_counts = Counter(names), Counter(trained)
    repeated = [name for name in trained_counts if counts[name] > 1 or trained_counts[name] > 1]
    if repeated:
        side = f"the model's {what}" if trained_counts[repeated[0]] > 1 else f"the {what} of {where}"
        raise DataError(f"the name {repeated[0]!r} is given to more than one of {side}, so the {what} of {where} "
                        f"cannot be matched to the model's by name; give each a unique name, or give {where} exactly "
                        f"the {what} the model was trained on, in its order")  # fmt: skip
    position = {name: index for index, name in enumerate(names)}
    return [position[name] for name in trained]
