"""Finding plugins: the pluggy PluginManager, entry-point loading, and name -> plugin lookup.

Built-in plugins and third-party ones arrive the same way, through the ``dimred`` entry-point group. Each entry
point loads in its own try/except: a broken plugin is reported (a warning naming it and its distribution, and a
line in ``dimred plugins``) and everything else keeps working. ``DIMRED_STRICT_PLUGINS=1`` makes every such problem
an error. ``DIMRED_LOAD_PLUGINS=a,b`` loads only those third-party entry points (empty: built-ins only), named as
the package names them or qualified by the package (``acme:metrics``). Each entry point is registered under its
qualified name, so two packages may both name an entry point ``metrics``: only the names of the plugin classes
they register must differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib.metadata
import os
import re
import sys
import time
import types
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pluggy

from dimred._core import hookspecs as hookspecs
from dimred._core.contracts import EstimatorModel, Plugin, keeps_no_model_file
from dimred._core.environment import switch
from dimred._core.errors import PluginError, UsageError, did_you_mean, first_line, unknown_name_error
from dimred._core.kinds import KIND, KIND_NAMES, KINDS
from dimred._core.options import OptionInfo, check_before_added, check_declared, describe

ENTRY_POINT_GROUP = "dimred"
BUILTIN_DISTRIBUTION = "dimred"
STRICT_ENV = "DIMRED_STRICT_PLUGINS"
# what a failure's message says where dimred goes on without the plugin (under DIMRED_STRICT_PLUGINS it stops)
IGNORED, LEFT_OUT = "; this one is ignored", " that is left out"
LOAD_ENV = "DIMRED_LOAD_PLUGINS"
TYPO_SIMILARITY = 0.8  # difflib's ratio above which a name is a typo of another ('mlp-a' of 'mlp-ae': 0.91)
SLOW_IMPORT_SECONDS = 1.0  # a third-party plugin slower than this to import is reported with its time
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class PluginWarning(UserWarning):
    """A plugin could not be used; the rest of dimred works on."""


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin class and where it came from."""

    kind: str
    name: str
    cls: type[Plugin]
    source: str

    @property
    def description(self) -> str:
        return self.cls.description

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN_DISTRIBUTION

    @property
    def options(self) -> list[OptionInfo]:
        return describe(self.cls.Options)


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be used, and why."""

    plugin: str
    source: str
    error: str


def validate_plugin_class(kind: str, cls: Any) -> None:
    """Raise PluginError unless ``cls`` honours the contract of its kind."""
    base = KIND[kind].base
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(f"registered {cls!r}, which is not a subclass of dimred.{base.__name__}")
    if not (isinstance(cls.name, str) and _NAME_PATTERN.match(cls.name)):
        raise PluginError(f"{cls.__name__}.name must be lower-case letters, digits, '-', '_' or '.', got {cls.name!r}")
    if kind == "callback" and cls.name.startswith("no-"):  # --callback no-NAME turns a default callback off
        raise PluginError(f"callback '{cls.name}': a callback's name may not begin with 'no-', which turns the "
                          f"one named after it off (--callback {cls.name} leaves out '{cls.name[3:]}')")  # fmt: skip
    if not (isinstance(cls.description, str) and cls.description.strip()):
        raise PluginError(f"{kind} '{cls.name}' has no description")
    if cls.description.splitlines() != [cls.description]:  # dimred plugins lists each plugin on one line
        raise PluginError(f"{kind} '{cls.name}': description must be one line, got {cls.description!r}")
    if kind == "model":
        _check_default_loss(cls)
    if not dataclasses.is_dataclass(cls.Options):
        raise PluginError(f"{kind} '{cls.name}': Options must be a dataclass")
    for option in dataclasses.fields(cls.Options):
        if option.default is dataclasses.MISSING and option.default_factory is dataclasses.MISSING:
            raise PluginError(f"{kind} '{cls.name}': option '{option.name}' has no default")
    try:
        describe(cls.Options)
    except Exception as error:
        raise PluginError(f"{kind} '{cls.name}': cannot read the option types: {error}") from None
    try:
        check_declared(cls.Options)
    except TypeError as error:
        raise PluginError(f"{kind} '{cls.name}': {error}") from None
    try:
        check_before_added(cls.Options)
    except (ValueError, TypeError) as error:
        raise PluginError(f"{kind} '{cls.name}': an option's before_added value is refused: {error}") from None
    if missing := _unimplemented(kind, cls):
        raise PluginError(f"{kind} '{cls.name}' does not define {' or '.join(missing)}, which a {kind} must")
    if kind == "metric" or getattr(cls, "enabled_by_default", False):  # runs unasked: else every run fails
        try:
            cls.Options()
        except Exception as error:
            unasked = "every run" if kind == "metric" else "runs that do not turn it off"
            raise PluginError(f"{kind} '{cls.name}' takes part in {unasked}, but its own default options are "
                              f"refused: {first_line(error)}") from None  # fmt: skip


def _unimplemented(kind: str, cls: type) -> list[str]:
    """The methods ``cls`` must define but inherits as the contract's stubs (a one-call model needs those of the
    mappings it says it can make, and ``build`` where its runs keep a model file)."""
    if issubclass(cls, EstimatorModel):
        # a flag that is a property, decided per instance from its options, is truthy: the method may be needed
        needed = ["fit_transform"] + ["transform"] * bool(cls.can_transform)
        needed += ["inverse_transform"] * bool(cls.can_inverse_transform) + ["build"] * (not keeps_no_model_file(cls))
    else:
        needed = list(KIND[kind].required)
    stubs = {EstimatorModel, *(each.base for each in KINDS)}
    return [f"{name}()" for name in needed if _defined_by(cls, name) in stubs]


def _defined_by(cls: type, name: str) -> type:
    return next(klass for klass in cls.__mro__ if name in vars(klass))


def _check_default_loss(cls: Any) -> None:
    """A model's ``default_loss`` must read as ``--loss`` does, else the run of a user who named no loss fails with
    a usage error about a loss they never gave."""
    from dimred._host.objective import parse_spec  # imported here: objective imports this module (via resolve)

    try:
        parse_spec(cls.default_loss)
    except UsageError as error:
        raise PluginError(f"model '{cls.name}': bad default_loss: {error}") from None


class Registry:
    """The plugins of one process, collected on first use."""

    def __init__(self, *, strict: bool | None = None) -> None:
        self.strict = switch(STRICT_ENV) if strict is None else strict
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self._registered: dict[str, tuple[str, str]] = {}  # pluggy's name -> (the name reports use, its source)
        self._load_failures: list[PluginFailure] = []
        self._left_out: list[str] = []  # installed third-party entry points that DIMRED_LOAD_PLUGINS leaves out
        # pluggy's name -> the plugins its register_* hooks registered and how they failed: each hook is called once
        self._hooked: dict[str, tuple[list[PluginInfo], list[PluginFailure]]] = {}
        self._collected: tuple[dict[str, dict[str, PluginInfo]], list[PluginFailure]] | None = None

    # -- loading ---------------------------------------------------------------------------------------------
    def _fail(self, failures: list[PluginFailure], plugin: str, source: str, error: str) -> None:
        failure = PluginFailure(plugin, source, error)
        message = f"plugin '{plugin}' from {source}: {error}"
        if self.strict:  # nothing goes on without it: the run stops
            raise PluginError(message.replace(IGNORED, "").replace(LEFT_OUT, ""))
        warnings.warn(message, PluginWarning, stacklevel=2)
        failures.append(failure)

    def load_entry_points(self) -> None:
        """Load and register every entry point of the ``dimred`` group, each on its own."""
        selected = os.environ.get(LOAD_ENV)
        wanted = None if selected is None else {name.strip() for name in selected.split(",") if name.strip()}
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)

        def order(entry_point: importlib.metadata.EntryPoint) -> tuple[bool, str]:
            return (_distribution(entry_point) != BUILTIN_DISTRIBUTION, entry_point.name)

        third_party = [point for point in entry_points if _distribution(point) != BUILTIN_DISTRIBUTION]
        shared = {name for name, count in Counter(point.name for point in entry_points).items() if count > 1}

        def shown(point: importlib.metadata.EntryPoint) -> str:  # qualified where another package shares the name
            return _qualified(point) if point.name in shared else point.name

        if wanted is not None and (unknown := sorted(wanted - set().union(*map(_answers_to, entry_points)))):
            installed = sorted({shown(point) for point in third_party})
            warnings.warn(f"{LOAD_ENV} names {', '.join(map(repr, unknown))}, which no installed package provides as "
                          f"a plugin (installed: {', '.join(installed) or 'none besides the built-ins'})",
                          PluginWarning, stacklevel=2)  # fmt: skip
        for entry_point in sorted(entry_points, key=order):
            source = _distribution(entry_point)
            is_builtin = source == BUILTIN_DISTRIBUTION
            if not is_builtin and wanted is not None and not _answers_to(entry_point) & wanted:
                self._left_out.append(shown(entry_point))
                continue
            started = time.perf_counter()
            try:
                with _prints_to_stderr():
                    module = entry_point.load()
            except (Exception, SystemExit) as error:  # a plugin calling sys.exit() at import is a failed plugin
                self._fail(self._load_failures, entry_point.name, source, f"failed to load: {error!r}")
                continue
            seconds = time.perf_counter() - started
            if seconds > SLOW_IMPORT_SECONDS and not is_builtin:  # every dimred command pays this: say so
                warnings.warn(f"plugin '{entry_point.name}' from {source} took {seconds:.1f} s to import; every "
                              f"dimred command waits for it ({LOAD_ENV} limits which plugins load)",
                              PluginWarning, stacklevel=2)  # fmt: skip
            key = _qualified(entry_point)  # two packages may both name an entry point 'metrics'
            self._register(module, key, entry_point.name, source, fix="rename one of the two entry points")

    def register(self, plugin: object, *, name: str | None = None, source: str | None = None) -> None:
        """Register a module or object with hook implementations (for plugins not installed as packages); its
        hooks are called when the registry is next used, and the other plugins' are not called again."""
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        source = source or f"module {getattr(plugin, '__name__', name)}"
        fix = f"unregister('{name}') first to replace it, or register it under another name"
        self._register(plugin, name, name, source, fix=fix)

    def _register(self, plugin: object, key: str, label: str, source: str, *, fix: str) -> None:
        """Register ``plugin`` with pluggy as ``key``; reports name it ``label`` (its entry point's name)."""
        if self._manager.is_registered(plugin):
            self._warn_registered_twice(plugin, label, source)
            return
        if (taken := self._manager.get_plugin(key)) is not None:
            first_label, first_source = self._registered.get(key, (key, "an unknown source"))
            first = _describe(taken) + ("" if first_source == _describe(taken) else f" from {first_source}")
            if first_label != label:
                first = f"plugin '{first_label}', {first}"
            self._fail(self._load_failures, label, source,
                       f"the name '{key}' is already registered ({first}){IGNORED}: {fix}")  # fmt: skip
            return
        try:
            self._manager.register(plugin, name=key)
            self._check_hook_names(plugin)
            if not self._manager.get_hookcallers(plugin):
                raise PluginError(_no_hooks(plugin))
        except (ValueError, pluggy.PluginValidationError, PluginError) as error:
            if self._manager.is_registered(plugin):
                self._manager.unregister(plugin)
            self._fail(self._load_failures, label, source, _one_line(error))
            return
        self._registered[key] = (label, source)
        self._collected = None

    def _warn_registered_twice(self, plugin: object, label: str, source: str) -> None:
        """The very object registered again (a notebook cell run twice): harmless, so a warning and no failure."""
        key = self._manager.get_name(plugin)
        first_label, first_source = self._registered.get(key, (key, "an unknown source"))
        if (first_label, first_source) == (label, source):
            message = (f"{_describe(plugin)} is already registered as plugin '{key}'; this second registration "
                       f"is ignored (unregister('{key}') first to register it anew)")  # fmt: skip
        else:
            message = (f"plugin '{label}' from {source}: {_describe(plugin)} is already registered as plugin "
                       f"'{first_label}' from {first_source}; this one is ignored")  # fmt: skip
        warnings.warn(message, PluginWarning, stacklevel=4)

    def unregister(self, name: str) -> None:
        """Remove a plugin registered by ``register`` under ``name``, or the entry points of that name (tests use
        this to clean up)."""
        keys = [name] if name in self._registered else [key for key, (label, _) in self._registered.items()
                                                          if label == name]  # fmt: skip
        for key in keys:
            self._manager.unregister(name=key)
            del self._registered[key]
            self._hooked.pop(key, None)
        self._collected = None

    def _check_hook_names(self, plugin: object) -> None:
        """A hook implementation with a misspelled name is an error, not silence."""
        try:
            self._manager.check_pending()
        except pluggy.PluginValidationError as error:
            unknown = getattr(error, "plugin", None)
            if unknown is plugin:
                valid = list(hookspecs.HOOK_FOR_KIND.values())
                misspelled = [
                    hook
                    for hook in dir(plugin)
                    if hook not in valid and self._manager.parse_hookimpl_opts(plugin, hook) is not None
                ]
                hint = did_you_mean(misspelled[0], valid) if misspelled else ""
                raise PluginError(f"unknown hook {', '.join(map(repr, misspelled))}{hint}") from None
            raise

    # -- collecting ------------------------------------------------------------------------------------------
    def _collect(self) -> tuple[dict[str, dict[str, PluginInfo]], list[PluginFailure]]:
        """Every plugin by kind and name, and what failed; in the order of registration, so the first of two
        plugins of one name wins, and calling the hooks only of plugins registered since the last time."""
        if self._collected is not None:
            return self._collected
        found: dict[str, dict[str, PluginInfo]] = {kind: {} for kind in KIND_NAMES}
        failures: list[PluginFailure] = list(self._load_failures)
        for key, (label, source) in self._registered.items():
            if key not in self._hooked:
                self._hooked[key] = self._call_hooks(key, label, source, found)
            registered, failed = self._hooked[key]
            for info in registered:
                found[info.kind][info.name] = info
            failures += failed
        self._collected = (found, failures)
        return self._collected

    def _call_hooks(
        self, key: str, label: str, source: str, found: dict[str, dict[str, PluginInfo]]
    ) -> tuple[list[PluginInfo], list[PluginFailure]]:
        """Call the register_* hooks of the plugin registered as ``key``, adding what they register to ``found``;
        returns that, and what failed."""
        registered: list[PluginInfo] = []
        failures: list[PluginFailure] = []
        for kind, hook_name in hookspecs.HOOK_FOR_KIND.items():
            for implementation in getattr(self._manager.hook, hook_name).get_hookimpls():
                if implementation.plugin_name == key:
                    registered += self._call_register_hook(kind, implementation, label, source, found[kind], failures)
        return registered, failures

    def _call_register_hook(
        self,
        kind: str,
        implementation: Any,
        plugin_name: str,
        source: str,
        found: dict[str, PluginInfo],
        failures: list[PluginFailure],
    ) -> list[PluginInfo]:
        """Call one register_* hook, adding each class it registers that honours its contract to ``found``;
        returns those."""
        offered: list[Any] = []
        where = f"{hookspecs.HOOK_FOR_KIND[kind]} failed: "
        try:
            with _prints_to_stderr():
                returned = implementation.function(register=offered.append)
        except (Exception, SystemExit) as error:  # sys.exit() in a hook must not end every dimred command
            self._fail(failures, plugin_name, source, where + (str(error) or repr(error)))
            return []
        if returned is not None and not offered:
            self._fail(failures, plugin_name, source, f"{hookspecs.HOOK_FOR_KIND[kind]} returned "
                       f"{type(returned).__name__} instead of calling register(cls) for each class: nothing was "
                       "registered")  # fmt: skip
        added: list[PluginInfo] = []
        for cls in offered:  # each class on its own: one that breaks its contract leaves the others registered
            try:
                validate_plugin_class(kind, cls)
            except Exception as error:
                left_out = f"{hookspecs.HOOK_FOR_KIND[kind]} registered a {kind}{LEFT_OUT}: "
                self._fail(failures, plugin_name, source, left_out + (str(error) or repr(error)))
                continue
            if cls.name in found:
                first = found[cls.name]
                self._fail(
                    failures,
                    plugin_name,
                    source,
                    f"{kind} name '{cls.name}' is already registered by {first.source}{IGNORED}",
                )
                continue
            found[cls.name] = PluginInfo(kind, cls.name, cls, source)
            added.append(found[cls.name])
        return added

    # -- lookup ----------------------------------------------------------------------------------------------
    def plugins(self, kind: str) -> list[PluginInfo]:
        """Every plugin of ``kind``, sorted by name."""
        return sorted(self._collect()[0][kind].values(), key=lambda info: info.name)

    def names(self, kind: str) -> list[str]:
        """The names of every plugin of ``kind``, sorted."""
        return [info.name for info in self.plugins(kind)]

    def get(self, kind: str, name: str) -> PluginInfo:
        """The plugin of ``kind`` called ``name``; a UsageError listing the valid names otherwise."""
        available = self._collect()[0][kind]
        if not isinstance(name, str):
            raise UsageError(f"a {kind} is named by its plugin's name (text), not a {type(name).__name__}: "
                             f"{', '.join(sorted(available))}{_NAMED_BY_TEXT.get(kind, '')}")  # fmt: skip
        if name not in available:
            raise self.unknown(kind, name)
        return available[name]

    def unknown(self, kind: str, name: str) -> UsageError:
        """The error for a name that names no plugin of ``kind``, with what may explain it (``why_missing``) unless
        it is a typo of an installed one."""
        available = self.names(kind)
        typo = difflib.get_close_matches(name, available, n=1, cutoff=TYPO_SIMILARITY)
        hint = "" if typo else self.why_missing()
        return UsageError(f"{unknown_name_error(kind, name, available)}{hint}")

    def why_missing(self) -> str:
        """What may explain a name that names no plugin: plugins that failed to load, or a DIMRED_LOAD_PLUGINS
        that leaves third-party plugins out ('' where neither)."""
        hints = []
        if failed := dict.fromkeys(failure.plugin for failure in self.failures):  # one plugin may fail in several ways
            hints.append(f"plugins that failed to load: {', '.join(failed)} (dimred plugins says why)")
        if self._left_out:
            selected, left_out = os.environ.get(LOAD_ENV, ""), ", ".join(dict.fromkeys(self._left_out))
            hints.append(f"{LOAD_ENV}={selected!r} leaves out the installed plugin packages {left_out}")
        return "".join(f"; {hint}" for hint in hints)

    @property
    def failures(self) -> list[PluginFailure]:
        return list(self._collect()[1])

    @contextlib.contextmanager
    def restricted(self, keep: Callable[[PluginInfo], bool]) -> Iterator[None]:
        """Inside, the registry holds only the plugins ``keep`` accepts and no failures (its hooks are not called
        again): the contract checks' runs meet the built-in plugins and the checked plugin's own package only."""
        found, _failures = self._collect()
        self._collected = ({kind: {name: info for name, info in plugins.items() if keep(info)}
                            for kind, plugins in found.items()}, [])  # fmt: skip
        try:
            yield
        finally:
            self._collected = None  # all of them again, from what their hooks registered


