"""Shared helpers of the benchmarks: timing whole processes with their peak memory, tables, JSON results."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PYTHON = sys.executable
DIMRED = str(Path(sys.executable).with_name("dimred"))


@dataclass
class ProcessRun:
    """One finished process: its wall time, peak resident memory and output."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_process(
    command: Sequence[str], *, timeout: float | None = None, memory_limit_gb: float | None = None
) -> ProcessRun:
    """Run ``command`` to its end; measure its wall time and its own peak RSS (through ``wait4``)."""

    def limit_memory() -> None:
        if memory_limit_gb is not None:
            limit = int(memory_limit_gb * 1024**3)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err, text=True, preexec_fn=limit_memory)
        timer = threading.Timer(timeout, process.kill) if timeout else None
        if timer:
            timer.start()
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if timer:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stderr = err.read()
        if timer and not timer.is_alive() and seconds >= timeout:
            stderr += f"\n(killed after {timeout} s)"
        return ProcessRun(seconds, usage.ru_maxrss / 1024, process.returncode, out.read(), stderr)


@contextlib.contextmanager
def torch_threads_kept() -> Iterator[None]:
    """Around a peer's fit: umap-learn's numba, where its thread pool starts, sets the OpenMP thread count of the
    process (torch's too) to one per core, so that the fits after it would compute on other threads than those
    before (where OMP_NUM_THREADS asked for fewer). dimred's own umap plugin does the same for its users."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def count(text: str) -> int:
    """An argparse type: a whole number from 1 (a count of seeds, rounds, rows; 0 would measure nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def last_json_line(text: str) -> dict[str, Any]:
    """The last line of ``text`` that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in output:\n{text[-2000:]}")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(header) for header in headers]] + [[_format(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` with the machine's description, and return its path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        **payload,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return path
