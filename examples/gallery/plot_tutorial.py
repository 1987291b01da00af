"""
The tutorial, reproduced
========================

dimred grew out of a short PyTorch tutorial in which an MLP autoencoder with dropout and batch norm squeezes a
3-D swiss roll into 2-D and back. ``dimred run --dataset swissroll --model mlp-ae`` trains that network with the
default settings; this is the same run from Python, with nothing written to disk (``out=None``).
"""

import matplotlib.pyplot as plt

import dimred

result = dimred.run(dataset="swissroll", model="mlp-ae", seed=0, out=None, reporters=[])
print(f"eval-mode RMSE {result.metrics['rmse']:.3f} (with dropout still on: {result.metrics['rmse_train_mode']:.3f})")
print(f"trustworthiness {result.metrics['trustworthiness']:.3f}, continuity {result.metrics['continuity']:.3f}")
print(f"held-out rows: RMSE {result.metrics['holdout.rmse']:.3f}")

# %%
# The run trained on 90 % of the roll (the rest is held out). The fitted model maps every point, training or
# not, to its code and back, in eval mode and through the scaling fitted on the training rows.

roll = dimred.get_registry().get("dataset", "swissroll").cls().load(seed=0)
codes = result.reducer.transform(roll.X)
reconstruction = result.reducer.inverse_transform(codes)

figure = plt.figure(figsize=(11, 3.6))
for position, (title, points) in enumerate([("the swiss roll", roll.X), ("its reconstruction", reconstruction)]):
    axes = figure.add_subplot(1, 3, position + 1, projection="3d")
    axes.scatter(points[:, 0], points[:, 1], points[:, 2], c=roll.color, s=4, cmap="Spectral")
    axes.set_title(title)
    axes.view_init(10, -70)
axes = figure.add_subplot(1, 3, 3)
axes.scatter(codes[:, 0], codes[:, 1], c=roll.color, s=4, cmap="Spectral")
axes.set_title("the 2-D codes")
figure.tight_layout()

# %%
# The loss, one point per logging interval:

steps = [row["step"] for row in result.history]
plt.figure(figsize=(6, 3))
plt.semilogy(steps, [row["loss"] for row in result.history])
plt.xlabel("step")
plt.ylabel("training loss (MSE)")
plt.tight_layout()
plt.show()
