"""The torch network of ``denoising-ae``, imported only when a model is built."""

from __future__ import annotations

import itertools

import torch
from torch import nn


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(widths[:-1]):
        layers += [nn.Linear(n_in, n_out), nn.SiLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-2], widths[-1]))


class DenoisingNetwork(nn.Module):
    def __init__(self, n_features: int, n_components: int, hidden: tuple[int, ...], corruption: float) -> None:
        super().__init__()
        self.corruption = corruption
        self.encoder = _mlp([n_features, *hidden, n_components])
        self.decoder = _mlp([n_components, *hidden[::-1], n_features])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.corruption > 0:
            x = x + self.corruption * torch.randn_like(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
