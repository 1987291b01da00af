"""
A plugin in twenty lines
========================

A dataset plugin is a class with a ``name``, a ``description``, an ``Options`` dataclass and a ``load`` method,
and a ``register_datasets`` hook that hands it to dimred. An installed package names its module under
``[project.entry-points.dimred]`` in its ``pyproject.toml``; here the module is registered in this running
process instead, which is what that entry point does when dimred starts.
"""

import types
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

import dimred
from dimred.plugin import Data, Dataset, hookimpl, option
from dimred.testing import check_dataset_plugin


class Trefoil(Dataset):
    name = "trefoil"
    description = "noisy points on a trefoil knot in 3-D"

    @dataclass(frozen=True)
    class Options:
        n_samples: int = option(800, "number of points")

    def load(self, seed):
        t = np.random.default_rng(seed).uniform(0, 2 * np.pi, self.options.n_samples)
        X = np.column_stack([np.sin(t) + 2 * np.sin(2 * t), np.cos(t) - 2 * np.cos(2 * t), -np.sin(3 * t)])
        return Data(X=X + 0.05 * np.random.default_rng(seed + 1).standard_normal(X.shape), color=t)


@hookimpl
def register_datasets(register):
    register(Trefoil)


# %%
# The plugin is the class and the hook above. Check it against dimred's contract for datasets (shapes, dtypes, the
# same data for the same seed, options that can be set), register it, and train on it:

check_dataset_plugin(Trefoil)

my_plugin = types.ModuleType("my_plugin")
my_plugin.register_datasets = register_datasets
dimred.get_registry().register(my_plugin)

result = dimred.run(dataset="trefoil", model="mlp-ae", steps=600, out=None, reporters=[])
print(f"RMSE {result.metrics['rmse']:.3f}, trustworthiness {result.metrics['trustworthiness']:.3f}")

plt.figure(figsize=(5, 4))
plt.scatter(result.codes[:, 0], result.codes[:, 1], c=result.color, s=5, cmap="twilight")
plt.title("the trefoil's 2-D codes, coloured by position along the knot")
plt.tight_layout()
plt.show()

dimred.get_registry().unregister("my_plugin")  # leave the registry as it was
