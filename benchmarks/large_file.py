"""Training on a file larger than it is wise to load: 10^7 x 3 float32 swiss-roll points in a .npy file.

    python benchmarks/large_file.py [--rows 10000000]
    python benchmarks/large_file.py --rows 1000000 --models mlp-ae,ne-ae    # ne-ae's kNN graph beside mlp-ae

Makes the file (in chunks, about 120 MB), then runs `dimred run --dataset file` on it as its own process, once
per model: the file is memory-mapped, the scaler is fitted in one streaming pass, training reads its minibatches
from the file (above 2 * 10^6 rows; below, the rows are copied into memory once, for every model alike), and
evaluation uses a seeded sample of 10^6 rows. Prints each run's wall time and peak RSS (target < 1 GB for
mlp-ae; ne-ae adds its n * k neighbour graph). Writes results/large_file.json (results/large_file_<models>.json
for other models than mlp-ae).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from common import DIMRED, count, print_table, run_process, write_results

CHUNK = 1_000_000


def make_file(path: Path, rows: int) -> None:
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 3))
    rng = np.random.default_rng(0)
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        position = 1.5 * np.pi * (1 + 2 * rng.random(n))
        block = np.column_stack([position * np.cos(position), 21 * rng.random(n), position * np.sin(position)])
        array[start : start + n] = block + 0.05 * rng.standard_normal(block.shape)
    array.flush()
    del array


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=count, default=10_000_000)
    parser.add_argument("--models", default="mlp-ae")
    arguments = parser.parse_args()
    rows, models = arguments.rows, arguments.models.split(",")
    table, results = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "big.npy"
        make_file(data, rows)
        size_mb = data.stat().st_size / 2**20
        for model in models:
            out = Path(scratch) / model
            command = [DIMRED, "run", "--dataset", "file", "--set", f"dataset.path={data}", "--model", model,
                       "--reporter", "metrics-table", "--out", str(out)]  # fmt: skip
            process = run_process(command)
            if process.returncode:
                raise SystemExit(process.stderr)
            metrics = json.loads((out / "metrics.json").read_text())
            table.append([model, rows, size_mb, process.seconds, process.peak_rss_mb, metrics["rmse"],
                          metrics["trustworthiness"], metrics["evaluated_rows"]])  # fmt: skip
            metrics.pop("rnx_curve", None)
            results[model] = {"seconds": process.seconds, "peak_rss_mb": process.peak_rss_mb, "metrics": metrics}
    headers = ["model", "rows", "file MB", "wall s", "peak RSS MB", "rmse", "trustworthiness", "evaluated rows"]
    print_table(headers, table)
    name = "large_file" if models == ["mlp-ae"] else "large_file_" + "_".join(models)
    write_results(name, {"rows": rows, "file_mb": size_mb, "runs": results})


if __name__ == "__main__":
    main()
