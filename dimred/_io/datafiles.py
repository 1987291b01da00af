"""Reading and writing matrices as CSV, NPY and NPZ files, in batches so files larger than memory work.

A CSV file is read as ``csvlayout`` tells its layout (delimiter, header, comments, a column of row names). NPY
files are memory-mapped; NPZ files must hold one array (or one called ``X``). Object arrays are refused without
being unpickled.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dimred._core.atomic import atomic_path
from dimred._core.errors import DimredError, UsageError
from dimred._io.csvlayout import (
    MISSING_VALUE_MARKS,
    CsvLayout,
    csv_layout,
    csv_reader,
    header_given,
    is_number,
    plain_digits,
    reading,
    skip_comments,
)
from dimred._io.validation import DataError

READABLE = (".csv", ".tsv", ".txt", ".npy", ".npz")
WRITABLE = (".csv", ".npy")
TEXT = (".csv", ".tsv", ".txt")
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"  # how np.save's and np.savez's files start
_ID_COLUMNS = (
    "a column of row names or ids goes first with an empty header (as pandas' to_csv writes it), or is left out "
    "with --set dataset.ignore_columns=NAME"
)
_NO_SPACE_RESERVATION = (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)  # file systems without fallocate


H5AD_INPUT = " (.h5ad files: dimred encode with an .h5ad output, or --dataset h5ad)"
H5AD_OUTPUT = " (an .h5ad output is a copy of an .h5ad input with its codes added, which dimred encode writes)"


def header_of(path: Path) -> tuple[str, ...] | None:
    """The column names in a text file's header row; None for a file of another format or without one."""
    return csv_layout(path).header if path.suffix.lower() in TEXT else None


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
        if path.is_symlink():
            raise UsageError(f"{path} is a link {_where_it_leads(path)}")
        where = "" if path.is_absolute() else f" (a relative path is read from the folder you run in, {_here()})"
        if (home := os.path.expanduser(path)) != str(path):  # the shell leaves '~' as typed after 'dataset.path='
            where = f" ('~' is not your home folder here: give the full path, e.g. {home})"
        raise UsageError(f"no such file: {path}{where}")
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a data file")
    if not os.access(path, os.R_OK):
        raise DimredError(f"{path} is not readable (permission denied)")
    return path


def _where_it_leads(link: Path) -> str:
    """Why a symbolic link names no file: it leads round in a loop, or to a file that is not there."""
    try:
        link.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "that leads back to itself (a loop of links)"
    target = Path(os.readlink(link))
    return f"to {target if target.is_absolute() else link.parent / target}, which leads to no file"


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


def _printable(text: str) -> str:
    """``text`` as a message may show it: characters a terminal would not print (a NUL) escaped."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _csv_rows(path: Path, layout: CsvLayout) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every data row: the rows that are not blank, after the header where there is one
    (blank lines may come before it, as ``csv_layout`` reads it)."""
    with reading(path), open(path, newline="", encoding="utf-8-sig") as handle:
        skipped = skip_comments(handle, layout.comments)  # free text, never parsed: a quote there is no cell's
        reader = csv_reader(handle, layout.delimiter, layout.padded)
        header_pending, empty_row = layout.header is not None, None
        width, ended = 0, skipped  # the rows' width so far (0: none yet); the line the previous row ended on
        for cells in reader:
            started, ended = ended + 1, skipped + reader.line_num
            if ended > started and _runs_over_rows(cells, layout):
                raise _unclosed_quote(path, started, ended)
            if not any(cell.strip() for cell in cells):
                # a row of empty cells (pandas' row of NaN: ',,' or, in a file of one column, '""', which csv reads
                # as a line of spaces) among the rows: left out, every row after it would get the next one's codes;
                # after the last row a spreadsheet's ',,' lines shift none, but a one-column '""' is pandas' alone
                if width and empty_row is None and (len(cells) > 1 or (cells == [""] and width == 1)):
                    empty_row = ended
                    if len(cells) == 1:
                        raise _empty_row(path, empty_row)
                continue
            if empty_row is not None:
                raise _empty_row(path, empty_row)
            if header_pending:
                header_pending = False
                continue
            width = len(cells)
            cells = cells[layout.row_name_columns :]
            # empty last cells only: a value there is a column more than the rows before, said as such
            end = len(cells) - layout.trailing_empty
            yield ended, cells[:end] if not any(cell.strip() for cell in cells[end:]) else cells
    if empty_row is not None:  # told, as pandas reads them as rows of NaN: its row count is not dimred's
        # stacklevel 1: told once, though a command reads the file more than once (its rows counted, then read)
        warnings.warn(f"{path}: the rows of empty cells from line {empty_row} on, after the last row of values, are "
                      "left out (a spreadsheet's empty rows, or pandas' rows of NaN)", stacklevel=1)  # fmt: skip


