"""Handing a run or a comparison to the reporters: each that fails is skipped and named, and none may change
dimred's own result files."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dimred._core.atomic import write_bytes
from dimred._core.contracts import Callback, ComparisonRecord, Reporter, RunRecord
from dimred._core.errors import PluginError, SkippedPluginWarning, blame
from dimred._core.runfiles import COMPARISON_RESULTS, RUN_RESULTS
from dimred._engine import evaluation
from dimred._io.written import snapshot


def report(reporters: Sequence[Reporter], record: RunRecord | ComparisonRecord) -> list[str]:
    """Hand a run (``report``) or a comparison (``report_comparison``) to every reporter; one that fails is
    skipped, and its failure returned, so the others still report."""
    comparing = isinstance(record, ComparisonRecord)
    action = "report the comparison" if comparing else "report"
    own = COMPARISON_RESULTS if comparing else RUN_RESULTS  # written when the reporters start: none may change
    written = results_written(record.directory, own) if reporters else {}
    failures = []
    for reporter in reporters:
        before = results_state(record.directory, own)
        try:
            with blame(reporter, action, skipped=True):
                (reporter.report_comparison if comparing else reporter.report)(record)
            check_results_kept(reporter, record.directory, before, written)
        except PluginError as error:
            failures.append(str(error))
    return failures


def results_state(directory: Path | None, names: Sequence[str]) -> dict[str, tuple[int, int, int] | None]:
    """Each of these files of ``directory`` as ``written.snapshot`` tells it apart from a rewrite (its inode, size
    and time; None where there is none)."""
    if directory is None:
        return {}
    files = snapshot(Path(directory))
    return {name: files.get(name) for name in names}


def results_written(directory: Path | None, names: Sequence[str]) -> dict[str, bytes | None]:
    """The contents of these files of ``directory`` (None where there is none), to put back what a reporter
    changes."""
    if directory is None:
        return {}
    paths = {name: Path(directory) / name for name in names}
    return {name: path.read_bytes() if path.is_file() else None for name, path in paths.items()}


def check_results_kept(reporter: Reporter, directory: Path | None, before: Mapping[str, Any],
                       written: Mapping[str, bytes | None] | None = None) -> None:  # fmt: skip
    """Refuses a reporter that changed a file of ``before`` (``results_state`` ahead of it); where ``written``
    (``results_written``) holds the files as dimred wrote them, puts each back, or removes one that was not there."""
    after = results_state(directory, list(before))
    changed = [name for name, state in before.items() if after[name] != state]
    if not changed:
        return
    for name in changed if written is not None else ():
        path = Path(directory) / name
        if written[name] is None:
            path.unlink(missing_ok=True)
        else:
            write_bytes(path, written[name])
    restored = "" if written is None else " (put back as dimred wrote them)"
    raise PluginError(
        f"reporter '{reporter.name}' changed {', '.join(changed)}, dimred's own results in "
        f"{directory}{restored}: a reporter writes files of its own, through run.artifact(NAME)"
    )


def check_run(plugins: Sequence[Callback | Reporter], config: Mapping[str, Any]) -> None:
    """Let each callback and reporter refuse the run as configured (``Plugin.check_run``), before it starts."""
    for plugin in plugins:
        with blame(plugin, "check the run's configuration"):
            plugin.check_run(config)


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
