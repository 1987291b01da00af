"""Reading and writing matrices as CSV, NPY and NPZ files, in batches so files larger than memory work.

CSV files may have a header row (detected: a first row numbering the columns 0, 1, 2..., with text above a
number, or with text that its column does not repeat; where that row's numbers look like data, a warning
says so); the delimiter is sniffed. '#' lines before the first row are comments (the last of them a header
where, written '# a,b,c' as numpy.savetxt writes one, it has as many cells as the rows), and a delimiter
ending every line adds no empty column. A first column with no name in the header holds row names (pandas'
``to_csv`` and R's ``write.csv`` write one by default) and is left out. NPY files are memory-mapped; NPZ files
must hold one array (or one called ``X``). Object arrays are refused without being unpickled.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import errno
import functools
import io
import math
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dimred._core.atomic import atomic_path
from dimred._core.errors import DimredError, UsageError

READABLE = (".csv", ".tsv", ".txt", ".npy", ".npz")
WRITABLE = (".csv", ".npy")
TEXT = (".csv", ".tsv", ".txt")
_SNIFF_BYTES = 1 << 16
_HEADER_SAMPLE_ROWS = 200  # rows read to tell a header from a first row of data
_NUMBERED_FROM_ONE = 10  # columns from which a first row 1, 2, ..., n is read as their numbers
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"  # how np.save's and np.savez's files start
_GZIP_MAGIC = b"\x1f\x8b"  # how a gzip-compressed file starts
_ID_COLUMNS = (
    "a column of row names or ids goes first with an empty header (as pandas' to_csv writes it), or is left out "
    "with --set dataset.ignore_columns=NAME"
)
_NO_SPACE_RESERVATION = (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)  # file systems without fallocate


ROW_INDEX_NAMES = ("", "Unnamed: 0")  # a first column headed so holds row names: pandas' to_csv, R's write.csv


@dataclass(frozen=True)
class CsvLayout:
    """A CSV file's delimiter, its header's column names (None without a header) and whether its first column
    holds row names rather than data (left out of ``header`` and of every row)."""

    delimiter: str
    header: tuple[str, ...] | None
    row_index: bool = False
    padded: bool = False  # columns aligned by runs of spaces, leading ones too (a right-aligned first column)
    comments: int = 0  # lines of '#' comments before the header or the first row (numpy.savetxt's), skipped
    trailing_empty: bool = False  # every line ends in a delimiter: the empty last column is left out


H5AD_INPUT = " (.h5ad files: dimred encode with an .h5ad output, or --dataset h5ad)"
H5AD_OUTPUT = " (an .h5ad output is a copy of an .h5ad input with its codes added, which dimred encode writes)"


def _suffix(path: Path, allowed: tuple[str, ...], role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        hint = "" if suffix != ".h5ad" else H5AD_OUTPUT if role == "output" else H5AD_INPUT
        raise UsageError(
            f"{role} {path} has an unsupported type '{suffix or '(none)'}'; use one of: {', '.join(allowed)}{hint}"
        )
    return suffix


def _here() -> str:
    try:
        return str(Path.cwd())
    except OSError:  # the folder was deleted under the process
        return "which no longer exists"


def check_readable(path: Path) -> Path:
    """``path``, a file that can be read: naming none, or a directory, is a usage error (exit 2), as naming a
    model or a config file that does not exist is."""
    if not path.exists():
        where = "" if path.is_absolute() else f" (a relative path is read from the folder you run in, {_here()})"
        raise UsageError(f"no such file: {path}{where}")
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a data file")
    if not os.access(path, os.R_OK):
        raise DimredError(f"{path} is not readable (permission denied)")
    return path


def check_input(path: str | Path, allowed: tuple[str, ...] = READABLE) -> Path:
    """``path`` as a data file that exists, can be read and has a type dimred reads."""
    path = check_readable(Path(path))
    _suffix(path, allowed, "input")
    return path


def check_output(path: str | Path, overwrite: bool, allowed: tuple[str, ...] = WRITABLE) -> Path:
    """``path`` as a file dimred may write: not a directory, in an existing folder (before any work, which
    would be lost), of a type it writes, replaced only with ``overwrite``. (Whether the folder is writable is
    found when the file is written: see ``atomic_path``.)"""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"output {path} is a directory; name a file ({', '.join(allowed)})")
    if not path.parent.is_dir():
        problem = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise UsageError(f"cannot write {path}: the folder {path.parent} {problem}; create it or name another")
    _suffix(path, allowed, "output")
    if (path.exists() or path.is_symlink()) and not overwrite:  # a link to nothing is the user's too
        raise UsageError(f"{path} already exists; choose another output or pass overwrite=True (--overwrite)")
    return path


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Errors met while reading ``path`` as one message that names it."""
    try:
        yield
    except UnicodeDecodeError as error:
        if bytes(error.object[:2]) == _GZIP_MAGIC:
            raise DimredError(f"{path} is gzip-compressed; decompress it first (gunzip)") from None
        byte = error.object[error.start : error.start + 1].hex()
        raise DimredError(
            f"{path} is not UTF-8 text (it holds the byte 0x{byte}); save it with UTF-8 encoding"
        ) from None
    except csv.Error as error:
        raise DimredError(f"{path} is not a readable CSV file ({error})") from None
    except OSError as error:
        raise DimredError(f"{path} could not be read ({error.strerror or error})") from None


