"""Your own data from a CSV, NPY or NPZ file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dimred.plugin import Data, DataError, Dataset, UsageError, hookimpl, option, read_matrix


class DataFile(Dataset):
    """Rows of numbers from a file; one column may be set aside to colour the plots."""

    name = "file"
    description = "a CSV (header optional, delimiter sniffed), .npy or .npz file of numbers"

    @dataclass(frozen=True)
    class Options:
        path: str = option("", "the file to read (.csv, .tsv, .txt, .npy or .npz)")
        color_column: str = option(
            "", "a column to colour plots by instead of using it as a feature: its header name or 0-based index"
        )
        label_column: str = option(
            "",
            "a column of class labels (numbers), set aside like color_column; an .npz file's 'y' array is used "
            "as labels without this option",
        )

        def __post_init__(self) -> None:
            if not self.path:
                raise ValueError("dataset.path is required, e.g. --set dataset.path=mydata.csv")

    def load(self, seed: int) -> Data:
        X, names = read_matrix(Path(self.options.path))
        if X.ndim != 2:
            raise DataError(f"{self.options.path} holds an array of shape {X.shape}; a 2-D array is needed")
        set_aside = {role: self._column_index(names, X.shape[1], role, wanted)
                     for role, wanted in (("color", self.options.color_column), ("label", self.options.label_column))
                     if wanted}  # fmt: skip
        if len(set(set_aside.values())) < len(set_aside):
            raise UsageError("dataset.color_column and dataset.label_column name the same column")
        keep = [index for index in range(X.shape[1]) if index not in set_aside.values()]
        labels = X[:, set_aside["label"]] if "label" in set_aside else self._npz_labels(len(X))
        return self._data(X, keep, names, set_aside, labels)

    def _data(self, X, keep: list[int], names, set_aside: dict[str, int], labels) -> Data:
        if labels is not None:
            labels = np.asarray(labels)
            if labels.dtype.kind == "f" and np.isfinite(labels).all() and (labels == np.round(labels)).all():
                labels = labels.astype(np.int64)  # class numbers read from a CSV as floats
        try:
            return Data(
                X=np.asarray(X[:, keep]) if len(keep) < X.shape[1] else X,
                color=np.asarray(X[:, set_aside["color"]]) if "color" in set_aside else None,
                feature_names=None if names is None else tuple(names[index] for index in keep),
                labels=labels,
            )
        except ValueError as error:
            raise DataError(f"{self.options.path}: {error}") from None

    def _npz_labels(self, n_rows: int):
        """An .npz file's 'y' array, the usual name for labels beside X."""
        if Path(self.options.path).suffix.lower() != ".npz":
            return None
        with np.load(self.options.path, allow_pickle=False) as archive:
            if "y" not in archive.files or "X" not in archive.files:
                return None
            try:
                return archive["y"]
            except ValueError as error:
                raise DataError(f"{self.options.path}: its 'y' array cannot be read ({error})") from None

    def _column_index(self, names: tuple[str, ...] | None, width: int, role: str, wanted: str) -> int:
        if names is not None and wanted in names:
            return names.index(wanted)
        if wanted.isdigit() and int(wanted) < width:
            return int(wanted)
        choices = ", ".join(names) if names else f"0 to {width - 1}"
        raise UsageError(
            f"dataset.{role}_column '{wanted}' is not a column of {self.options.path}; choose from: {choices}"
        )


@hookimpl
def register_datasets(register):
    register(DataFile)
