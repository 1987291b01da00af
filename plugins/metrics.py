"""The built-in metrics: reconstruction error, neighbourhood preservation and agreement with true coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dimred.plugin import Metric, MetricContext, hookimpl, option

if TYPE_CHECKING:
    import torch

CURVE_POINTS = 60  # the R_NX curve is stored at this many log-spaced neighbourhood sizes


class ReconstructionError(Metric):
    name = "rmse"
    description = "root mean squared reconstruction error over all points, in the scaled units (eval mode)"

    def compute(self, context: MetricContext) -> dict:
        return {"rmse": context.reconstruction_rmse}


class Trustworthiness(Metric):
    name = "trustworthiness"
    description = "share of embedding neighbours that are neighbours in the data (Venna & Kaski), k neighbours"

    def compute(self, context: MetricContext) -> dict:
        return {"trustworthiness": context.neighbourhoods.trustworthiness}


class Continuity(Metric):
    name = "continuity"
    description = "share of data neighbours kept together in the embedding (trustworthiness reversed)"

    def compute(self, context: MetricContext) -> dict:
        return {"continuity": context.neighbourhoods.continuity}


class KnnPreservation(Metric):
    name = "knn-preservation"
    description = "average share of each point's k nearest data neighbours that stay among its k nearest codes"

    def compute(self, context: MetricContext) -> dict:
        return {"knn_preservation": context.neighbourhoods.knn_preservation()}


class RnxCurve(Metric):
    name = "rnx"
    description = "R_NX(K) neighbourhood preservation for every size K (Lee & Verleysen) and its log-K area"

    def compute(self, context: MetricContext) -> dict:
        found = context.neighbourhoods
        curve = found.r_nx().numpy()
        sizes = np.unique(np.geomspace(1, len(curve), CURVE_POINTS).astype(int))
        return {
            "rnx_auc": found.r_nx_area(),
            "rnx_curve": {"K": sizes.tolist(), "R_NX": [float(curve[size - 1]) for size in sizes]},
        }


class IntrinsicSpearman(Metric):
    name = "intrinsic-spearman"
    description = "Spearman correlation of code distances with distances in the data set's true coordinates"

    @dataclass(frozen=True)
    class Options:
        pairs: int = option(200_000, "random pairs of points compared (memory grows with this, not with n^2)")

        def __post_init__(self) -> None:
            if self.pairs < 10:
                raise ValueError(f"pairs must be at least 10, got {self.pairs}")

    def compute(self, context: MetricContext) -> dict:
        if context.intrinsic is None:
            return {"spearman_intrinsic": None}
        return {"spearman_intrinsic": context.intrinsic_spearman(self.options.pairs)}


class KnnAccuracy(Metric):
    name = "knn-accuracy"
    description = (
        "accuracy of a k-nearest-neighbour classifier on the codes: from the training rows' codes to the held-out "
        "rows' (on training rows, and on the rows dimred evaluate scores: each row by its neighbours among those "
        "rows, itself left out, among the rows the neighbourhood metrics sample on large data); labelled data only"
    )

    @dataclass(frozen=True)
    class Options:
        k: int = option(5, "neighbours that vote")

        def __post_init__(self) -> None:
            if self.k < 1:
                raise ValueError(f"k must be at least 1, got {self.k}")

    def compute(self, context: MetricContext) -> dict:
        if context.labels is None:
            return {}  # unlabelled data: the metric does not appear
        held_out = context.reference_codes is not None
        reference = context.reference_codes if held_out else context.codes
        reference_labels = np.asarray(context.reference_labels if held_out else context.labels)
        if not _can_be_classified(np.asarray(context.labels), reference_labels, held_out):
            return {"knn_accuracy": None}
        # where fewer rows than k could vote, every one does (on training rows, every other one)
        k = min(self.options.k, len(reference) - (0 if held_out else 1))
        votes = reference_labels[_nearest(context.codes, reference, k, leave_self_out=not held_out)]
        predicted = [_majority(row) for row in votes]
        accuracy = {"knn_accuracy": float(np.mean(np.asarray(predicted) == np.asarray(context.labels)))}
        return accuracy | ({"knn_accuracy_k": k} if k < self.options.k else {})


DISTANCE_BLOCK = 2**25  # distances computed at once (256 MB in float64): held-out rows against 10^6 training codes
# codes of at most this many components are searched in a k-d tree: 5 000 held-out rows among 900 000 training
# codes had taken 35 s by all their distances (one thread), the tree takes 1.7 s
TREE_COMPONENTS = 16


def _nearest(codes: torch.Tensor, reference: torch.Tensor, k: int, leave_self_out: bool) -> np.ndarray:
    """Each code's k nearest reference codes (row numbers), exactly: in a k-d tree for codes of a few components,
    else by all the distances, a block of rows at a time so that memory stays within DISTANCE_BLOCK distances
    whatever the number of reference codes; ``leave_self_out``: the codes are the reference, and no row counts as
    its own neighbour."""
    import torch

    from dimred.plugin import scaled_for_distances

    codes, reference = scaled_for_distances(codes, reference)
    if reference.shape[1] <= TREE_COMPONENTS:
        return _nearest_in_tree(codes.cpu().numpy(), reference.cpu().numpy(), k, leave_self_out)
    rows = max(1, DISTANCE_BLOCK // max(len(reference), 1))
    nearest = []
    for start in range(0, len(codes), rows):
        # differences summed term by term: a matrix product's rounding far from the origin reorders neighbours
        distances = torch.cdist(codes[start : start + rows], reference, compute_mode="donot_use_mm_for_euclid_dist")
        if leave_self_out:
            own = torch.arange(len(distances))
            distances[own, own + start] = float("inf")
        nearest.append(distances.topk(k, largest=False).indices)
    return torch.cat(nearest).numpy()


def _nearest_in_tree(codes: np.ndarray, reference: np.ndarray, k: int, leave_self_out: bool) -> np.ndarray:
    """``_nearest`` through scikit-learn's k-d tree, whose distances are sums of squared differences, as cdist's
    above (no matrix product's rounding); with ``leave_self_out`` one more is found, and each row's own number
    (or, where duplicates hid it, the farthest found) left out."""
    from sklearn.neighbors import KDTree

    found = KDTree(reference).query(codes, k=k + leave_self_out, return_distance=False)
    if not leave_self_out:
        return found
    others = found != np.arange(len(found))[:, None]
    others[others.all(axis=1), -1] = False
    return found[others].reshape(len(found), k)


def _can_be_classified(labels: np.ndarray, reference_labels: np.ndarray, held_out: bool) -> bool:
    """Whether the accuracy says anything: the reference rows hold two classes or more (of one, every vote is
    right), and some scored row's class is among the others' (a row whose class no other row has, as where every
    row is its own class, cannot be classified)."""
    if len(np.unique(reference_labels)) < 2:
        return False
    if held_out:
        return bool(np.isin(labels, reference_labels).any())
    _values, counts = np.unique(labels, return_counts=True)
    return bool((counts > 1).any())


def _majority(votes: np.ndarray):
    """The most common label among the votes; a tie goes to the smallest label, as scikit-learn's classifier."""
    values, counts = np.unique(votes, return_counts=True)
    return values[counts.argmax()]


class Silhouette(Metric):
    name = "silhouette"
    description = "silhouette of the codes grouped by their labels (-1 to 1; higher: classes apart); labelled data"

    def compute(self, context: MetricContext) -> dict:
        if context.labels is None:
            return {}  # unlabelled data: the metric does not appear
        labels = np.asarray(context.labels)
        if not 2 <= len(np.unique(labels)) < len(labels):
            return {"silhouette": None}
        from sklearn.metrics import silhouette_score

        from dimred.plugin import scaled_for_distances

        (codes,) = scaled_for_distances(context.codes)  # distances between codes of 1e-170 would all be 0
        return {"silhouette": float(silhouette_score(codes.numpy(), labels))}


@hookimpl
def register_metrics(register):
    for metric in (
        ReconstructionError,
        Trustworthiness,
        Continuity,
        KnnPreservation,
        RnxCurve,
        IntrinsicSpearman,
        KnnAccuracy,
        Silhouette,
    ):
        register(metric)
