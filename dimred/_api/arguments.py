"""Checks of the library functions' own arguments. A flag or a callback of the wrong type is the caller's mistake,
said as one: ``overwrite="no"`` is truthy and had replaced a user's file, and a number given as ``echo`` had been
blamed on the reporter that called it."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from dimred._core.errors import UsageError
from dimred._core.settings import TrainingSettings

AUTO = "auto"  # out=AUTO: a folder named for the run under runs/


def check_flags(**flags: object) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool | np.bool_):
            raise UsageError(f"{name} must be True or False, got {value!r}")


def check_callables(**functions: object) -> None:
    """Each one None or something to call (``echo``: a function taking a line of text, as ``print``)."""
    for name, value in functions.items():
        if value is not None and not callable(value):
            raise UsageError(f"{name} must be a function or None, got {value!r}")


def check_training(training: object) -> None:
    if training is not None and not isinstance(training, TrainingSettings):
        raise UsageError(f"training must be a dimred.TrainingSettings or None (or give its fields as keywords: "
                         f"steps=3000, lr=0.01), got {type(training).__name__}")  # fmt: skip


def check_out(out: Any) -> None:
    """Refuse an ``out`` that is no folder's path (a number, say) before anything runs."""
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise UsageError(f"out must be a folder's path, 'auto' or None, not {type(out).__name__}")
    if out is not None and os.fspath(out) == "":  # Path("") is the current folder
        raise UsageError("out (--out) is empty; name a folder, or 'auto'")
