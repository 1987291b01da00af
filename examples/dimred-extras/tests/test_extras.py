"""dimred-extras' plugins against dimred's contract checks, using only dimred's public API."""

from __future__ import annotations

import pytest
from dimred_extras.codes_csv import CodesCsv
from dimred_extras.denoising_ae import DenoisingAutoencoder
from dimred_extras.huber import Huber
from dimred_extras.scurve import SCurve

from dimred.testing import check_dataset_plugin, check_loss_plugin, check_model_plugin, check_reporter_plugin


def test_scurve():
    data = check_dataset_plugin(SCurve, {"n_samples": 200})
    assert data.X.shape == (200, 3)


@pytest.mark.parametrize("options", [None, {"n_components": 1, "corruption": 0.0}])
def test_denoising_ae(options):
    check_model_plugin(DenoisingAutoencoder, options)


@pytest.mark.parametrize("delta", [0.05, 1.0])
def test_huber(delta):
    check_loss_plugin(Huber, {"delta": delta})


def test_codes_csv():
    check_reporter_plugin(CodesCsv)
