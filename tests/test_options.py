from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import pytest

from dimred._core.errors import UsageError
from dimred._core.options import build, describe, option, parse_value, to_dict


@dataclass(frozen=True)
class Options:
    count: int = option(3, "how many")
    rate: float = option(0.5, "how fast")
    flag: bool = option(False, "whether")
    label: str = option("a", "what")
    widths: tuple[int, ...] = option((4, 2), "layer widths")
    seed: int | None = option(None, "seed or none")

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count must not be negative")


def test_describe_lists_name_type_default_and_help():
    described = {info.name: info for info in describe(Options)}
    assert described["count"].type == "int"
    assert described["widths"].type == "tuple[int, ...]"
    assert described["seed"].type == "int | None"
    assert described["rate"].default == 0.5
    assert described["flag"].help == "whether"


@pytest.mark.parametrize(
    ("text", "annotation", "expected"),
    [
        ("7", int, 7),
        ("1e-3", float, 0.001),
        ("yes", bool, True),
        ("off", bool, False),
        ("128,64", tuple[int, ...], (128, 64)),
        ("(128, 64)", tuple[int, ...], (128, 64)),  # as Python writes a tuple
        ("[32]", tuple[int, ...], (32,)),  # as JSON writes a list
        ("[]", tuple[int, ...], ()),
        ("none", int | None, None),
        ("5", int | None, 5),
    ],
)
def test_parse_value_follows_the_declared_type(text, annotation, expected):
    assert parse_value(text, annotation) == expected


def test_a_bad_list_value_shows_how_a_list_is_written():
    with pytest.raises(
        ValueError, match=r"'6a': not a whole number \(a list is its values separated by commas, e\.g\. 64,32\)"
    ):
        parse_value("6a,3", tuple[int, ...])
    for typo in ("64,,32", ",64"):  # had been read as (64, 32) and (64,)
        with pytest.raises(ValueError, match=f"'{typo}' has an empty value between commas"):
            parse_value(typo, tuple[int, ...])
    assert parse_value("64,32,", tuple[int, ...]) == parse_value("(64, 32)", tuple[int, ...]) == (64, 32)
    assert parse_value("(64,)", tuple[int, ...]) == (64,)
    assert parse_value("", tuple[int, ...]) == ()


def test_build_parses_strings_and_accepts_python_values():
    built = build(Options, {"count": "9", "rate": 2, "widths": [8], "seed": "3", "label": 4}, prefix="model")
    assert (built.count, built.rate, built.widths, built.seed, built.label) == (9, 2.0, (8,), 3, "4")
    assert to_dict(built)["widths"] == [8]


def test_unknown_option_names_the_valid_ones_with_a_suggestion():
    with pytest.raises(UsageError, match=r"unknown option 'model\.cuont' \(did you mean 'count'\?\).*model\.rate"):
        build(Options, {"cuont": "1"}, prefix="model")


@pytest.mark.parametrize(
    ("key", "value"),
    [("count", "many"), ("flag", "maybe"), ("rate", "fast"), ("count", True), ("label", True), ("label", 1.5)],
)
def test_wrong_type_names_the_option_and_its_type(key, value):
    with pytest.raises(UsageError, match=rf"'model\.{key}' \("):
        build(Options, {key: value}, prefix="model")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", float("nan"), float("inf")])
def test_a_float_option_must_be_finite(value):
    """NaN passes a range check written as ``not low <= value <= high``: refused before any plugin sees it."""
    with pytest.raises(UsageError, match=r"'model\.rate' \(float\): must be a finite number"):
        build(Options, {"rate": value}, prefix="model")


def test_the_plugins_own_validation_becomes_a_usage_error():
    with pytest.raises(UsageError, match="count must not be negative"):
        build(Options, {"count": "-1"}, prefix="dataset")


def test_mutable_defaults_are_refused_naming_the_option_and_leaving_its_module_importable():
    """A mutable default had failed option() itself, naming the help text, and the whole module with it."""
    from dimred._core.options import check_declared

    @dataclass(frozen=True)
    class Options:
        sizes: tuple[int, ...] = option([1, 2], "a list")

    with pytest.raises(TypeError, match=r"^option 'sizes' has the default \[1, 2\], .*immutable \(use a tuple\)"):
        check_declared(Options)


@pytest.mark.parametrize(
    ("annotation", "declared", "refusal"),
    [
        (int | str, option(1, "either"), "option 'value' is of type int | str; options are int"),
        (int, 1, "option 'value' has no help text: declare it as value: TYPE = dimred.option"),
        (int, option(1, " "), "option 'value' has no help text"),
    ],
)
def test_options_of_two_types_or_without_help_are_refused_as_the_docs_say(annotation, declared, refusal):
    from dimred._core.options import check_declared

    options = dataclass(frozen=True)(type("Options", (), {"__annotations__": {"value": annotation}, "value": declared}))
    with pytest.raises(TypeError, match=re.escape(refusal)):
        check_declared(options)


def test_retired_options_are_a_tuple_of_names_and_a_subclass_may_take_one_again():
    from dimred._core.options import check_declared, retired_names

    @dataclass(frozen=True)
    class Old:
        dpi: int = option(100, "dots per inch")
        retired: ClassVar[tuple[str, ...]] = ("max_points",)

    @dataclass(frozen=True)
    class Again(Old):
        max_points: int = option(500, "points")

    assert retired_names(Old) == {"max_points"}
    assert retired_names(Again) == set()
    check_declared(Again)  # its own option, under the name its parent retired: registers

    @dataclass(frozen=True)
    class Mistyped:
        retired: ClassVar[str] = "max_points"

    with pytest.raises(TypeError, match="retired must be a tuple of option names"):
        check_declared(Mistyped)

    @dataclass(frozen=True)
    class StillDeclared:  # --set of it had been taken, where the docs say a retired option is refused
        retired: ClassVar[tuple[str, ...]] = ("k",)
        k: int = option(3, "neighbours")

    with pytest.raises(TypeError, match="option 'k' is both declared and retired"):
        check_declared(StillDeclared)
