"""From names and settings to plugin instances: the step every entry point (run, evaluate, Reducer) shares."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from dimred._core import options as plugin_options
from dimred._core.contracts import Plugin
from dimred._core.errors import DimredError, PluginError, UsageError
from dimred._host.registry import get_registry

SETTING_KINDS = ("dataset", "model", "loss", "reporter")


def group_settings(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Split dotted settings by plugin: ``{"dataset.noise": 0.1, "reporter.codes-plot.dpi": 200}`` ->
    ``{"dataset": {"noise": 0.1}, "reporter.codes-plot": {"dpi": 200}}``."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        kind, _, rest = key.partition(".")
        target, _, option = rest.rpartition(".") if kind in ("reporter", "loss") else ("", "", rest)
        if kind not in SETTING_KINDS or not option or (kind == "reporter" and not target):
            raise UsageError(
                f"bad setting '{key}': use dataset.OPTION, model.OPTION, loss.OPTION, loss.NAME.OPTION "
                "or reporter.NAME.OPTION"
            )
        groups.setdefault(f"{kind}.{target}" if target else kind, {})[option] = value
    return groups


def instantiate(kind: str, name: str, values: Mapping[str, Any] | None = None, prefix: str | None = None) -> Any:
    """The plugin of ``kind`` called ``name``, with its options built from ``values`` (validated)."""
    cls = get_registry().get(kind, name).cls
    return cls(plugin_options.build(cls.Options, values or {}, prefix=prefix or kind))


def default_reporters() -> list[str]:
    return [info.name for info in get_registry().plugins("reporter") if info.cls.enabled_by_default]


def describe(plugin: Plugin) -> dict[str, Any]:
    """A plugin as configuration: its name and options, JSON-ready."""
    return {"name": plugin.name, "options": plugin_options.to_dict(plugin.options)}


@contextlib.contextmanager
def blame(plugin: Plugin, action: str) -> Iterator[None]:
    """Turn an unexpected exception inside a plugin into one message that names the plugin."""
    try:
        yield
    except DimredError:
        raise
    except Exception as error:
        raise PluginError(f"{plugin.kind} '{plugin.name}' failed to {action}: {error}") from error
