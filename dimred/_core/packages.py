"""Optional packages (those of dimred's extras): whether one is installed, and importing it."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def installed(package: str) -> bool:
    """Whether ``package`` (a regular package or a module) is installed, checked without importing it. A folder of
    its name on the import path (a log folder named ``mlflow`` or ``tensorboard`` in the folder Python started in)
    is not: Python would import it as an empty namespace package (an installed package of that name takes
    precedence over it). So a namespace package, which is such folders alone, never counts."""
    spec = importlib.util.find_spec(package)
    return spec is not None and spec.origin not in (None, "namespace")


def import_installed(package: str) -> ModuleType:
    """``package`` imported where it is installed (``installed``); else ModuleNotFoundError, as ``import`` raises
    for a package that is not there at all."""
    if not installed(package):
        raise ModuleNotFoundError(f"No module named {package!r} (a folder of that name is no package)", name=package)
    return importlib.import_module(package)
