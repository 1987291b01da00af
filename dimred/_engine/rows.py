"""Training rows that stay where they are (a memory-mapped file, say) and are read one minibatch at a time."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from dimred._engine.device import as_tensor
from dimred._engine.scaling import Scaler
from dimred._io.validation import chunk_rows


def chunks(array: np.ndarray, dtype: torch.dtype) -> Iterator[torch.Tensor]:
    """The rows of ``array`` as tensors of at most CHUNK_VALUES values, read one after another; a value ``dtype``
    cannot hold is refused, named by its row in ``array``, as in data held in memory."""
    rows = chunk_rows(array.shape[1])
    for start in range(0, len(array), rows):
        yield as_tensor(array[start : start + rows], dtype=dtype, first_row=start)


class MappedRows:
    """Rows gathered from ``array`` on demand, scaled and moved to the device as a batch is drawn.

    Behaves like the tensor of scaled rows for what the training loop needs: ``len``, ``shape``, ``device``,
    ``dtype``, and gathering rows by a tensor of row numbers (indexing or ``index_select`` along rows).
    """

    def __init__(self, array: np.ndarray, scaler: Scaler, device: torch.device, dtype: torch.dtype) -> None:
        self.array, self.scaler, self.device, self.dtype = array, scaler, device, dtype
        self.shape = array.shape

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        rows = torch.from_numpy(np.array(self.array[index.cpu().numpy()]))
        return self.scaler.transform(rows.to(device=self.device, dtype=self.dtype))

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        if dim != 0:
            raise ValueError("memory-mapped rows are gathered along rows (dim 0) only")
        return self[index]
