"""dimred's loop against a bare loop doing the same work: the tutorial's exact settings, per-epoch time.

    python benchmarks/overhead.py [--epochs 1000] [--rounds 3]

Float64, full batch, constant learning rate 1e-3, the tutorial's network: once through ``dimred.run`` and once
through the shortest loop that trains the same network with the same optimizer, interleaved round by round.
For context it also times the tutorial's verbatim network (``nn.Dropout``, ``torch.optim.Adam``).
Writes results/overhead.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn.datasets import make_swiss_roll
from sklearn.preprocessing import MinMaxScaler
from tutorial_loop import Autoencoder

import dimred
from common import count, print_table, write_results
from dimred._core.networks import MLPNetwork
from dimred._engine.optim import FlatAdam

N_SAMPLES = 1500


def _data(seed: int) -> torch.Tensor:
    X, _ = make_swiss_roll(N_SAMPLES, noise=0.05, random_state=seed)
    return torch.from_numpy(MinMaxScaler().fit_transform(X))


def bare_loop(epochs: int, seed: int) -> float:
    """The same network and optimizer as dimred's, in the fewest lines."""
    torch.manual_seed(seed)
    x = _data(seed)
    network = MLPNetwork(3, 2, (128, 64), 0.2, True).double().train()
    optimizer = FlatAdam(network.parameters())
    started = time.perf_counter()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = (network(x) - x).square().mean()
        loss.backward()
        optimizer.step(1e-3, 0.9)
    return (time.perf_counter() - started) / epochs


def through_dimred(epochs: int, seed: int) -> float:
    result = dimred.run(
        dataset="swissroll", model="mlp-ae", epochs=epochs, batch_size=None, lr=1e-3, schedule="constant",
        dtype="float64", seed=seed, out=None, reporters=[], holdout=0,  # all the rows, as the bare loop trains on
    )  # fmt: skip
    return result.metrics["train_seconds"] / epochs


def tutorial_network(epochs: int, seed: int) -> float:
    """The tutorial's own network and optimizer, for context (not the same work: its dropout costs more)."""
    torch.manual_seed(seed)
    x = _data(seed)
    network = Autoencoder(3, 2).double().train()
    optimizer = torch.optim.Adam(network.parameters())
    error = torch.nn.MSELoss()
    started = time.perf_counter()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = error(network(x), x)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - started) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=count, default=1000)
    parser.add_argument("--rounds", type=count, default=3)
    arguments = parser.parse_args()
    loops = {"bare loop": bare_loop, "dimred.run": through_dimred, "tutorial network": tutorial_network}
    for loop in loops.values():  # warm up: first-call costs are not per-epoch costs
        loop(20, 0)
    times: dict[str, list[float]] = {name: [] for name in loops}
    for round_number in range(arguments.rounds):
        for name, loop in loops.items():
            times[name].append(loop(arguments.epochs, round_number))
    medians = {name: statistics.median(values) for name, values in times.items()}
    rows = [[name, *(1e3 * value for value in values), 1e3 * medians[name]] for name, values in times.items()]
    print_table(["loop", *(f"round {i + 1} ms" for i in range(arguments.rounds)), "median ms/epoch"], rows)
    ratio = medians["dimred.run"] / medians["bare loop"]
    print(f"\ndimred.run per epoch / bare loop per epoch: {ratio:.3f} (target <= 1.05)")
    print(
        f"tutorial network per epoch / dimred.run per epoch: {medians['tutorial network'] / medians['dimred.run']:.2f}"
    )
    write_results(
        "overhead",
        {
            "epochs": arguments.epochs,
            "ms_per_epoch": {name: [1e3 * value for value in values] for name, values in times.items()},
            "median_ms_per_epoch": {name: 1e3 * value for name, value in medians.items()},
            "ratio": ratio,
            "numpy": np.__version__,
            "torch": torch.__version__,
        },
    )


if __name__ == "__main__":
    main()
