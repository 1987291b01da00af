"""AnnData ``.h5ad`` files: read whole (AnnData's own reader), and the matrix of cells x genes a run or an encode
takes from one, X or a layer. The ``anndata`` package is optional (the ``anndata`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dimred._core.errors import UsageError, first_line
from dimred._core.packages import import_extra
from dimred._io.datafiles import check_readable
from dimred._io.validation import DataError


def read_h5ad(path: str | Path, needed_by: str = "reading .h5ad files") -> Any:
    """The AnnData object in ``path``; one clear error where anndata is missing (naming ``needed_by``) or the file
    is not an AnnData file."""
    anndata = import_extra("anndata", needed_by=needed_by, extra="anndata")
    check_readable(Path(path))
    try:
        return anndata.read_h5ad(path)
    except MemoryError:
        raise
    except Exception as error:  # h5py's and anndata's many kinds (an element only a newer anndata reads, say)
        # TypeError: an HDF5 file that AnnData did not write, its keys taken for AnnData's arguments
        if "unable to lock file" in str(error):  # h5py's OSError: the file itself may be fine
            raise DataError(f"{path} is locked by a process that has it open for writing (HDF5's file lock); close "
                            "it there (or read it with HDF5_USE_FILE_LOCKING=FALSE set)") from None  # fmt: skip
        why = "" if isinstance(error, TypeError) else f" ({first_line(error)})"
        raise DataError(f"{path} is not a readable AnnData .h5ad file{why}") from None


def cells_by_genes(adata: Any, layer: str, path: str | Path, option: str, set_as: str) -> Any:
    """``adata``'s X, or its ``layer`` (empty or "X": X itself), as stored (dense or sparse). ``option`` names the
    layer's option in messages, ``set_as`` how a user sets it (``--set dataset.layer=NAME``, ``--layer``)."""
    layer = "" if layer == "X" and "X" not in adata.layers else layer
    if layer and layer not in adata.layers:
        choices = ["X"] * (adata.X is not None) + list(adata.layers)
        raise UsageError(f"{option} '{layer}' is not a layer of {path}; choose from: {', '.join(choices) or 'none'} "
                         f"({set_as})")  # fmt: skip
    if not layer and adata.X is None:
        raise UsageError(f"{path} has no X; choose one of its layers with {set_as} (choose from: "
                         f"{', '.join(adata.layers) or 'none'})")  # fmt: skip
    matrix = adata.layers[layer] if layer else adata.X
    if np.dtype(matrix.dtype).kind == "c":  # converting it to floats keeps the real parts alone, with a warning
        raise DataError(f"{f'layer {layer}' if layer else 'X'} of {path} holds complex numbers; dimred works on real "
                        "numbers only")  # fmt: skip
    return matrix
