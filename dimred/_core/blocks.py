"""Building blocks for model plugins that want the tutorial's kind of network without writing it again.

``MLPModel`` is a model plugin base (no name of its own): an MLP encoder and its mirror-image decoder, with the
options every MLP autoencoder shares. Subclass it, give it a ``name``, and change defaults or ``build``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dimred._core.contracts import Model
from dimred._core.options import option

MAX_WIDTH = 1 << 16  # wider layers than this are a typo, not a model: refused before anything is allocated


class MLPModel(Model):
    """An MLP autoencoder: n_features -> hidden -> n_components and back, ReLU and dropout after every hidden
    layer, optionally batch norm in front of the decoder."""

    MAX_WIDTH = MAX_WIDTH  # the widest layer (and code) the options take, for subclasses that check their own

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "size of the code (the reduced dimension)")
        hidden: tuple[int, ...] = option((128, 64), "widths of the encoder's hidden layers; the decoder mirrors them")
        dropout: float = option(0.2, "dropout probability after every hidden layer (0 turns dropout off)")
        batch_norm: bool = option(True, "normalise the code with BatchNorm1d before decoding")

        def __post_init__(self) -> None:
            if not 1 <= self.n_components <= MAX_WIDTH:
                raise ValueError(f"n_components must be from 1 to {MAX_WIDTH}")
            if not self.hidden or not 1 <= min(self.hidden) <= max(self.hidden) <= MAX_WIDTH:
                raise ValueError(f"hidden needs at least one width, each from 1 to {MAX_WIDTH}, e.g. 128,64")
            if not 0 <= self.dropout < 1:
                raise ValueError(f"dropout must be in [0, 1), got {self.dropout:g}")

    def hidden_widths(self, n_features: int) -> tuple[int, ...]:
        """The encoder's hidden widths for data of ``n_features`` columns (subclasses may adapt them)."""
        return self.options.hidden

    def build(self, n_features: int):
        from dimred._core.networks import MLPNetwork

        options = self.options
        widths = self.hidden_widths(n_features)
        return MLPNetwork(n_features, options.n_components, widths, options.dropout, options.batch_norm)
