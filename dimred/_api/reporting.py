"""Handing a run or a comparison to the reporters: each that fails is skipped and named, and none may change
dimred's own result files."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dimred._core.atomic import write_bytes
from dimred._core.contracts import Callback, ComparisonRecord, Reporter, RunRecord
from dimred._core.errors import PluginError, SkippedPluginWarning, UsageError, blame
from dimred._core.runfiles import COMPARISON_RESULTS, RUN_RESULTS
from dimred._engine import evaluation
from dimred._io.written import changed_since, check_results_kept, results_state, results_written


def report(reporters: Sequence[Reporter], record: RunRecord | ComparisonRecord, named: bool = False) -> list[str]:
    """Hand a run (``report``) or a comparison (``report_comparison``) to every reporter; one that fails is
    skipped, and its failure returned, so the others still report. Where the user ``named`` the reporters, one
    that wrote none of its files into the record's folder says so (a loss curve of an evaluation, which trains
    nothing), instead of leaving the user to look for them."""
    own = COMPARISON_RESULTS if isinstance(record, ComparisonRecord) else RUN_RESULTS  # none may change them
    written = results_written(record.directory, own) if reporters else {}
    failures = []
    earlier: dict[str, tuple[str, bytes | None]] = {}  # earlier reporters' files: by whom, and as they wrote them
    for reporter in reporters:
        errors = _reported(reporter, record, written, earlier)
        if errors:
            failures.append("; ".join(errors))
            continue
        if record.directory is None:
            continue
        files = files_of([reporter])
        mine = [name for name in files if (record.directory / name).is_file()]
        earlier |= {name: (reporter.name, _kept_copy(record.directory / name)) for name in mine
                    if name not in earlier}  # fmt: skip
        if named and files and not mine:
            record.echo(
                f"reporter '{reporter.name}' wrote no {', '.join(files)}: there was nothing for it to show here"
            )
    return failures


def _reported(reporter: Reporter, record: RunRecord | ComparisonRecord, written: Mapping[str, bytes | None],
              earlier: Mapping[str, tuple[str, bytes | None]]) -> list[str]:  # fmt: skip
    """Hand the record to one reporter; what went wrong: its own failure, and dimred's results (``written``) or an
    earlier reporter's files that it changed, each put back whether or not it raised."""
    comparing = isinstance(record, ComparisonRecord)
    before, theirs = results_state(record.directory, list(written)), results_state(record.directory, list(earlier))
    errors = []
    try:
        with blame(reporter, "report the comparison" if comparing else "report", skipped=True):
            (reporter.report_comparison if comparing else reporter.report)(record)
    except PluginError as error:
        errors.append(str(error))
    for check, arguments in ((check_results_kept, (reporter, record.directory, before, written)),
                             (_check_others_kept, (reporter, record, theirs, earlier))):  # fmt: skip
        try:
            check(*arguments)
        except PluginError as error:
            errors.append(str(error))
    return errors


KEPT_COPY_BYTES = 64 * 2**20  # a larger file an earlier reporter wrote is not copied: written over, it is named


def _kept_copy(path: Path) -> bytes | None:
    return path.read_bytes() if path.stat().st_size <= KEPT_COPY_BYTES else None


def _check_others_kept(reporter: Reporter, record: RunRecord | ComparisonRecord, before: Mapping[str, Any],
                       earlier: Mapping[str, tuple[str, bytes | None]]) -> None:  # fmt: skip
    """Refuses a reporter that changed a file an earlier reporter wrote (``before``: its state ahead of this one),
    and puts that file back as the earlier one wrote it (where it was small enough to keep a copy of)."""
    changed = changed_since(record.directory, before)
    if not changed:
        return
    for name in changed:
        if earlier[name][1] is not None:
            write_bytes(record.directory / name, earlier[name][1])
    kept = {True: "put back as it wrote it", False: "too large to have been kept: not put back"}
    owners = ", ".join(f"{name} (written by reporter '{earlier[name][0]}', {kept[earlier[name][1] is not None]})"
                       for name in changed)  # fmt: skip
    raise PluginError(f"reporter '{reporter.name}' wrote over {owners}: a reporter writes files of its own names")


def files_of(reporters: Sequence[Reporter]) -> tuple[str, ...]:
    """The files the reporters say they write into a run's or comparison's folder (``Reporter.files``)."""
    return tuple(dict.fromkeys(name for _reporter, name in _declared_files(reporters)))


def check_one_writer_each(reporters: Sequence[Reporter]) -> None:
    """Refuse two reporters that say they write one file into the folder: one would write over the other's."""
    writers: dict[str, str] = {}
    for reporter, name in _declared_files(reporters):
        if writers.setdefault(name, reporter.name) != reporter.name:
            raise UsageError(f"reporters '{writers[name]}' and '{reporter.name}' both write {name}, one over the "
                             "other's; choose the reporters to run without one of them (--reporter NAME, "
                             "repeatable)")  # fmt: skip


def _declared_files(reporters: Sequence[Reporter]) -> list[tuple[Reporter, str]]:
    declared = []
    for reporter in reporters:
        with blame(reporter, "name its files"):
            named = reporter.files()
            if not isinstance(named, tuple | list) or not all(isinstance(name, str) and name for name in named):
                raise TypeError(f"files() must return a tuple (or list) of file names, got {named!r}")
        declared += [(reporter, name) for name in named]
    return declared


def check_run(plugins: Sequence[Callback | Reporter], config: Mapping[str, Any]) -> None:
    """Let each callback and reporter refuse the run as configured (``Plugin.check_run``), before it starts; a
    refusal that does not name the plugin is prefixed with its name."""
    for plugin in plugins:
        try:
            with blame(plugin, "check the run's configuration"):
                plugin.check_run(config)
        except UsageError as refusal:
            if plugin.name in str(refusal):
                raise
            raise UsageError(f"{plugin.kind} '{plugin.name}' refuses this run: {refusal}") from None


def warn_skipped(failures: Sequence[str]) -> None:
    """Warn about each plugin that failed and was skipped, so a library caller hears of it (the CLI says it in
    its Error line instead)."""
    for failure in failures:
        warnings.warn(f"{failure} (skipped; the other results are saved)", SkippedPluginWarning, stacklevel=3)


def failures_of(metrics: Mapping[str, Any]) -> list[str]:
    """The messages of the metric plugins that failed on the training rows, then those that failed otherwise (or
    only) on the held-out ones, saying so."""
    on_training = list(metrics.get(evaluation.FAILED_METRICS, {}).values())
    on_held_out = metrics.get(f"{evaluation.HELD_OUT_PREFIX}{evaluation.FAILED_METRICS}", {}).values()
    return on_training + [f"{message} (on the held-out rows)" for message in on_held_out if message not in on_training]
