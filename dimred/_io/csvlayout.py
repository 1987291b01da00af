"""How a CSV file is laid out, told from its first lines: its delimiter (sniffed), its header row (detected: a
first row numbering the columns 0, 1, 2..., with text above a number, or with text that its column does not repeat;
where that row's numbers look like data, a warning says so), '#' comment lines before the first row (the last of
them a header where, written '# a,b,c' as numpy.savetxt writes one, it has as many cells as the rows), a delimiter
ending every line (no empty column), and a first column with no name in the header, which holds row names (pandas'
``to_csv`` and R's ``write.csv`` write one by default) and is left out."""

from __future__ import annotations

import contextlib
import contextvars
import csv
import functools
import itertools
import math
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dimred._core.errors import DimredError
from dimred._io.validation import DataError

_SNIFF_BYTES = 1 << 16
_HEADER_SAMPLE_ROWS = 200  # rows read to tell a header from a first row of data
_ROWS_TO_TELL_NAMES = 10  # rows after a first row of the model's names in another order that tell it a header
_NUMBERED_FROM_ONE = 10  # columns from which a first row 1, 2, ..., n is read as their numbers
_GZIP_MAGIC = b"\x1f\x8b"  # how a gzip-compressed file starts
# pandas reads a cell of any length (a sequence, a long text in a column left out); csv's own limit is 128 KiB
csv.field_size_limit(2**31 - 1)


# the names of first columns of row names: pandas' to_csv (a column a level of its index, and once more for a
# file read and written again: "Unnamed: 0"), R's write.csv (R's write.table heads none: its header is a cell
# shorter than the rows)
ROW_INDEX_NAME = re.compile(r"|Unnamed: \d+")
# what pandas reads as a missing value besides NaN, which is a number here: a first row with one is no header
MISSING_VALUE_MARKS = frozenset({"NA", "N/A", "n/a", "#N/A", "#N/A N/A", "#NA", "NULL", "null", "None", "<NA>"})


