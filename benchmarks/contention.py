"""Fits that share the CPU: one `ne-ae` fit of digits alone and two at once, with torch's own thread count (one
thread per core) and with one thread each.

    python benchmarks/contention.py [--model ne-ae]    # about 3 minutes on 2 cores

torch computes on the CPU with OpenMP threads, one per core by default. A step of these networks is many small
parallel regions, and between them OpenMP's threads wait by spinning; where another process needs the same cores,
the spinning threads take the time it needs (and it theirs). Each fit runs in a process of its own, timed around
`Reducer.fit` alone. Writes results/contention.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess

from common import PYTHON, print_table, write_results

FIT = """
import json, time, warnings
import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import MinMaxScaler
import torch
import dimred

warnings.filterwarnings("ignore")
X = MinMaxScaler().fit_transform(load_digits().data)
reducer = dimred.Reducer(model={model!r}, random_state=0, device="cpu", callbacks=["no-progress"])
started = time.perf_counter()
reducer.fit(X)
print(json.dumps({{"seconds": time.perf_counter() - started, "threads": torch.get_num_threads()}}))
"""


def fits_at_once(model: str, count: int, threads: int | None) -> list[dict[str, float]]:
    """``count`` fits started together, each in its own process; ``threads``: OMP_NUM_THREADS (None: torch's
    default)."""
    environment = dict(os.environ)
    environment.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        environment["OMP_NUM_THREADS"] = str(threads)
    command = [PYTHON, "-c", FIT.format(model=model)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
                 for _ in range(count)]  # fmt: skip
    try:
        finished = [process.communicate() for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (_out, err) in zip(processes, finished, strict=True):
        if process.returncode != 0:
            raise SystemExit(f"a fit of {model} failed: {err.strip().splitlines()[-1] if err.strip() else 'no output'}")
    return [json.loads(out.strip().splitlines()[-1]) for out, _err in finished]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ne-ae")
    model = parser.parse_args().model
    rows, results = [], {}
    for threads in (None, 1):
        alone = fits_at_once(model, 1, threads)[0]
        together = fits_at_once(model, 2, threads)
        slowest = max(fit["seconds"] for fit in together)
        label = f"{alone['threads']} (torch's default)" if threads is None else "1 (OMP_NUM_THREADS=1)"
        rows.append([label, alone["seconds"], slowest, slowest / alone["seconds"]])
        results[label] = {"alone_s": alone["seconds"], "two_at_once_s": [fit["seconds"] for fit in together]}
    print_table(["threads per fit", "alone s", "two at once s (slower)", "ratio"], rows)
    default, single = rows
    print(
        f"two fits at once with one thread each finish {default[2] / single[2]:.1f}x sooner than with torch's "
        f"default; alone, one thread takes {single[1] / default[1]:.2f}x the default's time"
    )
    write_results("contention", {"model": model, "data": "digits (1 797 x 64)", "results": results})


if __name__ == "__main__":
    main()
