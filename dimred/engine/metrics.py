"""Quality metrics of an embedding, computed in chunks so memory grows as n * chunk, not n^2.

Trustworthiness (Venna & Kaski) penalises points that are neighbours in the embedding but not in the data;
continuity is the same measure with the roles swapped. Both match scikit-learn's ``trustworthiness``.
"""

from __future__ import annotations

import torch

_CHUNK_ELEMENTS = 1 << 22  # rows per chunk * n_samples: about 32 MB of float64 distances


def _distances(rows: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    # Exact Euclidean distances (no matrix-product shortcut, whose rounding could reorder close neighbours).
    return torch.cdist(rows, points, compute_mode="donot_use_mm_for_euclid_dist")


def neighbour_ranks(ranked_space: torch.Tensor, neighbour_space: torch.Tensor, k: int) -> torch.Tensor:
    """For every point, the ranks in ``ranked_space`` (1 = nearest) of its k nearest points in ``neighbour_space``."""
    n = len(ranked_space)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    ranks = []
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(start + chunk, n), device=ranked_space.device)
        local = torch.arange(len(rows), device=ranked_space.device)
        ranked = _distances(ranked_space[rows], ranked_space)
        ranked[local, rows] = torch.inf
        near = _distances(neighbour_space[rows], neighbour_space)
        near[local, rows] = torch.inf
        neighbours = near.topk(k, dim=1, largest=False).indices
        ranked_sorted = ranked.sort(dim=1).values
        # How many points are strictly closer than each neighbour, plus one.
        ranks.append(torch.searchsorted(ranked_sorted, ranked.gather(1, neighbours)) + 1)
    return torch.cat(ranks)


def trustworthiness(X: torch.Tensor, Z: torch.Tensor, k: int = 10) -> float:
    """1 minus the normalised penalty for embedding neighbours that are far apart in the data."""
    n = len(X)
    if not 0 < k < n / 2:
        raise ValueError(f"k must be between 1 and n/2 = {n / 2:g}, got {k}")
    ranks = neighbour_ranks(X.double(), Z.double(), k)
    penalty = (ranks - k).clamp(min=0).sum().item()
    return 1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))


def continuity(X: torch.Tensor, Z: torch.Tensor, k: int = 10) -> float:
    """1 minus the normalised penalty for data neighbours that the embedding pulls apart."""
    return trustworthiness(Z, X, k)


def rmse(X: torch.Tensor, X_hat: torch.Tensor) -> float:
    """Root mean squared reconstruction error over all entries."""
    return (X_hat.double() - X.double()).square().mean().sqrt().item()