def _runs_over_rows(cells: list[str], layout: CsvLayout) -> bool:
    """Whether a row read over several lines holds the next rows in a cell: a quote left open, which swallows every
    row after it as text (a label's). A cell's own line break (a header's "mass\n(kg)", a note) splits no rows;
    in a file of one column, or where spaces delimit (csv joins the lines without their breaks), a row cannot
    tell, and any such cell is refused."""
    if len(cells) == 1 or layout.padded or layout.delimiter == " ":
        return True
    return any(layout.delimiter in line for cell in cells for line in cell.splitlines()[1:])


def _unclosed_quote(path: Path, started: int, ended: int) -> DataError:
    """A quoted cell that runs over lines: a quote left open swallows every row after it as text (a label's)."""
    return DataError(f"{path}, line {started}: a quoted cell runs on to line {ended}, over the rows there: close "
                     "its quote (\") where the cell ends")  # fmt: skip


def _empty_row(path: Path, line: int) -> DataError:
    return DataError(f"{path}, line {line}: every value of the row is empty (a row of missing values, as pandas "
                     "writes a row of NaN); fill in or leave out the row")  # fmt: skip


FILL_GAPS = "fill in or leave out the rows with missing values"


def _parse_csv_batch(
    path: Path, batch: list[tuple[int, list[str]]], width: int, text_columns: frozenset[int], layout: CsvLayout
) -> tuple[np.ndarray, list[list[str]]]:
    """The batch's numbers (NaN in ``text_columns``) and, per row, the cells of ``text_columns`` as text; the
    rows' first cells of names (``layout.row_name_columns``) were left out, and messages count the file's
    columns."""
    skipped, headed = layout.row_name_columns, layout.header is not None
    for line, cells in batch:
        if len(cells) != width:
            found = len(cells) + skipped
            commented = bool(cells) and cells[0].lstrip().startswith("#")  # none left beside a row name
            hint = " ('#' comment lines are read only above the header)" if commented else ""
            if headed and len(cells) == width + 1:  # R's row names, as dimred reads them, are each row's own
                hint = (" (the header names one column fewer: name every column, or, where the first holds the rows' "
                        "names, head it with an empty name, as pandas heads its index)")  # fmt: skip
            values = "1 value" if found == 1 else f"{found} values"
            raise DataError(f"{path}, line {line}: {values}, but the rows before have {width + skipped}{hint}")
    texts = [[cells[column].strip() for column in sorted(text_columns)] for _line, cells in batch]
    if text_columns:
        batch = [(line, ["nan" if column in text_columns else cell for column, cell in enumerate(cells)])
                 for line, cells in batch]  # fmt: skip
    rows = [cells for _line, cells in batch]
    try:
        # one test of each row's text (a test of each cell would cost more than the parsing); a row that fails it
        # is read cell by cell
        if not all(plain_digits("".join(cells)) for cells in rows):
            raise ValueError("a character numpy would read in a way is_number does not")
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        for line, cells in batch:
            for column, cell in enumerate(cells, start=1 + skipped):
                if not cell.strip():  # not text a label column would hold: a gap
                    raise DataError(f"{path}, line {line}, column {column} is empty (a missing value, as pandas "
                                   f"writes NaN); {FILL_GAPS}") from None  # fmt: skip
                if cell.strip() in MISSING_VALUE_MARKS:
                    raise DataError(f"{path}, line {line}, column {column}: '{cell.strip()}' is a missing value (as "
                                    f"R and pandas write one); {FILL_GAPS}") from None  # fmt: skip
                if not is_number(cell):
                    raise DataError(f"{path}, line {line}, column {column}: '{_printable(cell)}' is not a number "
                                   f"({_why_not_a_number(cell, bool(text_columns))})") from None  # fmt: skip
        values = np.array([[float(cell) for cell in cells] for cells in rows], dtype=np.float64)  # '1.5\xa0' too
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
        infinite = np.isinf(values[row, column])  # a value out of range, not a gap
        advice = "replace it with a finite value or leave out its row" if infinite else FILL_GAPS
        raise DataError(f"{path}, line {line}, column {column + 1 + skipped}: '{cell}' is not a finite number; "
                       f"{advice}")  # fmt: skip