def _printable(text: str) -> str:
    """``text`` as a message may show it: characters a terminal would not print (a NUL) escaped."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def is_number(text: str) -> bool:
    """Whether a cell of text reads as a number, as float() reads it (nan and inf too)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


_KNOWN_NAMES: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar("known_names", default=None)


@contextlib.contextmanager
def header_naming(names: Iterable[Any] | None) -> Iterator[None]:
    """While a trained model reads files: a first row that is its feature ``names``, in their order, is a header,
    whatever its cells look like. Names that are numbers (doses, time points, wavelengths) with no text column
    beside them, as ``decode`` writes them, had been read back as a row of data (61 codes of 60 rows)."""
    token = _KNOWN_NAMES.set(None if names is None else tuple(str(name) for name in names))
    try:
        yield
    finally:
        _KNOWN_NAMES.reset(token)


def csv_layout(path: Path) -> CsvLayout:
    """The delimiter and the header row (if any) of a CSV file, sniffed once per version of the file in a process
    (a command asks for it several times: the width, the rows, the columns by name), so a doubt about its header
    is told once."""
    with _reading(path):
        status = path.stat()
    return _sniffed_layout(path, status.st_size, status.st_mtime_ns, _KNOWN_NAMES.get())


@functools.lru_cache(maxsize=64)
def _sniffed_layout(path: Path, _size: int, _modified_ns: int, known: tuple[str, ...] | None) -> CsvLayout:
    """``csv_layout`` for the file's version that its size and modification time tell apart, where a first row
    of the ``known`` names is a header."""
    with _reading(path), open(path, newline="", encoding="utf-8-sig") as handle:
        lines = _first_lines(handle)
    comments = _leading_comments(lines)
    lines = lines[comments:]
    if not lines:
        raise DimredError(f"{path} is empty" + (" but for comments ('#' lines)" if comments else ""))
    commented = lines[0].lstrip().startswith("# ")  # a header as numpy.savetxt writes one; '#id' is a name
    lines[0] = _uncommented(lines[0]) if commented else lines[0]
    delimiter, padded = _delimiter(lines[:20])
    rows = list(_csv_reader(lines, delimiter, padded))
    trailing_empty = all(len(row) > 1 and not row[-1].strip() for row in rows)
    first, *following = [row[:-1] for row in rows] if trailing_empty else rows
    numbered_from_one = _numbers_columns_from_one(first)
    named = known is not None and tuple(cell.strip() for cell in first) == known
    is_header, certain = (True, True) if numbered_from_one or named or commented else _is_header(first, following)
    shape = {"padded": padded, "comments": comments, "trailing_empty": trailing_empty}
    if not is_header:
        if _numbers_look_like_names(first, following):
            warnings.warn(f"{path}: its first row is read as data, though its whole numbers all lie above their "
                          "columns' values, as names such as gene IDs would; if it names the columns, give them "
                          "names that are not numbers (G7157, say)", stacklevel=2)  # fmt: skip
        return CsvLayout(delimiter, None, **shape)
    if not certain:
        warnings.warn(f"{path}: its first row is read as the columns' names (it holds text found nowhere else in "
                      "its column, as a name is), though its numbers look like data; if it is a row of data (a "
                      "class met once, a row name), give the file a header row", stacklevel=2)  # fmt: skip
    if numbered_from_one and not named:  # a headerless file of whole numbers may begin so too
        warnings.warn(f"{path}: its first row, 1 to {len(first)}, is read as the columns' numbers, not as data; if it "
                      "is a row of data, give the file a header row", stacklevel=2)  # fmt: skip
    header = tuple(cell.strip() for cell in first)
    if len(header) > 1 and header[0] in ROW_INDEX_NAMES:
        return CsvLayout(delimiter, header[1:], row_index=True, **shape)
    return CsvLayout(delimiter, header, **shape)


