"""Quality metrics of an embedding, from one chunked pass over the points (memory: chunk x n, never n x n).

For every point the pass ranks all others by distance in the data (X) and in the embedding (Z), 1 = nearest,
and keeps what the metrics need:
- trustworthiness (Venna & Kaski): penalises embedding neighbours that are far in the data;
- continuity: the same with the roles swapped;
- the co-ranking counts behind Q_NX(K), the share of K-nearest neighbours kept, for every K at once
  (Lee & Verleysen): kNN preservation is Q_NX(k), and R_NX(K) = ((n-1) Q_NX(K) - K) / (n-1-K) rescales it
  so that a random embedding scores 0; its area under a log-K axis summarises the curve.
Trustworthiness matches scikit-learn's where no two distances tie (ties go to the lower row number here); the
co-ranking quantities match a brute-force co-ranking matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

_CHUNK_ELEMENTS = 1 << 20  # rows per chunk * n_samples: 8 MB per float64 matrix, a few of them at once
SUMMED_UP_TO_COLUMNS = 64  # rows this narrow have their distances summed term by term
_ROUNDING = 64 * torch.finfo(torch.float64).eps  # of the squared norms: a matrix product's error on a distance


def _distances(rows: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Euclidean distances. Rows of up to SUMMED_UP_TO_COLUMNS columns: summed term by term, whose rounding never
    reorders close neighbours. Wider ones (images, gene counts): through a matrix product, 16 times faster at
    20 000 columns; in float64 and about the centred data, its rounding (a few eps of the squared norms) can only
    reorder points at the same distance to that precision, and rows that close are taken as the same row (0)."""
    if points.shape[1] <= SUMMED_UP_TO_COLUMNS:
        return torch.cdist(rows, points, compute_mode="donot_use_mm_for_euclid_dist")
    norms = rows.square().sum(dim=1)[:, None] + points.square().sum(dim=1)[None, :]
    squared = torch.addmm(norms, rows, points.T, alpha=-2.0)
    squared[squared <= _ROUNDING * norms] = 0.0  # duplicated rows: exact ties, as the summed distances have them
    return squared.sqrt_()


def _ranks(distances: torch.Tensor) -> torch.Tensor:
    """1-based rank of every column in its row; the row's own point (distance inf) comes last."""
    order = distances.argsort(dim=1, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(1, distances.shape[1] + 1, device=order.device).expand_as(order))
    return ranks


@dataclass(frozen=True)
class Neighbourhoods:
    """What the rank-based metrics need, for n points and k neighbours."""

    n: int
    k: int
    trust_penalty: torch.Tensor  # per point: sum over its k embedding neighbours of max(0, data rank - k)
    continuity_penalty: torch.Tensor  # per point: sum over its k data neighbours of max(0, embedding rank - k)
    coranking: torch.Tensor  # [m] = number of (i, j) whose larger rank of the two is m, for m = 0..n-1

    def _normaliser(self) -> float:
        n, k = self.n, self.k
        return 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))

    @property
    def trustworthiness(self) -> float:
        return 1.0 - self.trust_penalty.sum().item() * self._normaliser()

    @property
    def continuity(self) -> float:
        return 1.0 - self.continuity_penalty.sum().item() * self._normaliser()

    def pointwise_trustworthiness(self) -> torch.Tensor:
        """Each point's share of the trustworthiness penalty, scaled like the whole (1 = no false neighbours)."""
        return 1.0 - self.trust_penalty.double() * self._normaliser() * self.n

    def q_nx(self) -> torch.Tensor:
        """Q_NX(K) for K = 1..n-2."""
        kept = self.coranking[1:].double().cumsum(0)[: self.n - 2]
        sizes = torch.arange(1, self.n - 1, dtype=torch.float64)
        return kept / (sizes * self.n)

    def r_nx(self) -> torch.Tensor:
        """R_NX(K) for K = 1..n-2."""
        sizes = torch.arange(1, self.n - 1, dtype=torch.float64)
        return ((self.n - 1) * self.q_nx() - sizes) / (self.n - 1 - sizes)

    def knn_preservation(self) -> float:
        """The average share of each point's k nearest data neighbours that are among its k nearest in Z."""
        return self.q_nx()[self.k - 1].item()

    def r_nx_area(self) -> float:
        """Area under R_NX(K) on a log-K axis: sum of R_NX(K)/K over sum of 1/K."""
        weights = 1.0 / torch.arange(1, self.n - 1, dtype=torch.float64)
        return (self.r_nx() * weights).sum().item() / weights.sum().item()


