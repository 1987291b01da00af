"""The reference tutorial's autoencoder: an MLP with ReLU and dropout, batch norm in front of the decoder."""

from __future__ import annotations

from dataclasses import dataclass

from dimred.plugin import Model, hookimpl, option


class MLPAutoencoder(Model):
    """By default exactly the tutorial's network: 3 -> 128 -> 64 -> k and BatchNorm(k) -> 64 -> 128 -> 3."""

    name = "mlp-ae"
    description = "MLP autoencoder with dropout and batch norm (the reference tutorial's network)"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "size of the code (the reduced dimension)")
        hidden: tuple[int, ...] = option((128, 64), "widths of the encoder's hidden layers; the decoder mirrors them")
        dropout: float = option(0.2, "dropout probability after every hidden layer (0 turns dropout off)")
        batch_norm: bool = option(True, "normalise the code with BatchNorm1d before decoding")

        def __post_init__(self) -> None:
            if self.n_components < 1:
                raise ValueError("n_components must be at least 1")
            if not self.hidden or min(self.hidden) < 1:
                raise ValueError("hidden needs at least one positive width, e.g. 128,64")
            if not 0 <= self.dropout < 1:
                raise ValueError("dropout must be in [0, 1)")

    def build(self, n_features: int):
        from dimred._core.networks import MLPNetwork

        return MLPNetwork(
            n_features,
            self.options.n_components,
            self.options.hidden,
            self.options.dropout,
            self.options.batch_norm,
        )


@hookimpl
def register_models(register):
    register(MLPAutoencoder)
