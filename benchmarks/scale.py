"""dimred at 10^4, 10^5 and 10^6 swiss-roll points, beside PCA, Isomap and (when installed) UMAP.

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--isomap-limit-gb 16]

Each method runs as its own process: wall time end to end (data, training, metrics on a 5 000-point subsample,
saving and plots for dimred) and peak resident memory. Isomap runs under a memory limit and a 5-minute
timeout; where it cannot finish, the table says why. Writes results/scale.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import tempfile
from pathlib import Path

from common import DIMRED, HERE, PYTHON, count, last_json_line, print_table, run_process, write_results

TIMEOUT = 300


def dimred_run(n: int, folder: Path) -> dict:
    out = folder / f"dimred-{n}"
    command = [DIMRED, "run", "--dataset", "swissroll", "--model", "mlp-ae", "--set", f"dataset.n_samples={n}"]
    process = run_process([*command, "--out", str(out)], timeout=TIMEOUT)
    if process.returncode:
        reason = process.stderr.strip().splitlines()[-1] if process.stderr.strip() else f"exit {process.returncode}"
        return {"method": "dimred mlp-ae", "n": n, "seconds": process.seconds, "error": reason}
    metrics = json.loads((out / "metrics.json").read_text())
    return {"method": "dimred mlp-ae", "n": n, "seconds": process.seconds, "peak_rss_mb": process.peak_rss_mb,
            **{key: metrics[key] for key in ("rmse", "trustworthiness", "continuity", "train_seconds")}}  # fmt: skip


def classical_run(method: str, n: int, memory_limit_gb: float | None) -> dict:
    command = [PYTHON, str(HERE / "classical.py"), "--method", method, "--n", str(n)]
    process = run_process(command, timeout=TIMEOUT, memory_limit_gb=memory_limit_gb)
    if process.returncode:
        reason = process.stderr.strip().splitlines()[-1] if process.stderr.strip() else f"exit {process.returncode}"
        if any(sign in process.stderr for sign in ("MemoryError", "Unable to allocate", "can't allocate memory")):
            reason = f"out of memory (limit {memory_limit_gb} GB)"
        return {"method": method, "n": n, "seconds": process.seconds, "error": reason}
    return {"seconds": process.seconds, "peak_rss_mb": process.peak_rss_mb, **last_json_line(process.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--isomap-limit-gb", type=float, default=16.0)
    arguments = parser.parse_args()
    try:
        sizes = [count(size) for size in arguments.sizes.split(",")]
    except argparse.ArgumentTypeError as error:
        parser.error(f"--sizes: {error} (sizes are whole numbers of rows, comma-separated)")
    methods = ["pca", "isomap"] + (["umap"] if importlib.util.find_spec("umap") else [])
    results = []
    isomap_failed_at = None
    with tempfile.TemporaryDirectory() as scratch:
        for n in sizes:
            results.append(dimred_run(n, Path(scratch)))
            for method in methods:
                if method == "isomap" and isomap_failed_at is not None:
                    results.append({"method": method, "n": n, "error": f"not tried: failed at n={isomap_failed_at}"})
                    continue
                limit = arguments.isomap_limit_gb if method == "isomap" else None
                results.append(classical_run(method, n, limit))
                if method == "isomap" and "error" in results[-1]:
                    isomap_failed_at = n
            for result in results[-1 - len(methods) :]:
                print(json.dumps(result), flush=True)
    print()
    columns = [
        "method",
        "n",
        "seconds",
        "fit_seconds",
        "train_seconds",
        "peak_rss_mb",
        "rmse",
        "trustworthiness",
        "error",
    ]
    print_table(columns, [[result.get(column, "") for column in columns] for result in results])
    dimred_times = {result["n"]: result["seconds"] for result in results
                    if result["method"] == "dimred mlp-ae" and "error" not in result}  # fmt: skip
    growth = {}
    for small, large in itertools.pairwise(sizes):
        if small in dimred_times and large in dimred_times:
            growth[f"{small}->{large}"] = dimred_times[large] / dimred_times[small]
            print(f"dimred time grows {growth[f'{small}->{large}']:.2f}x from {small} to {large} points "
                  f"({large / small:.0f}x the data)")  # fmt: skip
    write_results("scale", {"results": results, "dimred_time_growth": growth})


if __name__ == "__main__":
    main()
