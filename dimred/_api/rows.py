"""Which rows a model trains and is scored on: the checks that data can be reduced at all, and the seeded,
stratified split of the held-out rows."""

from __future__ import annotations

import math
import warnings

import numpy as np

from dimred._core.contracts import EstimatorModel, Model
from dimred._core.errors import UsageError
from dimred._core.settings import check_holdout
from dimred._engine import fitting

MIN_ROWS = 3  # below this a neighbourhood has no other member to compare, and every score is trivially perfect
AUTO_HOLDOUT = 0.1  # the share of rows held out by default...
AUTO_HOLDOUT_ROWS = 500  # ...from data sets of this many rows


def check_fittable(X: np.ndarray, model: Model | EstimatorModel, data_name: str | None = None) -> None:
    """Refuse data that no model can reduce meaningfully, before anything is trained or written (``data_name``:
    how messages name it, its file where it has one)."""
    _check_enough_rows(X, "train and score a model on", data_name)
    check_components(model, X.shape[1])
    _check_not_one_point(X, "reduce", data_name)


def check_components(model: Model | EstimatorModel, n_columns: int) -> None:
    """Refuse a model that would make more components than the data has columns."""
    n_components = getattr(model.options, "n_components", None)
    if isinstance(n_components, int) and n_components > n_columns:
        raise UsageError(f"model '{model.name}' would make {n_components} components from {n_columns} columns: a "
                         f"reduction needs n_components at most {n_columns} (--set model.n_components=N; a "
                         "Reducer's n_components=N)")  # fmt: skip


def check_scorable(X: np.ndarray, data_name: str | None = None) -> None:
    """Refuse data on which every neighbourhood score of a trained model would be trivially perfect."""
    _check_enough_rows(X, "score a model on", data_name)
    _check_not_one_point(X, "score", data_name)


def _check_enough_rows(X: np.ndarray, doing: str, data_name: str | None) -> None:
    if len(X) < MIN_ROWS:
        rows = "1 row" if len(X) == 1 else f"{len(X)} rows"
        few = (
            f"{rows} {'is' if len(X) == 1 else 'are'} too few"
            if data_name is None
            else f"{data_name} has {rows}: too few"
        )
        raise UsageError(f"{few} to {doing}; give at least {MIN_ROWS}")


def _is_one_point(X: np.ndarray) -> bool:
    return not np.any(X.max(axis=0) > X.min(axis=0))


def _check_not_one_point(X: np.ndarray, doing: str, data_name: str | None) -> None:
    if _is_one_point(X):
        raise UsageError(f"all {len(X)} rows of {data_name or 'the data'} are the same point: there is no structure "
                         f"to {doing}")  # fmt: skip


def holdout_fraction(requested: float | None, n_rows: int, maps_new_rows: bool = True) -> float:
    """The share of rows held out: ``requested``, or by default AUTO_HOLDOUT of data sets of at least
    AUTO_HOLDOUT_ROWS rows (and none of data streamed from disk, which is never copied, nor for a model that
    cannot map new rows, which would only train on fewer)."""
    if requested is None:
        return AUTO_HOLDOUT if maps_new_rows and AUTO_HOLDOUT_ROWS <= n_rows <= fitting.STREAM_ROWS else 0.0
    check_holdout(requested)
    if requested and n_rows > fitting.STREAM_ROWS:
        raise UsageError(f"data above {fitting.STREAM_ROWS} rows is streamed from its file and not split: --holdout 0")
    fraction = float(str(requested)) if isinstance(requested, np.floating) else float(requested)  # float32's 0.2
    return fraction + 0.0  # -0.0 recorded as 0.0


def held_out_count(n_rows: int, fraction: float) -> int:
    """How many of ``n_rows`` a ``fraction`` holds out: rounded up, as scikit-learn's split (the tolerance keeps
    0.2 * 1795 at 359); any fraction holds out a row."""
    return max(math.ceil(fraction * n_rows - 1e-9), 1 if fraction else 0)


