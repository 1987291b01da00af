"""Losses that combine, the geodesic loss, and the geo-ae recipe."""

from __future__ import annotations

import csv

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
     (["mse", "geodesic:10"], [("mse", 1.0), ("geodesic", 10.0)])],
)  # fmt: skip
def test_loss_specs_parse_and_print_back(spec, terms):
    assert parse_spec(spec) == terms
    assert parse_spec(spec_text(terms)) == terms


@pytest.mark.parametrize(("spec", "message"), [("mse:x", "bad loss weight"), ("mse:-1", "positive weight"),
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


def test_repeated_rows_keep_their_zero_length_edges_and_finite_coordinates():
    X = np.random.default_rng(0).integers(0, 2, size=(300, 4)).astype(float)  # 16 distinct rows, each ~19 times
    with pytest.warns(UserWarning, match="pieces, joined by their shortest edges"):
        Y = landmark_isomap(X, 2, 8, 50, 0)
    assert np.isfinite(Y).all()
    same = (X[0] == X).all(axis=1)
    np.testing.assert_allclose(Y[same], np.broadcast_to(Y[0], Y[same].shape), atol=1e-9)


def test_geo_ae_trains_on_digits_whose_graph_falls_into_pieces():
    with pytest.warns(UserWarning, match="falls into 2 pieces"):
        result = dimred.run("digits", "geo-ae", steps=30, out=None, reporters=[])
    assert np.isfinite(result.metrics["holdout.rmse"])


def test_geo_ae_reconstructs_and_unrolls():
    metrics = dimred.run(dataset="swissroll", model="geo-ae", seed=0, out=None, reporters=[]).metrics
    assert metrics["rmse"] <= 0.05
    assert metrics["spearman_intrinsic"] >= 0.95
    assert metrics["knn_preservation"] >= 0.80
