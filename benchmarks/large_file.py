"""Training on a file larger than it is wise to load: 10^7 x 3 float32 swiss-roll points in a .npy file.

    python benchmarks/large_file.py [--rows 10000000]

Makes the file (in chunks, about 120 MB), then runs `dimred run --dataset file` on it as its own process:
the file is memory-mapped, the scaler is fitted in one streaming pass, training reads its minibatches from the
file, and evaluation uses a seeded sample of 10^6 rows. Prints the wall time and the run's peak RSS (target
< 1 GB). Writes results/large_file.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from common import DIMRED, print_table, run_process, write_results

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
    parser.add_argument("--rows", type=int, default=10_000_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "big.npy"
        make_file(data, rows)
        out = Path(scratch) / "run"
        command = [DIMRED, "run", "--dataset", "file", "--set", f"dataset.path={data}", "--model", "mlp-ae",
                   "--out", str(out)]  # fmt: skip
        process = run_process(command)
        if process.returncode:
            raise SystemExit(process.stderr)
        metrics = json.loads((out / "metrics.json").read_text())
        size_mb = data.stat().st_size / 2**20
    row = [rows, size_mb, process.seconds, process.peak_rss_mb, metrics["rmse"], metrics["trustworthiness"],
           metrics["evaluated_rows"]]  # fmt: skip
    print_table(["rows", "file MB", "wall s", "peak RSS MB", "rmse", "trustworthiness", "evaluated rows"], [row])
    print(f"\npeak RSS {process.peak_rss_mb:.0f} MB for a {size_mb:.0f} MB file (target < 1024 MB)")
    write_results("large_file", {"rows": rows, "file_mb": size_mb, "seconds": process.seconds,
                                 "peak_rss_mb": process.peak_rss_mb, "metrics": {k: v for k, v in metrics.items()
                                                                                 if k != "rnx_curve"}})  # fmt: skip


if __name__ == "__main__":
    main()