def split_rows(n_rows: int, labels: np.ndarray | None, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out row numbers (each sorted): a seeded random ``fraction`` of the rows, of every label's
    rows where there are labels (stratified: each label's share within one row of ``fraction``, the rows left
    over by rounding going to the labels nearest to another row, so that many small classes still hold out
    ``fraction`` of the rows). Every label keeps a training row, since a held-out row of a class the model never
    saw could only be misclassified: the rows a class of one cannot give are held out from the larger classes.
    Labels that leave too few rows besides one per label (an id column; many small classes) stratify nothing, and
    classes left without a training row (a class of one held out too) are warned of."""
    rng = np.random.default_rng(seed)
    held_count = held_out_count(n_rows, fraction)
    groups = [np.arange(n_rows)] if labels is None else [np.flatnonzero(labels == value) for value in np.unique(labels)]
    if held_count > n_rows - len(groups):
        groups = [np.arange(n_rows)]
    shuffled = [rng.permutation(group) for group in groups]
    sizes = np.array([len(group) for group in groups])
    shares = fraction * sizes
    counts = np.floor(shares).astype(int)
    tie_breaks = np.random.default_rng([seed, 1]).random(len(groups))
    nearest_first = np.lexsort((tie_breaks, counts - shares))
    while (short := held_count - int(counts.sum())) > 0:
        with_room = nearest_first[counts[nearest_first] < sizes[nearest_first] - 1]
        if not len(with_room):  # one group, all of it asked for: the check below refuses it
            break
        counts[with_room[:short]] += 1
    held = np.sort(np.concatenate([group[:count] for group, count in zip(shuffled, counts, strict=True)]))
    train = np.setdiff1d(np.arange(n_rows), held)
    if min(len(held), len(train)) < MIN_ROWS:
        raise UsageError(f"--holdout {fraction:g} of {n_rows} rows leaves {len(train)} to train on and {len(held)} "
                         f"to test on (each needs {MIN_ROWS}); choose another fraction or --holdout 0")  # fmt: skip
    if labels is not None:
        _warn_of_classes_held_out_whole(labels, train, fraction)
    return train, held


def check_split(
    X: np.ndarray, train: np.ndarray, held: np.ndarray, fraction: float, seed: int, maps_new_rows: bool = True
) -> None:
    """Refuse a split that left either side all one point where the data is not (most rows alike, and the few
    that differ all on the other side): training would see no structure, or every neighbourhood score of the
    held-out rows would be trivially perfect (rows that a model which cannot map new rows never scores aside)."""
    sides = [(train, "training rows", "train on")]
    if maps_new_rows:
        sides.append((held, "held-out rows", "score"))
    for rows, side, doing in sides:
        if _is_one_point(X[rows]):
            raise UsageError(f"--holdout {fraction:g} with seed {seed} left the {len(rows)} {side} all one point "
                             f"(the rows that differ are on the other side): there is nothing to {doing}; choose "
                             "another fraction or --holdout 0")  # fmt: skip


def _warn_of_classes_held_out_whole(labels: np.ndarray, train: np.ndarray, fraction: float) -> None:
    """Warn where the split left classes without a training row: their held-out rows can only be misclassified
    (too many classes for the fraction to keep one training row each)."""
    classes = np.unique(labels)
    unseen = np.setdiff1d(classes, labels[train])
    if len(unseen):
        spare = len(labels) - len(classes)  # rows beyond one per class: the most a stratified split holds out
        most = math.floor(1000 * spare / len(labels) + 1e-9) / 1000  # rounded down: that fraction keeps them
        advice = (f"hold out at most {most:g} to keep one of each" if spare >= MIN_ROWS else
                  "too few rows are left beside one per class to hold any out: --holdout 0")  # fmt: skip
        these = "1 class has" if len(unseen) == 1 else f"{len(unseen)} classes have"
        held_labels = np.delete(labels, train)
        scored = ("their held-out rows count as misclassified" if np.isin(held_labels, labels[train]).any() else
                  "no held-out row's class has one, so there is no held-out accuracy")  # fmt: skip
        warnings.warn(f"--holdout {fraction:g} cannot keep a training row for each of the labels' {len(classes)} "
                      f"classes in {len(labels)} rows, so the rows were held out without stratifying: {these} no "
                      f"training row, and {scored}; {advice}", stacklevel=2)  # fmt: skip
