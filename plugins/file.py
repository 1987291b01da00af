"""Your own data from a CSV, NPY or NPZ file."""

from __future__ import annotations

import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dimred.plugin import (
    FEW_CLASSES,
    MAX_NUMBERED_CLASSES,
    Data,
    DataError,
    Dataset,
    as_class_numbers,
    hookimpl,
    looks_like_class_numbers,
    missing_label_rows,
    option,
    read_table,
)


class DataFile(Dataset):
    """Rows of numbers from a file; one column may be set aside to colour the plots."""

    name = "file"
    description = "a CSV (header optional, delimiter sniffed), .npy or .npz file of numbers"

    @dataclass(frozen=True)
    class Options:
        path: str = option("", "the file to read (.csv, .tsv, .txt, .npy or .npz)")
        color_column: str = option(
            "",
            "a column to colour plots by instead of using it as a feature: its header name or 0-based index (the "
            "plots colour by it rather than by the labels)",
        )
        label_column: str = option(
            "",
            "a column of class labels (whole numbers or names, e.g. species), set aside like color_column; one of "
            "measured values (fractions; whole numbers with more than 100 distinct, or more than 20 and more than "
            "one per two rows) is refused; an .npz file's 'y' array is used as labels without this option (to "
            "colour the plots where it holds such measured values)",
        )
        ignore_columns: str = option(
            "",
            "columns that are neither data nor labels, left out (a row id, a batch name): header names or 0-based "
            "indices, comma-separated",
        )

        header: bool | None = option(
            None,
            "whether a text file's first row names the columns (true) or is data (false) [default: guessed from the "
            "first rows, with a warning where in doubt]",
        )

        def __post_init__(self) -> None:
            if not self.path:
                raise ValueError("dataset.path is required, e.g. --set dataset.path=mydata.csv")
            if self.header is not None and Path(self.path).suffix.lower() in (".npy", ".npz"):
                raise ValueError(f"dataset.header is for text files (.csv, .tsv, .txt); {self.path} holds arrays")

    def load(self, seed: int) -> Data:
        wanted = {"dataset.color_column": self.options.color_column, "dataset.label_column": self.options.label_column}
        ignored = [spec.strip() for spec in self.options.ignore_columns.split(",") if spec.strip()]
        table = read_table(self.options.path, {option: spec for option, spec in wanted.items() if spec},
                           {"dataset.ignore_columns": ignored} if ignored else None,
                           header=self.options.header)  # fmt: skip
        color, labels = (table.set_aside.get(f"dataset.{role}_column") for role in ("color", "label"))
        if table.X.shape[1] == 0 and (table.set_aside or ignored):
            left_out = [*table.set_aside, *(["dataset.ignore_columns"] if ignored else [])]
            raise DataError(f"{self.options.path}: setting aside {' and '.join(left_out)} leaves no column of "
                            "data to reduce")  # fmt: skip
        color = None if color is None else self._colour_values(color)
        if labels is not None:
            labels = self._class_labels(labels, "dataset.label_column")
            self._refuse_measured_values(labels)
        elif (y := self._npz_y(len(table.X))) is not None:
            if _given_as_classes(y):
                labels = self._class_labels(y, "its 'y' array")
            else:
                if bool((y == np.round(y)).all()):  # whole numbers, too many or too spread to be classes: said
                    warnings.warn(f"{self.options.path}: its 'y' array holds {len(np.unique(y))} distinct whole "
                                  f"numbers among {len(y)} rows, read as measured values that colour the plots, not "
                                  f"as classes (class numbers: at most {MAX_NUMBERED_CLASSES} distinct and one per "
                                  "two rows; give classes as names, y.astype(str), to have them scored)",
                                  stacklevel=2)  # fmt: skip
                if color is None:
                    color = y.astype(np.float64)  # measured values (a regression target, say) colour the plots
        try:
            return Data(
                X=table.X, color=color, feature_names=table.names, labels=labels, color_name=self._colour_name(color)
            )
        except ValueError as error:
            raise DataError(f"{self.options.path}: {error}") from None

    def _colour_name(self, color: np.ndarray | None) -> str | None:
        """What the plots' colour bars call the colour values: the column's name (or number), or the 'y' array."""
        spec = self.options.color_column
        if color is None:
            return None
        if not spec:
            return "y"
        return f"column {spec}" if spec.isdigit() else spec

    def _colour_values(self, values: np.ndarray) -> np.ndarray:
        if values.dtype.kind in "US":
            for row, value in enumerate(values):
                if not str(value).strip():
                    raise DataError(f"{self.options.path}: dataset.color_column has no value in data row {row + 1}; "
                                    "every row needs one")  # fmt: skip
                try:
                    float(value)
                except ValueError:
                    raise DataError(
                        f"{self.options.path}: dataset.color_column holds '{value}' in data row {row + 1}; colours "
                        "are numbers (name classes with dataset.label_column)"
                    ) from None
        colours = values.astype(np.float64)
        if not np.isfinite(colours).all():  # written beside the codes (codes-csv): exit 0 with NaN there otherwise
            row = int(np.flatnonzero(~np.isfinite(colours))[0])
            raise DataError(f"{self.options.path}: dataset.color_column holds {colours[row]} in data row {row + 1}; "
                            "colours are finite numbers")  # fmt: skip
        return colours

    def _class_labels(self, values: np.ndarray, source: str) -> np.ndarray:
        """Labels as read: class numbers where every value is a whole number, else the names as written (spaces
        around a number or a gap say nothing; around a name in an .npz array they are part of it, as numpy and
        scikit-learn hold them: ' a' and 'a' are two classes). Rows are numbered from 1, as data rows in the file."""
        if values.dtype.kind in "US":
            written = values.astype(str)
            text = np.char.strip(written)
            missing = missing_label_rows(text)
            if len(missing):
                what = "empty" if not text[missing[0]] else f"missing ('{text[missing[0]]}')"
                raise DataError(f"{self.options.path}: the label of data row {missing[0] + 1} is {what}; every row "
                                "needs one (not empty, NA or NaN)")  # fmt: skip
            try:  # whole numbers exactly: as float64 those beyond 2**53 would merge into one class
                return _whole_numbers_if_distinct(text)
            except OverflowError:  # whole numbers beyond int64 are distinct as written
                if _written_as_whole_numbers(text):
                    return text
            except ValueError:
                pass
            try:
                values = text.astype(np.float64)
            except ValueError:  # names (with some numbers among them, maybe: those read around their spaces)
                return np.where([_reads_as_number(label) for label in text], text, written)
            merged = len(np.unique(values)) < len(np.unique(text))
            if merged and np.isfinite(values).all() and _are_classes(values):  # '2' and '2.0': two names
                return text
        if values.dtype.kind not in "iufb":
            raise DataError(f"{self.options.path}: {source} holds {values.dtype} values; labels are classes, whole "
                            "numbers or names")  # fmt: skip
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(f"{self.options.path}: {source}: labels must not be NaN or infinite (data row {row + 1} "
                            f"is {values[row]})")  # fmt: skip
        if not _are_classes(values):
            row = int(np.flatnonzero(values != np.round(values))[0])
            raise DataError(f"{self.options.path}: {source} holds {values[row]} in data row {row + 1}; labels are "
                            "classes, whole numbers or names (colour the plots by measured values with "
                            "dataset.color_column)")  # fmt: skip
        return as_class_numbers(values)

    def _refuse_measured_values(self, labels: np.ndarray) -> None:
        """A label column of numbers is refused where they look measured (counts, a regression target), as an
        .h5ad obs column's are, since a classifier's accuracy on them would mean nothing. Classes named by text
        are never refused."""
        # whole numbers beyond int64 stay text: their places among the distinct ones stand in for them
        written = labels.dtype.kind in "US" and _written_as_whole_numbers(labels)
        numbers = np.unique(labels, return_inverse=True)[1] if written else labels
        if numbers.dtype.kind in "iuf" and not looks_like_class_numbers(numbers):
            distinct = len(np.unique(labels))
            raise DataError(f"{self.options.path}: dataset.label_column holds measured values ({distinct} distinct "
                            f"whole numbers among {len(labels)} rows), not classes; give a column of class "
                            f"names, or of class numbers (at most {MAX_NUMBERED_CLASSES} distinct, and one per two "
                            f"rows beyond {FEW_CLASSES}), or colour the plots by these values with "
                            "dataset.color_column")  # fmt: skip

    def _warn_unread(self, names: list[str]) -> None:
        """Say which arrays of an .npz file beside X are left unread (labels saved under another name than y)."""
        others = [name for name in names if name != "X"]
        if "X" in names and others:
            listed = ", ".join(map(repr, others))
            warnings.warn(f"{self.options.path}: its array{'s' if len(others) > 1 else ''} {listed} "
                          f"{'are' if len(others) > 1 else 'is'} not read: dimred reads the rows from 'X' and labels "
                          "from an array named 'y' (np.savez(FILE, X=X, y=labels))", stacklevel=3)  # fmt: skip

    def _npz_y(self, n_rows: int) -> np.ndarray | None:
        """An .npz file's 'y' array, the usual name for labels beside X, one value per row of X."""
        if Path(self.options.path).suffix.lower() != ".npz":
            return None
        with np.load(self.options.path, allow_pickle=False) as archive:
            if "y" not in archive.files or "X" not in archive.files:
                self._warn_unread(archive.files)
                return None
            try:
                labels = archive["y"]
            except ValueError as error:
                hint = "; save labels as text or numbers, e.g. y=y.astype(str)" if "Object arrays" in str(error) else ""
                raise DataError(f"{self.options.path}: its 'y' array cannot be read ({error}){hint}") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:  # a damaged member of the archive
                raise DataError(f"{self.options.path}: its 'y' array cannot be read ({error})") from None
        if labels.ndim == 2 and labels.shape[1] == 1:  # a column vector, as many tools save one
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise DataError(f"{self.options.path}: its 'y' array must hold one value per row, got shape "
                            f"{labels.shape}")  # fmt: skip
        if len(labels) != n_rows:
            raise DataError(f"{self.options.path}: its 'y' array holds {len(labels)} values but X has {n_rows} "
                            "rows; it needs one per row")  # fmt: skip
        return labels


def _whole_numbers_if_distinct(text: np.ndarray) -> np.ndarray:
    """Labels written as whole numbers, as numbers; as written where two names would become one ('1' and '01')."""
    numbers = text.astype(np.int64)
    return numbers if len(np.unique(numbers)) == len(np.unique(text)) else text


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _written_as_whole_numbers(text: np.ndarray) -> bool:
    return bool(np.char.isdigit(np.char.lstrip(text, "+-")).all())


def _given_as_classes(y: np.ndarray) -> bool:
    """Whether an .npz file's 'y' holds classes (names, class numbers) rather than measured values to colour by.
    Values that are not finite count as classes, for the labels' check to name."""
    return y.dtype.kind not in "iuf" or not np.isfinite(y).all() or looks_like_class_numbers(y)


def _are_classes(values: np.ndarray) -> bool:
    """Whole numbers or names. Values that are not finite count as classes, for the labels' check to name."""
    if values.dtype.kind != "f" or not np.isfinite(values).all():
        return True
    return bool((values == np.round(values)).all())


@hookimpl
def register_datasets(register):
    register(DataFile)
