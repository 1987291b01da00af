"""The reference tutorial's autoencoder: an MLP with ReLU and dropout, batch norm in front of the decoder."""

from __future__ import annotations

from dimred.plugin import MLPModel, hookimpl


class MLPAutoencoder(MLPModel):
    """By default exactly the tutorial's network: 3 -> 128 -> 64 -> k and BatchNorm(k) -> 64 -> 128 -> 3."""

    name = "mlp-ae"
    description = "MLP autoencoder with dropout and batch norm (the reference tutorial's network)"


@hookimpl
def register_models(register):
    register(MLPAutoencoder)