@dataclass(frozen=True)
class CsvLayout:
    """A CSV file's delimiter, its header's column names (None without a header) and how many of its first
    columns hold row names rather than data (left out of ``header`` and of every row)."""

    delimiter: str
    header: tuple[str, ...] | None
    row_name_columns: int = 0  # pandas' index (one column a level), R's row names
    padded: bool = False  # columns aligned by runs of spaces, leading ones too (a right-aligned first column)
    comments: int = 0  # lines of '#' comments before the header or the first row (numpy.savetxt's), skipped
    trailing_empty: int = 0  # every line ends in this many delimiters (a spreadsheet's): those empty columns left out


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Errors met while reading ``path`` as one message that names it."""
    try:
        yield
    except UnicodeDecodeError as error:
        if bytes(error.object[:2]) == _GZIP_MAGIC:
            raise DataError(f"{path} is gzip-compressed; decompress it first (gunzip)") from None
        byte = error.object[error.start : error.start + 1].hex()
        raise DataError(f"{path} is not UTF-8 text (it holds the byte 0x{byte}); save it with UTF-8 encoding") from None
    except csv.Error as error:
        raise DataError(f"{path} is not a readable CSV file ({error})") from None
    except OSError as error:
        raise DimredError(f"{path} could not be read ({error.strerror or error})") from None


def is_number(text: str) -> bool:
    """Whether a cell of text reads as a number, as float() reads it (nan and inf too), but in ASCII digits and
    without Python's digit separators: '2023_01' is a date or a name to the tools that wrote the file, not
    202301."""
    text = text.strip()  # spaces of any kind around it (a web table's no-break space) float() skips too
    if not plain_digits(text):
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def plain_digits(text: str) -> bool:
    """Whether ``text`` holds neither '_' nor characters beyond ASCII: where float() and numpy read it as
    ``is_number`` does (they take '2023_01' and non-ASCII digits as numbers too)."""
    return text.isascii() and "_" not in text


_KNOWN_NAMES: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar("known_names", default=None)


@contextlib.contextmanager
def header_naming(names: Iterable[Any] | None) -> Iterator[None]:
    """While a trained model reads files: a first row of its feature ``names`` is a header, whatever its cells
    look like (in another order: where they are not values of their columns, ``_holds_names``). Names that are
    numbers (doses, time points, wavelengths) with no text column beside them, as ``decode`` writes them, had been
    read back as a row of data (61 codes of 60 rows)."""
    token = _KNOWN_NAMES.set(None if names is None else tuple(str(name) for name in names))
    try:
        yield
    finally:
        _KNOWN_NAMES.reset(token)


# how a user says what the first row is, where the guess is in doubt
_SAY_HEADER = "say it names them (the file dataset: --set dataset.header=true; dimred encode: --header)"
_SAY_NO_HEADER = "say it is data (the file dataset: --set dataset.header=false; dimred encode: --no-header)"
_GIVEN_HEADER: contextvars.ContextVar[bool | None] = contextvars.ContextVar("given_header", default=None)


@contextlib.contextmanager
def header_given(header: bool | None) -> Iterator[None]:
    """While files are read as a user said: their first row names the columns (True) or is data (False),
    whatever it looks like; None: guessed from the first rows, with a warning where in doubt."""
    token = _GIVEN_HEADER.set(None if header is None else bool(header))
    try:
        yield
    finally:
        _GIVEN_HEADER.reset(token)


def csv_layout(path: Path) -> CsvLayout:
    """The delimiter and the header row (if any) of a CSV file, sniffed once per version of the file in a process
    (a command asks for it several times: the width, the rows, the columns by name), so a doubt about its header
    is told once."""
    with reading(path):
        status = path.stat()
    # a file rewritten at the same size with its modification time put back (cp -p, rsync -t, tar) is told
    # apart by the time its inode last changed, which no user sets
    version = (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    return _sniffed_layout(path, version, _KNOWN_NAMES.get(), _GIVEN_HEADER.get())


@functools.lru_cache(maxsize=64)
def _sniffed_layout(
    path: Path, _version: tuple[int, ...], known: tuple[str, ...] | None, given: bool | None
) -> CsvLayout:
    """``csv_layout`` for the file's version that its inode, size and times tell apart, where a first row of the
    ``known`` names is a header, and the header is as ``given`` (None: guessed)."""
    with reading(path), open(path, newline="", encoding="utf-8-sig") as handle:
        lines = _first_lines(handle)
    comments = _leading_comments(lines)
    if given is False and comments < len(lines) and lines[comments].lstrip().startswith("#"):
        comments += 1  # numpy.savetxt's '# a b c' over a file said to have no header: a comment
    lines = lines[comments:]
    if not lines:
        raise DataError(f"{path} is empty" + (" but for comments ('#' lines)" if comments else ""))
    commented = lines[0].lstrip().startswith("# ")  # a header as numpy.savetxt writes one; '#id' is a name
    lines[0] = _uncommented(lines[0]) if commented else lines[0]
    delimiter, padded = _delimiter(lines[:20])
    rows = list(csv_reader(lines, delimiter, padded))
    trailing_empty = min(_empty_at_end(row) for row in rows)
    shape = {"padded": padded, "comments": comments, "trailing_empty": trailing_empty}
    first, *following = [row[: len(row) - trailing_empty] for row in rows]
    if given is False:
        return CsvLayout(delimiter, None, **shape)
    first = _without_empty_names_beyond(first, following)
    numbered_from_one = _numbers_columns_from_one(first)
    numbered = numbered_from_one or _numbers_columns_from_zero(first) or _numbers_columns_kept(first, following)
    cells = tuple(cell.strip() for cell in first)
    named = known is not None and _holds_names(cells, known, following)
    said = given or numbered or named or commented
    is_header, certain = (True, True) if said else _is_header(first, following)
    if not is_header and known is not None and _reordered(cells, known) and len(following) < _ROWS_TO_TELL_NAMES:
        warnings.warn(f"{path}: its first row holds the model's column names in another order, but too few rows "
                      "follow it in the lines read to tell a header from a row of data, so it is read as data; if "
                      "it names the columns, write them in the order the model was trained on",
                      stacklevel=2)  # fmt: skip
    if not is_header:
        if _numbers_look_like_names(first, following):
            warnings.warn(f"{path}: its first row is read as data, though its numbers all lie above their "
                          "columns' values, as names such as gene IDs or wavelengths would; if it names the "
                          f"columns, give them names that are not numbers (G7157 or nm400.5, say), or {_SAY_HEADER}",
                          stacklevel=2)  # fmt: skip
        return CsvLayout(delimiter, None, **shape)
    if not certain:
        warnings.warn(f"{path}: its first row is read as the columns' names (it holds text found nowhere else in "
                      "its column, as a name is), though its numbers look like data; if it is a row of data (a "
                      f"class met once, a row name), give the file a header row, or {_SAY_NO_HEADER}",
                      stacklevel=2)  # fmt: skip
    if numbered and not named and not given:  # a headerless file of whole numbers may begin so too
        which = f"1 to {len(first)}" if numbered_from_one else " ".join(cells)
        warnings.warn(f"{path}: its first row, {which}, is read as the columns' numbers, not as data; if it is a row "
                      f"of data, give the file a header row, or {_SAY_NO_HEADER}", stacklevel=2)  # fmt: skip
    header = cells
    names = _row_name_columns(header)
    if names:
        return CsvLayout(delimiter, header[names:], row_name_columns=names, **shape)
    if _names_rows(header, following, unheaded=delimiter == " " and lines[0].startswith(" ")):  # R's write.table
        return CsvLayout(delimiter, header, row_name_columns=1, **shape)
    return CsvLayout(delimiter, header, **shape)


def _names_rows(header: tuple[str, ...], following: list[list[str]], unheaded: bool) -> bool:
    """Whether the rows begin with their names, as R's write.table writes a data frame: a cell more than the
    header names, and the first cells each row's own, names (text) or row numbers (whole numbers), never
    fractions. A header one name short over a first column of data (0.5, 0.5, 0.1; 0.31, 0.77; 0, 1, 2, 0) had
    lost it as row names. ``unheaded``: the header line begins with the delimiter, a space, as pandas heads its
    index with nothing (``to_csv(sep=" ")``, ``to_string``): its names, whatever they are."""
    if len(header) < 2 or not following or any(len(row) != len(header) + 1 for row in following):
        return False
    if unheaded:
        return True
    firsts = [row[0].strip() for row in following]
    numbers = [cell for cell in firsts if is_number(cell)]
    return len(set(firsts)) == len(firsts) and all(re.fullmatch(r"[+-]?\d+", cell) for cell in numbers)


def _without_empty_names_beyond(first: list[str], following: list[list[str]]) -> list[str]:
    """The first row without the empty cells it has beyond the rows below (a header whose line alone ends in a
    delimiter); its rows had been refused as a value short of 'the rows before', the header."""
    widths = {len(row) for row in following}
    if len(widths) != 1 or len(first) <= (width := widths.pop()) or any(cell.strip() for cell in first[width:]):
        return first
    return first[:width]


def _row_name_columns(header: tuple[str, ...]) -> int:
    """How many of the header's first names head columns of row names (one name at least left for the data)."""
    count = 0
    while count < len(header) - 1 and ROW_INDEX_NAME.fullmatch(header[count]):
        count += 1
    return count


