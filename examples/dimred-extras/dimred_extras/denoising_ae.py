"""A denoising autoencoder: it learns to reconstruct clean points from noisy copies of them."""

from __future__ import annotations

from dataclasses import dataclass

from dimred.plugin import Model, hookimpl, option


class DenoisingAutoencoder(Model):
    name = "denoising-ae"
    description = "MLP autoencoder trained on Gaussian-noised inputs (no dropout, no batch norm)"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "size of the code")
        hidden: tuple[int, ...] = option((64, 32), "widths of the encoder's hidden layers; the decoder mirrors them")
        corruption: float = option(0.05, "standard deviation of the noise added to the input while training")

        def __post_init__(self) -> None:
            if self.n_components < 1:
                raise ValueError(f"n_components must be at least 1, got {self.n_components}")
            if any(width < 1 for width in self.hidden):
                raise ValueError(f"every hidden width must be at least 1, got {list(self.hidden)}")
            if self.corruption < 0:
                raise ValueError("corruption must not be negative")

    def build(self, n_features: int):
        from dimred_extras._network import DenoisingNetwork

        return DenoisingNetwork(n_features, self.options.n_components, self.options.hidden, self.options.corruption)


@hookimpl
def register_models(register):
    register(DenoisingAutoencoder)