def _why_not_a_number(cell: str, columns_set_aside: bool) -> str:
    if re.fullmatch(r"[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?", cell.strip()):  # 1,234 or 1,234.5 (0,123: a decimal)
        return "write numbers without thousands separators, decimals with a point: 1234.5, not 1,234.5 or 1234,5"
    if re.fullmatch(r"[+-]?\d*,\d+", cell.strip()) or re.fullmatch(r"[+-]?\d+;[+-]?\d+", cell.strip()):
        # the second: '0,5;-0,25' split at its decimal commas (where ';' separates the values, as European Excel)
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
            yield _parse_csv_batch(path, batch, width, text_columns, layout)
            batch = []
    if batch:
        yield _parse_csv_batch(path, batch, width or 0, text_columns, layout)


def _refusal(path: Path, error: ValueError, kind: str) -> DataError:
    with path.open("rb") as file:
        head = file.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC and not head.startswith(_ZIP_MAGIC):  # numpy reads any other file as a pickle
        return DataError(f"{path} is not a {kind} file: it does not start as numpy writes one (np.save, np.savez)")
    if "allow_pickle" in str(error) or "Python objects" in str(error):  # numpy's words for object arrays
        return DataError(f"{path}: {error} (object arrays are refused: they would have to be unpickled)")
    return DataError(f"{path} is not a readable {kind} file ({error})")


def _npz_array(path: Path) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as error:  # numpy's words for a file that is no .npz would advise unpickling it
        raise _refusal(path, error, ".npz") from None
    except (OSError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a readable .npz file ({error})") from None
    if isinstance(archive, np.ndarray):  # np.load goes by the file's first bytes, not its name
        raise DataError(f"{path} is an .npy file, not an .npz archive; name it .npy")
    with archive:
        names = list(archive.files)
        if len(names) != 1 and "X" not in names:
            held = f"arrays {', '.join(names)}" if names else "no array"
            raise DataError(f"{path} holds {held}; name the data array 'X' or keep one array")
        try:
            return archive["X" if "X" in names else names[0]]
        except ValueError as error:
            raise _refusal(path, error, ".npz") from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise DataError(f"{path} is not a readable .npz file ({error})") from None


def _npy_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise _refusal(path, error, ".npy") from None
    except OSError as error:
        raise DataError(f"{path} is not a readable .npy file ({error})") from None
    if not isinstance(array, np.ndarray):  # np.load goes by the file's first bytes, not its name
        array.close()
        raise DataError(f"{path} is an .npz archive, not an .npy file; name it .npz")
    return array


def _stored_array(path: Path, suffix: str) -> np.ndarray:
    """The 2-D array of an .npy (memory-mapped, as stored) or .npz file."""
    if path.stat().st_size == 0:  # numpy's EOFError had been "unexpected", and click's Ctrl-C under --debug
        raise DataError(f"{path} is empty")
    array = _npy_array(path) if suffix == ".npy" else _npz_array(path)
    if array.ndim != 2:
        raise DataError(f"{path} holds an array of shape {array.shape}; a 2-D array (samples x features) is needed")
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
    if spec.isdecimal() and (width is None or int(spec) < width):
        return int(spec)
    indices = f"0 to {width - 1}" if width else "a 0-based index"
    choices = f"{', '.join(names)} (or their 0-based indices, {indices})" if names else indices
    labels = option.endswith("label_column") and path.suffix.lower() == ".npz"
    npz = " (an .npz file's 'y' array is read as labels without this option)" if labels else ""
    raise UsageError(f"{option} '{spec}' is not a column of {path}; choose from: {choices}{npz}")


def read_table(
    path: str | Path,
    set_aside: dict[str, str] | None = None,
    ignored: Mapping[str, Sequence[str]] | None = None,
    header: bool | None = None,
) -> Table:
    """The whole file (memory-mapped for .npy), with columns set aside: ``set_aside`` maps an option's name to
    the column it names (a header name or a 0-based index), e.g. ``{"dataset.label_column": "species"}``. A
    CSV file's set-aside columns are read as text, so they may hold class names. ``ignored`` maps an option's
    name to columns left out altogether (ids, batch names: text too), e.g. ``{"dataset.ignore_columns": ["id"]}``.
    ``header``: a text file's first row names its columns (True) or is data (False); None: guessed."""
    path = check_input(path)
    if path.suffix.lower() in TEXT:
        with header_given(header):
            return _csv_table(path, set_aside or {}, ignored or {})
    if header is not None:
        raise UsageError(f"{path} holds arrays, not lines of text: a header row is for {', '.join(TEXT)} files")
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
        if layout.row_name_columns:
            _say_where_indices_count_from(path, layout, set_aside, ignored)
    text_columns = frozenset(columns.values()) | left_out
    batches = list(_csv_batches(path, layout, 1 << 16, text_columns))
    if not batches:
        raise DataError(f"{path} has no data rows")
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
    path: Path, layout: CsvLayout, set_aside: Mapping[str, str], ignored: Mapping[str, Sequence[str]]
) -> None:
    """Warn that a column given by its index in a file whose first columns hold the rows' names (pandas' index)
    counts the columns after those, which the file's lines and messages about them count too."""
    names = layout.header or ()
    given = [(option, spec) for option, spec in set_aside.items()]
    given += [(option, spec) for option, specs in ignored.items() for spec in specs]
    counted = [f"{option} '{spec}' is '{names[int(spec)]}'" for option, spec in given
               if spec.isdecimal() and spec not in names and int(spec) < len(names)]  # fmt: skip
    if counted:
        first, them = ("first column holds", "it") if layout.row_name_columns == 1 else (
            f"first {layout.row_name_columns} columns hold", "them")  # fmt: skip
        warnings.warn(f"{path}: its {first} the rows' names (as pandas writes its index), left out, so a column "
                      f"given by its index counts the columns after {them}: {'; '.join(counted)}; name the columns "
                      "to be sure", stacklevel=4)  # fmt: skip


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


