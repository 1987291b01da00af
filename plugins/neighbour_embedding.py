"""Neighbour-embedding losses for neural encoders, and ``ne-ae``: an autoencoder trained on one plus
reconstruction.

Both losses work on UMAP's fuzzy neighbour graph, built once per data set by ``prepare`` (n * k memory; rows
wider than twice ``pca`` columns find their neighbours among their first ``pca`` principal components). Each
step, every drawn row (a head) brings one graph neighbour (its tail), sampled in proportion to the edge's weight,
and each head is weighted by its degree, so the expected gradient is that of edges sampled by weight as in UMAP.
The other codes of the step serve as negative samples (a shared pool, masked where a code is the head's own).

- ``ne-umap``: parametric UMAP's cross-entropy (Sainburg, McInnes & Gentner 2021): attraction -log q(d) on the
  edge, repulsion -log(1 - q(d)) on negatives, q(d) = 1 / (1 + a d^(2b)) with a, b fitted from ``min_dist``.
- ``ne-tsne``: the InfoNCE form of t-SNE (Damrich et al. 2023, "From t-SNE to UMAP with contrastive learning"):
  a Cauchy kernel 1 / (1 + d^2) and a softmax of the edge against the negatives. On digits and MNIST it keeps
  more of the neighbourhoods than ``ne-umap``, so ``ne-ae`` uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dimred.plugin import Batch, Loss, MLPModel, TrainingData, UsageError, hookimpl, option

NARROW_ROWS_NOISE = 0.05
WIDE_ROWS_NOISE = 0.1
WIDE_ROWS_MASK = 0.1
WIDE_FROM = 32  # columns: from here rows get the stronger input corruption


@dataclass(frozen=True)
class GraphOptions:
    neighbours: int = option(15, "neighbours per row in the fuzzy graph")
    negatives: int = option(128, "codes of the step each head is repelled from")
    pca: int = option(50, "find neighbours among this many principal components of rows wider than twice that "
                          "(0: among the columns)")  # fmt: skip

    def __post_init__(self) -> None:
        if self.neighbours < 2 or self.negatives < 1 or self.pca < 0:
            raise ValueError("neighbours must be at least 2, negatives at least 1 and pca at least 0")


class _GraphLoss(Loss):
    """What both losses share: the graph, the sampled tails, the negative pool."""

    Options = GraphOptions

    def prepare(self, data: TrainingData) -> None:
        from dimred.plugin import NeighbourGraph, fuzzy_neighbour_graph

        if len(data.X) <= self.options.neighbours:
            raise UsageError(f"loss '{self.name}' needs more rows than its {self.options.neighbours} neighbours "
                             f"(got {len(data.X)}); lower loss.{self.name}.neighbours")  # fmt: skip
        built = data.once(lambda: fuzzy_neighbour_graph(data.X, self.options.neighbours, self.options.pca).tensors())
        self.graph = NeighbourGraph(**built).to(data.device)  # built by one process under torchrun, shared
        self.head_weight = (self.graph.degree / self.graph.degree.mean()).float()

    def extra_rows(self, index, generator):
        return self.graph.sample_neighbours(index, generator)

    def __call__(self, batch: Batch):
        import torch

        if batch.drawn is None or batch.index is None or len(batch.index) != 2 * batch.drawn:
            raise UsageError(f"loss '{self.name}' must be the only loss that adds rows to a step")
        heads, tails = batch.z[: batch.drawn], batch.z[batch.drawn :]
        # the pool: heads spread over the step's draw (a random sample of the rows, with minibatches)
        pool = torch.linspace(0, batch.drawn - 1, min(self.options.negatives, batch.drawn), device=batch.z.device)
        pool = pool.long()
        negatives = torch.cdist(heads, batch.z[pool]).square()
        own = batch.index[: batch.drawn, None] == batch.index[pool][None, :]
        per_head = self.contrast((heads - tails).square().sum(dim=1), negatives, own)
        return (self.head_weight[batch.index[: batch.drawn]].to(per_head.dtype) * per_head).mean()

    def contrast(self, positive, negatives, own):
        """Each head's loss from its squared distance to its tail and to the negatives (``own`` masks itself)."""
        raise NotImplementedError


class InfoNCETSNE(_GraphLoss):
    name = "ne-tsne"
    description = "t-SNE-like neighbour embedding: InfoNCE with a Cauchy kernel on the fuzzy kNN graph's edges"

    def contrast(self, positive, negatives, own):
        import torch

        logits = torch.cat([-torch.log1p(positive)[:, None], (-torch.log1p(negatives)).masked_fill(own, -math.inf)], 1)
        return torch.log1p(positive) + torch.logsumexp(logits, dim=1)


