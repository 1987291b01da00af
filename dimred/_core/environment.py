"""Switches read from environment variables (DIMRED_DEBUG, DIMRED_STRICT_PLUGINS)."""

from __future__ import annotations

import os

from dimred._core.errors import UsageError

ON = ("1", "true", "t", "yes", "y", "on")  # as click reads a flag's variable
OFF = ("", "0", "false", "f", "no", "n", "off")


def switch(variable: str) -> bool:
    """Whether the environment variable ``variable`` turns its switch on; unset is off, and a value that is
    neither on nor off is refused rather than read as off."""
    value = os.environ.get(variable, "")
    if value.strip().lower() in ON:
        return True
    if value.strip().lower() in OFF:
        return False
    raise UsageError(f"{variable}={value!r} is neither on ({', '.join(ON)}) nor off ({', '.join(OFF[1:])}, or "
                     "unset)")  # fmt: skip