def _empty_at_end(row: list[str]) -> int:
    """How many of the row's last cells are empty, its first cell aside."""
    count = 0
    while count < len(row) - 1 and not row[-1 - count].strip():
        count += 1
    return count


def _holds_names(cells: tuple[str, ...], known: tuple[str, ...], following: list[list[str]]) -> bool:
    """Whether a first row names the columns by the ``known`` names: as they are, or each once in another order
    (with other columns, maybe), none of them written as a value of its column in the rows ``following``, of
    which there are enough to tell (a row of counts 2,0,1 is data, though features named 0, 1 and 2 are in it)."""
    if cells == known:
        return True
    if not _reordered(cells, known) or len(following) < _ROWS_TO_TELL_NAMES:
        return False  # too few rows to tell: data, as a first row of the names in another order had always been
    columns = [{row[column].strip() for row in following if column < len(row)} for column in range(len(cells))]
    return not any(cell in values for cell, values in zip(cells, columns, strict=True))


def _reordered(cells: tuple[str, ...], known: tuple[str, ...]) -> bool:
    """Whether ``cells`` hold each of the ``known`` names once, in another order or among other cells."""
    return cells != known and len(set(cells)) == len(cells) and set(known) <= set(cells)


def _leading_comments(lines: list[str]) -> int:
    """How many of the first lines are comments: those that start with '#' before the first that does not, but
    the last of them where, without its '#', it splits into as many cells as the line after it (a header, as
    numpy.savetxt writes one: '# a b c')."""
    count = next((place for place, line in enumerate(lines) if not line.lstrip().startswith("#")), len(lines))
    if 0 < count < len(lines):
        # split as the rows split: a comment of free text over rows of numbers by spaces, split by the comma that
        # neither holds, had read as a one-column header over a one-column file
        header, data = _uncommented(lines[count - 1]), lines[count : count + 20]
        delimiter, padded = _delimiter(data)
        widths = {len(next(csv_reader([line], delimiter, padded), [])) for line in (header, data[0])}  # one line each
        if len(widths) == 1 and header.count('"') % 2 == 0:  # a quote left open: free text ('"v1.2 beta')
            count -= 1
    return count


