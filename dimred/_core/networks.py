"""The torch network behind ``mlp-ae``, kept apart so that listing plugins does not import torch."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def random_int16(shape: torch.Size | tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniformly random 16-bit integers of ``shape``, four from each 64-bit draw: about a quarter of the cost of
    ``torch.rand`` on the CPU, for masks and noise drawn in every training step."""
    count = math.prod(shape)
    # The full signed 64-bit range: every one of the four 16-bit pieces is uniform.
    bits = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), 2**63 - 1)
    return bits.view(torch.int16)[:count].view(shape)


def layer_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the layers compute ``x`` in: autocast's where mixed precision is on for its device, else its own.
    Input noise made in that dtype spares the first layer a cast of every value."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


class FastDropout(nn.Module):
    """Inverted dropout whose mask costs a quarter of ``nn.Dropout``'s on the CPU.

    Each element is zeroed with probability p and the survivors are scaled by 1 / (1 - p), as ``nn.Dropout``
    does. The mask comes from 16-bit random integers (four per 64-bit draw), so p is rounded to a multiple of
    1/65536 (0.2 becomes 0.199997). Drawing the random numbers is where this network spends most of its step.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self._threshold = round(p * 65536) - 32768  # an int16 at or above this survives

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = random_int16(x.shape, x.device) >= self._threshold
        return x * (keep * (1.0 / (1.0 - self.p)))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def perceptron(n_in: int, widths: Sequence[int], n_out: int, dropout: float) -> list[nn.Module]:
    """Linear layers of the given widths, each followed by ReLU and dropout, and a last linear layer to n_out."""
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
        self.encoder = nn.Sequential(*perceptron(n_features, hidden, n_components, dropout))
        norm = [nn.BatchNorm1d(n_components)] if batch_norm else []
        self.decoder = nn.Sequential(*norm, *perceptron(n_components, hidden[::-1], n_features, dropout))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