def _leading_comments(lines: list[str]) -> int:
    """How many of the first lines are comments: those that start with '#' before the first that does not, but
    the last of them where, without its '#', it splits into as many cells as the line after it (a header, as
    numpy.savetxt writes one: '# a b c')."""
    count = next((place for place, line in enumerate(lines) if not line.lstrip().startswith("#")), len(lines))
    if 0 < count < len(lines):
        header, data = _uncommented(lines[count - 1]), lines[count]
        delimiter, padded = _delimiter([header, data])
        if len({len(cells) for cells in _csv_reader([header, data], delimiter, padded)}) == 1:
            count -= 1
    return count


def _uncommented(line: str) -> str:
    return line.lstrip().removeprefix("#").lstrip()


DELIMITERS = ",\t;|"  # those a file's every line may split on into as many cells (spaces pad columns too)


def _delimiter(lines: list[str]) -> tuple[str, bool]:
    """The delimiter of the lines (csv's sniffer's choice where it splits every line into as many cells as a
    comma, tab, semicolon or bar does, else the first of those that does; else spaces where every line splits on
    runs of them into as many cells, columns aligned by padding that the sniffer cannot tell, else a comma: one
    column), and whether spaces pad every line's start too (right-aligned columns). The sniffer alone had taken
    a space for the delimiter of a comma-separated file whose label held "the 'big' one"."""
    consistent = [mark for mark in DELIMITERS if _splits_evenly(lines, mark)]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t| ").delimiter
        if consistent and delimiter not in consistent:
            delimiter = consistent[0]
    except csv.Error:
        if consistent:
            return consistent[0], False
        widths = {len(line.split()) for line in lines}
        aligned = len(widths) == 1 and widths.pop() > 1 and not any(mark in "".join(lines) for mark in ",;\t|")
        delimiter = " " if aligned else ","
    return delimiter, delimiter == " " and all(line.startswith(" ") for line in lines)


def _splits_evenly(lines: list[str], delimiter: str) -> bool:
    """Whether ``delimiter`` splits every line into as many cells, more than one."""
    widths = {len(cells) for cells in csv.reader(lines, delimiter=delimiter)}
    return len(widths) == 1 and widths.pop() > 1


def _is_blank(line: str) -> bool:
    """Whether a line holds no value: nothing but spaces and delimiters (``,,`` is a row of empty cells), as
    ``_csv_rows`` skips it."""
    return not line.strip(" \t\r\n,;|")


def _first_lines(handle: Any) -> list[str]:
    """The file's first lines that are not blank, each whole: up to _HEADER_SAMPLE_ROWS of them within about
    _SNIFF_BYTES, and at least two (a header and a row, however many columns they have), besides the '#' comment
    lines before them (a long comment block had been taken for the whole file)."""
    lines: list[str] = []
    size = comments = 0
    for line in handle:
        if not _is_blank(line):
            lines.append(line.rstrip("\r\n"))
            if comments == len(lines) - 1 and line.lstrip().startswith("#"):
                comments += 1
            else:
                size += len(line)
        if len(lines) - comments >= _HEADER_SAMPLE_ROWS or (size >= _SNIFF_BYTES and len(lines) - comments >= 2):
            break
    return lines


