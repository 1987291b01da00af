"""dimred.Reducer as a scikit-learn estimator, and dimred.load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import dimred
from dimred import Reducer

# On the CPU: there the network computes in float64, so a row's code does not depend on its batch (scikit-learn's
# subset invariance, bitwise save and load); on a GPU they agree to float32 rounding.
QUICK = {"steps": 20, "batch_size": 64, "random_state": 0, "device": "cpu"}


@parametrize_with_checks([Reducer(**QUICK)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def roll():
    from dimred.plugins.swissroll import SwissRoll

    return SwissRoll(SwissRoll.Options(n_samples=400)).load(3).X


@pytest.fixture(scope="module")
def fitted(roll) -> Reducer:
    return Reducer(steps=60, batch_size=128, random_state=0, device="cpu").fit(roll)


def test_transform_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        Reducer().transform(np.zeros((3, 3)))


def test_fit_transform_gives_codes_and_inverse_gives_the_input_units(fitted, roll):
    codes = fitted.transform(roll)
    assert codes.shape == (400, 2)
    reconstruction = fitted.inverse_transform(codes)
    assert reconstruction.shape == roll.shape
    spread = roll.max(axis=0) - roll.min(axis=0)
    assert np.sqrt((((reconstruction - roll) / spread) ** 2).mean()) < 0.25  # in the input's units, not [0, 1]
    assert (fitted.n_features_in_, fitted.n_components_) == (3, 2)
    assert len(fitted.history_) > 0


def test_save_then_load_gives_bitwise_identical_codes(fitted, roll, tmp_path):
    path = fitted.save(tmp_path / "model.safetensors")
    loaded = dimred.load(path, device="cpu")
    assert np.array_equal(loaded.transform(roll), fitted.transform(roll))
    assert np.array_equal(
        loaded.inverse_transform(fitted.transform(roll)), fitted.inverse_transform(fitted.transform(roll))
    )
    assert loaded.get_params()["model_options"]["hidden"] == [128, 64]
    assert not loaded.module_.training


def test_one_row_matches_the_same_row_in_a_batch(fitted, roll):
    """On the CPU the network computes in float64 and rounds to float32: the batch size cannot show."""
    batch = fitted.transform(roll.astype(np.float32))
    for row in (0, 17, 399):
        assert np.array_equal(fitted.transform(roll[row : row + 1].astype(np.float32))[0], batch[row])


def test_codes_follow_weights_changed_in_place(roll):
    """The float64 copy the CPU computes with is made again when a weight changes, in place or replaced."""
    import torch

    reducer = Reducer(**QUICK).fit(roll)
    before = reducer.transform(roll)
    with torch.no_grad():
        reducer.module_.encoder[0].weight.mul_(0.5)
    halved = reducer.transform(roll)
    assert not np.allclose(halved, before)
    with torch.no_grad():
        reducer.module_.encoder[0].weight.mul_(2.0)
    assert np.array_equal(reducer.transform(roll), before)
    reducer.module_.encoder[0].weight = torch.nn.Parameter(reducer.module_.encoder[0].weight.detach() * 0.5)
    assert np.array_equal(reducer.transform(roll), halved)


def test_works_in_a_pipeline_and_with_clone(roll):
    pipeline = make_pipeline(StandardScaler(), Reducer(**QUICK, n_components=3))
    assert pipeline.fit_transform(roll).shape == (400, 3)
    copy = clone(pipeline.steps[1][1])
    assert copy.get_params() == pipeline.steps[1][1].get_params()
    assert not hasattr(copy, "module_")


def test_set_params_reaches_the_model_plugin(roll):
    reducer = Reducer(**QUICK).set_params(n_components=1, model_options={"hidden": (16,), "dropout": 0.0})
    assert reducer.fit_transform(roll).shape == (400, 1)
    assert reducer.model_options_["hidden"] == [16]


def test_feature_names_come_from_a_data_frame(roll, tmp_path):
    frame = pd.DataFrame(roll, columns=["width", "height", "depth"])
    reducer = Reducer(**QUICK).fit(frame)
    assert list(reducer.feature_names_in_) == ["width", "height", "depth"]
    assert list(dimred.load(reducer.save(tmp_path / "named.safetensors")).feature_names_in_) == [
        "width",
        "height",
        "depth",
    ]


def test_same_random_state_same_model_and_another_differs(roll):
    first = Reducer(**QUICK).fit_transform(roll)
    assert np.array_equal(first, Reducer(**QUICK).fit_transform(roll))
    assert not np.array_equal(first, Reducer(**{**QUICK, "random_state": 1}).fit_transform(roll))


def test_a_run_returns_a_fitted_reducer_and_writes_nothing_without_out(tmp_path):
    result = dimred.run(dataset="swissroll", model="mlp-ae", steps=10, out=None, settings={"dataset.n_samples": 200})
    assert result.path is None
    assert list(tmp_path.iterdir()) == []
    assert result.reducer.transform(np.zeros((2, 3))).shape == (2, 2)
    assert result.codes.shape == (200, 2)
