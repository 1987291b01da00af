"""Typed plugin options: stdlib dataclasses whose fields carry a help text.

A plugin declares ``class Options`` as a dataclass whose every field has a default; ``option()`` attaches the help
text that ``dimred plugins`` prints. Values from ``--set kind.option=value`` arrive as strings and are parsed here
against the declared type, so every plugin gets the same validation and the same error messages.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dimred._core.errors import UsageError, did_you_mean, first_line

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


_NOT_GIVEN: Any = object()


MUTABLE = (list, dict, set)  # defaults an option may not have: one plugin could change them for all


def option(default: Any, help: str, *, before_added: Any = _NOT_GIVEN) -> Any:
    """Declare one plugin option with its default value and a one-line help text. ``before_added``: the value
    that behaves as the plugin did before this option existed, which a run's config.json written then (without
    the option) means, so that resuming or repeating such a run keeps doing what it did."""
    metadata = {"help": help} | ({} if before_added is _NOT_GIVEN else {"before_added": before_added})
    if isinstance(default, MUTABLE):  # refused when its plugin registers (check_declared), naming the option
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def values_before_added(options_class: type) -> dict[str, Any]:
    """The options declared with ``before_added``, and those values."""
    fields = dataclasses.fields(options_class) if dataclasses.is_dataclass(options_class) else ()
    return {field.name: field.metadata["before_added"] for field in fields if "before_added" in field.metadata}


def retired_names(options_class: type) -> frozenset[str]:
    """The options a plugin no longer takes that a run's config.json or a model file written before may still
    hold (declared on its Options as ``retired: ClassVar[tuple[str, ...]]``): left out of such a record. A name
    the class takes again (a subclass's own option) is not retired."""
    fields = dataclasses.fields(options_class) if dataclasses.is_dataclass(options_class) else ()
    return frozenset(getattr(options_class, "retired", ())) - {field.name for field in fields}


def check_before_added(options_class: type) -> None:
    """Each ``before_added`` value must be of its option's type, and build with the other defaults where they
    build alone (a required option, a data file's path, leaves nothing to build with): a ValueError otherwise."""
    before = values_before_added(options_class)
    if not before:
        return
    hints = _field_types(options_class)
    coerced = {}
    for name, value in before.items():
        try:
            coerced[name] = _coerce(value, hints[name])
        except ValueError as error:
            raise ValueError(f"option '{name}': {error}") from None
    try:
        options_class()
    except (ValueError, TypeError):
        return
    options_class(**coerced)


@dataclass(frozen=True)
class OptionInfo:
    """What ``dimred plugins`` shows of one option."""

    name: str
    type: str
    default: Any
    help: str


def _field_types(options_class: type) -> dict[str, Any]:
    return typing.get_type_hints(options_class)


def _type_name(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if _is_union(annotation):
        return " | ".join(_type_name(arg) for arg in args)
    if typing.get_origin(annotation) is tuple:  # tuple[int, ...], or one of a fixed length: tuple[int, int]
        return f"tuple[{', '.join('...' if arg is Ellipsis else _type_name(arg) for arg in args)}]" if args else "tuple"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def describe(options_class: type) -> list[OptionInfo]:
    """Name, type, default and help of every option a plugin declares."""
    hints = _field_types(options_class)
    return [
        OptionInfo(field.name, _type_name(hints[field.name]), field.default, field.metadata.get("help", ""))
        for field in dataclasses.fields(options_class)
    ]


SCALAR_TYPES = (int, float, bool, str)


def check_declared(options_class: type) -> None:
    """Raise TypeError unless every option has a type ``--set``, config files and model files can carry (a
    scalar, a tuple of one, or either or None) and a default of that type."""
    hints = _field_types(options_class)
    retired = getattr(options_class, "retired", ())
    if not isinstance(retired, tuple) or not all(isinstance(name, str) for name in retired):
        raise TypeError(f"retired must be a tuple of option names, e.g. ('max_points',), not {retired!r}")
    own_retired = vars(options_class).get("retired", ())  # a subclass may take a name its parent retired
    if live := [field.name for field in dataclasses.fields(options_class) if field.name in own_retired]:
        raise TypeError(f"option '{live[0]}' is both declared and retired; a retired option is one the plugin no "
                        "longer declares")  # fmt: skip
    for field in dataclasses.fields(options_class):
        if not str(field.metadata.get("help", "")).strip():
            raise TypeError(f"option '{field.name}' has no help text: declare it as {field.name}: TYPE = "
                            "dimred.option(DEFAULT, HELP)")  # fmt: skip
        annotation = hints[field.name]
        members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
        values = [member for member in members if member is not type(None)]
        if len(values) != 1 or not _is_carried(values[0]):
            raise TypeError(f"option '{field.name}' is of type {_type_name(annotation)}; options are int, float, "
                            "bool, str, tuple[int, ...] (of one of those), or one of them | None")  # fmt: skip
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        if isinstance(default, MUTABLE):
            raise TypeError(f"option '{field.name}' has the default {default!r}, which could change: an option's "
                            "default must be immutable (use a tuple)")  # fmt: skip
        try:
            _coerce(default, annotation)
            if isinstance(default, str) and str not in members:
                raise ValueError(f"expected {_type_name(annotation)}, got {default!r}")
        except ValueError as error:
            raise TypeError(f"option '{field.name}' has a default its type refuses: {error}") from None


def _is_carried(annotation: Any) -> bool:
    if typing.get_origin(annotation) is tuple:
        items = typing.get_args(annotation)
        return len(items) == 2 and items[1] is Ellipsis and items[0] in SCALAR_TYPES
    return annotation in (*SCALAR_TYPES, type(None))  # a bare tuple names no type to read its values as


def _parse_scalar(text: str, target: type) -> Any:
    if target is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("expected true or false")
    if target is int:
        try:
            number = int(text)
        except ValueError:
            raise ValueError("not a whole number") from None
        return _in_int64(number)
    if target is float:
        try:
            number = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        return _finite(number)
    if target is str:
        return text
    raise ValueError(f"options of type {_type_name(target)} cannot be set from the command line")


def _parse_item(text: str, target: type) -> Any:
    """One value of a list, its error naming it."""
    try:
        return _parse_scalar(text, target)
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None


def parse_value(text: str, annotation: Any) -> Any:
    """Turn the text of ``--set`` into a value of the declared type (``int | None`` accepts ``none``)."""
    if _is_union(annotation):
        members = typing.get_args(annotation)
        if type(None) in members and text.strip().lower() in {"none", "null", ""}:
            return None
        errors = []
        for member in (m for m in members if m is not type(None)):
            try:
                return parse_value(text, member)
            except ValueError as error:
                errors.append(str(error))
        unset = ", or none" if type(None) in members else ""  # 'expected true or false' had left none unsaid
        raise ValueError((errors[0] if errors else "no type accepts it") + unset)
    if typing.get_origin(annotation) is tuple:
        item_type = typing.get_args(annotation)[0]
        text = text.strip()
        text = text[1:-1] if text[:1] + text[-1:] in ("()", "[]") else text  # as Python or JSON writes it
        parts = text.split(",")
        if not parts[-1].strip():  # nothing at all, or a trailing comma, as Python writes (64,)
            parts.pop()
        try:
            if any(not part.strip() for part in parts):
                raise ValueError(f"{text!r} has an empty value between commas")
            return tuple(_parse_item(part.strip(), item_type) for part in parts)
        except ValueError as error:
            raise ValueError(f"{error} (a list is its values separated by commas, e.g. 64,32)") from None
    return _parse_scalar(text, annotation)


def _in_int64(value: int) -> int:
    """Integers a plugin hands to numpy or torch must fit in 64 bits, or they overflow there, far from here."""
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"must be between {-(2**63)} and {2**63 - 1}")
    return value


def _finite(value: float) -> float:
    """No option means anything at NaN or infinity; refused here, they would otherwise pass range checks written
    as ``not low <= value <= high`` and surface as a diverged training."""
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def plain_number(value: Any) -> Any:
    """numpy's numbers (an ``np.int64`` from ``np.arange``, an ``np.float32``) as the Python int or float they
    stand for, as scikit-learn's parameter searches hand them over; anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _coerce(value: Any, annotation: Any) -> Any:
    """Accept a Python value for an option, converting strings (and integers for text options) and checking the
    type of anything else; a 1-D array (numpy's, as a parameter search hands over widths) as a list."""
    value = value.tolist() if getattr(value, "ndim", None) == 1 and hasattr(value, "tolist") else plain_number(value)
    if isinstance(value, str) and annotation is not str:
        return parse_value(value, annotation)
    members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    if value is None and type(None) in members:
        return None
    for member in members:
        origin = typing.get_origin(member) or member
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return _finite(float(value))
        if origin is tuple and isinstance(value, list | tuple):
            return tuple(_coerce(item, typing.get_args(member)[0]) for item in value)
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return _in_int64(value)
        if origin is str and isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # a column given by index, label_column=4, as on the command line
        if origin is str and isinstance(value, os.PathLike):
            return os.fspath(value)  # a pathlib.Path for a file's path
        if isinstance(origin, type) and isinstance(value, origin) and not (origin is int and isinstance(value, bool)):
            return value
    raise ValueError(f"expected {_type_name(annotation)}, got {value!r}")


def build(options_class: type, values: Mapping[str, Any], *, prefix: str) -> Any:
    """An instance of ``options_class`` from user values, or a UsageError naming the bad option.

    ``prefix`` is how the user addresses these options (``dataset``, ``model``...), used in messages.
    """
    converted = converted_values(options_class, values, prefix=prefix)
    try:
        return options_class(**converted)
    except ValueError as error:  # how a plugin's __post_init__ refuses them; another exception is the plugin's fault
        raise UsageError(f"bad {prefix} options: {first_line(error)}") from None


def converted_values(options_class: type, values: Mapping[str, Any], *, prefix: str) -> dict[str, Any]:
    """Each of ``values`` as the type of its option declares (names and types checked one by one; the options
    together are checked when they are built), or a UsageError naming the bad one."""
    hints = _field_types(options_class)
    valid = [field.name for field in dataclasses.fields(options_class)]
    retired = retired_names(options_class)
    converted = {}
    for key, value in values.items():
        if key in retired:
            raise UsageError(f"option '{prefix}.{key}' is retired: the plugin no longer takes it; leave it out")
        if key not in valid:
            allowed = ", ".join(f"{prefix}.{name}" for name in valid) or "none (it takes no options)"
            raise UsageError(f"unknown option '{prefix}.{key}'{did_you_mean(key, valid)}; allowed: {allowed}")
        try:
            converted[key] = _coerce(value, hints[key])
        except ValueError as error:
            raise UsageError(f"bad value {value!r} for '{prefix}.{key}' ({_type_name(hints[key])}): {error}") from None
    return converted


def to_dict(options: Any) -> dict[str, Any]:
    """The options as a JSON-ready dict (tuples become lists)."""
    return {
        field.name: list(value) if isinstance(value := getattr(options, field.name), tuple) else value
        for field in dataclasses.fields(options)
    }
