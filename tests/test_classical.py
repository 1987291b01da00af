"""The classical reducers (scikit-learn's, umap-learn's) as dimred runs them: beside torch, and on rows of any scale."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import dimred


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


@pytest.mark.parametrize(("model", "scale"), [("tsne", 2.0**70), ("isomap", 2.0**530), ("umap", 2.0**-35)])
def test_a_classical_method_fits_rows_far_from_unit_scale_as_it_fits_them_near_it(model, scale, tmp_path):
    """Unscaled rows (--scaler none) near 1e21 had been embedded by scikit-learn's t-SNE as noise (near 1e-25 it
    crashed the process), Isomap failed on rows near 1e160, and umap-learn's inverse of rows near 1e-11 was about
    1e8 times their size off: a power of two now brings the rows near 1 first, and the codes (Isomap's) and
    reconstructions back."""
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
    if model == "isomap":  # its codes are distances: as large as the rows
        np.testing.assert_allclose(np.abs(far.codes / scale), np.abs(near.codes), rtol=1e-6, atol=1e-9)
    if model == "umap":
        assert far.metrics["rmse"] / scale < 2 * near.metrics["rmse"]
