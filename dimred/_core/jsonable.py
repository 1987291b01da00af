"""Values as JSON holds them, for what plugins and callers hand over to be written (metrics, provenance)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any


def json_ready(value: Any) -> Any:
    """``value`` as JSON holds it: numpy and torch numbers and arrays become Python numbers and lists. A
    ValueError says why a value cannot be written: a number that is not finite (JSON has no NaN; an int beyond
    a float's range), or a type JSON has no form for."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):  # numpy and torch numbers and arrays
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value}, not a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > sys.float_info.max:
        # JSON would hold its hundreds of digits, but every reader of a figure (tables, plots, compare's means)
        # takes it as a float: infinite
        raise ValueError(f"an int of {len(str(abs(value)))} digits, beyond a float's range (about 1.8e308)")
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, Mapping):
        return {str(name): json_ready(item) for name, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"a {type(value).__name__}, which JSON has no form for")


def through_json(value: Any) -> Any:
    """``value`` as it comes back from the JSON a checkpoint writes: numpy and torch numbers and arrays as Python
    ones, tuples as lists, NaN and infinity kept (Python's JSON writes them). A TypeError names a value JSON has
    no form for."""
    return json.loads(json.dumps(value, default=_as_list))


def _as_list(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"a {type(value).__name__}, which JSON has no form for")


def json_ready_fields(fields: Mapping[str, Any], refuse: Callable[[str, str], Exception]) -> dict[str, Any]:
    """Each named value ``json_ready``; ``refuse(name, why)`` is the error raised for one JSON cannot hold."""
    ready = {}
    for name, value in fields.items():
        try:
            ready[name] = json_ready(value)
        except ValueError as error:
            raise refuse(name, str(error)) from None
    return ready