def _csv_reader(lines: Iterable[str], delimiter: str, padded: bool) -> Any:
    """Rows of cells, as every CSV row of dimred's is read: spaces after a delimiter skipped and, where spaces
    delimit, spaces that end a line (no cell follows them). In padded columns spaces that start a line are
    padding too; otherwise they stand for an empty first cell, which skipping them would lose (pandas'
    ``to_csv(sep=" ")`` heads its index column so), and an empty quoted cell keeps it."""
    if padded:
        lines = (line.strip(" \r\n") for line in lines)
    elif delimiter == " ":
        lines = ('""' + line if line.startswith(" ") else line for line in (row.rstrip(" \r\n") for row in lines))
    return csv.reader(lines, delimiter=delimiter, skipinitialspace=True)


def _is_header(first: list[str], following: list[list[str]]) -> tuple[bool, bool]:
    """Whether the first row names the columns, and whether that is certain. It does where it numbers them 0, 1,
    2... (as pandas names a DataFrame's columns when it has no names), or holds text above a number, or text that
    its column never holds again (a column of class names repeats them; a column's name appears once). The last
    is uncertain where the row's numbers lie within their columns' values: a header of time points or doses does
    so, but so does a headerless file's first row whose class is met once, or whose row name is unique."""
    cells = [cell.strip() for cell in first]
    if len(cells) > 1 and cells == [str(column) for column in range(len(cells))]:
        return True, True
    unrepeated = False
    for column, cell in enumerate(cells):
        if is_number(cell):
            continue
        below = [row[column].strip() for row in following if column < len(row)]
        if not below or is_number(below[0]):
            return True, True
        unrepeated = unrepeated or cell not in below
    return unrepeated, not (unrepeated and _numbers_look_like_data(cells, following))


def _numbers_columns_from_one(cells: list[str]) -> bool:
    """Whether the first row is 1, 2, ..., n from _NUMBERED_FROM_ONE columns: the columns' numbers of wide data
    saved by a tool that counts from 1 (read as a header, with a warning); a narrower headerless file may well
    begin with such a row of data (1,2,3)."""
    return len(cells) >= _NUMBERED_FROM_ONE and [cell.strip() for cell in cells] == [
        str(column) for column in range(1, len(cells) + 1)
    ]


def _numbers_look_like_names(cells: list[str], following: list[list[str]]) -> bool:
    """Whether a first row of whole numbers lies well above every column's values below it (by more than a
    quarter of the column's range), as a header of gene IDs over counts does; on at least 10 rows below, so that
    a small file's first row of data is not taken for one."""
    if len(following) < 10 or not all(re.fullmatch(r"\d+", cell.strip()) for cell in cells):
        return False
    for column, cell in enumerate(cells):
        below = _numbers_below(following, column)
        if not below or not all(map(math.isfinite, below)):
            return False
        low, high = min(below), max(below)
        if float(cell) <= high + (high - low) / 4:
            return False
    return True


def _numbers_look_like_data(cells: list[str], following: list[list[str]]) -> bool:
    """Whether most of the number cells of a first row lie within the range of their columns' values below."""
    inside = outside = 0
    for column, cell in enumerate(cells):
        if not is_number(cell):
            continue
        below = _numbers_below(following, column)
        if not below:
            continue
        if min(below) <= float(cell) <= max(below):
            inside += 1
        else:
            outside += 1
    return inside > outside


def _numbers_below(following: list[list[str]], column: int) -> list[float]:
    """The numbers of a column in the rows below the first."""
    return [float(row[column]) for row in following if column < len(row) and is_number(row[column])]