def read_row_names(path: str | Path, batch_rows: int) -> tuple[int, Iterator[list[list[str]]]] | None:
    """How many of a CSV file's first columns name its rows (pandas' index, R's row names), and those names,
    ``batch_rows`` rows at a time, as ``read_batches`` gives the rows; None for a file whose rows have no names."""
    path = Path(path)
    if path.suffix.lower() not in TEXT or not (layout := csv_layout(path)).row_name_columns:
        return None
    return layout.row_name_columns, _name_batches(path, layout, batch_rows)


def _name_batches(path: Path, layout: CsvLayout, batch_rows: int) -> Iterator[list[list[str]]]:
    whole, batch = replace(layout, row_name_columns=0), []
    for _line, cells in _csv_rows(path, whole):
        batch.append(cells[: layout.row_name_columns])
        if len(batch) == batch_rows:
            yield batch
            batch = []
    if batch:
        yield batch


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


def _csv_cells(cells: Sequence[str]) -> str:
    """Cells as one CSV line, without its end, quoted as the csv module quotes a comma, a quote or a line break (it
    quotes only the line breaks of its line terminator, so both are given)."""
    line = io.StringIO()
    csv.writer(line, lineterminator="\r\n").writerow(cells)
    return line.getvalue().removesuffix("\r\n")


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
        replace: bool = True,
        name_columns: int = 0,
    ) -> None:
        self.path, self.replace = path, replace  # replace False: a file that appears at path meanwhile is kept
        self.dtype = np.dtype(dtype)
        self.suffix = _suffix(path, WRITABLE, "output")
        self.shape = (n_rows, n_columns)
        self.column_names = column_names
        # a CSV's first columns of the rows' names, headed by nothing (as pandas writes its index); .npy has none
        self.name_columns = name_columns if self.suffix == ".csv" and column_names else 0
        self._written = 0

    @contextlib.contextmanager
    def open(self) -> Iterator[MatrixWriter]:
        with atomic_path(self.path, replace=self.replace) as temporary, open(temporary, "wb") as handle:
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
        elif self.column_names:
            handle.write(f"{_csv_cells(('',) * self.name_columns + self.column_names)}\n".encode())

    def write(self, rows: np.ndarray, names: Sequence[Sequence[str]] | None = None) -> None:
        """The rows, after those written; ``names``, the rows' names, go first in a CSV file that has their columns."""
        if self.suffix == ".npy":
            self._handle.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        else:
            buffer = io.StringIO()
            np.savetxt(buffer, rows, delimiter=",", fmt="%.17g" if self.dtype == np.float64 else "%.9g")
            text = buffer.getvalue()
            if self.name_columns and names is not None:
                text = "".join(
                    f"{_csv_cells(name)},{line}\n" for name, line in zip(names, text.splitlines(), strict=True)
                )
            self._handle.write(text.encode())
        self._written += len(rows)
