"""The reference tutorial's two experiments, through dimred, beside the tutorial's own figures.

    python examples/reference_tutorial.py

1. Train the tutorial's network on 1500 swiss-roll points (noise 0.05) and measure the reconstruction error.
2. Apply the trained model to a fresh roll of 2500 points with noise 0.1.

The tutorial measures with dropout still active (train mode) and re-fits the MinMax scaling on the new roll;
dimred reports the eval-mode error, with the scaler saved at training time or, like the tutorial, a re-fitted one.
"""

import dimred

TUTORIAL_TRAINING_RMSE = 0.06634
TUTORIAL_FRESH_ROLL_RMSE = 0.08295

result = dimred.run(dataset="swissroll", model="mlp-ae", seed=0, out=None)
fresh = {"dataset.n_samples": 2500, "dataset.noise": 0.1}
saved = dimred.evaluate(result.reducer, "swissroll", settings=fresh, seed=1, out=None)
refitted = dimred.evaluate(result.reducer, "swissroll", settings=fresh, seed=1, refit_scaler=True, out=None)

rows = [
    ("training roll", TUTORIAL_TRAINING_RMSE, result.metrics["rmse_train_mode"], result.metrics["rmse"]),
    ("fresh roll, saved scaler", TUTORIAL_FRESH_ROLL_RMSE, saved.metrics["rmse_train_mode"], saved.metrics["rmse"]),
    ("fresh roll, re-fitted scaler", TUTORIAL_FRESH_ROLL_RMSE, refitted.metrics["rmse_train_mode"],
     refitted.metrics["rmse"]),
]  # fmt: skip
print(f"{'experiment':<30} {'tutorial':>9} {'dimred, train mode':>19} {'dimred, eval mode':>18}")
for name, tutorial, train_mode, eval_mode in rows:
    print(f"{name:<30} {tutorial:>9.4f} {train_mode:>19.4f} {eval_mode:>18.4f}")
print(
    f"\ntraining took {result.metrics['train_seconds']:.1f} s; trustworthiness {result.metrics['trustworthiness']:.4f}"
)
