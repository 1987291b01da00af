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

        def __post_init__(self) -> None:
            if not self.path:
                raise ValueError("dataset.path is required, e.g. --set dataset.path=mydata.csv")

    def load(self, seed: int) -> Data:
        X, names = read_matrix(Path(self.options.path))
        if X.ndim != 2:
            raise DataError(f"{self.options.path} holds an array of shape {X.shape}; a 2-D array is needed")
        if not self.options.color_column:
            return Data(X=X, feature_names=names)
        column = self._column_index(names, X.shape[1])
        keep = [index for index in range(X.shape[1]) if index != column]
        return Data(
            X=np.asarray(X[:, keep]),
            color=np.asarray(X[:, column]),
            feature_names=None if names is None else tuple(names[index] for index in keep),
        )

    def _column_index(self, names: tuple[str, ...] | None, width: int) -> int:
        wanted = self.options.color_column
        if names is not None and wanted in names:
            return names.index(wanted)
        if wanted.isdigit() and int(wanted) < width:
            return int(wanted)
        choices = ", ".join(names) if names else f"0 to {width - 1}"
        raise UsageError(
            f"dataset.color_column '{wanted}' is not a column of {self.options.path}; choose from: {choices}"
        )


@hookimpl
def register_datasets(register):
    register(DataFile)
