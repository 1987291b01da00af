"""The swiss roll: a 2-D sheet rolled up in 3-D, the reference tutorial's data set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dimred.plugin import Data, Dataset, hookimpl, option


class SwissRoll(Dataset):
    """Points on a swiss roll, coloured by their position along the roll.

    The generator follows scikit-learn's ``make_swiss_roll`` and also returns the true unrolled coordinates
    (arc length along the roll, height), which metrics can compare an embedding against.
    """

    name = "swissroll"
    description = "3-D swiss roll (scikit-learn's recipe); colour and intrinsic coordinates included"

    @dataclass(frozen=True)
    class Options:
        n_samples: int = option(1500, "number of points")
        noise: float = option(0.05, "standard deviation of the Gaussian noise added to every coordinate")
        seed: int | None = option(None, "random seed of the data (default: the run's --seed)")

        def __post_init__(self) -> None:
            if self.n_samples < 3:  # fewer rows cannot be scored
                raise ValueError(f"n_samples must be at least 3, got {self.n_samples}")
            if self.seed is not None and self.seed < 0:
                raise ValueError(f"seed must not be negative, got {self.seed}")
            if self.noise < 0:
                raise ValueError(f"noise must not be negative, got {self.noise:g}")

    def load(self, seed: int) -> Data:
        rng = np.random.default_rng(self.options.seed if self.options.seed is not None else seed)
        n = self.options.n_samples
        position = 1.5 * np.pi * (1 + 2 * rng.random(n))
        height = 21 * rng.random(n)
        X = np.column_stack([position * np.cos(position), height, position * np.sin(position)])
        X += self.options.noise * rng.standard_normal(X.shape)
        # Unrolled, the sheet's coordinates are the arc length along the spiral and the height.
        arc_length = 0.5 * (position * np.sqrt(1 + position**2) + np.arcsinh(position))
        return Data(
            X=X, color=position, intrinsic=np.column_stack([arc_length, height]), color_name="position along the roll"
        )


@hookimpl
def register_datasets(register):
    register(SwissRoll)
