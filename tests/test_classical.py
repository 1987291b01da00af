"""The classical reducers (scikit-learn's, umap-learn's) as dimred runs them: beside torch, and on rows of any scale."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import dimred
from dimred.cli import cli


def test_umap_leaves_torchs_thread_count_as_it_found_it():
    """umap-learn's numba, where its thread pool first started, set the calling thread's OpenMP thread count to its
    own (one per core) in the runtime torch loaded too: torch then computed on that many threads there and on the
    caller's count in new threads, and one seed trained two sets of weights. In a process of its own: the pool
    starts once per process (after torch has computed, as it had in the process of a user who trained a model)."""
    pytest.importorskip("umap")
    script = ("import sys, torch, dimred; torch.set_num_threads(1); torch.ones(10**6).sum(); "
              "dimred.run('swissroll', 'umap', settings={'dataset.n_samples': 200}, out=None, reporters=[]); "
              "print(torch.get_num_threads())")  # fmt: skip
    numba_on_two = {**os.environ, "NUMBA_NUM_THREADS": "2"}  # a test process's own is 1 (conftest.py)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env=numba_on_two)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1"]


@pytest.mark.parametrize(
    ("model", "scale"), [("tsne", 2.0**70), ("isomap", 2.0**530), ("umap", 2.0**-35), ("pca", 2.0**-560)]
)
def test_a_classical_method_fits_rows_far_from_unit_scale_as_it_fits_them_near_it(model, scale, tmp_path):
    """Unscaled rows (--scaler none) near 1e21 had been embedded by scikit-learn's t-SNE as noise (near 1e-25 it
    crashed the process), Isomap failed on rows near 1e160, umap-learn's inverse of rows near 1e-11 was about
    1e8 times their size off, and PCA's covariance of rows near 1e-169 underflowed (whole columns for components):
    a power of two now brings the rows near 1 first, and the codes (Isomap's, PCA's) and reconstructions back."""
    if model == "umap":
        pytest.importorskip("umap")
    rows = np.random.default_rng(0).normal(size=(60, 3))
    settings = {"model.perplexity": 5.0} if model == "tsne" else {}
    results = []
    for name, X in (("near", rows), ("far", rows * scale)):
        np.save(tmp_path / f"{name}.npy", X)
        results.append(dimred.run("file", model, settings={"dataset.path": str(tmp_path / f"{name}.npy"), **settings},
                                  scaler="none", holdout=0, seed=0, out=None, reporters=[]))  # fmt: skip
    near, far = results
    assert np.isfinite(far.codes).all()
    assert far.metrics["trustworthiness"] == pytest.approx(near.metrics["trustworthiness"], abs=0.05)
    if model in ("isomap", "pca"):  # their codes are distances or projections: as large as the rows
        np.testing.assert_allclose(np.abs(far.codes / scale), np.abs(near.codes), rtol=1e-6, atol=1e-9)
    if model == "pca":
        assert far.metrics["rmse"] / scale == pytest.approx(near.metrics["rmse"], rel=1e-9)
    if model == "umap":
        assert far.metrics["rmse"] / scale < 2 * near.metrics["rmse"]


@pytest.mark.parametrize(
    ("model", "has_rmse"), [("pca", True), ("kernel-pca", True), ("isomap", False), ("tsne", False), ("umap", True)]
)  # umap: umap-learn is in the test extra, so CI runs it like the others
def test_a_classical_method_goes_through_the_same_run(model, has_rmse, tmp_path):
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", model, "--out", str(tmp_path / "r"),
                                      "--set", "dataset.n_samples=400"])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert (metrics["rmse"] is not None) == has_rmse
    assert metrics["trustworthiness"] > 0.8
    assert ("not available" in result.stdout) != has_rmse
    assert (tmp_path / "r" / "model.safetensors").exists() == (model in ("pca", "kernel-pca"))  # state as tensors
    assert (tmp_path / "r" / "codes.png").exists()
    assert (tmp_path / "r" / "reconstruction.png").exists() == has_rmse


def test_umap_of_one_component_has_no_inverse_and_too_few_rows_are_named(tmp_path):
    """umap-learn inverts codes of two values or more: one component had failed the whole run in its inverse
    ("Need at least 2-D data"); three rows failed in scipy's words ("Cannot use scipy.linalg.eigh ... k >= N")."""
    rows = np.random.default_rng(0).random((60, 4))
    np.save(tmp_path / "rows.npy", rows)
    result = dimred.run("file", "umap", settings={"model.n_components": 1, "model.n_neighbors": 5,
                        "dataset.path": str(tmp_path / "rows.npy")}, out=None, reporters=[])  # fmt: skip
    assert result.codes.shape == (60, 1)
    assert result.metrics["rmse"] is None  # not available: no inverse
    np.save(tmp_path / "three.npy", rows[:3])
    with pytest.raises(
        dimred.UsageError,
        match=r"model 'umap' needs more rows than n_components \+ 1 \(3\) to "
        r"start its embedding, got 3 to train on; lower model.n_components",
    ):
        dimred.run("file", "umap", settings={"dataset.path": str(tmp_path / "three.npy")}, out=None, reporters=[])
    # neighbours beyond the rows: refused as Isomap's are (umap-learn had cut them with a warning at every call)
    too_many = r"model 'umap' needs more rows than its n_neighbors \(1000\), got 60 to train on; lower it, e.g. "
    with pytest.raises(dimred.UsageError, match=too_many + r"--set model.n_neighbors=19"):
        dimred.run("file", "umap", settings={"model.n_neighbors": 1000, "dataset.path": str(tmp_path / "rows.npy")},
                   holdout=0, out=None, reporters=[])  # fmt: skip
    np.save(tmp_path / "four.npy", rows[:4])  # the advice is a value umap takes (it had said 1: below its least, 2)
    with pytest.raises(dimred.UsageError, match=r"got 4 to train on; lower it, e.g. --set model.n_neighbors=2$"):
        dimred.run("file", "umap", settings={"dataset.path": str(tmp_path / "four.npy")}, out=None, reporters=[])
    result = dimred.run("file", "umap", settings={"model.n_neighbors": 2, "dataset.path": str(tmp_path / "four.npy")},
                        out=None, reporters=[])  # fmt: skip
    assert result.codes.shape == (4, 2)


