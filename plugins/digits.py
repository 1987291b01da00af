"""scikit-learn's handwritten digits: 1 797 images of 8 x 8 pixels, real 64-D data, labelled by the digit."""

from __future__ import annotations

import numpy as np

from dimred.plugin import Data, Dataset, hookimpl


class Digits(Dataset):
    name = "digits"
    description = "handwritten digits (scikit-learn, shipped with it): 1797 images as 64-D rows, coloured by digit"

    def load(self, seed: int) -> Data:
        from sklearn.datasets import load_digits

        digits = load_digits()
        return Data(X=digits.data.astype(np.float64), color=digits.target.astype(np.float64), labels=digits.target,
                    images=(8, 8))  # fmt: skip


@hookimpl
def register_datasets(register):
    register(Digits)