def _prints_to_stderr() -> contextlib.AbstractContextManager[Any]:
    """What a plugin prints as it loads goes to stderr: stdout carries a command's output (``dimred plugins
    --json``, codes written to ``-``), which a print at import would break."""
    return contextlib.redirect_stdout(sys.stderr)


_NAMED_BY_TEXT = {
    "dataset": " (rows of your own: dimred.Reducer(...).fit_transform(X), or dataset 'file' with the setting "
    "dataset.path)",
    "model": " (a plugin class of your own: register it, then name it)",
}


def _distribution(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return dist.name if dist is not None else "an unknown distribution"


def _qualified(entry_point: importlib.metadata.EntryPoint) -> str:
    """The entry point's name with its distribution's, ``acme:metrics``: one name for one package's."""
    return f"{_distribution(entry_point)}:{entry_point.name}"


def _answers_to(entry_point: importlib.metadata.EntryPoint) -> set[str]:
    """The names ``DIMRED_LOAD_PLUGINS`` may select the entry point by: its own, or qualified by its package."""
    return {entry_point.name, _qualified(entry_point)}


def _describe(plugin: object) -> str:
    """'module acme_metrics', 'class acme.Circle' (an entry point may name one), or the type of another plugin
    object, for messages."""
    if isinstance(plugin, types.ModuleType):
        return f"module {plugin.__name__}"
    if isinstance(plugin, type | types.FunctionType):
        return f"{'class' if isinstance(plugin, type) else 'function'} {plugin.__module__}.{plugin.__qualname__}"
    return f"a {type(plugin).__name__} object"


def _no_hooks(plugin: object) -> str:
    """Why ``plugin`` provides no hook: functions named after hooks that lack ``@hookimpl``, or none at all (an
    entry point naming a class or a function, not the module holding the hooks)."""
    unmarked = [hook for hook in hookspecs.HOOK_FOR_KIND.values() if callable(getattr(plugin, hook, None))]
    if unmarked:
        return f"registered no dimred hooks: {_describe(plugin)} has {', '.join(unmarked)} without @hookimpl"
    return (f"registered no dimred hooks: {_describe(plugin)} has no register_* function marked @hookimpl (an "
            "entry point names the module that holds them)")  # fmt: skip


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, with every entry point loaded on first use."""
    global _registry
    if _registry is None:
        registry = Registry()
        registry.load_entry_points()
        _registry = registry
    return _registry


def reset_registry() -> None:
    """Forget the loaded plugins; the next ``get_registry()`` loads them again (tests use this)."""
    global _registry
    _registry = None


def _entry(info: PluginInfo) -> dict[str, Any]:
    entry = {
        "name": info.name,
        "description": info.description,
        "source": info.source,
        "options": [dataclasses.asdict(option) for option in info.options],
    }
    if info.kind in ("reporter", "callback"):  # those that run when a run names none
        entry["enabled_by_default"] = bool(getattr(info.cls, "enabled_by_default", False))
    if info.kind == "model":  # one-call models may lack a transform or an inverse
        entry["can_transform"] = getattr(info.cls, "can_transform", True)
        entry["can_inverse_transform"] = getattr(info.cls, "can_inverse_transform", True)
        entry["keeps_model_file"] = not keeps_no_model_file(info.cls)
    return entry


def catalogue(registry: Registry) -> dict[str, Any]:
    """Every plugin by kind, with its options and source, and the failed plugins: what ``dimred plugins`` shows."""
    listing: dict[str, Any] = {kind: [_entry(info) for info in registry.plugins(kind)] for kind in KIND_NAMES}
    listing["failed"] = [dataclasses.asdict(failure) for failure in registry.failures]
    return listing


def _one_line(error: Exception) -> str:
    """pluggy's validation message (three lines: the hook, its definition, the problem) as one line, with what
    dimred's hooks take where an argument is misnamed."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    hint = (
        "; each register_* hook takes one argument, named register" if "declared in the hookimpl" in str(error) else ""
    )
    return "; ".join(lines) + hint