@pytest.mark.parametrize("model", ["pca", "isomap"])
def test_a_column_whose_spread_overflows_float64_is_named_before_a_fit(model, tmp_path):
    """Scaled, a column holding -1e308 and 1e308 is NaN: scikit-learn's fit had said the data held NaN."""
    rows = np.random.default_rng(0).random((40, 3))
    rows[:20, 0], rows[20:, 0] = -1e308, 1e308
    np.save(tmp_path / "wide.npy", rows)
    with pytest.raises(
        dimred.DimredError,
        match=r"^column 0 \(counting from 0\) of the data of dataset 'file' \(.*wide"
        r".npy\) varies by more than",
    ):
        dimred.run("file", model, settings={"dataset.path": str(tmp_path / "wide.npy")}, out=None, reporters=[])


def test_isomap_gives_one_seed_the_same_codes_whatever_numpys_global_state_and_leaves_that_state_as_it_was():
    """scikit-learn's Isomap takes no random_state: its eigensolver (ARPACK, beyond 200 rows) started from numpy's
    global generator, so one seed gave codes that differed in their last bits, and the fit moved that generator."""
    settings = {"dataset.n_samples": 300}
    codes = []
    for global_seed in (0, 1):
        np.random.seed(global_seed)
        state = np.random.get_state()
        codes.append(dimred.run("swissroll", "isomap", settings=settings, seed=0, out=None, reporters=[]).codes)
        after = np.random.get_state()
        assert np.array_equal(state[1], after[1])
        assert state[2] == after[2]
    assert np.array_equal(codes[0], codes[1])


def test_a_kernel_width_whose_kernel_is_the_identity_is_refused_as_the_users_option():
    """gamma=1e300 left every kernel value to another row 0: the codes said nothing, and the run failed with a
    plugin fault (its module and its transform disagreed) instead of naming the option."""
    rows = np.random.default_rng(0).random((100, 3))
    with pytest.raises(dimred.UsageError, match=r"is 0 on these rows: the kernel is the identity .* lower model.gamma"):
        dimred.Reducer(model="kernel-pca", model_options={"gamma": 1e300}).fit(rows)
    with pytest.warns(UserWarning, match="the kernel is nearly the identity"):
        dimred.Reducer(model="kernel-pca", model_options={"gamma": 1e4}).fit(rows)
