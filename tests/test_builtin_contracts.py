"""The built-in plugins pass the same contract checks that dimred.testing offers plugin authors."""

from __future__ import annotations

import numpy as np
import pytest

from dimred.plugins.file import DataFile
from dimred.plugins.metrics_table import MetricsTable
from dimred.plugins.mlp_ae import MLPAutoencoder
from dimred.plugins.mse import MeanSquaredLoss
from dimred.plugins.plots import CodesPlot, InputPlot, LossCurve, ReconstructionPlot
from dimred.plugins.swissroll import SwissRoll
from dimred.testing import check_dataset_plugin, check_loss_plugin, check_model_plugin, check_reporter_plugin


def test_swissroll():
    data = check_dataset_plugin(SwissRoll, {"n_samples": 300})
    assert data.X.shape == (300, 3)
    assert data.intrinsic.shape == (300, 2)


def test_file(tmp_path):
    np.save(tmp_path / "data.npy", np.random.default_rng(0).random((20, 4)))
    assert check_dataset_plugin(DataFile, {"path": str(tmp_path / "data.npy")}).X.shape == (20, 4)


@pytest.mark.parametrize("options", [None, {"n_components": 3, "hidden": (16,), "batch_norm": False}])
def test_mlp_ae(options):
    check_model_plugin(MLPAutoencoder, options)


def test_mse():
    check_loss_plugin(MeanSquaredLoss)


@pytest.mark.parametrize("reporter", [InputPlot, CodesPlot, ReconstructionPlot, LossCurve, MetricsTable])
def test_reporters(reporter):
    check_reporter_plugin(reporter)


def test_a_check_fails_on_a_broken_plugin():
    class Constant(MeanSquaredLoss):
        name = "constant"

        def __call__(self, batch):
            return batch.x.sum() * 0

    with pytest.raises(AssertionError, match="does not depend on the model's output"):
        check_loss_plugin(Constant)