class ParametricUMAP(_GraphLoss):
    name = "ne-umap"
    description = "UMAP's cross-entropy on the fuzzy kNN graph, negative sampling, q(d) = 1 / (1 + a d^2b)"

    @dataclass(frozen=True)
    class Options(GraphOptions):
        min_dist: float = option(0.1, "how tightly neighbours may pack in the codes (UMAP's min_dist)")
        repulsion: float = option(1.0, "weight of the repulsion from negative samples")

        def __post_init__(self) -> None:
            super().__post_init__()
            if not 0 <= self.min_dist <= 1 or self.repulsion < 0:
                raise ValueError("min_dist must be from 0 to 1 (the spread) and repulsion at least 0")

    def prepare(self, data: TrainingData) -> None:
        super().prepare(data)
        self.a, self.b = _curve(self.options.min_dist)

    def contrast(self, positive, negatives, own):
        import torch

        attraction = torch.log1p(self.a * (positive + 1e-12) ** self.b)
        similarity = self.a * (negatives + 1e-12) ** self.b
        repulsion = torch.log1p(1.0 / similarity.clamp_min(1e-4)).masked_fill(own, 0.0)
        return attraction + self.options.repulsion * repulsion.mean(dim=1) * 5  # ~5 negatives per edge, as UMAP


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
    training settings adapt to the data's width and size."""

    name = "ne-ae"
    description = "neighbour-embedding autoencoder: t-SNE-like codes that still reconstruct (mse + ne-tsne)"
    default_loss = "mse+ne-tsne"

    @dataclass(frozen=True)
    class Options(MLPModel.Options):
        hidden: tuple[int, ...] = option((), "encoder widths; empty: 128,128 up to 128 input columns, else 256,256")
        dropout: float = option(0.0, "dropout after every hidden layer")
        batch_norm: bool = option(False, "BatchNorm1d in front of the decoder")
        noise: float | None = option(
            None,
            "standard deviation of uniform noise added to the input while training "
            f"[default: {NARROW_ROWS_NOISE}, {WIDE_ROWS_NOISE} from {WIDE_FROM} columns]",
        )
        mask: float | None = option(
            None, f"share of input values zeroed while training [default: {WIDE_ROWS_MASK} from {WIDE_FROM} columns]"
        )

        def __post_init__(self) -> None:
            if self.n_components < 1 or (self.hidden and min(self.hidden) < 1):
                raise ValueError("n_components and the hidden widths must be positive")
            if self.noise is not None and self.noise < 0:
                raise ValueError("noise must be at least 0")
            if self.mask is not None and not 0 <= self.mask < 1:
                raise ValueError("mask must be at least 0 and below 1")

    def hidden_widths(self, n_features: int) -> tuple[int, ...]:
        return self.options.hidden or ((128, 128) if n_features <= 128 else (256, 256))

    def input_corruption(self, n_features: int) -> tuple[float, float]:
        """The share of input values masked and the deviation of the input noise while training. Corruption
        regularises the encoder where many columns carry overlapping information: masking raised held-out
        trustworthiness, kNN preservation and accuracy on MNIST-5k, noise 0.1 instead of 0.05 the accuracy on
        digits (benchmarks/real_data.py); a few columns, as in a 3-D roll, are each needed."""
        mask, noise = (WIDE_ROWS_MASK, WIDE_ROWS_NOISE) if n_features >= WIDE_FROM else (0.0, NARROW_ROWS_NOISE)
        chosen_mask, chosen_noise = self.options.mask, self.options.noise
        return (mask if chosen_mask is None else chosen_mask), (noise if chosen_noise is None else chosen_noise)

    def training_defaults(self, n_samples: int, n_features: int) -> dict[str, Any]:
        """About 200 passes of every row as a head over its neighbours, within a step budget chosen with
        benchmarks/real_data.py so the whole fit stays near umap-learn's time; wide rows get smaller batches."""
        wide = n_features > 128
        batch = min(256 if wide else 512, max(2, n_samples // 2))
        steps = min(1000, max(600, n_samples // 4)) if wide else min(1500, max(600, n_samples // 2))
        return {"batch_size": batch, "steps": steps, "lr": 0.02, "weight_decay": 0.1}

    def build(self, n_features: int):
        mask, noise = self.input_corruption(n_features)
        return _layer_norm_autoencoder(n_features, self.hidden_widths(n_features), self.options.n_components, mask,
                                       noise)  # fmt: skip


def _layer_norm_autoencoder(n_features: int, widths: tuple[int, ...], n_components: int, mask: float, noise: float):
    """The network, defined here so that importing this plugin does not import torch."""
    import torch
    from torch import nn

    def stack(n_in: int, n_out: int, hidden: tuple[int, ...]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(n_in, width), nn.LayerNorm(width), nn.ReLU(inplace=True)]
            n_in = width
        return nn.Sequential(*layers, nn.Linear(n_in, n_out))

    class LayerNormAutoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = stack(n_features, n_components, widths)
            self.decoder = stack(n_components, n_features, widths[::-1])

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            if self.training and (mask or noise):
                x = _corrupt(x, mask, noise)
            return self.encoder(x)

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return self.decoder(z)

    return LayerNormAutoencoder()


def _corrupt(x: Any, mask: float, noise: float) -> Any:
    """``x`` with a share ``mask`` of its values zeroed and uniform noise of standard deviation ``noise`` added
    to the rest, both from one 16-bit random number per value: torch.rand_like and randn_like took a sixth of a
    step on MNIST-5k, this takes a fraction of that."""
    import torch

    from dimred.plugin import random_int16

    draws = random_int16(x.shape, x.device)
    threshold = round(mask * 65536) - 32768  # a draw below this zeroes its value
    # The kept values' draws are uniform over [threshold, 32767]: centred and scaled to the wanted deviation.
    scale = noise * math.sqrt(12) / (32768 - threshold)
    noisy = x + (draws.to(x.dtype) - (threshold + 32767) / 2) * scale
    return noisy if threshold == -32768 else torch.where(draws >= threshold, noisy, 0.0)


@hookimpl
def register_losses(register):
    register(InfoNCETSNE)
    register(ParametricUMAP)


@hookimpl
def register_models(register):
    register(NeighbourEmbeddingAutoencoder)
