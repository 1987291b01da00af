"""Neighbour graphs for neighbour-embedding losses: the k nearest neighbours of every row, and UMAP's fuzzy
simplicial set over them, stored as compressed sparse rows (n * k memory, never n^2).

``knn_graph`` is exact (chunked torch matrix products, O(n^2)) up to ``EXACT_KNN_ROWS`` rows and approximate above,
through faiss-cpu's inverted file (the ``ann`` extra), chosen by benchmarks/knn_libraries.py over pynndescent and
hnswlib: on 10^6 x 3 rows faiss took 102 s against hnswlib's 428 s and pynndescent's 79 s plus 114 s of numba
compilation in every new process, at recall@15 of 1.0; exact is 4-5x slower than faiss at 20 000 rows.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dimred._core.defaults import EXACT_KNN_ROWS, SYMMETRISATIONS
from dimred._core.packages import import_extra

CHUNK_ELEMENTS = 1 << 24  # rows per chunk * n: 64 MB of float32 distances at a time
QUERY_ROWS = 1 << 16  # rows per query batch of the approximate search
RECALL_TARGET, RECALL_SAMPLE = 0.9, 256  # the approximate search widens until a sample of rows finds this share
FAR = 10.0  # exact_knn centres data whose mean is this many of its largest deviations from the origin
ROUNDING_ERRORS = 4  # float32 roundings in a squared distance from |a|^2 + |b|^2 - 2ab (a bound, loosely)
MAX_PROBES = 256  # ... or searches this many cells (at 10^6 rows a sixteenth of them: no brute force in disguise)


@torch.no_grad()
def knn_graph(X: np.ndarray | torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices (n x k, nearest first) of every row's k nearest other rows, Euclidean (not squared):
    exact up to ``EXACT_KNN_ROWS`` rows, approximate above (faiss IVF; recall@15 0.92-1.0 measured)."""
    distances, indices = exact_knn(X, k) if len(X) <= EXACT_KNN_ROWS else approximate_knn(X, k)
    rows = _duplicates_at_zero(X, distances, indices)
    order = distances[rows].argsort(dim=1, stable=True)  # a duplicate found after a row a rounding error nearer
    distances[rows], indices[rows] = distances[rows].gather(1, order), indices[rows].gather(1, order)
    return distances, indices


