"""dimred: plugin-based dimensionality reduction with neural autoencoders beside the classical methods.

The public API is this namespace, ``dimred.plugin`` (for plugin authors) and ``dimred.testing``; modules whose
names start with an underscore are private. Heavy modules (torch, the training engine) load on first use, so
``dimred --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "run": "dimred._api.run",
    "evaluate": "dimred._api.evaluate",
    "compare": "dimred._api.compare",
    "RunResult": "dimred._api.run",
    "EvaluationResult": "dimred._api.evaluate",
    "Reducer": "dimred._api.reducer",
    "load": "dimred._api.reducer",
    "encode_file": "dimred._api.transcode",
    "decode_file": "dimred._api.transcode",
    "Batch": "dimred._core.contracts",
    "Callback": "dimred._core.contracts",
    "Training": "dimred._core.contracts",
    "TrainingStatus": "dimred._core.contracts",
    "TrainingSettings": "dimred._core.settings",
    "MLPModel": "dimred._core.blocks",
    "Data": "dimred._core.contracts",
    "Dataset": "dimred._core.contracts",
    "Loss": "dimred._core.contracts",
    "Metric": "dimred._core.contracts",
    "MetricContext": "dimred._core.contracts",
    "EstimatorModel": "dimred._core.contracts",
    "Model": "dimred._core.contracts",
    "NoOptions": "dimred._core.contracts",
    "Reporter": "dimred._core.contracts",
    "RunRecord": "dimred._core.contracts",
    "DimredError": "dimred._core.errors",
    "PluginError": "dimred._core.errors",
    "UsageError": "dimred._core.errors",
    "SkippedPluginWarning": "dimred._core.errors",
    "DataError": "dimred._io.validation",
    "ModelFileError": "dimred._engine.modelfile",
    "DivergenceError": "dimred._engine.training",
    "hookimpl": "dimred._core.hookspecs",
    "option": "dimred._core.options",
    "get_registry": "dimred._host.registry",
    "PluginWarning": "dimred._host.registry",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name == "__version__":  # the installed package's, as `dimred --version` says it (read on first use)
        from importlib.metadata import version

        return version("dimred")
    if name not in _LAZY:
        raise AttributeError(f"module 'dimred' has no attribute '{name}'")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
