"""
Real data: digits against the classical methods
===============================================

1 797 labelled 8x8 images of handwritten digits (64 columns). Every run sets 20 % of the rows aside, stratified
by label, and reports every metric on them as ``holdout.*``, each method mapping the held-out rows with its own
``transform``. ``ne-ae`` is the autoencoder for real data (a neighbour-embedding loss beside the reconstruction
error), trained here with its defaults, as ``dimred run --dataset digits --model ne-ae`` trains it.
"""

import matplotlib.pyplot as plt

import dimred

runs = {
    "ne-ae": dimred.run(dataset="digits", model="ne-ae", holdout=0.2, out=None, reporters=[]),
    "pca": dimred.run(dataset="digits", model="pca", holdout=0.2, out=None, reporters=[]),
    "isomap": dimred.run(dataset="digits", model="isomap", holdout=0.2, out=None, reporters=[]),
}

print(f"{'method':8} {'T':>6} {'kNN':>6} {'acc':>6} {'RMSE':>6}   (held-out rows)")
for name, result in runs.items():
    m = result.metrics
    rmse = "n/a" if m["holdout.rmse"] is None else f"{m['holdout.rmse']:.3f}"
    print(
        f"{name:8} {m['holdout.trustworthiness']:6.3f} {m['holdout.knn_preservation']:6.3f} "
        f"{m['holdout.knn_accuracy']:6.3f} {rmse:>6}"
    )

# %%
# T is trustworthiness@10, kNN the share of the 10 nearest neighbours kept and acc a 5-NN classifier from the
# training rows' codes to the held-out rows' codes. The codes of the training rows, coloured by digit:

figure, axes = plt.subplots(1, len(runs), figsize=(11, 3.8))
for ax, (name, result) in zip(axes, runs.items(), strict=True):
    points = ax.scatter(result.codes[:, 0], result.codes[:, 1], c=result.color, s=3, cmap="tab10")
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])
figure.colorbar(points, ax=axes, label="digit")
plt.show()