def skip_comments(handle: Iterator[str], comments: int) -> int:
    """Read past the first ``comments`` comment lines of a file (``CsvLayout.comments``) and the blank lines among
    them; how many lines that was."""
    read = 0
    while comments:
        line = next(handle, None)
        if line is None:
            break
        read += 1
        if line.lstrip().startswith("#"):
            comments -= 1
    return read


def _uncommented(line: str) -> str:
    return line.lstrip().removeprefix("#").lstrip()


DELIMITERS = ",\t;|"  # those a file's every line may split on into as many cells (spaces pad columns too)


def _delimiter(lines: list[str]) -> tuple[str, bool]:
    """The delimiter of the lines (csv's sniffer's choice where it splits every line into as many cells as a
    comma, tab, semicolon or bar does, else the first of those that does; else spaces where every line splits on
    runs of them into as many cells, columns aligned by padding that the sniffer cannot tell, else a comma: one
    column), and whether spaces pad every line's start too (right-aligned columns). The sniffer alone had taken
    a space for the delimiter of a comma-separated file whose label held "the 'big' one"."""
    consistent = [mark for mark in DELIMITERS if _splits_as_table(lines, mark)]
    aligned = _aligned(lines)
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t| ").delimiter
        if consistent and delimiter not in consistent:
            delimiter = consistent[0]
    except csv.Error:
        if consistent:
            return consistent[0], False
        delimiter = " " if aligned and not any(mark in "".join(lines) for mark in ",;\t|") else ","
    padded = aligned or all(line.startswith(" ") for line in lines)
    return delimiter, delimiter == " " and padded


def _aligned(lines: list[str]) -> bool:
    """Whether the lines split on runs of spaces as a table (``_a_table``): columns aligned by padding, where a
    line may start with spaces or not (numpy's ``'% .5f'`` pads a positive number with one, pandas' ``to_string``
    right-aligns its columns, and heads its index column with nothing)."""
    return _a_table([len(line.split()) for line in lines])


def _splits_as_table(lines: list[str], delimiter: str) -> bool:
    """Whether ``delimiter`` splits the lines as a table (``_a_table``)."""
    return _a_table([len(cells) for cells in csv.reader(lines, delimiter=delimiter)])


def _a_table(widths: list[int]) -> bool:
    """Whether lines of these widths (in cells) are a table: every line as wide, more than one cell, but for the
    first, which may have one cell fewer: a header over rows that begin with their row names, as R's
    ``write.table`` writes it (of two names or more: one name over rows of two cells is a column of decimal
    commas)."""
    first, *rest = widths
    below = set(rest or [first])
    return len(below) == 1 and (width := below.pop()) > 1 and (first == width or first == width - 1 > 1)


def _is_blank(line: str) -> bool:
    """Whether a line ahead of the data holds no value: nothing but spaces and delimiters, as ``_csv_rows`` skips
    it there (among the rows ``,,`` is a row of missing values, and refused)."""
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


def csv_reader(lines: Iterable[str], delimiter: str, padded: bool) -> Any:
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
    """Whether the first row names the columns, and whether that is certain. It does where it holds text above a
    number, or text that its column never holds again (a column of class names repeats them; a column's name
    appears once; a column of ids holds each once, and is headed by a name of another form). The last is uncertain
    where the row's numbers lie within their columns' values: a header of time points or doses does so, but so
    does a headerless file's first row whose class is met once."""
    cells = [cell.strip() for cell in first]
    unrepeated = False
    for column, cell in enumerate(cells):
        if is_number(cell) or _marks_a_gap(cell, column):
            continue
        below = [row[column].strip() for row in following if column < len(row)]
        if not below or is_number(below[0]):
            return True, True
        if _one_more_id(cell, below):
            continue
        unrepeated = unrepeated or cell not in below
    return unrepeated, not (unrepeated and _numbers_look_like_data(cells, following))


