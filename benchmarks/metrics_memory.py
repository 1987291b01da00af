"""The metrics on 100 000 points: time and peak memory of scoring an embedding the way every run does.

    python benchmarks/metrics_memory.py [--n 100000]

Scores a PCA embedding of an n-point swiss roll with every built-in metric plugin (neighbourhood metrics on a
seeded 5 000-point subsample, reconstruction error on all points) and prints the time and the process's peak
RSS. Writes results/metrics_memory.json.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from sklearn.decomposition import PCA

from common import count, print_table, write_results
from dimred._engine.evaluation import score
from dimred._host.registry import get_registry
from dimred._host.resolve import instantiate
from dimred.plugins.swissroll import SwissRoll


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=count, default=100_000)
    n = parser.parse_args().n
    data = SwissRoll(SwissRoll.Options(n_samples=n)).load(0)
    X = (data.X - data.X.min(axis=0)) / (data.X.max(axis=0) - data.X.min(axis=0))
    pca = PCA(n_components=2).fit(X)
    codes = pca.transform(X)
    reconstruction = pca.inverse_transform(codes)
    plugins = [instantiate("metric", info.name) for info in get_registry().plugins("metric")]
    started = time.perf_counter()
    metrics, _context = score(torch.from_numpy(X), torch.from_numpy(codes), torch.from_numpy(reconstruction), 0,
                              plugins, data.intrinsic)  # fmt: skip
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [[key, value] for key, value in metrics.items() if isinstance(value, float | int)]
    print_table(["metric", "value"], rows)
    print(f"\nscoring {n} points took {seconds:.2f} s; peak RSS of the whole process {peak_mb:.0f} MB (target < 2048)")
    write_results("metrics_memory", {"n": n, "seconds": seconds, "peak_rss_mb": peak_mb,
                                     "metrics": {k: v for k, v in metrics.items() if k != "rnx_curve"},
                                     "numpy": np.__version__})  # fmt: skip


if __name__ == "__main__":
    main()
