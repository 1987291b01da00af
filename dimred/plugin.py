"""Everything a plugin author needs, from one place.

    from dimred.plugin import Dataset, Data, hookimpl, option

Anything not exported here (or from ``dimred`` itself) is private and may change.
"""

from dimred._core.contracts import (
    Batch,
    Data,
    Dataset,
    EstimatorModel,
    Loss,
    Metric,
    MetricContext,
    Model,
    NoOptions,
    Plugin,
    Reporter,
    RunRecord,
    TrainingData,
)
from dimred._core.hookspecs import hookimpl
from dimred._core.options import OptionInfo, option

__all__ = [
    "Batch",
    "Data",
    "Dataset",
    "EstimatorModel",
    "Loss",
    "Metric",
    "MetricContext",
    "Model",
    "NoOptions",
    "OptionInfo",
    "Plugin",
    "Reporter",
    "RunRecord",
    "TrainingData",
    "hookimpl",
    "option",
]