def _one_more_id(cell: str, below: list[str]) -> bool:
    """Whether ``cell`` reads as one more of the ids below it: a column of ids holds each once, so its first
    row's is met nowhere else too, and only a name of another form (``id`` over ``s0, s1, ...``) heads it. A
    headerless file's first row had been taken for its header (that row's codes lost, exit 0)."""
    return len(set(below)) == len(below) and _form(cell) in {_form(value) for value in below}


def _form(text: str) -> str:
    """A cell's form, its digits aside: ``s12`` and ``s7`` are of one, ``id`` of another."""
    return re.sub(r"\d+", "0", text)


def _marks_a_gap(cell: str, column: int) -> bool:
    """Whether a cell of a first row is a missing value, not a name: a headerless file's gap there had made its
    row a header (the rows shifted by one, exit 0). An empty first cell is pandas' index column's name."""
    return cell in MISSING_VALUE_MARKS or (column > 0 and not cell)


def _numbers_columns_from_zero(cells: list[str]) -> bool:
    """Whether the first row is 0, 1, ..., n - 1 (n from 2): the columns' numbers as pandas names those of a frame
    without names (read as a header, with a warning: a headerless file of whole numbers may begin 0,1 too)."""
    return len(cells) > 1 and [cell.strip() for cell in cells] == [str(column) for column in range(len(cells))]


def _numbers_columns_from_one(cells: list[str]) -> bool:
    """Whether the first row is 1, 2, ..., n from _NUMBERED_FROM_ONE columns: the columns' numbers of wide data
    saved by a tool that counts from 1 (read as a header, with a warning); a narrower headerless file may well
    begin with such a row of data (1,2,3)."""
    return len(cells) >= _NUMBERED_FROM_ONE and [cell.strip() for cell in cells] == [
        str(column) for column in range(1, len(cells) + 1)
    ]


def _numbers_columns_kept(first: list[str], following: list[list[str]]) -> bool:
    """Whether the first row numbers the columns as pandas numbers those it kept of a frame without names (0, 1,
    3, 4 after a column was dropped; years), increasing whole numbers, over columns that each hold a fraction below
    (where a row of whole numbers is no row of theirs); on at least 10 rows."""
    cells = [cell.strip() for cell in first]
    if len(following) < 10 or len(cells) < 2 or not all(re.fullmatch(r"0|[1-9]\d*", cell) for cell in cells):
        return False
    numbers = [int(cell) for cell in cells]
    if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
        return False
    return all(any(not value.is_integer() for value in _numbers_below(following, column)) for column in
               range(len(cells)))  # fmt: skip


def _numbers_look_like_names(cells: list[str], following: list[list[str]]) -> bool:
    """Whether a first row of plain numbers (whole or decimal, as gene IDs or wavelengths are) lies well above
    every column's values below it (by more than a quarter of the column's range), as a header of gene IDs over
    counts does; on at least 10 rows below, or 3 of at least 3 columns, so that a small file's first row of data
    is seldom taken for one (all its columns would have to lie so far above the rest)."""
    if len(following) < (10 if len(cells) < 3 else 3):
        return False
    if not all(re.fullmatch(r"\d+(\.\d+)?", cell.strip()) for cell in cells):
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
    """Whether most of the number cells of a first row lie within the range of their columns' values below, or
    near it (within a quarter of the range: a row of data holds a column's largest value as often as any other),
    and are not whole numbers over a column of fractions (as the names 0 and 1 are)."""
    inside = outside = 0
    for column, cell in enumerate(cells):
        if not is_number(cell):
            continue
        below = _numbers_below(following, column)
        if not below:
            continue
        value, margin = float(cell), (max(below) - min(below)) / 4
        named = value.is_integer() and not any(number.is_integer() for number in below)
        if not named and min(below) - margin <= value <= max(below) + margin:
            inside += 1
        else:
            outside += 1
    return inside > outside


def _numbers_below(following: list[list[str]], column: int) -> list[float]:
    """The numbers of a column in the rows below the first."""
    return [float(row[column]) for row in following if column < len(row) and is_number(row[column])]