def neighbourhoods(X: torch.Tensor, Z: torch.Tensor, k: int = 10) -> Neighbourhoods:
    """One chunked pass over the points of ``X`` (the data) and ``Z`` (their embedding)."""
    n = len(X)
    if not 0 < k < n / 2:
        raise ValueError(f"k must be at least 1 and below n/2 = {n / 2:g}, got {k}")
    X, Z = _for_distances(X), _codes_of_equal_rows_tied(X, _for_distances(Z), Z.dtype)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    trust, continuity = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    coranking = torch.zeros(n + 1, dtype=torch.int64)
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(start + chunk, n), device=X.device)
        local = torch.arange(len(rows), device=X.device)
        data_distances, code_distances = _distances(X[rows], X), _distances(Z[rows], Z)
        data_distances[local, rows] = torch.inf
        code_distances[local, rows] = torch.inf
        data_ranks, code_ranks = _ranks(data_distances), _ranks(code_distances)
        trust[rows.cpu()] = ((data_ranks - k).clamp(min=0) * (code_ranks <= k)).sum(1).double().cpu()
        continuity[rows.cpu()] = ((code_ranks - k).clamp(min=0) * (data_ranks <= k)).sum(1).double().cpu()
        larger = torch.maximum(data_ranks, code_ranks)
        larger[local, rows] = 0  # the point itself: counted in bin 0, which nothing reads
        coranking += torch.bincount(larger.flatten().cpu(), minlength=n + 1)
    return Neighbourhoods(n, k, trust, continuity, coranking[:n])


def _codes_of_equal_rows_tied(X: torch.Tensor, Z: torch.Tensor, computed_in: torch.dtype) -> torch.Tensor:
    """``Z`` with the codes of equal rows of ``X`` made equal where they differ by rounding alone (a model's matrix
    products, blocked by row, had given equal rows codes 1e-16 apart): that noise, not the model, had ordered their
    neighbours, and PCA's exact codes of 3 points x 8 copies scored an R_NX area of 0.72 instead of 1. Codes that
    differ by more (t-SNE places copies apart) are the model's own and kept."""
    _, first, group = np.unique(X.detach().to("cpu", torch.float64).numpy(), axis=0, return_index=True,
                                return_inverse=True)  # fmt: skip
    if len(first) == len(X):
        return Z
    representative = torch.from_numpy(first[group.ravel()]).to(Z.device)
    apart = (Z - Z[representative]).abs().amax(dim=1)
    rounding = 64 * torch.finfo(computed_in if computed_in.is_floating_point else torch.float64).eps
    tied = apart <= rounding * float(Z.abs().max())  # within the rounding of the dtype the codes came in
    Z[tied] = Z[representative[tied]]
    return Z


def _for_distances(points: torch.Tensor) -> torch.Tensor:
    """A float64 copy of ``points``, scaled for distances; rows wider than SUMMED_UP_TO_COLUMNS about their
    columns' medians, where a matrix product's rounding grows with the squared norms (the median, not the mean: one
    row at 1e170 had moved every other row's column to the same value). Narrower rows keep their values: a
    difference summed term by term rounds with the difference itself, and moving the rows would turn exact ties
    (whole-number data, equal codes) into rounding-sized ones, ordered by that rounding instead of by row number."""
    copied = points.to(torch.float64, copy=True)
    if points.shape[1] > SUMMED_UP_TO_COLUMNS and len(points):
        copied.sub_(copied.median(dim=0).values)
    _scale_for_distances(copied)
    return copied


