"""Everything a plugin author needs, from one place.

    from dimred.plugin import Dataset, Data, hookimpl, option

Anything not exported here (or from ``dimred`` itself) is private and may change. The torch building blocks
(``MLPNetwork``, ``FastDropout``, ``perceptron``, ``random_int16``, ``layer_dtype``) and neighbour graphs
(``knn_graph``, ``fuzzy_neighbour_graph``, ``NeighbourGraph``) load on first use, so listing plugins does not
import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from dimred._core.atomic import unwritable
from dimred._core.blocks import MLPModel
from dimred._core.contracts import (
    Batch,
    Callback,
    ComparisonRecord,
    Data,
    Dataset,
    EstimatorModel,
    HeldOut,
    Loss,
    Metric,
    MetricContext,
    Model,
    NoOptions,
    Plugin,
    Reporter,
    RunRecord,
    Training,
    TrainingData,
    TrainingStatus,
)
from dimred._core.defaults import EXACT_KNN_ROWS, MUON_MIN_SIDE, SYMMETRISATIONS
from dimred._core.errors import DimredError, UsageError
from dimred._core.hookspecs import hookimpl
from dimred._core.labels import (
    FEW_CLASSES,
    MAX_NUMBERED_CLASSES,
    as_class_numbers,
    class_sort_key,
    looks_like_class_numbers,
    missing_label_rows,
)
from dimred._core.options import OptionInfo, option
from dimred._core.packages import import_extra, import_installed, installed, require_extra
from dimred._core.scatter import (
    LEGEND_CLASSES,
    class_colours,
    colours_by_class,
    components_shown,
    legend_classes,
    legend_name,
    plain_text,
    rnx_curves,
    scatter_points,
    shown_rows,
)
from dimred._core.settings import TrainingSettings
from dimred._io.anndata_files import cells_by_genes, read_h5ad
from dimred._io.datafiles import Table, read_matrix, read_table
from dimred._io.validation import DataError

_TORCH_BLOCKS = {
    "MLPNetwork": "dimred._core.networks",
    "FastDropout": "dimred._core.networks",
    "perceptron": "dimred._core.networks",
    "random_int16": "dimred._core.networks",
    "layer_dtype": "dimred._core.networks",
    "NeighbourGraph": "dimred._core.graphs",
    "fuzzy_neighbour_graph": "dimred._core.graphs",
    "knn_graph": "dimred._core.graphs",
    "scaled_for_distances": "dimred._core.measures",
}

__all__ = [  # noqa: F822 (the torch building blocks are module attributes loaded on first use)
    "EXACT_KNN_ROWS",
    "FEW_CLASSES",
    "LEGEND_CLASSES",
    "MAX_NUMBERED_CLASSES",
    "MUON_MIN_SIDE",
    "SYMMETRISATIONS",
    "Batch",
    "Callback",
    "ComparisonRecord",
    "Data",
    "DataError",
    "Dataset",
    "DimredError",
    "EstimatorModel",
    "FastDropout",
    "HeldOut",
    "Loss",
    "MLPModel",
    "MLPNetwork",
    "Metric",
    "MetricContext",
    "Model",
    "NeighbourGraph",
    "NoOptions",
    "OptionInfo",
    "Plugin",
    "Reporter",
    "RunRecord",
    "Table",
    "Training",
    "TrainingData",
    "TrainingSettings",
    "TrainingStatus",
    "UsageError",
    "as_class_numbers",
    "cells_by_genes",
    "class_colours",
    "class_sort_key",
    "colours_by_class",
    "components_shown",
    "fuzzy_neighbour_graph",
    "hookimpl",
    "import_extra",
    "import_installed",
    "installed",
    "knn_graph",
    "layer_dtype",
    "legend_classes",
    "legend_name",
    "looks_like_class_numbers",
    "missing_label_rows",
    "option",
    "perceptron",
    "plain_text",
    "random_int16",
    "read_h5ad",
    "read_matrix",
    "read_table",
    "require_extra",
    "rnx_curves",
    "scaled_for_distances",
    "scatter_points",
    "shown_rows",
    "unwritable",
]


def __getattr__(name: str) -> Any:
    if name not in _TORCH_BLOCKS:
        raise AttributeError(f"module 'dimred.plugin' has no attribute '{name}'")
    value = getattr(importlib.import_module(_TORCH_BLOCKS[name]), name)
    globals()[name] = value
    return value