def _duplicates_at_zero(X: np.ndarray | torch.Tensor, distances: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Sets the distances to a row's exact duplicates to 0 in place and returns the rows that have any: the searches
    compute |a|^2 + |b|^2 - 2ab, which leaves a duplicate a rounding error away (up to ~1e-3 in 50 columns), and
    UMAP's memberships measure from the nearest neighbour at a distance above 0. Other distances stay as found."""
    X = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X  # a memory map stays one
    k = indices.shape[1]
    chunk = max(1, CHUNK_ELEMENTS // (k * X.shape[1]))  # rows whose neighbours are compared at once
    found = []
    for start in range(0, len(indices), chunk):
        stop = min(len(indices), start + chunk)
        neighbours = np.asarray(X[indices[start:stop].reshape(-1).numpy()]).reshape(stop - start, k, -1)
        same = torch.from_numpy((neighbours == np.asarray(X[start:stop])[:, None, :]).all(axis=2))
        distances[start:stop].masked_fill_(same, 0.0)
        found.append(start + same.any(dim=1).nonzero().squeeze(1))
    return torch.cat(found)


@torch.no_grad()
def exact_knn(X: np.ndarray | torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``knn_graph`` by brute force: chunked matrix products, O(n^2 d) time and one chunk times n of memory (and a
    float64 copy of the rows with a float64 chunk where some rows are searched again in float64)."""
    given, X = X, _centred_if_far(torch.as_tensor(np.asarray(X)))
    n = len(X)
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and the number of rows - 1 ({n - 1}), got {k}")
    norms = X.square().sum(dim=1)
    distances, indices = torch.empty(n, k), torch.empty(n, k, dtype=torch.long)
    exact: tuple[torch.Tensor, torch.Tensor] | None = None  # float64 rows and norms, where float32 cannot tell apart
    chunk = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        squared = torch.addmm(norms[start:stop, None] + norms[None, :], X[start:stop], X.T, alpha=-2.0)
        squared[torch.arange(stop - start), torch.arange(start, stop)] = math.inf  # a row is not its own neighbour
        values, found = squared.topk(k, dim=1, largest=False)
        # float32 rounds |a|^2 + |b|^2 - 2ab by about eps * (|a|^2 + |b|^2), b a row near enough to be a neighbour:
        # rows whose k-th neighbour is nearer than a hundred times that (tight clusters far apart) are searched again
        # in float64
        rounding = ROUNDING_ERRORS * torch.finfo(torch.float32).eps * (norms[start:stop] + norms[found].amax(dim=1))
        unsure = (rounding > values[:, -1] / 100).nonzero().squeeze(1)
        if len(unsure):
            exact = _centred_float64(given) if exact is None else exact
            values[unsure], found[unsure] = _float64_nearest(*exact, start + unsure, k)
        distances[start:stop], indices[start:stop] = values.clamp_min_(0).sqrt_(), found
    return distances, indices


def _centred_float64(X: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows as given (float64 rows keep their digits), in float64 and centred, and their squared norms."""
    exact = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    exact = exact - exact.mean(dim=0)
    return exact, exact.square().sum(dim=1)


def _float64_nearest(
    exact: torch.Tensor, norms: torch.Tensor, rows: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The squared distances (as float32) and indices of the k nearest other rows of ``rows`` among the float64
    rows ``exact`` (their squared ``norms``): twice k candidates from |a|^2 + |b|^2 - 2ab (one matrix of them
    alive), then their distances from the differences themselves, which keep every digit."""
    chosen = exact[rows]
    squared = (chosen @ exact.T).mul_(-2.0).add_(norms[rows, None]).add_(norms[None, :])
    squared[torch.arange(len(rows)), rows] = math.inf
    candidates = squared.topk(min(2 * k, len(exact) - 1), dim=1, largest=False).indices
    differences = (exact[candidates] - chosen[:, None, :]).square().sum(dim=2)
    values, order = differences.topk(k, dim=1, largest=False)
    return values.float(), candidates.gather(1, order)


def _centred_if_far(X: torch.Tensor) -> torch.Tensor:
    """``X`` in float32, moved to the origin where its offset dwarfs its spread (unscaled data, ``--scaler
    none``): distances from |a|^2 + |b|^2 - 2ab lose float32's digits to the offset (recall@10 0.12 on a swiss roll
    10^4 away). Moved in float64 from the rows as given, so float64 rows keep the digits float32 would have
    rounded away first (1e8 + a normal spread: every distance had been 0). Data near the origin, as scaled data
    is, is only cast."""
    exact = X.double()
    offset = exact.mean(dim=0)
    spread = exact.std(dim=0).max() if len(X) > 1 else torch.zeros((), dtype=torch.float64)
    return (exact - offset).float() if offset.abs().max() > FAR * spread else X.float()


@torch.no_grad()
def approximate_knn(X: np.ndarray | torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``knn_graph`` through faiss: an inverted file of 4 sqrt(n) k-means cells, each row searched in the cells
    nearest to it, as many as a recall of 0.9 takes (``_probes_for_recall``: 16 on most data). Memory: one
    float32 copy of the data (none for float32 rows, a memmap included), the n x k result and one batch of
    queries; faiss uses ``torch.get_num_threads()`` threads, and is left with the caller's own count."""
    faiss = import_extra(
        "faiss", needed_by=f"an approximate kNN graph (of more than {EXACT_KNN_ROWS} rows)", extra="ann"
    )
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.ascontiguousarray(X, dtype=np.float32)  # no copy for C-ordered float32 rows
    n = len(X)
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and the number of rows - 1 ({n - 1}), got {k}")
    callers_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(torch.get_num_threads())
    try:
        return _search_cells(faiss, X, k)
    finally:
        faiss.omp_set_num_threads(callers_threads)


def _search_cells(faiss: Any, X: np.ndarray, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``approximate_knn``'s search of C-ordered float32 rows."""
    n, dimensions = X.shape
    cells = max(1, min(int(4 * math.sqrt(n)), n // 39))  # faiss wants >= 39 training rows per cell
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dimensions), dimensions, cells)
    sample = np.sort(np.random.default_rng(0).choice(n, min(n, 64 * cells), replace=False))
    index.train(X[sample])
    index.add(X)
    probes = _probes_for_recall(index, X, k, cells)
    index.nprobe = probes
    distances, indices = torch.empty(n, k), torch.empty(n, k, dtype=torch.long)
    for start in range(0, n, QUERY_ROWS):
        stop = min(n, start + QUERY_ROWS)
        squared, found = index.search(X[start:stop], k + 1)
        missed = np.flatnonzero((found < 0).any(axis=1))
        if len(missed):  # fewer than k + 1 rows in the searched cells: search every cell for these rows
            index.nprobe = cells
            squared[missed], found[missed] = index.search(X[start:stop][missed], k + 1)
            index.nprobe = probes
        is_self = found == np.arange(start, stop)[:, None]
        is_self[~is_self.any(axis=1), -1] = True  # the row is not among its k + 1 (duplicates): drop the farthest
        keep = ~is_self
        distances[start:stop] = torch.from_numpy(np.sqrt(np.maximum(squared[keep], 0)).reshape(-1, k))
        indices[start:stop] = torch.from_numpy(found[keep].reshape(-1, k))
    return distances, indices


def _probes_for_recall(index: Any, X: np.ndarray, k: int, cells: int) -> int:
    """The cells each row is searched in: 16, doubled until a seeded sample of RECALL_SAMPLE rows finds
    RECALL_TARGET of its exact k + 1 nearest (itself included; faiss.knn, brute force), or MAX_PROBES cells are
    searched. A row found counts where it is no farther than the exact (k + 1)-th, so ties (whole-number data)
    are not misses. Rows of many independent columns spread their neighbours over many cells: 20 000 Gaussian
    rows of 50 columns found 0.39 of them in 16 cells; clustered or low-dimensional rows stay at 16."""
    import faiss

    rows = np.sort(np.random.default_rng(1).choice(len(X), min(len(X), RECALL_SAMPLE), replace=False))
    farthest = faiss.knn(X[rows], X, k + 1)[0][:, -1:] * (1 + 1e-5) + 1e-12  # squared, with float slack
    probes = min(cells, 16)
    while True:
        index.nprobe = probes
        found = index.search(X[rows], k + 1)[0]
        if (found <= farthest).sum() >= RECALL_TARGET * (k + 1) * len(rows) or probes >= min(cells, MAX_PROBES):
            return probes
        probes = min(cells, MAX_PROBES, 2 * probes)


@torch.no_grad()
def membership_strengths(distances: torch.Tensor, iterations: int = 64) -> torch.Tensor:
    """UMAP's directed memberships exp(-(d - rho_i) / sigma_i): rho_i is the distance to the nearest neighbour
    that is not a duplicate (above 0; 0 where all are), sigma_i is found by bisection so that each row's
    memberships sum to log2(k + 1)."""
    distances = distances.double()
    n, k = distances.shape
    target = math.log2(k + 1)
    rho = distances.masked_fill(distances <= 0, math.inf).min(dim=1).values
    rho = rho.masked_fill_(torch.isinf(rho), 0.0)
    excess = (distances - rho[:, None]).clamp_min(0)
    low, high, sigma = (
        torch.zeros(n, dtype=torch.float64),
        torch.full((n,), math.inf, dtype=torch.float64),
        torch.ones(n, dtype=torch.float64),
    )
    for _ in range(iterations):
        too_wide = torch.exp(-excess / sigma[:, None]).sum(dim=1) > target
        high = torch.where(too_wide, sigma, high)
        low = torch.where(too_wide, low, sigma)
        sigma = torch.where(torch.isinf(high), sigma * 2, (low + high) / 2)
    # UMAP's floor for rows in a tight clump, a thousandth of the mean distance to the k neighbours (umap-learn's
    # mean counts the row itself at 0 too: a floor k / (k + 1) of this one)
    sigma = torch.maximum(sigma, 1e-3 * distances.mean(dim=1))
    return torch.exp(-excess / sigma[:, None]).float()


@dataclass(frozen=True)
class NeighbourGraph:
    """A symmetric weighted graph over n rows in compressed sparse rows: row i's neighbours are
    ``indices[indptr[i]:indptr[i + 1]]`` with ``weights`` at the same places; ``degree`` is each row's total
    weight and ``cumulative`` the running sum of all weights (for sampling edges in proportion to weight)."""

    indptr: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor
    degree: torch.Tensor
    cumulative: torch.Tensor

    def tensors(self) -> dict[str, torch.Tensor]:
        """The graph as named tensors (``NeighbourGraph(**tensors)`` rebuilds it), e.g. for ``TrainingData.once``."""
        return {name: getattr(self, name) for name in ("indptr", "indices", "weights", "degree", "cumulative")}

    def to(self, device: torch.device | str) -> NeighbourGraph:
        return NeighbourGraph(**{name: tensor.to(device) for name, tensor in self.tensors().items()})

    def sample_neighbours(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One neighbour of each row, drawn in proportion to the edges' weights."""
        start = self.cumulative[self.indptr[rows]] - self.weights[self.indptr[rows]]
        uniform = torch.rand(len(rows), generator=generator, device=rows.device, dtype=torch.float64)
        position = torch.searchsorted(self.cumulative, start + uniform * self.degree[rows], right=True)
        position = torch.minimum(position, self.indptr[rows + 1] - 1)  # rounding at the row's end
        return self.indices[position]

    def edges_among(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every edge between two distinct rows of ``rows``, once: the positions in ``rows`` of its ends (the
        first below the second; a row listed twice is found at its last position) and its weight. Costs time in the
        edges of ``rows`` (a lookup in a table of n positions, kept between calls), whatever the graph's size."""
        place = torch.arange(len(rows), device=rows.device)
        positions = self._positions
        # the largest place of a repeated row, whatever the order of the writes (a plain indexed write lets any
        # of them win, and torch splits large ones across threads: the same seed would train differently)
        positions.scatter_reduce_(0, rows, place, reduce="amax")
        counts = (self.indptr[rows + 1] - self.indptr[rows]).masked_fill_(positions[rows] != place, 0)
        total = int(counts.sum())
        first = torch.repeat_interleave(place, counts, output_size=total)
        row_starts = (self.indptr[rows] - torch.cumsum(counts, 0) + counts).index_select(0, first)
        edge = torch.arange(total, device=rows.device).add_(row_starts)  # the edges' places in indices / weights
        second = positions.index_select(0, self.indices.index_select(0, edge))
        positions[rows] = -1  # the table is left empty for the next call
        found = (second > first).nonzero().squeeze(1)
        return first.index_select(0, found), second.index_select(0, found), self.weights.index_select(0, edge[found])

    @functools.cached_property
    def _positions(self) -> torch.Tensor:
        return torch.full((len(self.degree),), -1, dtype=torch.int64, device=self.degree.device)


def principal_components(X: np.ndarray | torch.Tensor, n: int) -> np.ndarray:
    """The rows' coordinates on their first ``n`` principal axes (scikit-learn's PCA, seeded: deterministic)."""
    from sklearn.decomposition import PCA

    # an array whatever the caller set with sklearn.set_config(transform_output=...)
    return PCA(n, random_state=0).set_output(transform="default").fit_transform(np.asarray(X))


def fuzzy_neighbour_graph(
    X: np.ndarray | torch.Tensor, k: int, pca: int = 0, symmetrise: str = "union"
) -> NeighbourGraph:
    """The rows' kNN memberships (UMAP's fuzzy simplicial set) made symmetric: by UMAP's fuzzy union
    P = A + A^T - A * A^T, or (``symmetrise="mean"``) by t-SNE's mean (A + A^T) / 2, which weighs an edge that only
    one of its rows lists half as much as one both list. Rows wider than ``2 * pca`` columns find their neighbours
    among their first ``pca`` principal components (less noise from many weak columns, and a faster search); ``pca``
    0 keeps the columns."""
    from scipy import sparse

    if symmetrise not in SYMMETRISATIONS:
        raise ValueError(f"symmetrise must be one of {', '.join(SYMMETRISATIONS)}, got {symmetrise!r}")
    if pca and X.shape[1] > 2 * pca and len(X) > pca:
        X = principal_components(X, pca)
    distances, indices = knn_graph(X, k)
    n = len(indices)
    strengths = membership_strengths(distances).numpy().ravel()
    directed = sparse.csr_matrix((strengths, (np.repeat(np.arange(n), k), indices.numpy().ravel())), shape=(n, n))
    transposed = directed.T.tocsr()
    if symmetrise == "union":
        symmetric = (directed + transposed - directed.multiply(transposed)).tocsr()
    else:
        symmetric = ((directed + transposed) * 0.5).tocsr()
    symmetric.eliminate_zeros()
    symmetric.sort_indices()
    weights = torch.from_numpy(symmetric.data.astype(np.float64))
    indptr = torch.from_numpy(symmetric.indptr.astype(np.int64))
    degree = torch.zeros(n, dtype=torch.float64).index_add_(0, torch.repeat_interleave(torch.arange(n), indptr.diff()),
                                                             weights)  # fmt: skip
    return NeighbourGraph(indptr, torch.from_numpy(symmetric.indices.astype(np.int64)), weights, degree,
                          torch.cumsum(weights, dim=0))  # fmt: skip