def scaled_for_distances(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """float64 copies of ``tensors``, all multiplied by the one power of two that gives the distances between
    their rows the widest range float64 holds: their largest magnitude near the most whose squared differences,
    summed over the columns, cannot overflow (about 2**500). Distances between values near 1e-170 (whose squares
    underflow to 0) or 1e170 (overflow to inf) had all tied, and every neighbourhood figure read 1.0; so had those
    between rows near 1 beside one row at 1e170 once all were brought to unit scale. A power of two changes no
    order, ratio or tie. For distances only: sums of squares over many rows may overflow."""
    copies = tuple(tensor.to(torch.float64, copy=True) for tensor in tensors)
    _scale_for_distances(*copies)
    return copies


def _scale_for_distances(*tensors: torch.Tensor) -> None:
    """``scaled_for_distances`` in place, on float64 tensors."""
    largest = max((float(tensor.abs().max()) for tensor in tensors if tensor.numel()), default=0.0)
    if largest > 0 and math.isfinite(largest):
        columns = max((tensor.shape[1] for tensor in tensors if tensor.dim() == 2), default=1)
        # each squared difference is at most (2 * 2**top)**2, and their sum over the columns stays below 2**1021
        top = (1019 - math.ceil(math.log2(columns))) // 2
        exponent = math.frexp(largest)[1] - top
        for part in (exponent // 2, exponent - exponent // 2):  # 2**1074, for a subnormal largest, is no float
            for tensor in tensors:
                tensor.mul_(2.0**-part)


def trustworthiness(X: torch.Tensor, Z: torch.Tensor, k: int = 10) -> float:
    """1 minus the normalised penalty for embedding neighbours that are far apart in the data."""
    return neighbourhoods(X, Z, k).trustworthiness


def continuity(X: torch.Tensor, Z: torch.Tensor, k: int = 10) -> float:
    """1 minus the normalised penalty for data neighbours that the embedding pulls apart."""
    return neighbourhoods(X, Z, k).continuity


def rmse(X: torch.Tensor, X_hat: torch.Tensor) -> float:
    """Root mean squared reconstruction error over all entries, a chunk of rows at a time (whole float64 copies
    of 10^6 rows of 64 columns had taken 2.5 GB); errors beyond 1e150 or below 1e-150, whose squares overflow or
    underflow float64, are scaled by the largest first, so a finite error is never reported as inf, nor one above
    0 as 0."""
    rows = max(1, _CHUNK_ELEMENTS // max(X[:1].numel(), 1))

    def errors():
        for start in range(0, len(X), rows):
            yield X_hat[start : start + rows].double() - X[start : start + rows].double()

    largest = max((chunk.abs().max().item() for chunk in errors() if chunk.numel()), default=0.0)
    scale = 1.0 if not math.isfinite(largest) or largest == 0 or 1e-150 < largest < 1e150 else largest
    total = math.fsum((chunk / scale).square().sum().item() for chunk in errors())
    return scale * math.sqrt(total / X.numel()) if X.numel() else math.nan


def _mid_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks from 0, equal values sharing the mean of their places: Spearman's correlation with ties (as scipy's
    ``spearmanr``), where distances tie (clusters of equal codes, whole-number coordinates). Not scipy's
    ``rankdata``: importing scipy.stats would add about 0.65 s to a default swiss-roll run."""
    order = values.argsort(stable=True)
    ordered = values[order]
    starts_group = torch.ones(len(values), dtype=torch.bool, device=values.device)
    starts_group[1:] = ordered[1:] != ordered[:-1]
    group = starts_group.cumsum(0) - 1
    sizes = torch.bincount(group).double()
    mean_places = sizes.cumsum(0) - sizes + (sizes - 1) / 2
    ranks = torch.empty(len(values), dtype=torch.float64, device=values.device)
    ranks[order] = mean_places[group]
    return ranks


def distance_spearman(Z: torch.Tensor, intrinsic: torch.Tensor, pairs: int, seed: int) -> float | None:
    """Spearman correlation between distances in ``Z`` and in the true coordinates, over ``pairs`` random pairs,
    or every pair where there are no more (exact, where a sample drawn with replacement had weighed some pairs
    twice); None where it is undefined: all the distances of one side equal (collapsed codes)."""
    n = len(Z)
    if n * (n - 1) // 2 <= pairs:
        first, second = torch.triu_indices(n, n, offset=1)
    else:
        generator = torch.Generator().manual_seed(seed)
        first = torch.randint(0, n, (pairs,), generator=generator)
        second = (first + torch.randint(1, n, (pairs,), generator=generator)) % n  # never the same point
    (Z,), (intrinsic,) = scaled_for_distances(Z), scaled_for_distances(intrinsic)
    embedded = (Z[first] - Z[second]).norm(dim=1)
    true = (intrinsic[first] - intrinsic[second]).norm(dim=1)
    a, b = _mid_ranks(embedded), _mid_ranks(true)
    a, b = a - a.mean(), b - b.mean()
    spread = math.sqrt((a.square().sum() * b.square().sum()).item())
    return (a * b).sum().item() / spread if spread > 0 else None
