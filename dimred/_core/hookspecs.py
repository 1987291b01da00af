"""The hooks a dimred plugin can implement: one ``register_<kinds>(register)`` per row of the kinds table.

Each hook receives a ``register`` callback and calls it once per plugin class it provides, in the style of
simonw/llm: the host validates every class, detects duplicate names and owns the error messages.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from dimred._core.kinds import KINDS, Kind

PROJECT_NAME = "dimred"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[[type], None]


def _hook_for(kind: Kind) -> Callable[[Register], None]:
    def register_hook(register: Register) -> None:
        """(replaced below)"""

    register_hook.__name__ = register_hook.__qualname__ = kind.hook
    register_hook.__doc__ = (
        f"Register {kind.name} plugins: call ``register(cls)`` with each subclass of ``dimred.{kind.base.__name__}``."
    )
    return hookspec(register_hook)


for _kind in KINDS:
    globals()[_kind.hook] = _hook_for(_kind)

# Which hook registers which kind of plugin.
HOOK_FOR_KIND = {kind.name: kind.hook for kind in KINDS}
