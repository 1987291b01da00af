"""What training minimises: one loss plugin or a weighted sum of several (``mse+geodesic:10``)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dimred._core.contracts import Term, adds_rows
from dimred._core.errors import UsageError
from dimred._core.options import to_dict
from dimred._host.registry import get_registry
from dimred._host.resolve import instantiate

LossSpec = str | Sequence[str]
MAX_WEIGHT = 1e6  # far beyond, a weighted loss overflows float32 (3.4e38)
_TERMS = re.compile(r"(?<![0-9][eE])\+")  # the + between terms, not an exponent's (mse:1e+06+geodesic)


def parse_spec(spec: LossSpec) -> list[tuple[str, float]]:
    """``"mse+geodesic:10"`` or ``["mse", "geodesic:10"]`` -> ``[("mse", 1.0), ("geodesic", 10.0)]``."""
    if not isinstance(spec, str) and not (isinstance(spec, Sequence) and all(isinstance(item, str) for item in spec)):
        raise UsageError(f"loss must be NAME, NAME:WEIGHT or a list of them ('mse+geodesic:10', ['mse', "
                         f"'geodesic:10']), got {spec!r}")  # fmt: skip
    parts = [piece for item in ([spec] if isinstance(spec, str) else spec) for piece in _TERMS.split(item)]
    terms = []
    for part in (piece.strip() for piece in parts):
        name, colon, weight_text = part.partition(":")
        try:
            weight = float(weight_text) if colon else 1.0  # "mse:" is a weight left out, not 1
        except ValueError:
            raise UsageError(f"bad loss weight in '{part}': use NAME or NAME:WEIGHT, e.g. geodesic:0.5") from None
        if not name or not math.isfinite(weight) or not 0 < weight <= MAX_WEIGHT:
            raise UsageError(f"bad loss '{part}': use NAME or NAME:WEIGHT with a weight above 0 and at most "
                             f"{_weight_text(MAX_WEIGHT)} (weights are relative: lower the others)")  # fmt: skip
        terms.append((name, weight))
    names = [name for name, _weight in terms]
    if len(set(names)) != len(names):
        raise UsageError(f"a loss appears twice in '{spec_text(terms)}'")
    return terms


def spec_text(terms: Sequence[tuple[str, float]] | Sequence[Term]) -> str:
    """The canonical text of a loss combination: ``mse`` or ``mse+geodesic:10``."""
    pairs = [(term.name, term.weight) if isinstance(term, Term) else term for term in terms]
    return "+".join(name if weight == 1.0 else f"{name}:{_weight_text(weight)}" for name, weight in pairs)


def _weight_text(weight: float) -> str:
    """``weight`` as short as it reads back exactly: a run's spec must resume and rerun with its own weights."""
    short = re.sub(r"e\+?0*(?=\d)", "e", f"{weight:g}")  # 1e6, not 1e+06: a + joins terms
    return short if float(short) == weight else repr(float(weight))


def build_terms(spec: LossSpec, options: Mapping[str, Mapping[str, Any]]) -> list[Term]:
    """Instantiate every loss of ``spec``; ``options`` maps a loss name to its option values."""
    terms = parse_spec(spec)
    _refuse_other_losses(options, terms, shown_as="{}")
    return [
        Term(
            instantiate("loss", name, options.get(name, {}), prefix=f"loss.{name}"),
            weight,
        )
        for name, weight in terms
    ]


def terms_from_settings(spec: LossSpec, groups: dict[str, dict[str, Any]]) -> list[Term]:
    """Build the terms, taking their options out of grouped settings (``loss.OPTION`` for a single loss,
    ``loss.NAME.OPTION`` for any)."""
    names = [name for name, _weight in parse_spec(spec)]
    options = {name: groups.pop(f"loss.{name}") for name in names if f"loss.{name}" in groups}
    if "loss" in groups:
        if len(names) != 1:
            raise UsageError("with several losses, set their options as loss.NAME.OPTION")
        options.setdefault(names[0], {}).update(groups.pop("loss"))
    strays = [key.removeprefix("loss.") for key in groups if key.startswith("loss.")]
    _refuse_other_losses(strays, parse_spec(spec), shown_as="loss.{}")
    return build_terms(spec, options)


def _refuse_other_losses(named: Iterable[str], terms: Sequence[tuple[str, float]], shown_as: str) -> None:
    """Refuse options for losses other than the run's: an unknown name as such, a loss not in the run with how
    to add it (``shown_as``: how the user wrote the name, e.g. ``loss.{}``)."""
    others = sorted(set(named) - {name for name, _weight in terms})
    registry = get_registry()
    for name in others:
        if name not in registry.names("loss"):
            raise registry.unknown("loss", name)
    if not others:
        return
    listed = ", ".join(shown_as.format(name) for name in others)
    which = "a loss that is" if len(others) == 1 else "losses that are"
    said = f"options for {which} not in this run: {listed} (its loss is {spec_text(terms)})"
    adding = [name for name in others if _adds_rows(name)]
    if len(adding) > 1:  # one loss per run may add rows to each step
        raise UsageError(f"{said}; {' and '.join(adding)} both add rows to each step: a run trains with one of them")
    # a loss that adds rows (ne-tsne, ne-umap) takes the place, and the weight, of the run's one
    replaced = {name: weight for name, weight in terms if _adds_rows(name)} if adding else {}
    kept = [(name, weight) for name, weight in terms if name not in replaced]
    weight = next(iter(replaced.values()), 1.0)
    changed = spec_text([*kept, *((name, weight if name in adding else 1.0) for name in others)])
    use = "it" if len(others) == 1 else "them"
    raise UsageError(f"{said}; to use {use}: --loss {changed} (in Python: loss='{changed}')")


def _adds_rows(name: str) -> bool:
    return adds_rows(get_registry().get("loss", name).cls)


def describe_terms(terms: Sequence[Term]) -> list[dict[str, Any]]:
    """The terms as configuration: name, weight and options of each."""
    return [{"name": term.name, "weight": term.weight, "options": to_dict(term.loss.options)} for term in terms]


def options_of(terms: Sequence[Term]) -> dict[str, dict[str, Any]]:
    return {term.name: to_dict(term.loss.options) for term in terms}
