"""The torch network behind ``mlp-ae``, kept apart so that listing plugins does not import torch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class FastDropout(nn.Module):
    """Dropout drawn from one uniform tensor: the same distribution as ``nn.Dropout``, cheaper on CPU.

    Each element is kept with probability 1 - p and scaled by 1 / (1 - p), as ``nn.Dropout`` does; it is the
    bernoulli sampling that costs, and this network spends most of its step time there.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _perceptron(n_in: int, widths: Sequence[int], n_out: int, dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(n_in, width), nn.ReLU(inplace=True), FastDropout(dropout)]
        n_in = width
    return [*layers, nn.Linear(n_in, n_out)]


class MLPNetwork(nn.Module):
    def __init__(
        self, n_features: int, n_components: int, hidden: Sequence[int], dropout: float, batch_norm: bool
    ) -> None:
        super().__init__()
        self.encoder = nn.Sequential(*_perceptron(n_features, hidden, n_components, dropout))
        norm = [nn.BatchNorm1d(n_components)] if batch_norm else []
        self.decoder = nn.Sequential(*norm, *_perceptron(n_components, hidden[::-1], n_features, dropout))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