def _csv_rows(path: Path, layout: CsvLayout) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every data row: the rows that are not blank, after the header where there is one
    (blank lines may come before it, as ``csv_layout`` reads it)."""
    with _reading(path), open(path, newline="", encoding="utf-8-sig") as handle:
        reader = _csv_reader(handle, layout.delimiter, layout.padded)
        header_pending, comments = layout.header is not None, layout.comments
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if comments:
                comments -= 1
                continue
            if header_pending:
                header_pending = False
                continue
            cells = cells[1:] if layout.row_index else cells
            # an empty last cell only: a value there is a column more than the rows before, said as such
            yield reader.line_num, cells[:-1] if layout.trailing_empty and not cells[-1].strip() else cells


def _parse_csv_batch(
    path: Path, batch: list[tuple[int, list[str]]], width: int, text_columns: frozenset[int], skipped: int
) -> tuple[np.ndarray, list[list[str]]]:
    """The batch's numbers (NaN in ``text_columns``) and, per row, the cells of ``text_columns`` as text; the
    rows' first ``skipped`` cells (row names) were left out, and messages count the file's columns."""
    for line, cells in batch:
        if len(cells) != width:
            raise DimredError(f"{path}, line {line}: {len(cells) + skipped} values, but the rows before have "
                              f"{width + skipped}")  # fmt: skip
    texts = [[cells[column].strip() for column in sorted(text_columns)] for _line, cells in batch]
    if text_columns:
        batch = [(line, ["nan" if column in text_columns else cell for column, cell in enumerate(cells)])
                 for line, cells in batch]  # fmt: skip
    try:
        values = np.array([cells for _line, cells in batch], dtype=np.float64)
    except ValueError:
        for line, cells in batch:
            for column, cell in enumerate(cells, start=1 + skipped):
                if not is_number(cell):
                    raise DimredError(f"{path}, line {line}, column {column}: '{_printable(cell)}' is not a number "
                                      f"({_why_not_a_number(cell, bool(text_columns))})") from None  # fmt: skip
        raise
    _check_finite_cells(path, batch, values, text_columns, skipped)
    return values, texts


def _check_finite_cells(
    path: Path, batch: list[tuple[int, list[str]]], values: np.ndarray, text_columns: frozenset[int], skipped: int
) -> None:
    """A NaN or infinite cell (``nan``, ``inf``), named by the file's line and column as a cell of text is."""
    bad = ~np.isfinite(values)
    bad[:, sorted(text_columns)] = False
    if bad.any():
        row, column = np.argwhere(bad)[0]
        line, cells = batch[row]
        cell = _printable(cells[column].strip())
        raise DimredError(f"{path}, line {line}, column {column + 1 + skipped}: '{cell}' is not a "
                          "finite number; fill in or leave out the rows with missing values")  # fmt: skip


def _why_not_a_number(cell: str, columns_set_aside: bool) -> str:
    if re.fullmatch(r"[+-]?\d*,\d+", cell.strip()):
        return "write decimals with a point: dimred reads numbers as 0.5, not 0,5"
    if columns_set_aside:
        return (f"only the columns set aside (dataset.label_column, dataset.color_column) or left out "
                f"(dataset.ignore_columns) may hold text; {_ID_COLUMNS}")  # fmt: skip
    return f"a column of class names is set aside by training with --set dataset.label_column=NAME; {_ID_COLUMNS}"


def _csv_batches(
    path: Path, layout: CsvLayout, batch_rows: int, text_columns: frozenset[int] = frozenset()
) -> Iterator[tuple[np.ndarray, list[list[str]]]]:
    width = len(layout.header) if layout.header is not None else None
    batch: list[tuple[int, list[str]]] = []
    for row in _csv_rows(path, layout):
        width = width if width is not None else len(row[1])
        batch.append(row)
        if len(batch) == batch_rows:
            yield _parse_csv_batch(path, batch, width, text_columns, int(layout.row_index))
            batch = []
    if batch:
        yield _parse_csv_batch(path, batch, width or 0, text_columns, int(layout.row_index))


