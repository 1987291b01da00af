"""Encoding throughput: points per second through a trained model in eval mode, beside PCA and UMAP.

    python benchmarks/throughput.py [--n 2000000] [--repeats 5]

Trains a short default model (throughput does not depend on how well it is trained), then encodes n swiss-roll
points in large batches under torch.inference_mode, as ``dimred encode`` and the metrics do (on the CPU: a float64
copy of the network, results rounded to float32), and the float32 network itself for comparison. Writes
results/throughput.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.decomposition import PCA

import dimred
from common import count, print_table, torch_threads_kept, write_results
from dimred._engine import evaluation
from dimred.plugins.swissroll import SwissRoll


def best_rate(encode: Callable[[], object], n: int, repeats: int) -> tuple[float, list[float]]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        encode()
        seconds.append(time.perf_counter() - started)
    return n / statistics.median(seconds), seconds


@torch.inference_mode()
def float32_network(module: torch.nn.Module, X: torch.Tensor, batch: int) -> torch.Tensor:
    """The network run as it is, in float32: what dimred's CPU inference did before it computed in float64."""
    module.eval()
    return torch.cat([module.encode(X[start : start + batch]) for start in range(0, len(X), batch)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=count, default=2_000_000)
    parser.add_argument("--repeats", type=count, default=5)
    arguments = parser.parse_args()
    result = dimred.run(dataset="swissroll", model="mlp-ae", steps=50, out=None, reporters=[])
    X_raw = SwissRoll(SwissRoll.Options(n_samples=arguments.n)).load(1).X
    reducer = result.reducer
    X = reducer.scaler_.transform(torch.from_numpy(X_raw).float())
    rows = []
    for batch in (1 << 14, 1 << 16, 1 << 18):
        rate, seconds = best_rate(
            lambda b=batch: evaluation.encode(reducer.module_, X, b), arguments.n, arguments.repeats
        )
        rows.append([f"dimred mlp-ae (batch {batch})", arguments.n, statistics.median(seconds), rate])
    # What the float64 computation costs: the float32 network itself, one batch size, same rows.
    rate, seconds = best_rate(lambda: float32_network(reducer.module_, X, 1 << 14), arguments.n, arguments.repeats)
    rows.append(["float32 network (batch 16384)", arguments.n, statistics.median(seconds), rate])
    X_numpy = X.numpy().astype(np.float64)
    pca = PCA(n_components=2).fit(X_numpy[:100_000])
    rate, seconds = best_rate(lambda: pca.transform(X_numpy), arguments.n, arguments.repeats)
    rows.append(["PCA.transform", arguments.n, statistics.median(seconds), rate])
    if importlib.util.find_spec("umap"):
        import umap

        subset = X_numpy[:100_000]
        with torch_threads_kept():
            fitted = umap.UMAP(n_components=2, random_state=0).fit(X_numpy[:10_000])
            # once, as a user's first call: numba compiles the transform in it
            rate, seconds = best_rate(lambda: fitted.transform(subset), len(subset), 1)
        rows.append(["UMAP.transform", len(subset), statistics.median(seconds), rate])
    print_table(["encoder", "points", "median seconds", "points per second"], rows)
    best = max(row[3] for row in rows if row[0].startswith("dimred"))
    print(f"\nbest dimred encode rate: {best:.3g} points/s (target >= 2e6)")
    write_results(
        "throughput",
        {"rows": [dict(zip(["encoder", "points", "seconds", "points_per_second"], row, strict=True)) for row in rows],
         "best_dimred_points_per_second": best, "threads": torch.get_num_threads()},
    )  # fmt: skip


if __name__ == "__main__":
    main()
