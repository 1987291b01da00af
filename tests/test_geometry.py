"""Losses that combine, the geodesic loss, and the geo-ae recipe."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import dimred
from dimred._core.errors import UsageError
from dimred._host.objective import parse_spec, spec_text
from dimred.cli import cli
from dimred.plugins.geometry import landmark_isomap
from dimred.plugins.swissroll import SwissRoll


@pytest.mark.parametrize(
    ("spec", "terms"),
    [("mse", [("mse", 1.0)]), ("mse+geodesic:0.5", [("mse", 1.0), ("geodesic", 0.5)]),
     (["mse", "geodesic:10"], [("mse", 1.0), ("geodesic", 10.0)]),
     # an exponent's + is no term's (1e6 had been written back as 1e+06, which split into 'mse:1e' and '06')
     ("mse:1e+06+geodesic:1e-05", [("mse", 1e6), ("geodesic", 1e-5)]), ("kl:1e6", [("kl", 1e6)])],
)  # fmt: skip
def test_loss_specs_parse_and_print_back(spec, terms):
    assert parse_spec(spec) == terms
    assert parse_spec(spec_text(terms)) == terms


@pytest.mark.parametrize(("spec", "message"), [("mse:x", "bad loss weight"), ("mse:-1", "weight above 0"),
                                               ("mse+mse", "appears twice"),
                                               ("mse:", "bad loss weight in 'mse:'")])  # fmt: skip
def test_bad_loss_specs_are_usage_errors(spec, message):
    with pytest.raises(UsageError, match=message):
        parse_spec(spec)


def test_several_losses_are_logged_separately(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, [
        "run", "--dataset", "swissroll", "--model", "mlp-ae", "--loss", "mse", "--loss", "geodesic:0.5",
        "--set", "loss.geodesic.landmarks=50", "--set", "dataset.n_samples=300", "--steps", "40", "--out", str(out),
        "--reporter", "loss-curve"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert {"loss", "loss.mse", "loss.geodesic"} <= set(rows[0])
    last = rows[-1]
    assert float(last["loss"]) == pytest.approx(float(last["loss.mse"]) + 0.5 * float(last["loss.geodesic"]))
    assert (out / "loss.png").exists()
    assert dimred.load(out).loss == "mse+geodesic:0.5"


def test_landmark_isomap_unrolls_the_swiss_roll():
    data = SwissRoll(SwissRoll.Options(n_samples=1000)).load(0)
    X = (data.X - data.X.min(axis=0)) / (data.X.max(axis=0) - data.X.min(axis=0))
    Y = landmark_isomap(X, 2, 8, 100, 0)
    assert Y.shape == (1000, 2)
    # the first coordinate follows the arc length along the roll
    assert abs(np.corrcoef(Y[:, 0], data.intrinsic[:, 0])[0, 1]) > 0.98


@pytest.mark.parametrize("seed", range(10))
def test_the_geodesic_target_takes_no_shortcut_between_the_rolls_layers(seed):
    """On the rows a default run of seed 1 trains on (a tenth held out), a row of a sparse stretch of the outer layer
    had listed rows of the next layer in among its 8 neighbours: the geodesic target folded back on itself
    (Spearman 0.906 with the true coordinates) and geo-ae's kNN preservation fell from 0.87 to 0.65."""
    from scipy.spatial.distance import pdist
    from scipy.stats import spearmanr

    from dimred._api.rows import split_rows

    data = SwissRoll(SwissRoll.Options()).load(seed)
    train, _held = split_rows(len(data.X), None, 0.1, seed)
    X, intrinsic = data.X[train], data.intrinsic[train]
    X = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))
    target = landmark_isomap(X, 2, 8, 200, seed)
    assert spearmanr(pdist(target), pdist(intrinsic)).statistic > 0.99


def test_the_pieces_of_a_disconnected_graph_are_joined_by_their_shortest_edges_with_a_warning():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.random((50, 3)), 100 + rng.random((50, 3)), 200 + rng.random((40, 3))])
    with pytest.warns(UserWarning, match="falls into 3 pieces, joined by their shortest edges"):
        Y = landmark_isomap(X, 2, 5, 20, 0)
    assert np.isfinite(Y).all()
    centres = np.array([Y[:50].mean(axis=0), Y[50:100].mean(axis=0), Y[100:].mean(axis=0)])
    # the blobs keep their order along the line they lie on, far apart against their own size
    order = np.argsort(centres[:, np.argmax(np.ptp(centres, axis=0))])
    assert order.tolist() in ([0, 1, 2], [2, 1, 0])
    assert np.linalg.norm(centres[0] - centres[1]) > 10 * np.ptp(Y[:50], axis=0).max()
    clusters = np.repeat(1000.0 * np.arange(61), 6)[:, None] + rng.random((366, 3))  # 61 of 6 rows: 5 neighbours
    with pytest.raises(dimred.DimredError, match=r"61 pieces \(at most 50 are joined\); raise loss.geodesic"):
        landmark_isomap(clusters, 2, 5, 20, 0)


@pytest.mark.parametrize("values", [2, 4])
def test_repeated_rows_share_their_coordinates_and_leave_the_graph_whole(values):
    """Copies of a row had filled each other's neighbour slots: ordinal data (answers 0-3 to three questions, 64
    distinct rows) fell into 64 pieces and geo-ae refused it; binary rows into pieces joined by guessed edges."""
    X = np.random.default_rng(0).integers(0, values, size=(1500, 3)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pieces to join
        Y = landmark_isomap(X, 2, 8, 200, 0)
    assert np.isfinite(Y).all()
    for row in np.unique(X, axis=0):
        same = (row == X).all(axis=1)
        assert np.array_equal(Y[same], np.broadcast_to(Y[same][0], Y[same].shape))
    assert len(np.unique(Y, axis=0)) == values**3


def test_rows_on_a_line_are_refused_codes_of_more_dimensions_than_their_geometry():
    """A second eigenvalue of 1e-15 times the first, rounding, had passed as a dimension: its inverse square root
    made a target column of noise a million times the line's spread, and geo-ae trained on it with exit 0."""
    t = np.sort(np.random.default_rng(0).random(300))
    line = np.c_[t, 2 * t, 3 * t]
    with pytest.raises(dimred.DimredError, match=r"has 1 dimension, fewer than the code's 2; lower them \(--set "
                                                 r"model.n_components=1\)"):  # fmt: skip
        landmark_isomap(line, 2, 20, 200, 0)
    Y = landmark_isomap(line, 1, 20, 200, 0)
    assert abs(np.corrcoef(Y[:, 0], t)[0, 1]) > 0.999


def test_geo_ae_trains_on_digits_whose_graph_falls_into_pieces():
    with pytest.warns(UserWarning, match="falls into 2 pieces"):
        result = dimred.run("digits", "geo-ae", steps=30, out=None, reporters=[])
    assert np.isfinite(result.metrics["holdout.rmse"])


@pytest.mark.slow
def test_geo_ae_reconstructs_and_unrolls():
    metrics = dimred.run(dataset="swissroll", model="geo-ae", seed=0, out=None, reporters=[]).metrics
    assert metrics["rmse"] <= 0.05
    assert metrics["spearman_intrinsic"] >= 0.95
    assert metrics["knn_preservation"] >= 0.80
