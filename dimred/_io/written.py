"""The files a run wrote into its folder, listed in the folder itself, so that the next run given that folder
(with ``--overwrite``, or after a failed run) removes exactly those: no file of the earlier run is left beside
the new run's results, and no file the user put there is touched."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from dimred._core.atomic import write_bytes, write_text
from dimred._core.errors import DimredError, PluginError, first_line
from dimred._core.runfiles import MANIFEST_NAME

if TYPE_CHECKING:
    from dimred._core.contracts import Plugin

Snapshot = dict[str, tuple[int, int, int]]


def _entries(folder: Path) -> Iterator[Path]:
    """The files and links under ``folder``, hidden ones left out and hidden or linked folders not entered."""
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        linked = [name for name in folders if Path(root, name).is_symlink()]  # os.walk lists them, enters none
        yield from (Path(root, name) for name in [*files, *linked] if not name.startswith("."))


def snapshot(folder: Path) -> Snapshot:
    """Every regular file under ``folder`` (hidden ones and links left out, linked folders not entered) by its
    path relative to it, with its inode, size and modification time: an atomic rewrite changes the inode."""
    found: Snapshot = {}
    for path in _entries(folder):
        if not path.is_symlink():
            found[path.relative_to(folder).as_posix()] = _identity(path.stat())
    return found


def _identity(status: os.stat_result) -> tuple[int, int, int]:
    """What tells a file from its rewrite: its inode (an atomic rewrite changes it), size and modification time."""
    return status.st_ino, status.st_size, status.st_mtime_ns


def links(folder: Path) -> set[str]:
    """The symbolic links under ``folder`` (not hidden, not in hidden or linked folders), by their paths relative
    to it: dimred writes none, so each is the user's."""
    return {path.relative_to(folder).as_posix() for path in _entries(folder) if path.is_symlink()}


def record_written(folder: Path, before: Snapshot, tops_before: set[str]) -> None:
    """List the files new since ``before`` at names whose first part (a file or folder at the folder's top) was
    not there before, with those the earlier list named that are still there (a resumed run's first part, and
    every file the run wrote atomically, listed as it was written). A file of the user's that they changed while
    the run worked, or made in a folder of theirs (``--out .`` of a project), had been listed as the run's, and
    the next ``--overwrite`` deleted it. None: no list (a failed comparison had left an empty one in the user's
    folder)."""
    now = snapshot(folder)
    written = {name for name in now if name not in before and name.split("/")[0] not in tops_before}
    listed = written | (set(listed_files(folder)) & now.keys())
    if listed:
        _write_list(folder, listed)
    else:
        (folder / MANIFEST_NAME).unlink(missing_ok=True)


class Journal:
    """The folder's list kept up to date as a run writes: each new file is added as soon as it is written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.names = set(listed_files(folder))

    def add(self, path: Path) -> None:
        resolved = path.resolve()
        if resolved.parent == self.folder and resolved.name == MANIFEST_NAME:
            return
        if self.folder not in resolved.parents:
            return
        name = resolved.relative_to(self.folder).as_posix()
        if name not in self.names:
            self.names.add(name)
            # a list that cannot be written leaves the file unlisted: the user's then, never replaced (safe)
            with contextlib.suppress(OSError, DimredError):
                _write_list(self.folder, self.names)


def _write_list(folder: Path, names: set[str]) -> None:
    write_text(folder / MANIFEST_NAME, json.dumps({"files": sorted(names)}, indent=1) + "\n")


def remove_written(folder: Path) -> None:
    """Delete the files the folder's list names, the folders that leaves empty, and the list."""
    root = folder.resolve()
    for name in listed_files(folder):
        path = folder / name
        if path.is_symlink() or not path.is_file() or root not in path.resolve().parents:
            continue
        path.unlink()
        parent = path.parent
        while parent != folder and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    (folder / MANIFEST_NAME).unlink(missing_ok=True)


def listed_files(folder: Path) -> list[str]:
    """The relative paths the folder's list names; an unreadable or edited list names nothing outside it."""
    return _read_list(folder)[0]


def list_damage(folder: Path) -> str | None:
    """Why the folder's list names nothing (it cannot be read, or is not a list of files); None where it reads, or
    where there is no list."""
    return _read_list(folder)[1]


def _read_list(folder: Path) -> tuple[list[str], str | None]:
    try:
        text = (folder / MANIFEST_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], None
    except PermissionError:
        return [], "may not be read: permission denied"
    except UnicodeDecodeError:
        return [], "is damaged: not UTF-8 text"
    except OSError as error:  # a folder of that name, say
        return [], f"cannot be read: {first_line(error)}"
    try:
        names = json.loads(text)["files"]
    except (ValueError, KeyError, TypeError, RecursionError):
        names = None
    if not isinstance(names, list):
        return [], 'is damaged: not the JSON {"files": [...]} dimred writes'
    return [name for name in names if isinstance(name, str) and name and _relative(PurePosixPath(name))], None


def _relative(path: PurePosixPath) -> bool:
    return not path.is_absolute() and ".." not in path.parts


def results_state(directory: Path | None, names: Sequence[str]) -> dict[str, tuple[int, int, int] | None]:
    """Each of these files of ``directory`` as ``snapshot`` tells it apart from a rewrite (its inode, size and
    time; None where there is none): a system call a file."""
    if directory is None:
        return {}
    return {name: _state(Path(directory) / name) for name in names}


def _state(path: Path) -> tuple[int, int, int] | None:
    """A file's inode, size and modification time, as ``snapshot`` records them (None for no file, or a link)."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return None
    return _identity(status) if stat.S_ISREG(status.st_mode) else None


def results_written(directory: Path | None, names: Sequence[str]) -> dict[str, bytes | None]:
    """The contents of these files of ``directory`` (None where there is none), to put back what a reporter or
    callback changes."""
    if directory is None:
        return {}
    paths = {name: Path(directory) / name for name in names}
    return {name: path.read_bytes() if path.is_file() else None for name, path in paths.items()}


def changed_since(directory: Path | None, before: Mapping[str, Any]) -> list[str]:
    """The files of ``before`` (``results_state`` of ``directory`` at some moment) changed since then."""
    after = results_state(directory, list(before))
    return [name for name, state in before.items() if after[name] != state]


def check_results_kept(plugin: Plugin, directory: Path | None, before: Mapping[str, Any],
                       written: Mapping[str, bytes | None] | None = None) -> None:  # fmt: skip
    """Refuses a reporter or callback (``plugin``) that changed a file of ``before`` (``results_state`` ahead of
    it); where ``written`` (``results_written``) holds the files as dimred wrote them, puts each back, or removes
    one that was not there."""
    changed = changed_since(directory, before)
    if not changed:
        return
    for name in changed if written is not None else ():
        path = Path(directory) / name
        if written[name] is None:
            path.unlink(missing_ok=True)
        else:
            write_bytes(path, written[name])
    restored = ""
    if written is not None:
        put_back = ["put back as dimred wrote them" if written[name] is not None else
                    "removed: dimred writes them as the run ends" for name in changed]  # fmt: skip
        restored = f" ({'; '.join(dict.fromkeys(put_back))})"
    how = "through run.artifact(NAME)" if plugin.kind == "reporter" else "under other names"
    raise PluginError(
        f"{plugin.kind} '{plugin.name}' changed {', '.join(changed)}, dimred's own results in "
        f"{directory}{restored}: a {plugin.kind} writes files of its own, {how}"
    )
