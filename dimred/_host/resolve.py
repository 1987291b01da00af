"""From names and settings to plugin instances: the step every entry point (run, evaluate, Reducer) shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dimred._core import options as plugin_options
from dimred._core.contracts import Plugin
from dimred._core.errors import PluginError, UsageError, blame, did_you_mean
from dimred._core.kinds import KIND, KINDS
from dimred._host.registry import get_registry

SETTING_GRAMMAR = ", ".join(kind.setting_grammar for kind in KINDS) + " (and loss.OPTION for a single loss)"


def settings_mapping(settings: Any) -> dict[str, Any]:
    """The caller's ``settings`` as a dict (None: none), or a UsageError where they map nothing."""
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise UsageError(f"settings must map 'kind.option' to a value, e.g. {{'dataset.n_samples': 500}}, not "
                         f"{type(settings).__name__}")  # fmt: skip
    if wrong := [key for key in settings if not isinstance(key, str)]:
        raise UsageError(f"bad setting {wrong[0]!r}: use {SETTING_GRAMMAR}")
    return dict(settings)


def group_settings(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Split dotted settings by plugin: ``{"dataset.noise": 0.1, "reporter.codes-plot.dpi": 200}`` ->
    ``{"dataset": {"noise": 0.1}, "reporter.codes-plot": {"dpi": 200}}``. Kinds with several plugins per run
    take ``KIND.NAME.OPTION``; the loss also takes ``loss.OPTION`` when the run has one loss."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in settings_mapping(settings).items():
        kind_name, _, rest = key.partition(".")
        kind = KIND.get(kind_name)
        target, _, option = rest.rpartition(".") if kind is not None and kind.several else ("", "", rest)
        if kind is None or not option or (kind.several and not target and kind_name != "loss"):
            typo = "" if kind is not None else did_you_mean(kind_name, list(KIND))
            raise UsageError(f"bad setting '{key}'{typo}: use {SETTING_GRAMMAR}")
        groups.setdefault(f"{kind_name}.{target}" if target else kind_name, {})[option] = value
    return groups


def instantiate(kind: str, name: str, values: Mapping[str, Any] | None = None, prefix: str | None = None) -> Any:
    """The plugin of ``kind`` called ``name``, with its options built from ``values`` (validated)."""
    return made(get_registry().get(kind, name).cls, values or {}, prefix or kind)


def made(cls: type[Plugin], values: Mapping[str, Any], prefix: str) -> Any:
    """An instance of ``cls`` with its options built from ``values``: a UsageError naming ``prefix`` where the
    options refuse them, a PluginError naming the plugin where its options or its ``__init__`` fail otherwise."""
    with blame(cls, "build its options"):
        options = plugin_options.build(cls.Options, values, prefix=prefix)
    with blame(cls, "start (its __init__)"):
        plugin = cls(options)
    if not hasattr(plugin, "options"):
        raise PluginError(f"{cls.kind} '{cls.name}' has no options once made: its __init__ must call "
                          "super().__init__(options)")  # fmt: skip
    return plugin


def recorded_options(kind: str, name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A plugin's ``options`` as a run recorded them, as the plugin takes them now: those it gained since
    (``option(..., before_added=...)``) set to the values that do what it did then, those it has retired since
    (``retired``) left out; an unknown name's as given (it is refused where it is used)."""
    known = {info.name: info.cls for info in get_registry().plugins(kind)}
    if name not in known:
        return dict(options)
    retired = plugin_options.retired_names(known[name].Options)
    kept = {option: value for option, value in options.items() if option not in retired}
    return plugin_options.values_before_added(known[name].Options) | kept


def defaults_of(kind: str) -> list[str]:
    """The plugins of ``kind`` that run when the user names none."""
    return [info.name for info in get_registry().plugins(kind) if getattr(info.cls, "enabled_by_default", False)]


def chosen_names(kind: str, names: Sequence[str] | str | None, *, adds_to_defaults: bool) -> list[str]:
    """The plugins of ``kind`` a run uses. ``None``: the defaults. Reporters named replace the defaults;
    callbacks named are added to them, and ``no-NAME`` removes a default one."""
    if isinstance(names, str):
        raise UsageError(f"{KIND[kind].plural} must be a list of names, e.g. [{names!r}], not a string")
    if names is None:
        return defaults_of(kind)
    if not isinstance(names, Iterable):
        raise UsageError(f"{KIND[kind].plural} must be a list of names, not {type(names).__name__}")
    chosen = defaults_of(kind) if adds_to_defaults else []
    for name in names:
        if not isinstance(name, str):
            raise UsageError(f"{KIND[kind].plural} must be names (strings), got {name!r}")
        if adds_to_defaults and name.startswith("no-"):
            get_registry().get(kind, name.removeprefix("no-"))  # an unknown name is an error listing the valid ones
            chosen = [other for other in chosen if other != name.removeprefix("no-")]
        elif name not in chosen:
            chosen.append(name)
    return chosen


def instantiate_several(kind: str, names: Sequence[str], groups: dict[str, dict[str, Any]]) -> list[Any]:
    """Each named plugin of a several-per-run kind, taking its ``KIND.NAME.*`` options out of ``groups``."""
    plugins = [instantiate(kind, name, groups.pop(f"{kind}.{name}", {}), f"{kind}.{name}") for name in names]
    strays = sorted(key for key in groups if key.startswith(f"{kind}."))
    registry = get_registry()
    if unknown := [stray for stray in strays if stray.removeprefix(f"{kind}.") not in registry.names(kind)]:
        raise registry.unknown(kind, unknown[0].removeprefix(f"{kind}."))
    if strays:
        hint = _naming_hint(kind, strays[0].removeprefix(f"{kind}."))  # a plugin there is: unknown ones are refused
        raise UsageError(f"settings for a {kind} that is not in this run: {', '.join(strays)}{hint}")
    return plugins


def _naming_hint(kind: str, name: str) -> str:
    """How to add the plugin ``name`` of a several-per-run ``kind`` to a run (one on by default only where its
    package is installed, the explorer, is not in a run where it is not)."""
    replaces = f"; {KIND[kind].plural} named replace the default ones" if kind == "reporter" else ""
    return f"; to use it, name it: --{kind} {name} (in Python: {KIND[kind].plural}=[..., '{name}']{replaces})"


def describe(plugin: Plugin) -> dict[str, Any]:
    """A plugin as configuration: its name and options, JSON-ready."""
    return {"name": plugin.name, "options": plugin_options.to_dict(plugin.options)}
