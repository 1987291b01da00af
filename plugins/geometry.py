"""An autoencoder that unrolls: reconstruction plus a pull of the codes toward geodesic (Isomap-like)
coordinates computed once from a landmark subset, so memory and time grow as n * landmarks, never n^2.

The target comes from Landmark Isomap (de Silva & Tenenbaum, 2003): shortest paths on the k-nearest-neighbour
graph from a few hundred landmarks, classical MDS on the landmarks, and every other point placed by distance-based
triangulation. Pulling the codes toward it while reconstructing is geometry-regularised autoencoding (GRAE,
Duque et al., 2022), here with Isomap's geodesic geometry as the target.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from dimred.plugin import Batch, DimredError, Loss, MLPModel, TrainingData, hookimpl, option

MAX_PIECES_JOINED = 50  # pieces of the neighbour graph joined by their shortest edges (one search each)
SHORT_CIRCUIT = 2.0  # an edge this many times its far end's k-th neighbour distance is dropped (0.25 % on the roll)


def landmark_isomap(X: np.ndarray, n_components: int, neighbours: int, landmarks: int, seed: int) -> np.ndarray:
    """Landmark Isomap coordinates of every row of ``X`` (memory: landmarks x n). Repeated rows share the
    coordinates of their first: the graph is built among distinct rows, since copies had filled each other's
    neighbour slots and left every distinct row of ordinal data (answers 0-3 to three questions) a piece of its
    own, too many to join."""
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    if len(first) == len(X):
        return _landmark_isomap(X, n_components, neighbours, landmarks, seed)
    return _landmark_isomap(X[first], n_components, neighbours, landmarks, seed)[inverse.ravel()]


def _landmark_isomap(X: np.ndarray, n_components: int, neighbours: int, landmarks: int, seed: int) -> np.ndarray:
    from scipy.sparse.csgraph import connected_components, dijkstra
    from sklearn.neighbors import NearestNeighbors

    n = len(X)
    if n <= n_components:
        raise DimredError(f"the data has {n} distinct rows, too few for codes of {n_components} values; lower "
                          f"n_components (--set model.n_components={max(n - 1, 1)})")  # fmt: skip
    graph = NearestNeighbors(n_neighbors=min(neighbours, n - 1)).fit(X).kneighbors_graph(mode="distance")
    # rows closer than float64 tells (unscaled data near 1e-170) are 0 apart: stored as the smallest length, an
    # edge all the same (a sum of sparse matrices, as _joined makes, drops stored zeros, and the paths through them
    # would become infinite)
    graph.data = np.maximum(graph.data, np.finfo(float).tiny)
    graph = _without_short_circuits(graph)
    pieces, labels = connected_components(graph, directed=False)
    if pieces > MAX_PIECES_JOINED:
        raise DimredError(f"the {neighbours}-nearest-neighbour graph falls into {pieces} pieces (at most "
                          f"{MAX_PIECES_JOINED} are joined); raise loss.geodesic.neighbours")  # fmt: skip
    if pieces > 1:
        warnings.warn(f"the {neighbours}-nearest-neighbour graph falls into {pieces} pieces, joined by their "
                      "shortest edges (as Isomap does); loss.geodesic.neighbours set higher may connect them",
                      stacklevel=2)  # fmt: skip
        graph = _joined(graph, X, labels)
    chosen = np.random.default_rng(seed).choice(n, size=min(landmarks, n), replace=False)
    squared = dijkstra(graph, directed=False, indices=chosen) ** 2  # landmarks x n
    among = squared[:, chosen]
    centring = np.eye(len(chosen)) - 1.0 / len(chosen)
    eigenvalues, eigenvectors = np.linalg.eigh(-0.5 * centring @ among @ centring)
    top = np.argsort(eigenvalues)[::-1][:n_components]
    # numpy's rank tolerance: rows on a line left a second eigenvalue of 1e-15 times the first, rounding whose
    # inverse square root made a target column of noise a million times the line's spread
    rounding = len(chosen) * np.finfo(float).eps * max(eigenvalues.max(), 0.0)
    if eigenvalues[top].min() <= rounding:
        dimensions = int(np.count_nonzero(eigenvalues > rounding))
        fewer = max(dimensions, 1)
        raise DimredError(f"the landmark geometry has {dimensions} dimension{'s' * (dimensions != 1)}, fewer than "
                          f"the code's {n_components}; lower them (--set model.n_components={fewer})")  # fmt: skip
    placement = eigenvectors[:, top] / np.sqrt(eigenvalues[top])
    return -0.5 * (squared - among.mean(axis=1, keepdims=True)).T @ placement


def _without_short_circuits(graph: Any) -> Any:
    """The k-nearest-neighbour graph (each row's k edges, nearest first) without the edges that would short-circuit
    the manifold: an edge more than SHORT_CIRCUIT times as long as its far end's own k-th neighbour is far from a
    neighbour seen from there. A row in a sparse stretch of the swiss roll's outer layer had listed rows of the
    next layer in, and geodesic distances took that shortcut: one seed in ten gave a target folded back on itself
    (Spearman 0.91 with the roll's true coordinates instead of 0.998). Every row keeps its nearest edge, so that
    no row is cut off."""
    from scipy.sparse import csr_matrix

    lengths = graph.data.reshape(graph.shape[0], -1)  # kneighbors_graph: k entries a row, nearest first
    radius = lengths[:, -1]
    ends = graph.indices.reshape(lengths.shape)
    keep = lengths <= SHORT_CIRCUIT * radius[ends]
    keep[:, 0] = True
    rows = np.repeat(np.arange(graph.shape[0]), lengths.shape[1])
    return csr_matrix((lengths[keep], (rows[keep.ravel()], ends[keep])), shape=graph.shape)


def _joined(graph: Any, X: np.ndarray, labels: np.ndarray) -> Any:
    """The graph with its pieces joined, the smallest first, each by the shortest edge from it to another piece:
    geodesic distances between pieces then pass through their closest points instead of being infinite."""
    from scipy.sparse import coo_matrix
    from sklearn.neighbors import NearestNeighbors

    labels = labels.copy()
    starts, ends, lengths = [], [], []
    while len(pieces := np.unique(labels)) > 1:
        smallest = pieces[np.argmin([np.count_nonzero(labels == piece) for piece in pieces])]
        inside, outside = np.flatnonzero(labels == smallest), np.flatnonzero(labels != smallest)
        distances, nearest = NearestNeighbors(n_neighbors=1).fit(X[outside]).kneighbors(X[inside])
        best = int(distances.argmin())
        start, end = inside[best], outside[nearest[best, 0]]
        starts.append(start)
        ends.append(end)
        lengths.append(max(float(distances[best, 0]), np.finfo(float).tiny))  # a stored zero would be no edge
        labels[inside] = labels[end]
    edges = coo_matrix((lengths, (starts, ends)), shape=graph.shape)
    return (graph + edges).tocsr()


class GeodesicLoss(Loss):
    name = "geodesic"
    description = "mean squared distance of the codes from Landmark Isomap coordinates (computed once, n x landmarks)"

    @dataclass(frozen=True)
    class Options:
        neighbours: int = option(8, "neighbours in the graph whose shortest paths approximate geodesic distances")
        landmarks: int = option(200, "landmarks the geodesic distances are measured from")

        def __post_init__(self) -> None:
            if self.neighbours < 2:
                raise ValueError(f"neighbours must be at least 2, got {self.neighbours}")
            if self.landmarks < 3:
                raise ValueError(f"landmarks must be at least 3, got {self.landmarks}")

    def prepare(self, data: TrainingData) -> None:
        import torch

        target = landmark_isomap(data.X, data.n_components or 2, self.options.neighbours, self.options.landmarks,
                                 data.seed)  # fmt: skip
        target /= target.std()  # unit spread: the weight means the same whatever the data's size
        self.target = torch.as_tensor(target, dtype=torch.float32, device=data.device)

    def __call__(self, batch: Batch):
        target = self.target if batch.index is None else self.target[batch.index]
        return (batch.z - target.to(batch.z.dtype)).square().mean()


class GeoAutoencoder(MLPModel):
    """The tutorial's MLP without dropout, trained on reconstruction plus the geodesic pull."""

    name = "geo-ae"
    description = "autoencoder that reconstructs and unrolls: mse + geodesic:10 on an MLP without dropout"
    default_loss = "mse+geodesic:10"

    @dataclass(frozen=True)
    class Options(MLPModel.Options):
        dropout: float = option(0.0, "dropout probability after every hidden layer (off: it blurs the geometry)")

    def training_defaults(self, n_samples: int, n_features: int) -> dict[str, Any]:
        """A learning rate that shrinks with the input's width: 0.05 up to 8 columns (the swiss roll's, where it
        was tuned), 0.05 * sqrt(8 / width) beyond, which keeps 64-D digits and 784-D images from collapsing."""
        return {"lr": 0.05 * min(1.0, math.sqrt(8 / n_features))}


@hookimpl
def register_losses(register):
    register(GeodesicLoss)


@hookimpl
def register_models(register):
    register(GeoAutoencoder)
