"""scikit-learn's S-curve as a dimred dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dimred.plugin import Data, Dataset, hookimpl, option


class SCurve(Dataset):
    name = "scurve"
    description = "3-D S-curve (scikit-learn), coloured by the position along the S"

    @dataclass(frozen=True)
    class Options:
        n_samples: int = option(1500, "number of points")
        noise: float = option(0.05, "standard deviation of the Gaussian noise")
        seed: int | None = option(None, "random seed of the data (default: the run's --seed)")

        def __post_init__(self) -> None:
            if self.n_samples < 3:  # fewer rows cannot be scored
                raise ValueError("n_samples must be at least 3")
            if self.seed is not None and self.seed < 0:
                raise ValueError(f"seed must not be negative, got {self.seed}")

    def load(self, seed: int) -> Data:
        from sklearn.datasets import make_s_curve

        rng_seed = self.options.seed if self.options.seed is not None else seed
        X, position = make_s_curve(self.options.n_samples, noise=self.options.noise, random_state=rng_seed)
        return Data(X=X, color=position, intrinsic=np.column_stack([position, X[:, 1]]))


@hookimpl
def register_datasets(register):
    register(SCurve)
