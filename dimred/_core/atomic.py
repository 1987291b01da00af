"""Write files so that a reader sees either the old file or the complete new one, never half of one.

Any ``OSError`` while writing (a full disk, a missing or read-only folder) becomes one ``DimredError`` that
names the file the user asked for, not the temporary one, and the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from dimred._core.errors import DimredError

_FOLDER_PROBLEMS = {
    errno.ENOENT: "does not exist",
    errno.ENOTDIR: "is not a folder",
    errno.EACCES: "is not writable (permission denied)",
    errno.EPERM: "is not writable (permission denied)",
    errno.EROFS: "is on a read-only file system",
}


@dataclass(frozen=True)
class _Guard:
    kept: frozenset[Path]
    written: Callable[[Path], None]


_GUARD: ContextVar[_Guard | None] = ContextVar("guard", default=None)


@contextlib.contextmanager
def guarded_writes(kept: Iterable[Path], written: Callable[[Path], None]) -> Iterator[None]:
    """While the block runs, an atomic write onto one of the files ``kept`` fails with an error naming it instead
    of replacing it, and every file written is passed to ``written`` (a run's folder keeps its list with them)."""
    token = _GUARD.set(_Guard(frozenset(path.resolve() for path in kept), written))
    try:
        yield
    finally:
        _GUARD.reset(token)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_error(target: Path, error: OSError) -> DimredError:
    """The one-line message for a failed write of ``target``."""
    if error.errno == errno.ENOSPC:
        return DimredError(f"could not write {target}: no space left on the device (the disk is full)")
    if error.errno == errno.EDQUOT:
        return DimredError(f"could not write {target}: the disk quota is exceeded")
    return DimredError(f"could not write {target}: {error.strerror or error}")


def _temporary_beside(target: Path) -> Path:
    """A new empty file in ``target``'s folder; a folder that cannot take it is named in the error."""
    if target.is_dir():
        raise DimredError(f"could not write {target}: it is a directory; name a file")
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}")
    except OSError as error:
        problem = _FOLDER_PROBLEMS.get(error.errno or 0)
        if problem is None:
            raise write_error(target, error) from None
        raise DimredError(f"could not write {target}: the folder {target.parent} {problem}") from None
    os.close(handle)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is flushed to disk and renamed onto ``path``.

    The temporary name keeps the suffix, so writers that pick a format from it (matplotlib) still work.
    On any error, Ctrl-C included, the temporary file is removed and ``path`` is left as it was; an ``OSError``
    (the disk full, say) is raised as a ``DimredError`` naming ``path``.
    """
    target = Path(path)
    guard = _GUARD.get()
    if guard is not None and target.resolve() in guard.kept:
        raise DimredError(f"could not write {target}: a file of that name is there that dimred did not write; "
                          "move it, or choose another output folder")  # fmt: skip
    temporary: Path | None = None
    try:
        with _interruptions_held():  # Ctrl-C or SIGTERM between creating the file and naming it would leave it
            temporary = _temporary_beside(target)
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
        if guard is not None:
            guard.written(target)
    except OSError as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise write_error(target, error) from error
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _interruptions_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back by the operating system for the block (in the main thread, where Python runs
    their handlers); a signal that arrives meanwhile is handled when it ends."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield  # elsewhere (and on Windows) nothing to hold
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
