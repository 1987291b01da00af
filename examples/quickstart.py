"""Train the reference tutorial's autoencoder on a swiss roll from Python and read its results.

python examples/quickstart.py
"""

import dimred

result = dimred.run(
    dataset="swissroll",
    model="mlp-ae",
    settings={"dataset.n_samples": 2000, "model.dropout": 0.1},
    seed=0,
    out=None,  # keep everything in memory; give a folder to write a run directory
    echo=print,  # show the metrics table
)
print(f"eval-mode RMSE {result.metrics['rmse']:.4f} after {len(result.history)} logged intervals")
print("codes:", result.codes.shape)
