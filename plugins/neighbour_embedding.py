"""Neighbour-embedding losses for neural encoders, and ``ne-ae``: an autoencoder trained on one plus
reconstruction.

Both losses work on UMAP's fuzzy kNN memberships, made symmetric as each method makes them (``ne-umap`` by UMAP's
fuzzy union, ``ne-tsne`` by t-SNE's mean), a graph built once per data set by ``prepare`` (n * k memory; rows
wider than twice ``pca`` columns find their neighbours among their first ``pca`` principal components). Each
step, every drawn row (a head) brings one graph neighbour (its tail), sampled in proportion to the edge's weight,
and each edge is weighted by its head's degree, so the expected gradient is that of edges sampled by weight as in
UMAP. Both ends of an edge are contrasted with the step's other codes, the negative samples (a shared pool of
heads, masked where a code is the end's own): each drawn pair of rows gives two contrasts for one more distance
matrix. On MNIST-5k that raised held-out trustworthiness by about 0.003 and kNN preservation by 0.005. Every
other graph edge between two of the step's rows (met by chance, not sampled) is a positive too, weighted by its
weight over the chance that its other end is among them: on digits about five times as many edges as the sampled
ones, for a tenth more time per step.

- ``ne-umap``: parametric UMAP's cross-entropy (Sainburg, McInnes & Gentner 2021): attraction -log q(d) on the
  edge, repulsion -log(1 - q(d)) on negatives, q(d) = 1 / (1 + a d^(2b)) with a, b fitted from ``min_dist``.
- ``ne-tsne``: the InfoNCE form of t-SNE (Damrich et al. 2023, "From t-SNE to UMAP with contrastive learning"):
  a Cauchy kernel 1 / (1 + d^2) and a softmax of the edge against the negatives, its attraction -log q weighted
  by an exaggeration (Damrich et al.'s path from t-SNE towards UMAP: tighter clusters above 1). On digits and MNIST
  it keeps more of the neighbourhoods than ``ne-umap``, so ``ne-ae`` uses it.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

from dimred.plugin import (
    EXACT_KNN_ROWS,
    MUON_MIN_SIDE,
    SYMMETRISATIONS,
    Batch,
    Loss,
    MLPModel,
    TrainingData,
    UsageError,
    hookimpl,
    option,
)

NARROW_ROWS_NOISE = 0.05
WIDE_ROWS_NOISE = 0.1
WIDE_ROWS_MASK = 0.1
WIDE_FROM = 32  # columns: from here rows get the stronger input corruption and bf16 steps
IMAGE_ROWS_NOISE = 0.2
IMAGE_WIDE_FROM = 129  # columns: from here rows get wider layers, 700 steps, stronger noise, heavier tails
IMAGE_ROWS_DOF = 0.9
MIN_DOF, MAX_DOF = 0.001, 1000.0  # trained without trouble at both ends (swiss roll); 1e-300 and 1e300 did not
NARROWER_ROWS_EXAGGERATION = 1.3  # rows under IMAGE_WIDE_FROM columns
# the most exaggeration, repulsion (weights of one part of a loss) and input noise taken: 1e6 trained without
# trouble on the swiss roll; from about 1e38, float32 losses and layers overflow, and were blamed at run time
MAX_WEIGHTING = 1e6
MAX_NOISE = 1e6
NEGATIVES_HELP = "codes of the step each end of an edge is repelled from (at most the step's heads)"
SYMMETRISE_HELP = (
    "how the kNN memberships become one weight per pair: union (UMAP's fuzzy union A + A^T - A A^T) "
    "or mean (t-SNE's (A + A^T) / 2)"
)
UMAP_NEIGHBOURS = 15
# 10 rather than UMAP's 15: held-out kNN accuracy +0.008 on MNIST-5k, +0.003 on digits (real_data.py)
TSNE_NEIGHBOURS = 10
ANN_NOTE = f"; above {EXACT_KNN_ROWS:,} rows its kNN graph needs faiss (dimred[ann])"


def neighbours_option(default: int) -> Any:
    return option(None, f"neighbours per row in the fuzzy graph, the row itself not counted (umap-learn's "
                        f"n_neighbors counts it: it is this + 1) [default: {default}, one less than the rows on "
                        "fewer rows]")  # fmt: skip


@dataclass(frozen=True)
class GraphOptions:
    neighbours: int | None = neighbours_option(UMAP_NEIGHBOURS)
    negatives: int = option(256, NEGATIVES_HELP)
    pca: int = option(50, "find neighbours among this many principal components of rows wider than twice that "
                          "(0: among the columns)")  # fmt: skip
    symmetrise: str = option("union", SYMMETRISE_HELP)

    def __post_init__(self) -> None:
        if self.neighbours is not None and self.neighbours < 2:
            raise ValueError(f"neighbours must be at least 2, got {self.neighbours}")
        if self.negatives < 1:
            raise ValueError(f"negatives must be at least 1, got {self.negatives}")
        if self.pca < 0:
            raise ValueError(f"pca must be at least 0 (0: neighbours among the columns), got {self.pca}")
        if self.symmetrise not in SYMMETRISATIONS:
            raise ValueError(f"symmetrise must be one of {', '.join(SYMMETRISATIONS)}, got {self.symmetrise!r}")


class _GraphLoss(Loss):
    """What both losses share: the graph, the sampled tails, the negative pool."""

    Options = GraphOptions
    default_neighbours = UMAP_NEIGHBOURS

    def options_for(self, n_samples: int, n_features: int) -> GraphOptions:
        return replace(self.options, neighbours=self._neighbours(n_samples))

    def _neighbours(self, n_samples: int) -> int:
        return self.options.neighbours or min(self.default_neighbours, max(2, n_samples - 1))

    def prepare(self, data: TrainingData) -> None:
        from dimred.plugin import NeighbourGraph, fuzzy_neighbour_graph

        neighbours = self._neighbours(len(data.X))
        if len(data.X) <= neighbours:
            fewer = max(2, len(data.X) - 1)
            raise UsageError(f"loss '{self.name}' needs more rows than its {neighbours} neighbours (got {len(data.X)} "
                             f"to train on); lower them, e.g. --set loss.{self.name}.neighbours={fewer} (in Python: "
                             f"loss_options={{'{self.name}': {{'neighbours': {fewer}}}}})")  # fmt: skip
        options = self.options
        built = data.once(lambda: fuzzy_neighbour_graph(data.X, neighbours, options.pca, options.symmetrise).tensors())
        self.graph = NeighbourGraph(**built).to(data.device)  # built by one process under torchrun, shared
        self.mean_degree = float(self.graph.degree.mean())
        self.head_weight = (self.graph.degree / self.mean_degree).float()

    def extra_rows(self, index, generator):
        return self.graph.sample_neighbours(index, generator)

    def __call__(self, batch: Batch):
        import torch

        if batch.drawn is None or batch.index is None or len(batch.index) != 2 * batch.drawn:
            raise UsageError(f"loss '{self.name}' must be the only loss that adds rows to a step")
        if batch.drawn < 2:  # a row's only negative would be itself: nothing to contrast an edge with
            raise UsageError(f"loss '{self.name}' contrasts a step's rows with each other and needs at least 2 rows "
                             f"per step (per process under torchrun), got {batch.drawn}; raise the batch size "
                             "(--batch-size, batch_size=) or, under torchrun, train on fewer processes")  # fmt: skip
        drawn, index, z = batch.drawn, batch.index, batch.z
        # both ends of every edge are contrasted with the pool: heads spread over the step's draw (a random sample
        # of the rows, with minibatches)
        pool = torch.linspace(0, drawn - 1, min(self.options.negatives, drawn), device=z.device).long()
        shared = self.end_terms(z, z[pool], index[:, None] == index[pool][None, :])
        # Two estimates of the mean loss per edge end, mixed in proportion to their edges: the sampled edges, each
        # weighted by its head's degree, and every other graph edge between two of the step's rows (on digits about
        # five times as many, for a tenth more time), each weighted by its weight over the chance that its other
        # end is among them. All edges are scored together, once from each end. The second estimate carries about
        # 0.78 of its nominal weight (the sampled pairs are left out of it, its normalisation assumes they are not:
        # measured with fixed codes on 200-1 000 rows), so ne-tsne weighs about 0.85 of what its weight says against
        # mse. The shortfall is the strong edges' (weight near 1: about 0.72, below 0.1: 0.98), which are sampled
        # most, so the estimate leans a little towards weak edges. Normalising it by the step's own edge weights
        # changed no held-out figure on digits (splits 0-2 x 8 random states: acc -0.0007, SE 0.0011), edges among
        # the drawn rows alone (no lean) did no better, and the defaults were chosen with it as it is.
        ends, others, weights = self._chance_edges(index, drawn)
        present = len(torch.unique(index))
        share = drawn / (drawn + len(ends))
        heads = torch.arange(drawn, device=z.device)
        first, second = torch.cat([heads, ends]), torch.cat([heads + drawn, others])
        sampled = self.head_weight[index[:drawn]].to(z.dtype) * (share / (2 * drawn))
        met = weights.to(z.dtype) * ((1 - share) * len(self.graph.degree) / (self.mean_degree * present**2))
        coefficients = torch.cat([sampled, met])
        lengths = (z.index_select(0, first) - z.index_select(0, second)).square().sum(dim=1)
        losses = self.edge_losses(lengths.repeat(2), shared.index_select(0, torch.cat([first, second])))
        return coefficients.repeat(2) @ losses

    def _chance_edges(self, index, drawn):
        """The graph edges among the step's rows other than the sampled ones: those rows met by chance (a
        sampled pair is there by construction, and weighting it as found by chance would count it ~n / rows times
        over on large data)."""
        import torch

        ends, others, weights = self.graph.edges_among(index)
        n = len(self.graph.degree)

        def pair_keys(a, b):
            return torch.minimum(a, b) * n + torch.maximum(a, b)

        # a binary search among the sorted sampled pairs (torch.isin sorts the step's edges with them)
        sampled = pair_keys(index[:drawn], index[drawn:]).sort().values
        found = pair_keys(index[ends], index[others])
        chance = sampled[torch.searchsorted(sampled, found).clamp_max_(drawn - 1)] != found
        return ends[chance], others[chance], weights[chance]

    def end_terms(self, ends, negatives, own):
        """What every edge of an end (a row of ``ends``) shares: its contrast with the ``negatives`` (``own``
        masks the end's own code among them)."""
        raise NotImplementedError

    def edge_losses(self, lengths, shared):
        """The loss of each edge from its squared length in the codes and its end's ``end_terms``."""
        raise NotImplementedError


class InfoNCETSNE(_GraphLoss):
    name = "ne-tsne"
    description = (
        "t-SNE-like neighbour embedding: InfoNCE with a Cauchy kernel on the fuzzy kNN graph's edges" + ANN_NOTE
    )

    default_neighbours = TSNE_NEIGHBOURS

    @dataclass(frozen=True)
    class Options(GraphOptions):
        neighbours: int | None = neighbours_option(TSNE_NEIGHBOURS)
        # 128 rather than 256: a step's kernel sums take half the time (a digits fit about 8 % faster) and the
        # held-out figures kept (digits, 6 seeds: T +0.002, acc +0.001; MNIST-5k: T -0.0003, acc +0.007)
        negatives: int = option(128, NEGATIVES_HELP)
        # t-SNE's symmetrisation for its loss, no worse beyond the spread: held-out 5-NN accuracy on digits +0.0015
        # over 56 draws of a scratch script (one thread), +0.0001 over the benchmark's 32 splits, -0.0008 over its 24
        # model-seed draws, trustworthiness and kNN preservation within 0.001; on MNIST-5k every figure within its
        # spread (docs/performance.md)
        symmetrise: str = option("mean", SYMMETRISE_HELP, before_added="union")
        dof: float | None = option(
            None,
            "degrees of freedom of the kernel (1 + d^2 / dof)^-dof, below 1 heavier "
            f"tails [default: 1, {IMAGE_ROWS_DOF} from {IMAGE_WIDE_FROM} columns]",
        )

        exaggeration: float | None = option(
            None,
            "weight of the attraction along the graph's edges, above 1 tighter clusters (t-SNE's early "
            f"exaggeration, kept all along), at most {MAX_WEIGHTING:g} [default: {NARROWER_ROWS_EXAGGERATION}, 1 from "
            f"{IMAGE_WIDE_FROM} columns]",
            before_added=1.0,
        )

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.dof is not None and not MIN_DOF <= self.dof <= MAX_DOF:  # far beyond, float32 kernels break down
                raise ValueError(f"dof must be from {MIN_DOF} to {MAX_DOF:g} (1: t-SNE's kernel; large values approach "
                                 f"a Gaussian), got {self.dof:g}")  # fmt: skip
            if self.exaggeration is not None and not 0 < self.exaggeration <= MAX_WEIGHTING:
                raise ValueError(
                    f"exaggeration must be above 0 and at most {MAX_WEIGHTING:g}, got {self.exaggeration:g}"
                )

    def options_for(self, n_samples: int, n_features: int) -> Options:
        chosen = {"dof": self._dof(n_features), "exaggeration": self._exaggeration(n_features)}
        return replace(super().options_for(n_samples, n_features), **chosen)

    def _dof(self, n_features: int) -> float:
        # Heavier tails separate the clusters of image-wide rows more: on MNIST-5k dof 0.9 raised held-out
        # trustworthiness by about 0.0025; on digits it cost time (a power per pair) for no clear gain.
        return self.options.dof or (IMAGE_ROWS_DOF if n_features >= IMAGE_WIDE_FROM else 1.0)

    def _exaggeration(self, n_features: int) -> float:
        # Tighter clusters keep a little more of the held-out classes of digits: 1.3 raised 5-NN accuracy by about
        # 0.002 over 82 paired fits (0.000 to 0.003 between draws) for kNN preservation about -0.011 and
        # trustworthiness about -0.0015 (docs/performance.md); on MNIST-5k it cost trustworthiness 0.002 and kNN
        # preservation 0.013 for no clear gain in accuracy.
        if self.options.exaggeration is not None:
            return self.options.exaggeration
        return 1.0 if n_features >= IMAGE_WIDE_FROM else NARROWER_ROWS_EXAGGERATION

    def prepare(self, data: TrainingData) -> None:
        super().prepare(data)
        self.dof = self._dof(data.X.shape[1])
        self.exaggeration = self._exaggeration(data.X.shape[1])

    def end_terms(self, ends, negatives, own):
        if self.dof > 1.0:  # the sums' logs: (1 + d^2 / dof)^-dof underflows float32 from d ~ 10 at dof 1000
            import torch

            log_similarities = torch.log1p(_squared_distances(ends, negatives) / self.dof).mul(-self.dof)
            return torch.logsumexp(log_similarities.masked_fill(own, torch.finfo(ends.dtype).min), dim=1)
        return _kernel_sums(ends, negatives, own, self.dof)

    def edge_losses(self, lengths, shared):
        import torch

        # -log of the edge's share of the kernel's similarities, the softmax of InfoNCE: -log(q / (q + s)) =
        # log(1 + s / q), with q = (1 + d^2 / dof)^-dof; exaggeration r weighs the attraction -log q by r: (r - 1) *
        # -log q more
        if self.dof > 1.0:  # in log space (``shared`` holds the sums' logs): 1 / q overflows float32 at dof 1000
            log_inverse_q = torch.log1p(lengths / self.dof) * self.dof
            contrast = torch.nn.functional.softplus(shared + log_inverse_q)
            return contrast if self.exaggeration == 1.0 else contrast + log_inverse_q * (self.exaggeration - 1.0)
        # from dof 1 down, 1 / q is at most 1 + d^2 (no exp or log per negative pair, each similarity is at most 1)
        inverse_q = lengths.add(1.0) if self.dof == 1.0 else lengths.div(self.dof).add_(1.0).pow(self.dof)
        contrast = torch.log1p(shared * inverse_q)
        return contrast if self.exaggeration == 1.0 else contrast.add_(inverse_q.log().mul_(self.exaggeration - 1.0))


class ParametricUMAP(_GraphLoss):
    name = "ne-umap"
    description = "UMAP's cross-entropy on the fuzzy kNN graph, negative sampling, q(d) = 1 / (1 + a d^2b)" + ANN_NOTE

    @dataclass(frozen=True)
    class Options(GraphOptions):
        min_dist: float = option(0.1, "how tightly neighbours may pack in the codes (UMAP's min_dist)")
        repulsion: float = option(1.0, f"weight of the repulsion from negative samples, at most {MAX_WEIGHTING:g}")

        def __post_init__(self) -> None:
            super().__post_init__()
            if not 0 <= self.min_dist <= 1:
                raise ValueError(f"min_dist must be from 0 to 1 (the spread), got {self.min_dist}")
            if not 0 < self.repulsion <= MAX_WEIGHTING:  # attraction alone pulls every code onto one point
                raise ValueError(f"repulsion must be above 0 (without it the codes collapse) and at most "
                                 f"{MAX_WEIGHTING:g}, got {self.repulsion:g}")  # fmt: skip

    def prepare(self, data: TrainingData) -> None:
        super().prepare(data)
        self.a, self.b = _curve(self.options.min_dist)

    def end_terms(self, ends, negatives, own):
        import torch

        similarity = self.a * (_squared_distances(ends, negatives) + 1e-12) ** self.b
        repulsion = torch.log1p(1.0 / similarity.clamp_min(1e-4)).masked_fill(own, 0.0)
        others = (~own).sum(dim=1).clamp_min(1)  # the mean over the other codes: an end listed in the pool has one less
        return self.options.repulsion * repulsion.sum(dim=1) / others * 5  # ~5 negatives per edge, as UMAP

    def edge_losses(self, lengths, shared):
        import torch

        return torch.log1p(self.a * (lengths + 1e-12) ** self.b) + shared


def _squared_distances(a, b):
    """Squared Euclidean distances between the rows of ``a`` and of ``b``: cheaper than ``cdist(a, b) ** 2``
    and its backward, exact enough for the kernels' 1 + d^2."""
    return ((a * a).sum(dim=1)[:, None] + (b * b).sum(dim=1)[None, :] - 2.0 * a @ b.T).clamp_min(0.0)


def _kernel_sums(ends, negatives, own, dof: float):
    """Per end, the sum of its similarities (1 + d^2 / dof)^-dof to the negatives (zero where ``own``), with a
    hand-written backward: two matrix products where autograd passes through each elementwise step; a digits fit
    is about 8 % faster (four alternating fits each)."""
    return _kernel_sums_function().apply(ends, negatives, own, dof)


@functools.cache
def _kernel_sums_function():
    import torch

    class KernelSums(torch.autograd.Function):
        @staticmethod
        def forward(ctx, ends, negatives, own, dof):
            base = _squared_distances(ends, negatives)
            if dof == 1.0:  # t-SNE's Cauchy kernel, the default: no division or power per pair
                similarities = base.add_(1.0).reciprocal().masked_fill_(own, 0.0)
            else:
                similarities = base.div_(dof).add_(1.0).pow(-dof).masked_fill_(own, 0.0)
            ctx.save_for_backward(ends, negatives, similarities, base)
            return similarities.sum(dim=1)

        @staticmethod
        def backward(ctx, grad):
            # d s_ij / d d^2_ij = -s_ij / base_ij and d d^2_ij / d end_i = 2 (end_i - negative_j) = -d d^2_ij /
            # d negative_j
            ends, negatives, similarities, base = ctx.saved_tensors
            weights = similarities.div(base).mul_(grad[:, None])
            end_grad = (weights @ negatives).sub_(weights.sum(dim=1)[:, None] * ends).mul_(2.0)
            negative_grad = (weights.T @ ends).sub_(weights.sum(dim=0)[:, None] * negatives).mul_(2.0)
            return end_grad, negative_grad, None, None

    return KernelSums


def _curve(min_dist: float, spread: float = 1.0) -> tuple[float, float]:
    """a and b of q(d) = 1 / (1 + a d^(2b)) fitted to UMAP's target curve for ``min_dist`` (as umap-learn)."""
    import numpy as np
    from scipy.optimize import curve_fit

    d = np.linspace(0, 3 * spread, 300)
    target = np.where(d < min_dist, 1.0, np.exp(-(d - min_dist) / spread))
    (a, b), _ = curve_fit(lambda d, a, b: 1.0 / (1.0 + a * d ** (2 * b)), d, target)
    return float(a), float(b)


class NeighbourEmbeddingAutoencoder(MLPModel):
    """An MLP encoder and decoder with layer norm, trained on ``ne-tsne`` plus reconstruction; its widths and
    training settings adapt to the data's width and size.

    The encoder is deeper than the decoder: on MNIST-5k four hidden layers instead of two raised held-out
    trustworthiness by about 0.015 and kNN preservation by 0.015, while a decoder of four layers reconstructed
    about as well as one of two (held-out RMSE 0.382 vs 0.383) at a tenth more arithmetic per step
    (benchmarks/real_data.py)."""

    name = "ne-ae"
    description = "neighbour-embedding autoencoder: t-SNE-like codes that still reconstruct (mse + ne-tsne)" + ANN_NOTE
    default_loss = "mse+ne-tsne"

    @dataclass(frozen=True)
    class Options(MLPModel.Options):
        hidden: tuple[int, ...] = option(
            (), f"encoder widths; empty: four layers of 128, of 256 from {IMAGE_WIDE_FROM} input columns"
        )
        decoder_hidden: tuple[int, ...] = option((), "decoder widths; empty: hidden reversed where it is set, "
                                                     "else two layers of the default width")  # fmt: skip
        dropout: float = option(0.0, "dropout after every hidden layer")
        batch_norm: bool = option(False, "BatchNorm1d in front of the decoder")
        noise: float | None = option(
            None,
            f"standard deviation of uniform noise added to the input while training, at most {MAX_NOISE:g} [default: "
            f"{NARROW_ROWS_NOISE}, {WIDE_ROWS_NOISE} from {WIDE_FROM} columns, {IMAGE_ROWS_NOISE} from "
            f"{IMAGE_WIDE_FROM}]",
        )
        mask: float | None = option(
            None, f"share of input values zeroed while training [default: {WIDE_ROWS_MASK} from {WIDE_FROM} columns]"
        )

        def __post_init__(self) -> None:
            for name, widths in (("n_components", (self.n_components,)), ("hidden", self.hidden),
                                 ("decoder_hidden", self.decoder_hidden)):  # fmt: skip
                if any(not 1 <= width <= MLPModel.MAX_WIDTH for width in widths):
                    shown = widths[0] if name == "n_components" else ",".join(map(str, widths))
                    raise ValueError(f"{name} must be from 1 to {MLPModel.MAX_WIDTH}"
                                     f"{' each' if name != 'n_components' else ''}, got {shown}")  # fmt: skip
            if not 0 <= self.dropout < 1:
                raise ValueError(f"dropout must be in [0, 1), got {self.dropout:g}")
            if self.noise is not None and not 0 <= self.noise <= MAX_NOISE:
                raise ValueError(f"noise must be from 0 to {MAX_NOISE:g}, got "
                                 f"{self.noise:g}")  # fmt: skip
            if self.mask is not None and not 0 <= self.mask < 1:
                raise ValueError(f"mask must be at least 0 and below 1, got {self.mask:g}")

    def options_for(self, n_features: int) -> Options:
        mask, noise = self.input_corruption(n_features)
        widths = {"hidden": self.hidden_widths(n_features), "decoder_hidden": self.decoder_widths(n_features)}
        return replace(self.options, **widths, mask=mask, noise=noise)

    def hidden_widths(self, n_features: int) -> tuple[int, ...]:
        return self.options.hidden or (_default_width(n_features),) * 4

    def decoder_widths(self, n_features: int) -> tuple[int, ...]:
        if self.options.decoder_hidden:
            return self.options.decoder_hidden
        return self.options.hidden[::-1] or (_default_width(n_features),) * 2

    def input_corruption(self, n_features: int) -> tuple[float, float]:
        """The share of input values masked and the deviation of the input noise while training. Corruption
        regularises the encoder where many columns carry overlapping information: masking raised held-out
        trustworthiness, kNN preservation and accuracy on MNIST-5k, noise 0.1 instead of 0.05 the accuracy on
        digits and 0.2 instead of 0.1 the trustworthiness on MNIST-5k (benchmarks/real_data.py); a few columns, as
        in a 3-D roll, are each needed."""
        mask, noise = (WIDE_ROWS_MASK, WIDE_ROWS_NOISE) if n_features >= WIDE_FROM else (0.0, NARROW_ROWS_NOISE)
        noise = IMAGE_ROWS_NOISE if n_features >= IMAGE_WIDE_FROM else noise
        chosen_mask, chosen_noise = self.options.mask, self.options.noise
        return (mask if chosen_mask is None else chosen_mask), (noise if chosen_noise is None else chosen_noise)

    def training_defaults(self, n_samples: int, n_features: int) -> dict[str, Any]:
        """Steps and batch sizes within a budget chosen with benchmarks/real_data.py so that the whole fit stays near
        umap-learn's time. Rows of 32 columns or more train with bfloat16 layers where the device computes them
        natively: on MNIST-5k a step takes about 0.75 of its float32 time, and 800 such steps kept more of the
        held-out neighbourhoods than 600 in float32 (trustworthiness +0.003) in about the same time; 700 keep about as
        much (seeds 0-2: T -0.0006, kNN +0.0002, acc -0.004, RMSE +0.0006) in seven eighths of the time, under
        umap-learn's. On digits a fit takes 0.93-0.95 of its float32 time for the same held-out figures (16 splits
        unseen while tuning: T 0.9742 vs 0.9745, acc 0.9764 vs 0.9757). Narrower rows, as a 3-D roll's, keep float32.
        Rows under 32 columns take 0.45 Adam steps per row (as digits did before Muon): a step learns from every
        graph edge among its rows, which costs about a tenth more time, and 646 such steps on digits kept more of the
        held-out classes than the 718 steps without them in the same time (16 splits: accuracy 0.976 vs 0.974). Rows
        of 32 to 128 columns train with Muon (``--optimizer muon``), which raised held-out accuracy over 32 digits
        splits from 0.974 to 0.980 in the same time; on image-wide rows its orthogonalisation would cost more than
        the 256-wide layers' own arithmetic. Their steps take half the rows, up to 1 024, and as many as draw each
        row about 192 times in such steps, from 400 to 1 250 (a batch size of the user's keeps these steps): a
        step of 64-column rows costs little more for 718 rows than for 512 (its layers are narrow, its
        orthogonalisation fixed), so digits takes 400 such steps instead of 538 of 512 rows, about 0.89 of the time
        for the same held-out figures (32 splits: acc 0.9819 vs 0.9814, T 0.9707 vs 0.9704, RMSE 0.1687 vs
        0.1655)."""
        chosen = {"batch_size": min(512, max(2, n_samples // 2)), "lr": 0.01, "weight_decay": 0.1}
        chosen |= {"precision": "bf16"} if n_features >= WIDE_FROM else {}
        if n_features >= IMAGE_WIDE_FROM:
            return chosen | {"steps": 700}
        if n_features >= WIDE_FROM and self._has_muon_matrices(n_features):
            batch_size = min(1024, max(2, n_samples // 2))
            steps = min(1250, max(400, n_samples * 192 // batch_size))
            return chosen | {"optimizer": "muon", "batch_size": batch_size, "steps": steps}
        return chosen | {"steps": min(1500, max(600, n_samples * 9 // 20))}

    def _has_muon_matrices(self, n_features: int) -> bool:
        """Whether a weight matrix has both sides of at least MUON_MIN_SIDE, the ones ``--optimizer muon``
        steps (narrower layers chosen with ``model.hidden`` train with Adam)."""
        sides = ((n_features, *self.hidden_widths(n_features)), (*self.decoder_widths(n_features), n_features))
        return any(min(a, b) >= MUON_MIN_SIDE for widths in sides for a, b in itertools.pairwise(widths))

    def build(self, n_features: int):
        return _layer_norm_autoencoder(n_features, self.hidden_widths(n_features), self.decoder_widths(n_features),
                                       self.options, *self.input_corruption(n_features))  # fmt: skip


def _default_width(n_features: int) -> int:
    return 256 if n_features >= IMAGE_WIDE_FROM else 128


def _layer_norm_autoencoder(n_features: int, encoder_widths: tuple[int, ...], decoder_widths: tuple[int, ...],
                            options: NeighbourEmbeddingAutoencoder.Options, mask: float, noise: float):  # fmt: skip
    """The network, defined here so that importing this plugin does not import torch."""
    import torch
    from torch import nn

    def stack(n_in: int, n_out: int, hidden: tuple[int, ...]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(n_in, width), nn.LayerNorm(width), nn.ReLU(inplace=True)]
            layers += [nn.Dropout(options.dropout)] if options.dropout else []
            n_in = width
        return nn.Sequential(*layers, nn.Linear(n_in, n_out))

    class LayerNormAutoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = stack(n_features, options.n_components, encoder_widths)
            code_norm = [nn.BatchNorm1d(options.n_components)] if options.batch_norm else []
            self.decoder = nn.Sequential(*code_norm, *stack(options.n_components, n_features, decoder_widths))

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            if self.training and (mask or noise):
                x = _corrupt(x, mask, noise)
            return self.encoder(x)

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return self.decoder(z)

    return LayerNormAutoencoder()


def _corrupt(x: Any, mask: float, noise: float) -> Any:
    """``x`` with a share ``mask`` of its values zeroed and uniform noise of standard deviation ``noise`` added
    to the rest, both from one 16-bit random number per value, in the dtype the layers compute in (under bfloat16
    autocast the first layer then casts nothing). torch.rand_like and randn_like took a sixth of a step on MNIST-5k,
    this a fraction of that: the arithmetic is in place on one new tensor and the mask multiplies in the draws
    themselves, since each temporary of a step's 1 024 x 784 values costs a fresh allocation on the CPU, more than
    its arithmetic."""
    from dimred.plugin import layer_dtype, random_int16

    threshold = round(mask * 65536) - 32768  # a draw below this zeroes its value
    if threshold > 32767:  # a mask within 1/65536 of 1: every draw is below it
        return x.new_zeros(x.shape, dtype=layer_dtype(x))
    draws = random_int16(x.shape, x.device)
    # The kept values' draws are uniform over [threshold, 32767]: centred and scaled to the wanted deviation.
    scale = noise * math.sqrt(12) / (32768 - threshold)
    noisy = draws.to(layer_dtype(x)).sub_((threshold + 32767) / 2).mul_(scale).add_(x)
    return noisy if threshold == -32768 else noisy.mul_(draws.ge_(threshold))


@hookimpl
def register_losses(register):
    register(InfoNCETSNE)
    register(ParametricUMAP)


@hookimpl
def register_models(register):
    register(NeighbourEmbeddingAutoencoder)
