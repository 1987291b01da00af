"""Reading and writing matrices as CSV, NPY and NPZ files, in batches so files larger than memory work.

CSV files may have a header row (detected: a first row with a cell that is not a number); the delimiter is
sniffed. NPY files are memory-mapped; NPZ files must hold one array (or one called ``X``). Object arrays are
refused without being unpickled.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dimred._core.atomic import atomic_path
from dimred._core.errors import DimredError, UsageError

READABLE = (".csv", ".tsv", ".txt", ".npy", ".npz")
WRITABLE = (".csv", ".npy")
_SNIFF_BYTES = 1 << 16


@dataclass(frozen=True)
class CsvLayout:
    delimiter: str
    header: tuple[str, ...] | None


def _suffix(path: Path, allowed: tuple[str, ...], role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise UsageError(
            f"{role} {path} has an unsupported type '{suffix or '(none)'}'; use one of: {', '.join(allowed)}"
        )
    return suffix


def check_readable(path: Path) -> Path:
    if not path.exists():
        raise DimredError(f"no such file: {path}")
    if path.is_dir():
        raise DimredError(f"{path} is a directory, not a data file")
    if not os.access(path, os.R_OK):
        raise DimredError(f"{path} is not readable (permission denied)")
    return path


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_layout(path: Path) -> CsvLayout:
    """The delimiter and the header row (if any) of a CSV file."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(_SNIFF_BYTES)
    lines = [line for line in sample.splitlines() if line.strip()]
    if not lines:
        raise DimredError(f"{path} is empty")
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t| ").delimiter
    except csv.Error:
        delimiter = ","  # one column, or nothing to tell
    first = next(csv.reader([lines[0]], delimiter=delimiter))
    header = tuple(cell.strip() for cell in first) if not all(_is_number(cell) for cell in first) else None
    return CsvLayout(delimiter, header)


def _csv_rows(path: Path, layout: CsvLayout) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every data row."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=layout.delimiter, skipinitialspace=True)
        for cells in reader:
            if layout.header is not None and reader.line_num == 1:
                continue
            if cells and any(cell.strip() for cell in cells):
                yield reader.line_num, cells


def _parse_csv_batch(path: Path, batch: list[tuple[int, list[str]]], width: int) -> np.ndarray:
    for line, cells in batch:
        if len(cells) != width:
            raise DimredError(f"{path}, line {line}: {len(cells)} values, but the rows before have {width}")
    try:
        return np.array([cells for _line, cells in batch], dtype=np.float64)
    except ValueError:
        for line, cells in batch:
            for column, cell in enumerate(cells, start=1):
                if not _is_number(cell):
                    raise DimredError(f"{path}, line {line}, column {column}: '{cell}' is not a number") from None
        raise


def iter_csv(path: Path, batch_rows: int) -> Iterator[np.ndarray]:
    layout = csv_layout(path)
    width = len(layout.header) if layout.header is not None else None
    batch: list[tuple[int, list[str]]] = []
    for row in _csv_rows(path, layout):
        width = width if width is not None else len(row[1])
        batch.append(row)
        if len(batch) == batch_rows:
            yield _parse_csv_batch(path, batch, width)
            batch = []
    if batch:
        yield _parse_csv_batch(path, batch, width or 0)


def _npz_array(path: Path) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise DimredError(f"{path} is not a readable .npz file ({error})") from None
    with archive:
        names = list(archive.files)
        if len(names) != 1 and "X" not in names:
            raise DimredError(f"{path} holds arrays {names}; name the data array 'X' or keep one array")
        try:
            return archive["X" if "X" in names else names[0]]
        except ValueError as error:
            raise DimredError(f"{path}: {error} (object arrays are refused: they would have to be unpickled)") from None


def _npy_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise DimredError(f"{path}: {error} (object arrays are refused: they would have to be unpickled)") from None
    except OSError as error:
        raise DimredError(f"{path} is not a readable .npy file ({error})") from None


def read_matrix(path: str | Path) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """The whole file as an array (memory-mapped for .npy), with the CSV header's names if it has one."""
    path = check_readable(Path(path))
    suffix = _suffix(path, READABLE, "input")
    if suffix == ".npy":
        return _npy_array(path), None
    if suffix == ".npz":
        return _npz_array(path), None
    batches = list(iter_csv(path, 1 << 16))
    if not batches:
        raise DimredError(f"{path} has no data rows")
    return np.concatenate(batches), csv_layout(path).header


def count_rows(path: Path) -> int:
    """How many data rows ``read_batches`` will give (reads a CSV file once, without parsing numbers)."""
    suffix = _suffix(path, READABLE, "input")
    if suffix in (".npy", ".npz"):
        return len(read_matrix(path)[0])
    layout = csv_layout(path)
    return sum(1 for _row in _csv_rows(path, layout))


def read_batches(path: str | Path, batch_rows: int) -> Iterator[np.ndarray]:
    """The rows of the file, ``batch_rows`` at a time, without holding the whole file in memory."""
    path = check_readable(Path(path))
    if _suffix(path, READABLE, "input") in (".csv", ".tsv", ".txt"):
        yield from iter_csv(path, batch_rows)
        return
    array, _names = read_matrix(path)
    if array.ndim != 2:
        raise DimredError(f"{path} holds an array of shape {array.shape}; a 2-D array (samples x features) is needed")
    for start in range(0, len(array), batch_rows):
        yield np.asarray(array[start : start + batch_rows])


class MatrixWriter:
    """Writes rows batch by batch to .npy (the row count is known up front) or .csv, atomically."""

    def __init__(
        self,
        path: Path,
        n_rows: int,
        n_columns: int,
        column_names: tuple[str, ...] | None = None,
        dtype: type = np.float32,
    ) -> None:
        self.path = path
        self.dtype = dtype
        self.suffix = _suffix(path, WRITABLE, "output")
        self.shape = (n_rows, n_columns)
        self.column_names = column_names
        self._written = 0

    @contextlib.contextmanager
    def open(self) -> Iterator[MatrixWriter]:
        with atomic_path(self.path) as temporary:
            if self.suffix == ".npy":
                self._array = np.lib.format.open_memmap(temporary, mode="w+", dtype=self.dtype, shape=self.shape)
                yield self
                self._array.flush()
                del self._array
            else:
                with open(temporary, "w", newline="", encoding="utf-8") as handle:
                    self._csv = handle
                    if self.column_names:
                        handle.write(",".join(self.column_names) + "\n")
                    yield self
            if self._written != self.shape[0]:
                raise DimredError(f"wrote {self._written} rows to {self.path}, expected {self.shape[0]}")

    def write(self, rows: np.ndarray) -> None:
        if self.suffix == ".npy":
            self._array[self._written : self._written + len(rows)] = rows
        else:
            buffer = io.StringIO()
            np.savetxt(buffer, rows, delimiter=",", fmt="%.17g" if self.dtype == np.float64 else "%.9g")
            self._csv.write(buffer.getvalue())
        self._written += len(rows)
