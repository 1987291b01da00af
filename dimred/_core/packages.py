"""Optional packages (those of dimred's extras): whether one is installed, and importing it."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from dimred._core.errors import DimredError, UsageError, first_line


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
        folder = " (a folder of that name is no package)" if importlib.util.find_spec(package) is not None else ""
        raise ModuleNotFoundError(f"No module named {package!r}{folder}", name=package)
    return importlib.import_module(package)


def require_extra(package: str, *, needed_by: str, extra: str, distribution: str | None = None) -> None:
    """Refuse, without importing it, a use of ``package`` where it is missing: one UsageError saying that
    ``needed_by`` ("model 'umap'") needs it (``distribution``: its name to a user, "umap-learn") and which of
    dimred's extras installs it."""
    if not installed(package):
        raise UsageError(f"{needed_by} needs {distribution or package}: pip install 'dimred[{extra}]'")


def import_extra(package: str, *, needed_by: str, extra: str, distribution: str | None = None) -> ModuleType:
    """``package`` imported for ``needed_by``; ``require_extra``'s error where it is missing, and a DimredError
    where it is installed but fails to import (a dependency of its own missing, or built for another numpy):
    installing the extra again would change nothing, so the error says what failed instead."""
    require_extra(package, needed_by=needed_by, extra=extra, distribution=distribution)
    try:
        return importlib.import_module(package)
    except MemoryError:
        raise
    except Exception as error:  # ImportError, or what a package's own import code raises (an AttributeError)
        raise DimredError(
            f"{needed_by} needs {distribution or package}, which is installed but fails to import "
            f"({type(error).__name__}: {first_line(error)}); repair or reinstall it in this environment"
        ) from None
