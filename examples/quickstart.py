"""dimred's library API in a few lines: train, save, load, encode new data, and a scikit-learn estimator.

python examples/quickstart.py
"""

import numpy as np

import dimred

result = dimred.run(dataset="swissroll", model="mlp-ae", seed=0, out="runs/quickstart", overwrite=True)
print(f"eval-mode RMSE {result.metrics['rmse']:.4f}, trustworthiness {result.metrics['trustworthiness']:.4f}")
print(f"run directory: {result.path}")

reducer = dimred.load(result.path)  # rebuilt from model.safetensors alone
new_points = np.random.default_rng(1).uniform(-10, 15, size=(5, 3))
codes = reducer.transform(new_points)
print("codes of 5 new points:\n", codes)
print("their reconstructions:\n", reducer.inverse_transform(codes))

estimator = dimred.Reducer(model="mlp-ae", n_components=2, steps=300, random_state=0)
print(
    "fit_transform on the training data:", estimator.fit_transform(result.reducer.inverse_transform(result.codes)).shape
)
