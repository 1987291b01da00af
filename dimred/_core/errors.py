"""Errors a user can act on. The CLI prints them as one ``Error:`` line and exits with ``exit_code``."""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class DimredError(Exception):
    """Something went wrong at run time (a broken plugin, an unreadable file): exit code 1."""

    exit_code = 1


class UsageError(DimredError, ValueError):
    """The user asked for something that does not exist or is not allowed: exit code 2. A ValueError too, as
    scikit-learn's estimators raise for a parameter they refuse."""

    exit_code = 2


class PluginError(DimredError):
    """A plugin failed to load, broke its contract or clashed with another plugin."""


class SkippedPluginWarning(UserWarning):
    """A metric or reporter failed and was skipped; the other results were saved."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix for the closest choice, or '' when none is close (in any case: PCA is
    pca)."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""


def unknown_name_error(what: str, name: str, choices: Iterable[str]) -> UsageError:
    """The message for a name that is not one of ``choices``, listing the valid ones."""
    valid = sorted(choices)
    listing = ", ".join(valid) if valid else "none installed"
    return UsageError(f"unknown {what} '{name}'{did_you_mean(name, valid)}; choose from: {listing}")


def path_argument(value: Any, parameter: str, what: str = "a file's path") -> Path:
    """``value`` as a Path, or a UsageError naming ``parameter`` where it is no path at all (a number, None, or
    empty: ``Path("")`` is the current folder)."""
    if not isinstance(value, str | os.PathLike):
        raise UsageError(f"{parameter} must be {what} (a str or pathlib.Path), not {type(value).__name__}")
    if os.fspath(value) == "":
        raise UsageError(f"{parameter} is empty; give {what}")
    return Path(value)


def resolved(path: Path) -> Path:
    """``path`` made absolute, its links followed; a UsageError naming it where its links lead in a loop
    (``Path.resolve`` raises RuntimeError for one on Python 3.11, OSError later)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as error:
        if isinstance(error, OSError) and error.errno != errno.ELOOP:
            raise
        raise UsageError(f"{path} is a symbolic link that leads back to itself (a loop); name another path") from None


class PluginExit(SystemExit):
    """A ``sys.exit`` with a failing status inside a plugin's work: an exit still, never skipped (a handler of the
    caller's, for a signal, may raise it there), and ``message`` names the plugin for the one line the command
    line prints before it exits 1 (the status itself would pass for dimred's own: 0, 2, or 256, which is 0)."""

    def __init__(self, code: object, message: str) -> None:
        super().__init__(code)
        self.message = message

    def __str__(self) -> str:  # what a failed run's FAILED.txt says, and a traceback shows
        return self.message


OUT_OF_MEMORY_ADVICE = "ran out of memory; ask for less at once: fewer rows, a smaller batch or a smaller model"


def is_out_of_memory(error: BaseException) -> bool:
    """numpy's MemoryError, torch's CPU allocator failing (a RuntimeError) or its CUDA OutOfMemoryError."""
    text = str(error)
    return isinstance(error, MemoryError) or "can't allocate memory" in text or "out of memory" in text.lower()


_STOPS: list[KeyboardInterrupt] = []  # raised by the command line's signal handlers while a command runs


def note_stop(interrupt: KeyboardInterrupt) -> None:
    """Note a Ctrl-C or SIGTERM as it is raised: a library it lands in may swallow it and raise an error of its own
    (numpy's comparisons do: "Cannot compare structured arrays ..."), which ``blame`` must not take for the plugin's
    failure (the command would end with exit 1, not as stopped)."""
    _STOPS.append(interrupt)


def noted_stop() -> KeyboardInterrupt | None:
    return _STOPS[-1] if _STOPS else None


@contextlib.contextmanager
def stops_noted() -> Iterator[None]:
    """The stops noted inside the block are forgotten as it ends (a command run in-process by another keeps the
    outer one's)."""
    start = len(_STOPS)
    try:
        yield
    finally:
        del _STOPS[start:]


@contextlib.contextmanager
def blame(plugin: Any, action: str, *, skipped: bool = False) -> Iterator[None]:
    """Turn an unexpected exception inside a plugin into one message that names the plugin (its kind and name).
    ``skipped``: the caller skips a plugin that fails (metrics, reporters), so the plugin's own ``DimredError``
    becomes a ``PluginError`` naming it too."""
    try:
        yield
    except (PluginError, PluginExit):  # an inner plugin's, named already
        raise
    except DimredError as error:
        if not skipped:
            raise
        raise PluginError(f"{plugin.kind} '{plugin.name}' failed to {action}: {error}") from error
    except SystemExit as error:
        message = (f"{plugin.kind} '{plugin.name}' failed to {action}: it called sys.exit({error.code!r}); a plugin "
                   "raises an exception instead")  # fmt: skip
        if error.code not in (0, None):
            raise PluginExit(error.code, message) from error
        raise PluginError(message) from error  # sys.exit(0) would end dimred with exit 0 and nothing written
    except Exception as error:
        if (interrupt := _interrupt_behind(error) or noted_stop()) is not None:
            raise interrupt from None
        if is_out_of_memory(error):
            raise PluginError(f"{plugin.kind} '{plugin.name}' {OUT_OF_MEMORY_ADVICE} (while it tried to {action})"
                              ) from error  # fmt: skip
        raise PluginError(f"{plugin.kind} '{plugin.name}' failed to {action}: {first_line(error)}") from error


def _interrupt_behind(error: BaseException) -> BaseException | None:
    """The Ctrl-C (or SIGTERM, as dimred raises it) that ``error`` stands for: an extension module interrupted
    while it loaded (matplotlib's, on the first plot) raises ImportError('initialization failed') from it, which had
    been taken for the plugin's failure, and the run went on to its other reporters and ended with exit 1."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message that says something (not torch's C++ trace, nor the caret under a
    matplotlib formula); its type's name where none does, or where the message is a missing key alone."""
    lines = [line.strip() for line in str(error).splitlines() if any(char.isalpha() for char in line)]
    if not lines or isinstance(error, KeyError):
        return f"{type(error).__name__}: {(lines or [str(error).strip()])[0]}".rstrip(": ")
    return lines[0]
