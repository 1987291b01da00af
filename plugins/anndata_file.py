"""Single-cell data in AnnData ``.h5ad`` files: cells as rows, their ``X`` (or a layer) as features, an ``obs``
column as labels. ``dimred encode RUN cells.h5ad -o out.h5ad`` writes the codes back into ``obsm``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from dimred.plugin import (
    FEW_CLASSES,
    MAX_NUMBERED_CLASSES,
    Data,
    DataError,
    Dataset,
    UsageError,
    as_class_numbers,
    cells_by_genes,
    hookimpl,
    looks_like_class_numbers,
    missing_label_rows,
    option,
    read_h5ad,
)

GAP_MARKS = ("", "nan")  # what a gap in an obs column of text becomes (pandas' astype(str) writes 'nan')
# the per-cell counts scanpy's calculate_qc_metrics and filter_cells (and Seurat) write into obs: measured,
# however few their values (a panel of 50 genes has at most 50 of n_genes_by_counts)
QC_COLUMN = re.compile(
    r"(log1p_)?(n_genes_by_counts|n_genes|n_counts(_all)?|total_counts(_.+)?)|pct_counts_.+|"
    r"n(Count|Feature)_.+"
)  # the last: Seurat's nCount_RNA, nFeature_RNA, in converted files


class AnnDataFile(Dataset):
    name = "h5ad"
    description = (
        "an AnnData .h5ad file (single-cell data; dimred[anndata]): X or a layer as features, an obs column as labels"
    )

    @dataclass(frozen=True)
    class Options:
        path: str = option("", "the .h5ad file to read")
        layer: str = option("", "a layer to use instead of X (e.g. counts); empty or X: X itself")
        label_key: str = option("", "an obs column of labels (e.g. cell_type); empty: no labels")

        def __post_init__(self) -> None:
            if not self.path:
                raise ValueError("dataset.path is required, e.g. --set dataset.path=cells.h5ad")

    def load(self, seed: int) -> Data:
        adata = read_h5ad(self.options.path, "dataset 'h5ad'")
        matrix = cells_by_genes(adata, self.options.layer, self.options.path, "dataset.layer",
                                "--set dataset.layer=NAME")  # fmt: skip
        # float32 unless the file holds float64 (whose values float32 could round or overflow)
        dtype = np.float64 if matrix.dtype == np.float64 else np.float32
        X = _dense(matrix, dtype, self.options.path)
        labels = self._labels(adata) if self.options.label_key else None
        return Data(X=X, labels=labels, feature_names=tuple(str(name) for name in adata.var_names))

    def _labels(self, adata) -> np.ndarray:
        """The obs column's values: class numbers or names; a categorical column's categories, whatever their
        values. A plain (not categorical) column of numbers is taken as class numbers only where it looks like
        one (``looks_like_class_numbers``) and is not named as scanpy names its per-cell counts. Measured values
        (scanpy's total_counts or n_genes_by_counts, whole numbers in an integer or float column) are refused, as
        a classifier's accuracy on them would mean nothing. Text that marks a gap ('nan', as ``astype(str)``
        writes one, or empty) is refused as the gap it is; NA, none or null may be a real category here (a
        treatment of none), unlike in a CSV file."""
        key = self.options.label_key
        if key not in adata.obs:
            columns = ", ".join(map(str, adata.obs.columns)) or "none (its obs has no columns)"
            raise UsageError(f"dataset.label_key '{key}' is not an obs column of {self.options.path}; choose from: "
                             f"{columns}")  # fmt: skip
        column = adata.obs[key]
        missing = column.isna().to_numpy()
        if missing.any():
            raise DataError(f"{self.options.path}: obs column '{key}' has no label for cell "
                            f"'{adata.obs_names[missing.argmax()]}'; every cell needs one")  # fmt: skip
        values = column.to_numpy()
        whole = values.dtype.kind in "iu" or (values.dtype.kind == "f" and bool((values == np.round(values)).all()))
        text = column.astype(str).to_numpy()
        if values.dtype.kind not in "iufb" and len(gaps := missing_label_rows(text, GAP_MARKS)):
            raise DataError(f"{self.options.path}: obs column '{key}' holds {str(values[gaps[0]])!r} for cell "
                            f"'{adata.obs_names[gaps[0]]}', a missing label; every cell needs one")  # fmt: skip
        if column.dtype.name == "category":  # its categories are the classes, whatever their values
            return as_class_numbers(values) if whole else text
        if values.dtype.kind in "iuf" and QC_COLUMN.fullmatch(str(key)):
            raise DataError(f"{self.options.path}: obs column '{key}' holds measured values (a per-cell count, as "
                            "scanpy's quality-control metrics write it), not classes; give a column of cell types "
                            "or cluster names")  # fmt: skip
        if values.dtype.kind == "f" and not whole:
            fractional = int(np.flatnonzero(values != np.round(values))[0])
            raise DataError(f"{self.options.path}: obs column '{key}' holds {values[fractional]} for cell "
                            f"'{adata.obs_names[fractional]}'; labels are classes, whole numbers or names (a "
                            "categorical column such as cell_type)")  # fmt: skip
        if whole and not looks_like_class_numbers(values):
            raise DataError(f"{self.options.path}: obs column '{key}' holds measured values ({values.dtype}, "
                            f"{len(np.unique(values))} distinct among {len(values)} cells), not classes; give a "
                            "column of cell types or cluster names (categorical, text, or class numbers: at "
                            f"most {MAX_NUMBERED_CLASSES} distinct, and one per two cells beyond "
                            f"{FEW_CLASSES})")  # fmt: skip
        return as_class_numbers(values) if whole else values.astype(str)


@hookimpl
def register_datasets(register):
    register(AnnDataFile)


def _dense(matrix: Any, dtype: type, path: str) -> np.ndarray:
    """The cells x genes matrix in memory, dense: what training reads. A sparse one too large for that is refused
    with its size, and what to keep fewer of."""
    try:
        return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=dtype)
    except MemoryError:
        cells, genes = matrix.shape
        size = cells * genes * np.dtype(dtype).itemsize / 2**30
        raise DataError(f"{path}: training reads its {cells} cells x {genes} genes dense, {size:.1f} GiB, more "
                        "memory than there is; write a file of fewer genes (the highly variable ones: "
                        "adata[:, adata.var.highly_variable]) or fewer cells, and train on that (dimred encode "
                        "maps every cell of the whole file later, in batches)") from None  # fmt: skip
