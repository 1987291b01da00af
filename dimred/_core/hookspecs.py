"""The hooks a dimred plugin can implement.

Each hook receives a ``register`` callback and calls it once per plugin class it provides, in the style of
simonw/llm: the host validates every class, detects duplicate names and owns the error messages.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT_NAME = "dimred"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[[type], None]


@hookspec
def register_datasets(register: Register) -> None:
    """Register dataset plugins: call ``register(cls)`` with each subclass of ``dimred.Dataset``."""


@hookspec
def register_models(register: Register) -> None:
    """Register model plugins: call ``register(cls)`` with each subclass of ``dimred.Model``."""


@hookspec
def register_losses(register: Register) -> None:
    """Register loss plugins: call ``register(cls)`` with each subclass of ``dimred.Loss``."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metric plugins: call ``register(cls)`` with each subclass of ``dimred.Metric``."""


@hookspec
def register_reporters(register: Register) -> None:
    """Register reporter plugins: call ``register(cls)`` with each subclass of ``dimred.Reporter``."""


# Which hook registers which kind of plugin.
HOOK_FOR_KIND = {
    "dataset": "register_datasets",
    "model": "register_models",
    "loss": "register_losses",
    "metric": "register_metrics",
    "reporter": "register_reporters",
}