def _refusal(path: Path, error: ValueError, kind: str) -> DimredError:
    with path.open("rb") as file:
        head = file.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC and not head.startswith(_ZIP_MAGIC):  # numpy reads any other file as a pickle
        return DimredError(f"{path} is not a {kind} file: it does not start as numpy writes one (np.save, np.savez)")
    if "allow_pickle" in str(error) or "Python objects" in str(error):  # numpy's words for object arrays
        return DimredError(f"{path}: {error} (object arrays are refused: they would have to be unpickled)")
    return DimredError(f"{path} is not a readable {kind} file ({error})")


def _npz_array(path: Path) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise DimredError(f"{path} is not a readable .npz file ({error})") from None
    if isinstance(archive, np.ndarray):  # np.load goes by the file's first bytes, not its name
        raise DimredError(f"{path} is an .npy file, not an .npz archive; name it .npy")
    with archive:
        names = list(archive.files)
        if len(names) != 1 and "X" not in names:
            raise DimredError(f"{path} holds arrays {names}; name the data array 'X' or keep one array")
        try:
            return archive["X" if "X" in names else names[0]]
        except ValueError as error:
            raise _refusal(path, error, ".npz") from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise DimredError(f"{path} is not a readable .npz file ({error})") from None


def _npy_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise _refusal(path, error, ".npy") from None
    except OSError as error:
        raise DimredError(f"{path} is not a readable .npy file ({error})") from None
    if not isinstance(array, np.ndarray):  # np.load goes by the file's first bytes, not its name
        array.close()
        raise DimredError(f"{path} is an .npz archive, not an .npy file; name it .npz")
    return array


def _stored_array(path: Path, suffix: str) -> np.ndarray:
    """The 2-D array of an .npy (memory-mapped, as stored) or .npz file."""
    array = _npy_array(path) if suffix == ".npy" else _npz_array(path)
    if array.ndim != 2:
        raise DimredError(f"{path} holds an array of shape {array.shape}; a 2-D array (samples x features) is needed")
    return array


def native_byte_order(array: np.ndarray) -> np.ndarray:
    """``array`` in this machine's byte order (a copy only when it is not): torch refuses big-endian arrays,
    which ``np.save`` writes on big-endian machines or for ``>f8`` arrays."""
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


@dataclass(frozen=True)
class Table:
    """A data file's rows: ``X`` the numbers of the columns not set aside, ``names`` their CSV header's names
    (None without a header), ``set_aside`` the columns asked for by name, as text in a CSV file, as stored in
    an array file."""

    X: np.ndarray
    names: tuple[str, ...] | None
    set_aside: dict[str, np.ndarray]


def _column(spec: str, option: str, path: Path, names: tuple[str, ...] | None, width: int | None) -> int:
    """The index of the column that ``spec`` (a header name or a 0-based index) names."""
    if names is not None and names.count(spec) > 1:
        places = [str(place) for place, name in enumerate(names) if name == spec]
        raise UsageError(f"{option} '{spec}' names {len(places)} columns of {path} (0-based: {', '.join(places)}); "
                         "give the one you mean by its index, or rename the others")  # fmt: skip
    if names is not None and spec in names:
        return names.index(spec)
    if spec.isdigit() and (width is None or int(spec) < width):
        return int(spec)
    indices = f"0 to {width - 1}" if width else "a 0-based index"
    choices = f"{', '.join(names)} (or their 0-based indices, {indices})" if names else indices
    labels = option.endswith("label_column") and path.suffix.lower() == ".npz"
    npz = " (an .npz file's 'y' array is read as labels without this option)" if labels else ""
    raise UsageError(f"{option} '{spec}' is not a column of {path}; choose from: {choices}{npz}")


def read_table(
    path: str | Path, set_aside: dict[str, str] | None = None, ignored: Mapping[str, Sequence[str]] | None = None
) -> Table:
    """The whole file (memory-mapped for .npy), with columns set aside: ``set_aside`` maps an option's name to
    the column it names (a header name or a 0-based index), e.g. ``{"dataset.label_column": "species"}``. A
    CSV file's set-aside columns are read as text, so they may hold class names. ``ignored`` maps an option's
    name to columns left out altogether (ids, batch names: text too), e.g. ``{"dataset.ignore_columns": ["id"]}``."""
    path = check_input(path)
    if path.suffix.lower() in TEXT:
        return _csv_table(path, set_aside or {}, ignored or {})
    stored = native_byte_order(_stored_array(path, path.suffix.lower()))
    columns, left_out = _named_columns(path, set_aside or {}, ignored or {}, None, stored.shape[1])
    if not columns and not left_out:
        return Table(stored, None, {})
    keep = _kept_columns(stored.shape[1], frozenset(columns.values()) | left_out)
    return Table(np.asarray(stored[:, keep]), None,
                 {option: np.asarray(stored[:, index]) for option, index in columns.items()})  # fmt: skip


