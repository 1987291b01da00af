"""An exclusive lock on a folder, so that two dimred processes never write into the same one.

The lock is an OS lock (``fcntl.flock``, ``msvcrt.locking`` on Windows) on a small file inside the folder: the
operating system releases it when the process ends, however it ends, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dimred._core.errors import UsageError
from dimred._core.runfiles import LOCK_NAME

if os.name == "nt":  # pragma: no cover (exercised on Windows only)
    import msvcrt

    def _try_lock(handle: IO[str]) -> None:
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[str]) -> None:
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """Hold the folder's lock while the block runs; fail at once if another process holds it."""
    lock_path = folder / LOCK_NAME
    handle = _locked(folder, lock_path)
    try:
        yield
    finally:
        # Removed while still locked: a process that opened the file meanwhile finds, once it locks it, that the
        # folder's lock file is another now, and locks that one instead (_locked).
        with contextlib.suppress(OSError):  # the folder may be gone (a failed run removes its own); Windows refuses
            lock_path.unlink()
        _unlock(handle)
        handle.close()


def check_unlocked(folder: Path) -> None:
    """Fail at once, as ``locked_folder`` would, if another process holds the folder's lock: a check before work
    that takes the folder only once it is done (a one-call model's fit)."""
    try:  # a probe: taken and let go, no file made or removed (a killed run's stays)
        handle = open(folder / LOCK_NAME, "r+", encoding="utf-8")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return
    except OSError as error:
        raise UsageError(f"cannot write into {folder}: {error.strerror}") from None
    with handle:
        try:
            _try_lock(handle)
        except OSError:
            raise _held_by_another(folder) from None
        _unlock(handle)


def _locked(folder: Path, lock_path: Path) -> IO[str]:
    """The lock file, opened and locked: the one at ``lock_path`` when the lock was taken."""
    while True:
        try:
            handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 (held open for the whole block)
        except OSError as error:
            raise UsageError(f"cannot write into {folder}: {error.strerror}") from None
        try:
            _try_lock(handle)
        except OSError:
            handle.close()
            raise _held_by_another(folder) from None
        if _is_at(handle, lock_path):
            return handle
        handle.close()  # its holder removed it as it let go of it: lock the file now in its place


def _held_by_another(folder: Path) -> UsageError:
    return UsageError(f"{folder} is being written by another dimred process; wait for it to finish or choose "
                      "another output folder")  # fmt: skip


def _is_at(handle: IO[str], path: Path) -> bool:
    """Whether the open file is the one at ``path`` still."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False
