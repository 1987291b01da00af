"""dimred: plugin-based dimensionality reduction with neural autoencoders beside the classical methods.

Heavy modules (torch, the training engine) load on first use, so ``dimred --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "run": "dimred.api",
    "evaluate": "dimred.api",
    "compare": "dimred.comparison",
    "RunResult": "dimred.api",
    "EvaluationResult": "dimred.api",
    "Reducer": "dimred.reducer",
    "load": "dimred.reducer",
    "encode_file": "dimred.transcode",
    "decode_file": "dimred.transcode",
    "Batch": "dimred.contracts",
    "Data": "dimred.contracts",
    "Dataset": "dimred.contracts",
    "Loss": "dimred.contracts",
    "Metric": "dimred.contracts",
    "MetricContext": "dimred.contracts",
    "EstimatorModel": "dimred.contracts",
    "Model": "dimred.contracts",
    "NoOptions": "dimred.contracts",
    "Reporter": "dimred.contracts",
    "RunRecord": "dimred.contracts",
    "DimredError": "dimred.errors",
    "PluginError": "dimred.errors",
    "UsageError": "dimred.errors",
    "hookimpl": "dimred.hookspecs",
    "option": "dimred.options",
    "get_registry": "dimred.registry",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'dimred' has no attribute '{name}'")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
