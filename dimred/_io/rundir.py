"""The run directory: where a run's artifacts go, each written atomically."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dimred._core.atomic import guarded_writes, is_temporary, write_text
from dimred._core.errors import DimredError, UsageError, noted_stop
from dimred._core.runfiles import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    CONFIG_FILE,
    EVALUATIONS_FOLDER,
    FAILED_MARKER,
    LOCK_NAME,
    MANIFEST_NAME,
)
from dimred._io.folderlock import locked_folder
from dimred._io.signals import Terminated
from dimred._io.written import (
    Journal,
    Snapshot,
    links,
    list_damage,
    listed_files,
    record_written,
    remove_written,
    snapshot,
)

RUNS_FOLDER = Path("runs")
_TIMESTAMPED = re.compile(r"(?P<stem>.+-\d{8}-\d{6})(-\d+)?")


def timestamped_directory(parent: Path, name: str) -> Path:
    """``parent/<name>-<timestamp>``, with a counter added if that name is taken."""
    return next(candidate for candidate in _numbered(parent / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
                if not candidate.exists())  # fmt: skip


def _numbered(stem: Path) -> Iterator[Path]:
    """``stem``, then ``stem-2``, ``stem-3``, ..."""
    yield stem
    for counter in itertools.count(2):
        yield stem.with_name(f"{stem.name}-{counter}")


def cannot_create(folder: Path, error: OSError) -> UsageError:
    """The refusal of an output folder that the system would not make (or look up: a name too long)."""
    return UsageError(f"cannot create the output folder {folder}: {error.strerror}")


def _created_unclaimed(path: Path) -> tuple[Path, list[Path]]:
    """Create the folder ``path``, named by ``timestamped_directory``, or the next free name after its timestamp
    if another process has taken it since it was chosen (runs started in the same second); with the folders made
    above it, nearest first (a failure removes them where empty: an interrupted evaluation had left an empty
    evaluations/ in the run's folder)."""
    try:
        made, above = _made_with_parents(path.parent)
    except OSError as error:
        raise cannot_create(path, error) from None
    parents = [path.parent, *above] if made else above
    named = _TIMESTAMPED.fullmatch(path.name)
    for candidate in _numbered(path.with_name(named["stem"]) if named else path):
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            _remove_if_empty(parents)
            raise cannot_create(candidate, error) from None
        return candidate, parents
    raise AssertionError("unreachable: the numbered names never run out")


def run_directory_of(model: str | Path) -> Path:
    """The run directory of a model given as its run directory or as the model file in it."""
    return Path(model) if Path(model).is_dir() else Path(model).parent


def default_run_directory(dataset: str, model: str) -> Path:
    """``runs/<dataset>-<model>-<timestamp>``, with a counter added if that name is taken."""
    return timestamped_directory(RUNS_FOLDER, f"{dataset}-{model}")


@contextlib.contextmanager
def claimed_directory(path: Path | None, *, overwrite: bool = False, resume: bool = False,
                      resumable_by: str | None = None, finished_by: str | None = None,
                      writes: Sequence[str] = (), automatic: bool = False,
                      work: str = "run") -> Iterator[Path | None]:  # fmt: skip
    """Create (or take over) the folder ``path`` for one run and hold an exclusive lock on it while the block
    writes into it.

    An existing non-empty folder is used only with ``overwrite`` or ``resume``, or when a failed run left it (it
    holds FAILED_MARKER); unless resuming, the files an earlier run listed as its own are removed first. When the
    block fails (an error, Ctrl-C, SIGTERM), a folder this run created is removed with everything in it, unless it
    holds the file ``resumable_by`` (a checkpoint) or ``finished_by`` (the last of the results written: what
    failed came after them, reporting); a folder that is kept is marked failed, so it never looks like a finished
    run. Either way a kept folder lists the files this run wrote (``written``). ``path`` None (nothing
    is written) claims nothing.

    Files that no dimred run listed (the user's: their data, say) are never replaced: a folder holding one of the
    names in ``writes`` is refused before the block runs, and any other atomic write onto such a file fails. The
    list grows with every atomic write, so that a run killed outright (SIGKILL) leaves those files listed too.

    ``automatic``: ``path`` is a name ``timestamped_directory`` chose, and the block gets a new folder of that
    name, or of the next free one if another process has taken it since; use the path the block gets. ``work``:
    what the folder holds, as its failure marker names it ("comparison", "evaluation").
    """
    if path is None:
        yield None
        return
    if automatic:
        (path, parents), created = _created_unclaimed(path), True
    else:
        check_claimable(path, overwrite=overwrite, resume=resume, writes=writes, work=work)
        try:
            created, parents = _made_with_parents(path)
        except OSError as error:
            raise cannot_create(path, error) from None
    try:
        with locked_folder(path):
            _take_over(path, overwrite=overwrite, resume=resume, writes=writes, work=work)
            before, tops_before = snapshot(path), {entry.name for entry in path.iterdir()}
            try:
                with guarded_writes((path / name for name in _users_files(path, before, resume)), Journal(path).add):
                    yield path
            except BaseException as raised:
                error = noted_stop() or raised  # a stop a library swallowed, raising an error of its own in its place
                resumable, finished = (
                    name is not None and (path / name).exists() for name in (resumable_by, finished_by)
                )
                remove = created and not (resumable or finished)
                if not remove:
                    _list_written(path, before, tops_before)
                _mark_failed(path, error, work, remove=remove, resumable=resumable, finished=finished)
                _remove_if_empty(parents)  # those it made, empty ('x' of 'x/..'), whether or not its own folder went
                if isinstance(error, KeyboardInterrupt) and not remove:
                    error.add_note(f"continue it with dimred run --resume {path}" if resumable else
                                   f"what it wrote is in {path} ({FAILED_MARKER} says what)")  # fmt: skip
                raise
            if _failed_work(path) is not None:  # the earlier failure's marker, done with (never the user's file)
                (path / FAILED_MARKER).unlink()
            _list_written(path, before, tops_before)
    except UsageError:
        if created and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
            _remove_if_empty(parents)
        raise


def _made_with_parents(path: Path) -> tuple[bool, list[Path]]:
    """Create the folder ``path`` (where it is missing) and the folders above it that are missing, one at a time
    from the top: whether ``path`` was made here, and the folders made above it, nearest first. Only what this run
    made counts as made: 'new/../old' makes 'new' and never counts 'old' (nor 'x/..' the folder it names), and a
    folder another process made meanwhile is not this run's. Where one cannot be made, those made go again."""
    made: list[Path] = []
    try:
        for folder in [*reversed(path.parents), path]:
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            made.append(folder)
    except OSError:
        _remove_if_empty(made[::-1])
        raise
    return path in made, [folder for folder in reversed(made) if folder != path]


def _remove_if_empty(folders: Sequence[Path]) -> None:
    """Remove the folders a failed run created above its own, nearest first, as long as each is empty (another
    process may have written into one since)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def check_claimable(path: Path, *, overwrite: bool, resume: bool, writes: Sequence[str] = (),
                    work: str = "run") -> None:  # fmt: skip
    """Refuse a folder that a run (or other ``work``) may not write into: a file, a folder with other things in it
    (unless ``overwrite`` or ``resume``, or failed work of the same kind left it: a comparison never takes over a
    killed run's folder, which its checkpoint can continue), or one holding a file of the user's under a name in
    ``writes``."""
    try:
        there = path.exists()
    except OSError as error:  # a name too long for the file system: said as a folder that cannot be made is
        raise cannot_create(path, error) from None
    if there and not path.is_dir():
        raise UsageError(f"output folder {path} is a file, not a folder")
    if not path.is_dir():
        if not (above := next(parent for parent in path.absolute().parents if parent.exists())).is_dir():
            raise UsageError(f"cannot create the output folder {path}: {above} is not a folder")
        return
    # a link is the user's too (dimred writes none), refused by its name: guarded by its target, a link to a
    # result would keep the run from replacing that result
    clashes = sorted(set(writes) & (_users_files(path, snapshot(path), resume) | links(path))) if writes else []
    if clashes and (damage := list_damage(path)):
        raise UsageError(f"output folder {path} holds {clashes[0]}, which dimred would replace, but its list of the "
                         f"files dimred wrote there ({MANIFEST_NAME}) {damage}, so {clashes[0]} may be the user's; "
                         "move it, or choose another --out")  # fmt: skip
    if clashes:
        raise UsageError(f"output folder {path} holds {clashes[0]}, which no dimred run there listed as its own "
                         f"({MANIFEST_NAME}) and dimred would replace; move it, or choose another --out")  # fmt: skip
    if overwrite or resume or _failed_work(path) == work:
        return
    if any(entry.name != LOCK_NAME for entry in path.iterdir()):
        raise UsageError(
            f"output folder {path} already exists and is not empty; choose another out (--out) or pass "
            "overwrite=True (--overwrite)"
        )


def _users_files(path: Path, found: Snapshot, resume: bool) -> set[str]:
    """The files of ``found`` (the folder's) that no dimred run listed: the user's, never replaced. A run's marker
    and checkpoint are its own, and so is a resumed run's config.json (read and checked as the run's record)."""
    own = {*listed_files(path), *_markers_of_dimreds(path)} | ({CONFIG_FILE} if resume else set())
    return set(found) - own


def _markers_of_dimreds(path: Path) -> set[str]:
    """The failure marker and the checkpoint in ``path`` where dimred wrote them (a run killed before it listed
    its files leaves them unlisted): files of those names that say otherwise are the user's, never removed."""
    return {name for name, ours in ((FAILED_MARKER, _failed_work(path) is not None),
                                    (CHECKPOINT_NAME, _is_dimreds_checkpoint(path))) if ours}  # fmt: skip


def _failed_work(path: Path) -> str | None:
    """The kind of dimred work that failed in ``path`` ("run", "comparison", "evaluation"), as its marker says;
    None without a marker of dimred's."""
    try:
        with open(path / FAILED_MARKER, encoding="utf-8", errors="replace") as marker:
            said = re.match(r"This (run|comparison|evaluation) did not finish", marker.read(200))
    except OSError:
        return None
    return said.group(1) if said else None


def _is_dimreds_checkpoint(path: Path) -> bool:
    """Whether ``path``'s checkpoint file is dimred's: its safetensors header names dimred's checkpoint format."""
    try:
        with open(path / CHECKPOINT_NAME, "rb") as checkpoint:
            header = checkpoint.read(min(int.from_bytes(checkpoint.read(8), "little"), 1 << 20))
    except OSError:
        return False
    return f'"{CHECKPOINT_FORMAT}"'.encode() in header


def _take_over(path: Path, *, overwrite: bool, resume: bool, writes: Sequence[str], work: str) -> None:
    check_claimable(path, overwrite=overwrite, resume=resume, writes=writes, work=work)  # again, under the lock
    if (overwrite or _failed_work(path) == work) and not resume:  # the earlier run is replaced
        remove_written(path)
        if _is_dimreds_checkpoint(path):  # also where that run was killed before listing its files
            (path / CHECKPOINT_NAME).unlink()
        if work == "run":
            _remove_evaluations(path)
    remove_stray_temporaries(path)


def _remove_evaluations(path: Path) -> None:
    """The evaluations of the model a run replaces (each a folder of its own listed files in EVALUATIONS_FOLDER):
    they scored a model that is gone, and had stayed inside the new run. Files of the user's there stay."""
    folder = path / EVALUATIONS_FOLDER
    if folder.is_symlink() or not folder.is_dir():
        return
    for evaluation in folder.iterdir():
        if evaluation.is_dir() and not evaluation.is_symlink() and listed_files(evaluation):
            remove_written(evaluation)
            with contextlib.suppress(OSError):  # not empty: the user's files in it stay
                evaluation.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()


def _list_written(path: Path, before: Snapshot, tops_before: set[str]) -> None:
    """List the run's files where that can be done: without the list (a full disk) the next run only leaves
    them beside its own, so this failure changes nothing else."""
    with contextlib.suppress(OSError, DimredError):
        record_written(path, before, tops_before)


def _mark_failed(path: Path, error: BaseException, work: str, *, remove: bool, resumable: bool,
                 finished: bool) -> None:  # fmt: skip
    """Remove the failed run's folder, or mark it failed, saying how to go on (``resumable``: it holds a
    checkpoint; ``finished``: its results were all written); a second failure here (disk full) changes nothing."""
    if remove:
        shutil.rmtree(path, ignore_errors=True)
        return
    reason = ("terminated by SIGTERM" if isinstance(error, Terminated) else "interrupted"
              if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}")  # fmt: skip
    if resumable:
        how = "A new run with the same output folder replaces it; --resume continues it from its checkpoint.\n"
    elif finished:
        how = ("Its results (metrics.json, and model.safetensors where the model keeps one) are complete; it "
               "stopped while its reporters ran, so some of their files (plots) may be missing.\nA new run with "
               "the same output folder replaces it.\n")  # fmt: skip
    else:
        how = f"A new {work} with the same output folder replaces it.\n"
    if (path / FAILED_MARKER).exists() and _failed_work(path) is None:  # the user's file of that name stays
        return
    with contextlib.suppress(OSError):
        write_text(path / FAILED_MARKER, f"This {work} did not finish ({reason}).\n{how}")


def remove_stray_temporaries(path: Path) -> None:
    """Delete temporary files that a killed run left behind (``atomic_path``'s, and no others: a user's
    ``.notes.tmp`` stays)."""
    for stray in path.iterdir():
        if is_temporary(stray.name) and stray.is_file():
            stray.unlink()


def write_json(path: Path, content: Any) -> None:
    """Strict JSON: a value that is not a finite number is written as null, never as a bare NaN token."""
    write_text(path, json.dumps(_finite(content), indent=2, sort_keys=False, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_row_numbers(path: Path, numbers: Iterable[int]) -> None:
    """Row numbers of a data set as CSV, one column named ``row``."""
    write_text(path, "row\n" + "".join(f"{int(number)}\n" for number in numbers))


def write_history(path: Path, history: Sequence[dict[str, float]]) -> None:
    """The loss history as CSV, one row per logging interval."""
    buffer = io.StringIO()
    if history:
        writer = csv.DictWriter(buffer, fieldnames=list(history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
    write_text(path, buffer.getvalue())
