"""Write files so that a reader sees either the old file or the complete new one, never half of one.

Any ``OSError`` while writing (a full disk, a missing or read-only folder) becomes one ``DimredError`` that
names the file the user asked for, not the temporary one, and the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from dimred._core.errors import DimredError

STALE_AFTER_S = 3600  # a temporary file untouched this long is a killed process's, never a running one's

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


def guarded_files() -> frozenset[Path]:
    """The files (resolved paths) that the writes under way must leave alone: in a run's folder, the user's."""
    guard = _GUARD.get()
    return frozenset() if guard is None else guard.kept


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


def _temporary_name(target: Path) -> Path:
    """A name beside ``target`` that no file has; the name keeps the suffix, for writers that pick a format by it."""
    if target.is_dir():
        raise DimredError(f"could not write {target}: it is a directory; name a file")
    return target.parent / f".{_kept_name(target)}.{secrets.token_hex(8)}.tmp{target.suffix}"


NAME_MAX = 255  # bytes of a file's name on Linux, macOS and Windows file systems
TEMPORARY_OVERHEAD = len(".") + 17 + len(".tmp")  # around the name: ".", ".<16 hex digits>", ".tmp" (and the suffix)


def _kept_name(target: Path) -> str:
    """As much of ``target``'s name as fits in a temporary name with its suffix: a name of 245 bytes, itself
    legal, had failed as 'File name too long' once the temporary parts were added."""
    room = NAME_MAX - TEMPORARY_OVERHEAD - len(os.fsencode(target.suffix))
    name = target.name
    while len(os.fsencode(name)) > room:  # whole characters off the end: a multi-byte one is never split
        name = name[:-1]
    return name


def _temporary_names(name: str = ".+", suffix: str = r"(\.[^.]*)?") -> re.Pattern[str]:
    """The names ``_temporary_name`` gives, ``.NAME.<16 hex digits>.tmpSUFFIX``, for a target's ``name`` and
    ``suffix`` (regular expressions: by default any target's)."""
    return re.compile(rf"\.{name}\.[0-9a-f]{{16}}\.tmp{suffix}")


_ANY_TEMPORARY = _temporary_names()


def is_temporary(name: str) -> bool:
    """Whether ``name`` is one that ``atomic_path`` gives its temporary files: ``.NAME.<16 hex digits>.tmpSUFFIX``."""
    return _ANY_TEMPORARY.fullmatch(name) is not None


def remove_stale_temporaries(target: Path) -> None:
    """Delete the temporary files of earlier writes of ``target`` that a killed process (SIGKILL) left beside it:
    ``.NAME.<16 hex digits>.tmpSUFFIX``, the names ``atomic_path`` gives, and no others, untouched for
    STALE_AFTER_S (a younger one may be a running process's: a second encode to the same output had removed the
    first's, which then failed with 'No such file or directory')."""
    pattern = _temporary_names(re.escape(_kept_name(target)), re.escape(target.suffix))
    with contextlib.suppress(OSError):  # a folder that cannot be listed: the write itself names the problem
        for stale in target.parent.iterdir():
            if (
                pattern.fullmatch(stale.name)
                and stale.is_file()
                and time.time() - stale.stat().st_mtime > STALE_AFTER_S
            ):
                _remove(stale)


def _create(temporary: Path, target: Path) -> None:
    """The empty temporary file; a folder that cannot take it is named in the error."""
    try:
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as error:
        problem = _FOLDER_PROBLEMS.get(error.errno or 0)
        if error.errno == errno.ENOENT and target.parent.is_dir():  # /proc refuses a new file in those words
            problem = f"refuses new files ({error.strerror or error})"
        if error.errno == errno.ENOTDIR and target.parent.is_file():  # a data file named as the folder
            problem = "is a file, not a folder"
        if problem is None:
            raise write_error(target, error) from None
        raise DimredError(f"could not write {target}: the folder {target.parent} {problem}") from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is flushed to disk and renamed onto ``path``.

    The temporary name keeps the suffix, so writers that pick a format from it (matplotlib) still work.
    On any error, Ctrl-C included, the temporary file is removed and ``path`` is left as it was; an ``OSError``
    (the disk full, say) is raised as a ``DimredError`` naming ``path``. ``replace`` False: a file that
    appeared at ``path`` while the block wrote (the user's, another process's: the path was checked free when
    the command began) is kept, and the write fails.
    """
    target = Path(path)
    guard = _GUARD.get()
    if guard is not None and target.resolve() in guard.kept:
        raise DimredError(f"could not write {target}: a file of that name is there that dimred did not write; "
                          "move it, or choose another output folder")  # fmt: skip
    temporary = _temporary_name(target)  # named before it exists: however early Ctrl-C comes, it is removed
    try:
        _create(temporary, target)
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # created 0600; give the file the usual permissions
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        if replace:
            os.replace(temporary, target)
        else:
            _rename_unless_there(temporary, target)
        if guard is not None:
            guard.written(target)
    except OSError as error:
        _remove(temporary)
        raise write_error(target, error) from error
    except BaseException:
        _remove(temporary)
        raise


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike[str]) -> Iterator[tuple[Path, ...]]:
    """``atomic_path`` for files that belong together (an encoder and its decoder): all of them renamed into place
    or none. Where a rename fails after another succeeded, the files it replaced are put back (from a link kept
    of each before the renames) and files that were not there are removed: a new decoder had stayed beside the old
    encoder."""
    targets = [Path(path) for path in paths]
    before: dict[Path, Path | None] = {}  # each target's earlier file, kept once the renames begin (None: none)
    try:
        with contextlib.ExitStack() as stack:
            yield tuple(stack.enter_context(atomic_path(target)) for target in targets)
            before = {target: _kept_copy(target) for target in targets}
    except BaseException:
        for target, kept in before.items():  # empty where the renames had not begun
            with contextlib.suppress(OSError):
                if kept is None:
                    target.unlink(missing_ok=True)
                else:
                    os.replace(kept, target)
        raise
    finally:
        for kept in before.values():
            if kept is not None:
                _remove(kept)


def _rename_unless_there(temporary: Path, target: Path) -> None:
    """Rename ``temporary`` onto ``target`` where no file is there: a hard link never replaces one (a rename
    would); on a file system without hard links, a check just before the rename."""
    there = DimredError(f"could not write {target}: a file of that name appeared there while this command ran, "
                        "and was kept; choose another output, or pass overwrite=True (--overwrite)")  # fmt: skip
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise there from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(target):
            raise there from None
        os.replace(temporary, target)
        return
    _remove(temporary)


def _kept_copy(target: Path) -> Path | None:
    """A hard link (else a copy) of ``target`` under a temporary name beside it; None where there is no file."""
    if not target.is_file():
        return None
    kept = _temporary_name(target)
    try:
        os.link(target, kept)
    except OSError:
        shutil.copy2(target, kept)
    return kept


def _remove(temporary: Path) -> None:
    """The temporary file gone, where it was made at all (a folder that is a file has none to remove)."""
    with contextlib.suppress(OSError):
        temporary.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def unwritable(path: str | os.PathLike[str]) -> str | None:
    """Why a file or folder could not be written at ``path`` (made with any folders on its way), or None. Probed
    by opening the file to append where it exists, else by making and removing a temporary file in the nearest
    folder that exists: permissions alone do not say (root passes them; /proc refuses root)."""
    path = Path(path)
    place = path if path.is_file() else next(folder for folder in (path, *path.parents) if os.path.lexists(folder))
    if place.is_symlink() and not place.exists():
        return f"{place} is a link to nothing ({os.readlink(place)})"
    if not (place.is_file() or place.is_dir()):
        return f"{place} is neither a file nor a folder"
    if place.is_file() and place != path:
        return f"{place} is a file, not a folder"
    probe = "opening it to append" if place.is_file() else "making a file there"
    try:
        if place.is_file():
            with place.open("ab"):
                return None
        with tempfile.TemporaryFile(dir=place):
            return None
    except OSError as error:  # the system's words: /proc refuses a new file with "No such file or directory"
        return f"{place} is not writable ({probe} failed: {error.strerror or error})"
