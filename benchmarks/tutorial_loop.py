"""The reference tutorial's program, with its verbatim settings, as the baseline process of the benchmarks.

    python benchmarks/tutorial_loop.py --seed 0 [--epochs 5000] [--plots DIR]

1500 swiss-roll points with noise 0.05, MinMax scaling, the dropout/batch-norm MLP in float64, full batch, Adam
at its default learning rate (1e-3) for 5000 epochs, the loss printed every 10 %. Seeding is the only addition,
so runs can be repeated. Afterwards it measures what the tutorial measures (the RMSE with the model still in
train mode) and what dimred measures (eval mode, trustworthiness k = 10), draws the tutorial's figures to files
when --plots is given, and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.datasets import make_swiss_roll
from sklearn.manifold import trustworthiness
from sklearn.preprocessing import MinMaxScaler
from torch import nn, optim

from common import count


class Autoencoder(nn.Module):
    """The tutorial's network, unchanged."""

    def __init__(self, in_shape, enc_shape):
        super().__init__()
        self.encode = nn.Sequential(
            nn.Linear(in_shape, 128),
            nn.ReLU(True),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.ReLU(True),
            nn.Dropout(0.2),
            nn.Linear(64, enc_shape),
        )
        self.decode = nn.Sequential(
            nn.BatchNorm1d(enc_shape),
            nn.Linear(enc_shape, 64),
            nn.ReLU(True),
            nn.Dropout(0.2),
            nn.Linear(64, 128),
            nn.ReLU(True),
            nn.Dropout(0.2),
            nn.Linear(128, in_shape),
        )

    def forward(self, x):
        x = self.encode(x)
        x = self.decode(x)
        return x


def train(model, error, optimizer, n_epochs, x):
    """The tutorial's loop, unchanged."""
    model.train()
    for epoch in range(1, n_epochs + 1):
        optimizer.zero_grad()
        output = model(x)
        loss = error(output, x)
        loss.backward()
        optimizer.step()

        if epoch % max(1, int(0.1 * n_epochs)) == 0:
            print(f"epoch {epoch} \t Loss: {loss.item():.4g}")


def draw(folder, X, colors, enc, dec):
    """The tutorial's three figures, written to files instead of shown."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    ax.scatter(X[:, 0], X[:, 1], X[:, 2], c=colors, cmap=plt.cm.jet)
    plt.title("Swiss roll")
    fig.savefig(f"{folder}/swissroll.png")
    fig = plt.figure()
    plt.scatter(enc[:, 0], enc[:, 1], c=colors, cmap=plt.cm.jet)
    plt.title("Encoded Swiss Roll")
    fig.savefig(f"{folder}/encoded.png")
    fig = plt.figure(figsize=(15, 6))
    ax = fig.add_subplot(121, projection="3d")
    ax.scatter(X[:, 0], X[:, 1], X[:, 2], c=colors, cmap=plt.cm.jet)
    plt.title("Original Swiss roll")
    ax = fig.add_subplot(122, projection="3d")
    ax.scatter(dec[:, 0], dec[:, 1], dec[:, 2], c=colors, cmap=plt.cm.jet)
    plt.title("Decoded Swiss roll")
    fig.savefig(f"{folder}/decoded.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=count, default=5000)
    parser.add_argument("--plots", default=None, help="folder for the tutorial's figures")
    arguments = parser.parse_args()

    torch.manual_seed(arguments.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    X, colors = make_swiss_roll(1500, noise=0.05, random_state=arguments.seed)
    X = MinMaxScaler().fit_transform(X)
    x = torch.from_numpy(X).to(device)
    encoder = Autoencoder(in_shape=3, enc_shape=2).double().to(device)
    error = nn.MSELoss()
    optimizer = optim.Adam(encoder.parameters())

    started = time.perf_counter()
    train(encoder, error, optimizer, arguments.epochs, x)
    train_seconds = time.perf_counter() - started

    encoder.eval()
    with torch.no_grad():
        enc = encoder.encode(x)
        dec = encoder.decode(enc)
        rmse_eval = torch.sqrt(error(dec, x)).item()
        encoder.train()  # the tutorial's own measurement: dropout still on
        rmse_train_mode = torch.sqrt(error(encoder.decode(encoder.encode(x)), x)).item()
    enc, dec = enc.cpu().numpy(), dec.cpu().numpy()
    if arguments.plots:
        draw(arguments.plots, X, colors, enc, dec)
    result = {
        "seed": arguments.seed,
        "epochs": arguments.epochs,
        "train_seconds": train_seconds,
        "rmse": rmse_eval,
        "rmse_train_mode": rmse_train_mode,
        "trustworthiness": float(trustworthiness(X, enc, n_neighbors=10)),
        "finite": bool(np.isfinite(enc).all()),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