def _named_columns(
    path: Path,
    set_aside: dict[str, str],
    ignored: Mapping[str, Sequence[str]],
    names: tuple[str, ...] | None,
    width: int | None,
) -> tuple[dict[str, int], frozenset[int]]:
    """The column index of each option in ``set_aside``, and the indices of the ``ignored`` columns: each column
    named once."""
    named = [(option, _column(spec, option, path, names, width)) for option, spec in set_aside.items()]
    named += [(option, _column(spec, option, path, names, width)) for option, specs in ignored.items()
              for spec in specs]  # fmt: skip
    by_index: dict[int, str] = {}
    for option, index in named:
        if index in by_index:
            twice = by_index[index] == option
            raise UsageError(f"{option} names column {index} of {path} twice" if twice else
                             f"{by_index[index]} and {option} name the same column of {path}")  # fmt: skip
        by_index[index] = option
    columns = dict(named[: len(set_aside)])
    return columns, frozenset(index for _option, index in named[len(set_aside) :])


def _kept_columns(width: int, excluded: frozenset[int]) -> list[int]:
    return [index for index in range(width) if index not in excluded]


def _csv_table(path: Path, set_aside: dict[str, str], ignored: Mapping[str, Sequence[str]]) -> Table:
    layout = csv_layout(path)
    columns: dict[str, int] = {}
    left_out: frozenset[int] = frozenset()
    if set_aside or ignored:
        width = _csv_width(path, layout) or None
        columns, left_out = _named_columns(path, set_aside, ignored, layout.header, width)
        if layout.row_index:
            _say_where_indices_count_from(path, layout.header or (), set_aside, ignored)
    text_columns = frozenset(columns.values()) | left_out
    batches = list(_csv_batches(path, layout, 1 << 16, text_columns))
    if not batches:
        raise DimredError(f"{path} has no data rows")
    X = np.concatenate([numbers for numbers, _texts in batches])
    texts = [row for _numbers, rows in batches for row in rows]
    order = sorted(text_columns)
    keep = _kept_columns(X.shape[1], text_columns)
    return Table(
        X[:, keep] if text_columns else X,
        None if layout.header is None else tuple(layout.header[index] for index in keep),
        {option: np.array([row[order.index(index)] for row in texts]) for option, index in columns.items()},
    )


def _say_where_indices_count_from(
    path: Path, names: Sequence[str], set_aside: Mapping[str, str], ignored: Mapping[str, Sequence[str]]
) -> None:
    """Warn that a column given by its index in a file whose first column holds the rows' names (pandas' index)
    counts the columns after that one, which the file's lines and messages about them count too."""
    given = [(option, spec) for option, spec in set_aside.items()]
    given += [(option, spec) for option, specs in ignored.items() for spec in specs]
    counted = [f"{option} '{spec}' is '{names[int(spec)]}'" for option, spec in given
               if spec.isdigit() and spec not in names and int(spec) < len(names)]  # fmt: skip
    if counted:
        warnings.warn(f"{path}: its first column holds the rows' names (as pandas writes its index) and is left "
                      f"out, so a column given by its index counts the columns after it: {'; '.join(counted)}; name "
                      "the columns to be sure", stacklevel=4)  # fmt: skip


def read_matrix(path: str | Path) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """The whole file as an array (memory-mapped for .npy), with the CSV header's names if it has one."""
    table = read_table(path)
    return table.X, table.names


