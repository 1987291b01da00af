"""The kNN graph: exact below the threshold against brute force, the approximate path above it (forced on small
data) against exact, and the error that names the pip extra when the library is missing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from dimred._core import graphs
from dimred._core.errors import UsageError


def brute_force(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    full = np.linalg.norm(X[:, None].astype(np.float64) - X[None], axis=2)
    np.fill_diagonal(full, np.inf)
    order = np.argsort(full, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(full, order, axis=1), order


def check_contract(distances: torch.Tensor, indices: torch.Tensor, n: int, k: int) -> None:
    assert distances.shape == indices.shape == (n, k)
    assert distances.dtype == torch.float32
    assert indices.dtype == torch.int64
    assert not (indices == torch.arange(n)[:, None]).any()  # the row itself is excluded
    assert (distances.diff(dim=1) >= 0).all()  # nearest first
    assert ((indices >= 0) & (indices < n)).all()
    assert all(len(set(row)) == k for row in indices.tolist())


def test_exact_knn_graph_matches_brute_force():
    X = np.random.default_rng(0).random((200, 6))
    distances, indices = graphs.knn_graph(X, 7)
    check_contract(distances, indices, 200, 7)
    expected_distances, expected_indices = brute_force(X, 7)
    np.testing.assert_array_equal(indices.numpy(), expected_indices)  # continuous data: no ties
    np.testing.assert_allclose(distances.numpy(), expected_distances, rtol=1e-4, atol=1e-6)


def test_the_approximate_path_keeps_the_contract_and_recall(monkeypatch, tmp_path):
    pytest.importorskip("faiss")
    X = np.random.default_rng(1).random((2000, 10), dtype=np.float32)
    path = tmp_path / "rows.npy"
    np.save(path, X)
    monkeypatch.setattr(graphs, "EXACT_KNN_ROWS", 1000)
    distances, indices = graphs.knn_graph(np.load(path, mmap_mode="r"), 15)  # a read-only memmap
    check_contract(distances, indices, 2000, 15)
    exact_indices = graphs.exact_knn(X, 15)[1]
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(indices.tolist(), exact_indices.tolist(), strict=True)])
    assert recall >= 0.9
    found = np.linalg.norm(X[:, None] - X[indices.numpy()], axis=2)  # the distances are the rows' true distances
    np.testing.assert_allclose(distances.numpy(), found, rtol=1e-4, atol=1e-5)
    tensor_distances, _ = graphs.knn_graph(torch.from_numpy(X).double(), 15)  # a float64 tensor works too
    assert tensor_distances.shape == (2000, 15)


def test_the_approximate_search_widens_until_rows_of_many_independent_columns_find_their_neighbours():
    # Gaussian rows in 40 dimensions spread each row's neighbours over many of the index's cells: 16 of them held
    # about half
    pytest.importorskip("faiss")
    X = np.random.default_rng(3).standard_normal((6000, 40)).astype(np.float32)
    indices = graphs.approximate_knn(X, 10)[1]
    exact = graphs.exact_knn(X, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(indices.tolist(), exact.tolist(), strict=True)])
    assert recall >= 0.85  # the sample it measured reached 0.9


def test_the_approximate_search_leaves_faiss_with_the_callers_thread_count():
    pytest.importorskip("faiss")
    # faiss imported before torch has an OpenMP runtime of its own (after it, the two share one)
    script = """
import faiss
faiss.omp_set_num_threads(1)
import numpy as np, torch
from dimred._core.graphs import approximate_knn
torch.set_num_threads(2)
approximate_knn(np.random.default_rng(0).random((2000, 8), dtype=np.float32), 5)
print(faiss.omp_get_max_threads())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["1"]


def test_a_duplicated_row_is_excluded_as_itself(monkeypatch):
    pytest.importorskip("faiss")
    X = np.random.default_rng(2).random((1500, 4), dtype=np.float32)
    X[1:20] = X[0]  # 20 copies of one row: more than k + 1
    monkeypatch.setattr(graphs, "EXACT_KNN_ROWS", 100)
    distances, indices = graphs.knn_graph(X, 5)
    check_contract(distances, indices, 1500, 5)
    assert (distances[:20] == 0).all()


def test_a_missing_library_above_the_threshold_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now fails
    monkeypatch.setattr(graphs, "EXACT_KNN_ROWS", 50)
    with pytest.raises(UsageError, match=r"pip install 'dimred\[ann\]'") as caught:
        graphs.knn_graph(np.random.default_rng(3).random((100, 3)), 5)
    assert "50 rows" in str(caught.value)
    distances, _ = graphs.knn_graph(np.random.default_rng(3).random((50, 3)), 5)  # at the threshold: exact
    assert distances.shape == (50, 5)


def test_duplicates_are_at_distance_zero_and_every_row_stays_nearest_first():
    # far from the origin the search's rounding puts a duplicate past true neighbours: set to 0, it moves first
    X = np.repeat(np.random.default_rng(4).random((50, 4)) * 1000, 2, axis=0)
    distances, indices = graphs.knn_graph(X, 5)
    assert bool((distances.diff(dim=1) >= 0).all())
    assert bool((distances[:, 0] == 0).all())
    assert bool((indices[:, 0] == torch.arange(100) ^ 1).all())  # each row's copy: 0-1, 2-3, ...


def test_the_exact_search_keeps_its_precision_on_data_far_from_the_origin():
    from sklearn.datasets import make_swiss_roll

    X = make_swiss_roll(3000, random_state=0)[0]
    near = graphs.exact_knn(X, 10)[1]
    for offset in (1e4, 1e8):  # unscaled data a long way out: recall 0.12 before it was centred, and at 1e8 all
        far = graphs.exact_knn(X + offset, 10)[1]  # distances 0 while float64 rows were cast before they were
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(near.tolist(), far.tolist(), strict=True)])
        assert recall > 0.99, offset


@pytest.mark.parametrize(("gap", "dtype"), [(1e3, np.float32), (1e6, np.float64)])
def test_the_exact_search_keeps_its_precision_on_tight_clusters_far_apart(gap, dtype):
    """Two blobs a thousand (float32 rows) or a million (float64 rows) deviations apart, scaled to [0, 1]: each
    blob's rows are closer than float32's |a|^2 + |b|^2 - 2ab rounds (recall 0.93 at a thousand before such rows
    were searched again in float64, from the rows as given)."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (100, 3)), rng.normal(gap, 1, (100, 3))])
    X = ((X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))).astype(dtype)
    distances, indices = graphs.exact_knn(X, 10)
    expected_distances, expected = NearestNeighbors(n_neighbors=11).fit(X.astype(np.float64)).kneighbors()
    np.testing.assert_array_equal(indices.numpy(), expected[:, :10])
    np.testing.assert_allclose(distances.numpy(), expected_distances[:, :10], rtol=1e-4)  # float32 |a|^2 + |b|^2 - 2ab
