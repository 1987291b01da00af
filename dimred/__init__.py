"""dimred: plugin-based dimensionality reduction with neural autoencoders beside the classical methods.

The public API is this namespace, ``dimred.plugin`` (for plugin authors) and ``dimred.testing``; modules whose
names start with an underscore are private. Heavy modules (torch, the training engine) load on first use, so
``dimred --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "run": "dimred._api",
    "evaluate": "dimred._api",
    "compare": "dimred._comparison",
    "RunResult": "dimred._api",
    "EvaluationResult": "dimred._api",
    "Reducer": "dimred._reducer",
    "load": "dimred._reducer",
    "encode_file": "dimred._transcode",
    "decode_file": "dimred._transcode",
    "Batch": "dimred._contracts",
    "Data": "dimred._contracts",
    "Dataset": "dimred._contracts",
    "Loss": "dimred._contracts",
    "Metric": "dimred._contracts",
    "MetricContext": "dimred._contracts",
    "EstimatorModel": "dimred._contracts",
    "Model": "dimred._contracts",
    "NoOptions": "dimred._contracts",
    "Reporter": "dimred._contracts",
    "RunRecord": "dimred._contracts",
    "DimredError": "dimred._errors",
    "PluginError": "dimred._errors",
    "UsageError": "dimred._errors",
    "hookimpl": "dimred._hookspecs",
    "option": "dimred._options",
    "get_registry": "dimred._registry",
    "PluginWarning": "dimred._registry",
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
