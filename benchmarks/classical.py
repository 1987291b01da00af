"""One classical reducer on the swiss roll, as a process of its own so its time and memory can be measured.

    python benchmarks/classical.py --method pca|isomap|umap --n 10000 [--seed 0]

Uses dimred's swiss roll and MinMax scaling and dimred's metrics (trustworthiness and continuity on a 5 000-point
subsample, RMSE where the method can reconstruct), and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from common import count
from dimred._core import measures as metrics
from dimred._engine.evaluation import metric_sample
from dimred.plugins.swissroll import SwissRoll


def make(method: str, seed: int):
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed)
    if method == "isomap":
        from sklearn.manifold import Isomap

        return Isomap(n_neighbors=10, n_components=2)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed)
    raise SystemExit(f"unknown method {method}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--n", type=count, required=True)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    X = SwissRoll(SwissRoll.Options(n_samples=arguments.n)).load(arguments.seed).X
    X = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))
    reducer = make(arguments.method, arguments.seed)
    started = time.perf_counter()
    Z = reducer.fit_transform(X)
    fit_seconds = time.perf_counter() - started
    sample = metric_sample(len(X), arguments.seed)
    rows = slice(None) if sample is None else sample.numpy()
    X_sample, Z_sample = torch.from_numpy(X[rows]), torch.from_numpy(np.asarray(Z, dtype=np.float64)[rows])
    result = {
        "method": arguments.method,
        "n": arguments.n,
        "fit_seconds": fit_seconds,
        "trustworthiness": metrics.trustworthiness(X_sample, Z_sample, 10),
        "continuity": metrics.continuity(X_sample, Z_sample, 10),
        "rmse": None,
    }
    if hasattr(reducer, "inverse_transform") and arguments.method == "pca":
        result["rmse"] = metrics.rmse(torch.from_numpy(X), torch.from_numpy(reducer.inverse_transform(Z)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
