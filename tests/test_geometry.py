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
                                               ("mse+mse", "appears twice")])  # fmt: skip
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


def test_a_disconnected_graph_is_a_clear_error():
    X = np.vstack([np.random.default_rng(0).random((50, 3)), 100 + np.random.default_rng(1).random((50, 3))])
    with pytest.raises(dimred.DimredError, match="falls into 2 pieces"):
        landmark_isomap(X, 2, 5, 20, 0)


def test_geo_ae_reconstructs_and_unrolls():
    metrics = dimred.run(dataset="swissroll", model="geo-ae", seed=0, out=None, reporters=[]).metrics
    assert metrics["rmse"] <= 0.05
    assert metrics["spearman_intrinsic"] >= 0.95
    assert metrics["knn_preservation"] >= 0.80
