"""
mlp-ae, geo-ae and PCA on the swiss roll
========================================

``dimred.compare`` runs every model on the same data, with the same scaling and metrics, and tabulates them;
``dimred compare --dataset swissroll --model mlp-ae --model geo-ae --model pca`` does the same from the command
line. The tutorial's ``mlp-ae`` reconstructs well but folds the roll; ``geo-ae`` is pulled toward Landmark
Isomap coordinates while it reconstructs, and unrolls it; PCA can only project it.
"""

import matplotlib.pyplot as plt

import dimred

models = ["mlp-ae", "geo-ae", "pca"]
comparison = dimred.compare("swissroll", models, seeds=1, settings={"dataset.n_samples": 1000}, out=None, steps=800)
print(comparison.markdown())

# %%
# The codes of each model's training rows, coloured by position along the roll. The Spearman column above
# compares code distances with distances in the roll's true unrolled coordinates.

figure, axes = plt.subplots(1, len(models), figsize=(11, 3.6))
for ax, model in zip(axes, models, strict=True):
    run = comparison.runs[model][0]
    ax.scatter(run.codes[:, 0], run.codes[:, 1], c=run.color, s=4, cmap="Spectral")
    spearman = run.metrics["spearman_intrinsic"]
    ax.set_title(f"{model}: Spearman " + ("n/a" if spearman is None else f"{spearman:.2f}"))
    ax.set_xticks([])
    ax.set_yticks([])
figure.tight_layout()
plt.show()