def count_rows(path: str | Path) -> int:
    """How many data rows ``read_batches`` will give (reads a CSV file once, without parsing numbers)."""
    path = check_input(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT:
        return len(_stored_array(path, suffix))
    layout = csv_layout(path)
    return sum(1 for _row in _csv_rows(path, layout))


def _csv_width(path: Path, layout: CsvLayout) -> int:
    """How many columns a CSV file's rows have: its header's, else its first row's (0 where it has neither)."""
    if layout.header is not None:
        return len(layout.header)
    first_row = next(_csv_rows(path, layout), None)
    return len(first_row[1]) if first_row else 0


def column_count(path: str | Path) -> int:
    """How many columns the file's rows have (of a CSV file, its header's or first row's)."""
    path = check_input(path)
    if path.suffix.lower() in TEXT:
        return _csv_width(path, csv_layout(path))
    return _stored_array(path, path.suffix.lower()).shape[1]


def read_batches(path: str | Path, batch_rows: int, columns: list[int] | None = None) -> Iterator[np.ndarray]:
    """The rows of the file, ``batch_rows`` at a time, without holding the whole file in memory; only ``columns``
    where given (in a CSV file the others may hold text)."""
    path = check_input(path)
    suffix = path.suffix.lower()
    if suffix in TEXT:
        layout = csv_layout(path)
        skipped = frozenset() if columns is None else frozenset(range(_csv_width(path, layout))) - set(columns)
        for numbers, _texts in _csv_batches(path, layout, batch_rows, skipped):
            yield numbers if columns is None else numbers[:, columns]
        return
    array = _stored_array(path, suffix)
    for start in range(0, len(array), batch_rows):
        rows = array[start : start + batch_rows]
        yield native_byte_order(np.asarray(rows if columns is None else rows[:, columns]))


def _reserve(handle: BinaryIO, size: int) -> None:
    """Claim the file's disk space up front, so that a full disk is an error now, not a crash half-way."""
    if size <= 0 or not hasattr(os, "posix_fallocate"):
        return
    handle.flush()
    try:
        os.posix_fallocate(handle.fileno(), 0, size)
    except OSError as error:
        if error.errno not in _NO_SPACE_RESERVATION:
            raise


class MatrixWriter:
    """Writes rows batch by batch to .npy (the row count is known up front) or .csv, atomically.

    Both go through a plain file handle, never a memory map: a write to a memory-mapped file on a full disk
    kills the process (SIGBUS) instead of raising. The .npy file's space is reserved before the first row.
    """

    def __init__(
        self,
        path: Path,
        n_rows: int,
        n_columns: int,
        column_names: tuple[str, ...] | None = None,
        dtype: type = np.float32,
    ) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.suffix = _suffix(path, WRITABLE, "output")
        self.shape = (n_rows, n_columns)
        self.column_names = column_names
        self._written = 0

    @contextlib.contextmanager
    def open(self) -> Iterator[MatrixWriter]:
        with atomic_path(self.path) as temporary, open(temporary, "wb") as handle:
            self._handle = handle
            self._start(handle)
            yield self
            if self._written != self.shape[0]:
                raise DimredError(f"wrote {self._written} rows to {self.path}, expected {self.shape[0]}")

    def _start(self, handle: BinaryIO) -> None:
        """The .npy header and the reservation of the file's size, or the CSV header row."""
        if self.suffix == ".npy":
            header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
            np.lib.format.write_array_header_1_0(handle, header)
            _reserve(handle, handle.tell() + self.shape[0] * self.shape[1] * self.dtype.itemsize)
        elif self.column_names:  # quoted as the csv module quotes (a name holding a comma or a quote)
            line = io.StringIO()
            csv.writer(line, lineterminator="\n").writerow(self.column_names)
            handle.write(line.getvalue().encode())

    def write(self, rows: np.ndarray) -> None:
        if self.suffix == ".npy":
            self._handle.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        else:
            buffer = io.StringIO()
            np.savetxt(buffer, rows, delimiter=",", fmt="%.17g" if self.dtype == np.float64 else "%.9g")
            self._handle.write(buffer.getvalue().encode())
        self._written += len(rows)
