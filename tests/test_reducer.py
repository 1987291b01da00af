"""dimred.Reducer as a scikit-learn estimator, and dimred.load."""

from __future__ import annotations

import datetime
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import dimred
from dimred import Reducer
from dimred._engine.modelfile import OWN_FIELDS

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


def test_a_torch_tensor_that_requires_grad_is_read_as_its_values(fitted, roll):
    rows = torch.tensor(roll[:20], requires_grad=True)
    codes = fitted.transform(rows)
    np.testing.assert_array_equal(codes, fitted.transform(roll[:20]))
    np.testing.assert_array_equal(fitted.inverse_transform(torch.tensor(codes, requires_grad=True)),
                                  fitted.inverse_transform(codes))  # fmt: skip
    halved = torch.tensor(roll[:20]).bfloat16()
    np.testing.assert_array_equal(fitted.transform(halved), fitted.transform(halved.float().numpy()))
    refitted = Reducer(steps=5, batch_size=128, random_state=0, device="cpu").fit(rows)
    np.testing.assert_array_equal(refitted.transform(roll[:20]),
                                  Reducer(**refitted.get_params()).fit(roll[:20]).transform(roll[:20]))  # fmt: skip


def test_transform_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        Reducer().transform(np.zeros((3, 3)))


def test_fit_transform_gives_codes_and_inverse_gives_the_input_units(fitted, roll):
    codes = fitted.transform(roll)
    assert codes.shape == (400, 2)
    reconstruction = fitted.inverse_transform(codes)
    assert reconstruction.shape == roll.shape
    spread = roll.max(axis=0) - roll.min(axis=0)
    error = np.sqrt((((reconstruction - roll) / spread) ** 2).mean())  # in the input's units, not [0, 1]
    assert error < 0.6 * np.sqrt((((roll.mean(axis=0) - roll) / spread) ** 2).mean())  # well below the mean's
    assert (fitted.n_features_in_, fitted.n_components_) == (3, 2)
    assert len(fitted.history_) > 0


def test_save_then_load_gives_bitwise_identical_codes(fitted, roll, tmp_path):
    path = fitted.save(tmp_path / "model.safetensors")
    loaded = dimred.load(path, device="cpu")
    assert np.array_equal(loaded.transform(roll), fitted.transform(roll))
    assert np.array_equal(
        loaded.inverse_transform(fitted.transform(roll)), fitted.inverse_transform(fitted.transform(roll))
    )
    assert loaded.get_params()["model_options"] is None  # unset, as given: the defaults
    assert loaded.model_options_["hidden"] == [128, 64]
    assert not loaded.module_.training
    assert fitted.train_seconds_ > 0
    assert (loaded.history_, loaded.train_seconds_) == ([], None)  # the file keeps no log: unknown, not 0 s


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


def test_a_loaded_or_cloned_model_hears_n_components_and_a_disagreeing_model_option_is_refused(roll, tmp_path):
    loaded = dimred.load(Reducer(**QUICK).fit(roll).save(tmp_path / "two.safetensors"))
    assert clone(loaded).set_params(n_components=3).fit_transform(roll).shape == (400, 3)
    assert Reducer(**QUICK, model_options={"n_components": 3}).fit_transform(roll).shape == (400, 3)
    with pytest.raises(dimred.UsageError, match="n_components=1 and model_options' n_components=3 disagree"):
        Reducer(**QUICK, n_components=1, model_options={"n_components": 3}).fit(roll)


def test_a_loaded_model_refits_other_data_as_the_estimator_that_was_trained_would(roll, tmp_path):
    """The model file records what the fit was given besides what dimred chose for the data (widths for 3
    columns, 20 steps, a batch of 400 rows): a refit of 9 columns and 300 rows chooses for them again."""
    trained = Reducer(model="ne-ae", steps=20, batch_size="full", random_state=3, device="cpu").fit(roll)
    loaded = dimred.load(trained.save(tmp_path / "model.safetensors"))
    assert loaded.get_params()["batch_size"] is None  # the full batch, as given ("full"), not 400 rows
    assert loaded.get_params()["model_options"] is None  # widths chosen for the data, as given
    assert loaded.get_params()["loss"] is None  # ne-ae's own loss, as given
    assert loaded.model_options_["hidden"] == trained.model_options_["hidden"]  # the trained network's own
    wider = np.random.default_rng(0).normal(size=(300, 9))
    refitted, fresh = clone(loaded).fit(wider), Reducer(**trained.get_params()).fit(wider)
    assert refitted.fitted_.settings.batch_size == 300
    assert refitted.model_options_ == fresh.model_options_
    np.testing.assert_array_equal(refitted.transform(wider), fresh.transform(wider))
    # another model trains with its own defaults, not with ne-ae's options and loss
    other = clone(loaded).set_params(model="mlp-ae").fit(roll)
    assert other.loss_ == "mse"
    np.testing.assert_array_equal(other.transform(roll), clone(trained).set_params(model="mlp-ae").fit_transform(roll))
    drawn = Reducer(steps=2, device="cpu").fit(roll)  # random_state None: a seed drawn for each fit
    reloaded = dimred.load(drawn.save(tmp_path / "drawn.safetensors"))
    assert reloaded.get_params()["random_state"] is None
    assert reloaded.fitted_.settings.seed == drawn.fitted_.settings.seed  # the one its weights came from


@pytest.mark.parametrize("failure", ["bad data", "bad setting"])
def test_a_refit_that_fails_leaves_the_fitted_estimator_as_it_was(roll, failure):
    """A refit on 3 columns that failed had set the input width to 3 beside the 4-column model: transform then
    refused 4 columns and raised a torch shape error on 3."""
    wide = pd.DataFrame(np.column_stack([roll, roll[:, 0]]), columns=list("abcd"))
    reducer = Reducer(**QUICK).fit(wide)
    codes, fitted = reducer.transform(wide), reducer.fitted_
    narrow = wide[["a", "b", "c"]].copy()
    if failure == "bad data":
        narrow.iloc[5, 1] = np.nan
    else:
        reducer.set_params(steps=0)
    with pytest.raises(ValueError, match="NaN" if failure == "bad data" else "steps"):
        reducer.fit(narrow)
    assert reducer.fitted_ is fitted
    assert reducer.n_features_in_ == 4
    assert list(reducer.feature_names_in_) == list("abcd")
    np.testing.assert_array_equal(reducer.transform(wide), codes)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"model_options": [1, 2]}, "model_options must map the model's option names"),
        ({"loss_options": ["mse"]}, "loss_options must map loss names"),
        ({"loss_options": {"mse": 1}}, r"loss_options\['mse'\] must map the loss's option names"),
    ],
)
def test_options_that_are_not_mappings_are_refused_by_name(roll, parameters, message):
    with pytest.raises(dimred.UsageError, match=message):
        Reducer(**QUICK, **parameters).fit(roll)


def test_numpy_numbers_are_parameters_as_scikit_learn_searches_hand_them_over(roll):
    """np.arange(2, 5) in a grid search gives np.int64 values, np.float32 learning rates come from arrays."""
    numbers = {"n_components": np.int64(3), "steps": np.int64(20), "lr": np.float32(0.01), "random_state": np.int64(0)}
    reducer = Reducer(**{**QUICK, **numbers}).fit(roll)
    assert reducer.transform(roll).shape == (400, 3)
    assert type(reducer.fitted_.settings.seed) is int
    assert type(reducer.fitted_.settings.lr) is float
    # widths as an array, as a search over np.array([[64, 32], [32, 16]]) hands them over: had been refused
    widths = Reducer(**QUICK, model_options={"hidden": np.array([16, 8])}).fit(roll)
    assert widths.fitted_.model_options["hidden"] == [16, 8]


def test_rows_far_outside_the_training_rows_are_named_as_the_cause_not_the_training(roll):
    """The message had advised retraining with a lower learning rate."""
    tiny = roll * [1e-20, 1, 1]
    far_out = r"not finite .* for 1 of 2 rows, the first at row 1 .*: the rows lie too far out of the training rows'"
    with pytest.raises(dimred.DimredError, match=far_out):
        Reducer(**QUICK).fit(tiny).transform([[0, 0, 0], [1e20, 0, 0]])


def test_codes_far_outside_the_training_codes_give_an_error_not_infinite_rows(roll):
    """PCA's reconstructions of codes near float64's limit are finite until the scaling is undone."""
    with pytest.raises(dimred.DimredError, match=r"reconstructions are not finite .* the codes lie too far out$"):
        Reducer(model="pca").fit(roll).inverse_transform(np.full((2, 2), 1e308))
    with pytest.raises(dimred.DimredError, match=r"Z has 1e\+300 at row 0, column 0"):
        Reducer(**QUICK).fit(roll).inverse_transform(np.full((1, 2), 1e300))


@pytest.mark.parametrize(
    ("provenance", "message"),
    [({"scaler": "standard"}, "'scaler' is a field of the model file's own metadata"),
     ({"model": "mlp-ae"}, "'model' is a field"), ({"note": float("nan")}, "provenance note is nan, not a finite"),
     ({"when": {"day": object()}}, "provenance when is a object, which JSON has no form for"),
     ({"dataset_options": [1, 2]}, "provenance dataset_options must be a dict, as dimred reads it back, not list"),
     ({"dataset": 3}, "provenance dataset must be a str, as dimred reads it back, not int")],
)  # fmt: skip
def test_provenance_cannot_replace_the_model_files_own_fields_or_hold_what_json_cannot(roll, tmp_path, provenance,
                                                                                      message):  # fmt: skip
    reducer = Reducer(model="pca").fit(roll)
    with pytest.raises(dimred.UsageError, match=message):
        reducer.save(tmp_path / "m.safetensors", **provenance)
    assert not (tmp_path / "m.safetensors").exists()
    path = reducer.save(tmp_path / "m.safetensors", stats={"n": np.int64(3)}, seed=np.int64(3), dataset="roll")
    assert dimred.load(path).fitted_.scaler.kind == "minmax"
    with safe_open(path, "np") as saved:
        metadata = saved.metadata()
    assert set(metadata) == OWN_FIELDS | {"stats", "seed", "dataset"}
    assert json.loads(metadata["stats"]) == {"n": 3}


def test_files_and_evaluations_refuse_an_unfitted_reducer_and_batches_of_no_rows(roll, tmp_path):
    np.save(tmp_path / "rows.npy", roll)
    with pytest.raises(NotFittedError):
        dimred.encode_file(Reducer(), tmp_path / "rows.npy", tmp_path / "codes.npy")
    with pytest.raises(NotFittedError):
        dimred.evaluate(Reducer(), "swissroll", out=None)
    with pytest.raises(dimred.UsageError, match="batch_rows must be a whole number of rows from 1, got 0"):
        dimred.encode_file(Reducer(**QUICK).fit(roll), tmp_path / "rows.npy", tmp_path / "codes.npy", batch_rows=0)
    assert not (tmp_path / "codes.npy").exists()


def test_encode_file_takes_what_a_classical_reducer_computes_in_float64_as_its_transform_does(tmp_path):
    """A Reducer-fitted PCA computes in float64 whatever its ``dtype`` (the training loop's, float32): encode_file
    had checked the file's rows against float32 and refused rows its transform maps."""
    X = np.random.default_rng(0).normal(size=(30, 3))
    pca = Reducer(model="pca", random_state=0).fit(X)
    rows = X[:5].copy()
    rows[0, 0] = 1e39  # beyond float32, within float64
    np.save(tmp_path / "rows.npy", rows)
    dimred.encode_file(pca, tmp_path / "rows.npy", tmp_path / "codes.npy")
    written = np.load(tmp_path / "codes.npy")
    assert written.dtype == np.float64
    np.testing.assert_allclose(written, pca.transform(rows), rtol=1e-12)


def test_loading_onto_an_unknown_device_blames_the_device_not_the_file(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.safetensors")
    with pytest.raises(dimred.UsageError, match=r"^unknown device 'tpu'; choose from: auto, cpu, cuda, mps$"):
        dimred.load(path, device="tpu")


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


def test_no_random_state_draws_the_seed_from_numpys_generator_as_scikit_learns_estimators_do(roll, tmp_path):
    """None had drawn from the operating system's entropy: np.random.seed, which makes a notebook of scikit-learn
    estimators repeatable, left a Reducer's codes different on every run; a RandomState had been refused."""
    drawn = {**QUICK, "random_state": None}
    np.random.seed(0)
    first = Reducer(**drawn).fit(roll)
    np.random.seed(0)
    assert np.array_equal(first.transform(roll), Reducer(**drawn).fit_transform(roll))
    assert not np.array_equal(first.transform(roll), Reducer(**drawn).fit_transform(roll))  # the generator moved on
    for state in (np.random.RandomState, np.random.default_rng):
        codes = [Reducer(**{**QUICK, "random_state": state(5)}).fit_transform(roll) for _ in range(2)]
        assert np.array_equal(*codes)
    assert dimred.load(first.save(tmp_path / "m.safetensors")).random_state is None  # recorded as given


def test_too_few_rows_to_fit_are_refused_with_one_minimum():
    rows = np.random.default_rng(0).random((2, 3))
    for count in (1, 2):
        with pytest.raises(ValueError, match=r"a minimum of 3 is required by Reducer"):
            Reducer(model="pca").fit(rows[:count])


def test_a_run_returns_a_fitted_reducer_and_writes_nothing_without_out(tmp_path):
    result = dimred.run(dataset="swissroll", model="mlp-ae", steps=10, out=None, settings={"dataset.n_samples": 200})
    assert result.path is None
    assert list(tmp_path.iterdir()) == []
    assert result.reducer.transform(np.zeros((2, 3))).shape == (2, 2)
    assert result.codes.shape == (200, 2)


@pytest.mark.parametrize("model", ["pca", "kernel-pca"])
def test_a_one_call_model_from_a_run_or_a_file_refits_and_clones(roll, tmp_path, model):
    result = dimred.run("swissroll", model, settings={"dataset.n_samples": 300}, out=tmp_path / "run", reporters=[])
    for reducer in (result.reducer, dimred.load(tmp_path / "run")):
        assert reducer.get_params()["loss"] is None
        assert reducer.get_params()["steps"] is None  # it ran no training loop
        refitted = clone(reducer).fit(roll)
        np.testing.assert_array_equal(refitted.transform(roll), reducer.fit(roll).transform(roll))


def test_a_training_loop_setting_for_a_one_call_model_is_ignored_by_the_reducer_and_refused_by_dimred_run(roll):
    with pytest.raises(dimred.UsageError, match=r"model 'pca' is fitted in one call.*\(steps\) does not apply"):
        dimred.run("swissroll", "pca", steps=100, out=None, reporters=[])
    assert Reducer(model="pca", steps=100).fit(roll).transform(roll).shape == (400, 2)  # scikit-learn's convention
    assert Reducer(model="pca", loss="").fit(roll).transform(roll).shape == (400, 2)


def test_callback_options_reach_the_callbacks_and_a_misspelled_one_is_named(roll):
    stopping = {"callbacks": ["early-stopping"], "steps": 200, "batch_size": 50, "random_state": 0}
    patient = Reducer(**stopping).fit(roll)
    impatient = Reducer(**stopping, callback_options={"early-stopping": {"patience": 1}}).fit(roll)
    assert impatient.history_[-1]["step"] < patient.history_[-1]["step"]
    with pytest.raises(dimred.UsageError, match=r"'callback.early-stopping.patiense' \(did you mean 'patience'\?\)"):
        Reducer(**stopping, callback_options={"early-stopping": {"patiense": 1}}).fit(roll)


@pytest.mark.parametrize(
    ("call", "message"),
    [(lambda: dimred.run(np.zeros((5, 3)), "pca", out=None), "a dataset is named by its plugin's name .*not a ndarray"),
     (lambda: Reducer(model=None).fit(np.eye(3)), "a model is named by its plugin's name .*not a NoneType"),
     (lambda: Reducer(n_components="3").fit(np.eye(3)), "n_components is the number of code dimensions, .*not '3'"),
     (lambda: Reducer(n_components=2.5).fit(np.eye(3)), "n_components is the number of code dimensions, .*not 2.5"),
     (lambda: dimred.compare("swissroll", "pca", out=None), r"models must be a list of names, e.g. \['pca'\]"),
     (lambda: dimred.compare("swissroll", ["pca"], seeds=1.5, out=None), "seeds is how many .* got 1.5"),
     (lambda: dimred.compare("swissroll", ["pca"], seeds="2", out=None), "seeds is how many .* got '2'"),
     (lambda: dimred.evaluate("runs/any", "swissroll", seed=-1, out=None), "bad seed -1: must be at least 0"),
     (lambda: dimred.evaluate("runs/any", np.zeros((5, 3)), out=None), "a dataset is named .*not a ndarray")],
)  # fmt: skip
def test_a_value_of_the_wrong_kind_for_a_name_or_a_count_is_a_usage_error(call, message):
    with pytest.raises(dimred.UsageError, match=message):
        call()


def test_a_path_parameter_given_no_path_is_a_usage_error_naming_it(fitted, tmp_path):
    calls = {
        "path must be a model file's or a run directory's path": lambda: dimred.load(5),
        "path must be a .safetensors file's or a directory's path": lambda: fitted.save(None),
        r"the output folder \(--out\) must be a folder's path": lambda: fitted.to_onnx(5),
        r"source \(SOURCE\) must be the input file's path": lambda: dimred.encode_file(fitted, 5, tmp_path / "c.npy"),
        r"destination \(-o/--output\) must be the output file's path": (
            lambda: dimred.decode_file(fitted, tmp_path / "c.npy", 3.0)
        ),
        "settings must map 'kind.option' to a value": lambda: dimred.compare("swissroll", ["pca"], settings="x"),
        "bad setting 1: use dataset.OPTION": lambda: dimred.compare("swissroll", ["pca"], settings={1: 2}),
        "settings must map 'kind.option' to a value, .* not list": lambda: dimred.run("swissroll", "pca", settings=[]),
        r"model 'kernel-pca' makes at most as many components as the rows it fits on \(3: .*n_components=5": (
            lambda: Reducer(model="kernel-pca", n_components=5, model_options={"landmarks": 3}).fit(np.eye(40, 6))
        ),
    }
    for message, call in calls.items():
        with pytest.raises(dimred.UsageError, match=message):
            call()
    assert not list(tmp_path.iterdir())


def test_the_errors_a_library_user_catches_are_exported_at_the_top(tmp_path):
    with pytest.raises(dimred.ModelFileError, match="no model file at"):
        dimred.load(tmp_path / "absent")
    with pytest.raises(dimred.DataError):
        dimred.Reducer(steps=2).fit(np.full((10, 3), np.nan))
    assert issubclass(dimred.DivergenceError, dimred.DimredError)
    assert issubclass(dimred.SkippedPluginWarning, UserWarning)


def test_long_doubles_are_taken_as_float64_which_is_what_torch_computes_at_most(fitted, roll):
    assert np.array_equal(fitted.transform(roll.astype(np.longdouble)), fitted.transform(roll))
    refit = Reducer(model="pca").fit(roll.astype(np.longdouble))
    assert np.allclose(refit.transform(roll), Reducer(model="pca").fit(roll).transform(roll))


@pytest.mark.parametrize("model", ["mlp-ae", "ne-ae"])
def test_a_default_dtype_the_caller_set_changes_neither_training_nor_its_codes(roll, model):
    def codes() -> np.ndarray:
        return Reducer(model=model, steps=5, random_state=0, callbacks=["no-progress"]).fit_transform(roll[:200])

    expected = codes()
    torch.set_default_dtype(torch.float64)
    try:
        np.testing.assert_array_equal(codes(), expected)
        assert torch.get_default_dtype() == torch.float64  # the caller's setting is left as it was
    finally:
        torch.set_default_dtype(torch.float32)


def test_fits_overlapping_in_threads_leave_the_callers_default_dtype_as_it_was():
    import threading

    from dimred._engine.device import torch_default_dtype

    entered, left = threading.Event(), threading.Event()

    def first() -> None:
        with torch_default_dtype():
            entered.set()
            left.wait(10)  # until the second is inside too

    def second() -> None:
        entered.wait(10)
        with torch_default_dtype():
            assert torch.get_default_dtype() == torch.float32
            left.set()
            threads[0].join(10)  # the first ends while the second is still inside

    torch.set_default_dtype(torch.float64)
    try:
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        threads[1].join(10)
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(torch.float32)


def test_a_loaded_runs_reducer_refits_another_model_with_the_loss_its_options_belong_to(tmp_path):
    """A run's model file records every choice made, ne-tsne's options among them: they stay with their loss."""
    dimred.run("digits", "ne-ae", steps=2, out=tmp_path / "run", reporters=[])
    loaded = dimred.load(tmp_path / "run")
    assert loaded.get_params()["loss"] == loaded.loss_
    assert loaded.get_params()["loss_options"]["ne-tsne"]["exaggeration"] == 1.3
    X = np.random.default_rng(0).random((120, 64))
    other = clone(loaded).set_params(model="mlp-ae", model_options=None, callbacks=["no-progress"]).fit(X)
    assert other.loss_ == loaded.loss_


def test_results_beyond_float32_for_float32_input_are_refused_not_returned_as_inf(roll):
    """A float64 model (pca) maps float32 codes of 1e38 to rows beyond float32: they had come back as -inf."""
    pca = Reducer(model="pca").fit(roll)
    codes = np.array([[1e38, 1e38]], dtype=np.float32)
    with pytest.raises(dimred.DataError, match=r"row 0 \(counting from 0\) of the results is beyond float32's range"):
        pca.inverse_transform(codes)
    assert np.isfinite(pca.inverse_transform(codes.astype(np.float64))).all()


def test_a_file_row_whose_results_overflow_is_counted_in_the_file_not_its_batch(roll, tmp_path):
    network = Reducer(**QUICK).fit(roll)
    codes = np.zeros((10, 2), dtype=np.float32)
    codes[7] = 3e38
    np.save(tmp_path / "codes.npy", codes)
    with pytest.raises(dimred.DimredError, match=r"for 1 of 4 rows, the first at row 7 \(counting from 0\)"):
        dimred.decode_file(network, tmp_path / "codes.npy", tmp_path / "rows.npy", batch_rows=4)
    assert not (tmp_path / "rows.npy").exists()


def test_fits_in_threads_give_what_the_same_seeds_give_one_after_another(roll):
    import threading

    def codes(seed: int) -> np.ndarray:
        return Reducer(**{**QUICK, "random_state": seed, "steps": 40}, callbacks=["no-progress"]).fit_transform(roll)

    alone = {seed: codes(seed) for seed in (0, 1)}
    together: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda seed=seed: together.update({seed: codes(seed)})) for seed in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for seed in (0, 1):
        np.testing.assert_array_equal(together[seed], alone[seed])


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_a_fit_inside_the_callers_no_grad_context_trains_as_outside(roll, context):
    expected = Reducer(**QUICK).fit_transform(roll)
    with context():
        codes = Reducer(**QUICK).fit_transform(roll)
    np.testing.assert_array_equal(codes, expected)


def test_a_fit_is_silent_unless_verbose_and_named_callbacks_decide_over_verbose(roll, capfd, monkeypatch):
    import dimred.plugins.callbacks as built_in

    monkeypatch.setattr(built_in, "QUIET_SECONDS", 0.0)  # a line per tenth of the steps at once (stderr: no tty)
    small = {**QUICK, "steps": 10}
    cases = [({}, False), ({"verbose": True}, True), ({"callbacks": ["progress"]}, True),
             ({"verbose": True, "callbacks": ["no-progress"]}, False), ({"verbose": np.int64(1)}, True)]  # fmt: skip
    for parameters, shown in cases:
        Reducer(**small, **parameters).fit(roll[:100])
        err = capfd.readouterr().err
        assert ("training: 100% (step 10 of 10)" in err) is shown, (parameters, err)
        assert shown or err == ""
    with pytest.raises(dimred.UsageError, match="verbose must be True or False, got 'no'"):
        Reducer(**small, verbose="no").fit(roll[:100])


def test_the_librarys_flags_and_callbacks_of_the_wrong_type_are_refused_before_any_work(roll, tmp_path):
    """overwrite="no" is truthy: it had replaced a user's file; echo=3 had been blamed on a reporter, and a dict
    given as training= had raised AttributeError."""
    mine = tmp_path / "mine.safetensors"
    mine.write_text("my own file")
    fitted = Reducer(model="pca").fit(roll[:100])
    rows = tmp_path / "rows.npy"
    np.save(rows, roll[:10])
    quick = {"settings": {"dataset.n_samples": 200}, "out": None}
    calls = [
        (lambda: fitted.save(mine, overwrite="no"), "overwrite must be True or False, got 'no'"),
        (lambda: dimred.run("swissroll", "pca", overwrite="yes", **quick), "overwrite must be True or False"),
        (lambda: dimred.run("swissroll", "pca", resume=1, **quick), "resume must be True or False, got 1"),
        (lambda: dimred.run("swissroll", "pca", echo=3, **quick), "echo must be a function or None, got 3"),
        (lambda: dimred.run("swissroll", "pca", training={"seed": 1}, **quick),
         "training must be a dimred.TrainingSettings or None (or give its fields as keywords"),
        (lambda: dimred.evaluate(fitted, "swissroll", refit_scaler="no", **quick), "refit_scaler must be True or"),
        (lambda: dimred.compare("swissroll", ["pca"], save="yes", **quick), "save must be True or False"),
        (lambda: dimred.encode_file(fitted, rows, mine, overwrite="no"), "overwrite must be True or False"),
        (lambda: dimred.encode_file(fitted, rows, tmp_path / "c.npy", progress=3), "progress must be a function"),
    ]  # fmt: skip
    for call, message in calls:
        with pytest.raises(dimred.UsageError, match=re.escape(message)):
            call()
    assert mine.read_text() == "my own file"
    assert not (tmp_path / "c.npy").exists()
    assert dimred.run("swissroll", "pca", overwrite=np.bool_(False), echo=print, **quick).codes.shape == (200, 2)


def test_verbose_is_a_parameter_a_model_file_does_not_keep_and_a_pickle_does(roll, tmp_path):
    import pickle

    assert Reducer().get_params()["verbose"] is False
    assert clone(Reducer(verbose=True)).get_params()["verbose"] is True
    assert Reducer().set_params(verbose=True).verbose is True
    reducer = Reducer(**QUICK, verbose=True).fit(roll[:100])
    path = reducer.save(tmp_path / "m.safetensors")
    with safe_open(path, "np") as saved:
        assert "verbose" not in saved.metadata()["requested"]  # a file older dimred versions read as they did
    assert dimred.load(path).get_params()["verbose"] is False  # loaded: silent, as a new estimator
    assert pickle.loads(pickle.dumps(reducer)).get_params()["verbose"] is True
    state = reducer.__getstate__()
    del state["verbose"]  # a Reducer pickled before the parameter existed
    older = Reducer.__new__(Reducer)
    older.__setstate__(state)
    assert older.get_params()["verbose"] is False


def test_a_grid_search_over_the_model_ignores_the_loop_settings_a_one_call_model_does_not_take(roll):
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier

    X, y = roll[:120], (roll[:120, 0] > np.median(roll[:120, 0])).astype(int)
    pipeline = make_pipeline(Reducer(**QUICK, lr=0.01), KNeighborsClassifier(3))
    search = GridSearchCV(pipeline, {"reducer__model": ["mlp-ae", "pca"]}, cv=2, error_score="raise").fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_a_grid_search_reaches_one_option_inside_the_options_mappings(roll):
    """It had crashed in scikit-learn: 'dict' object has no attribute 'set_params'."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier

    X, y = roll[:120], (roll[:120, 0] > np.median(roll[:120, 0])).astype(int)
    given = {"hidden": [16], "dropout": 0.0}
    pipeline = make_pipeline(Reducer(**QUICK, model_options=given), KNeighborsClassifier(3))
    grid = {"reducer__model_options__hidden": [[8], [16, 8]]}  # [4, 4]: every ReLU off, one code for all (refused)
    search = GridSearchCV(pipeline, grid, cv=2, error_score="raise").fit(X, y)
    assert search.best_estimator_[0].model_options == {"hidden": search.best_params_[next(iter(grid))], "dropout": 0}
    assert given == {"hidden": [16], "dropout": 0.0}  # copied, never changed in place
    reducer = Reducer(model="ne-ae").set_params(loss_options__ne_tsne__exaggeration=1.0, callback_options__x__y=2)
    assert reducer.loss_options == {"ne_tsne": {"exaggeration": 1.0}}
    assert reducer.callback_options == {"x": {"y": 2}}
    reducer = Reducer(model_options=given)
    with pytest.raises(dimred.UsageError, match=r"model_options\['hidden'\] must map names to values \(a dict\)"):
        reducer.set_params(model="pca", model_options__hidden__width=3)
    assert reducer.model == "mlp-ae"  # every path is checked before anything is set
    with pytest.raises(dimred.UsageError, match="'model_options__' names no option"):
        reducer.set_params(model_options__=3)


def test_a_one_call_model_records_the_loops_defaults_not_the_settings_it_ignored(roll, tmp_path):
    loop = {"steps": 20, "batch_size": 7, "lr": 0.5, "weight_decay": 0.1, "schedule": "constant",
            "optimizer": "muon", "precision": "float32"}  # fmt: skip
    plain = Reducer(model="pca", random_state=0).fit(roll)
    ignoring = Reducer(model="pca", random_state=0, **loop).fit(roll)
    assert ignoring.get_params()["steps"] == 20  # the parameters stay as given, as scikit-learn's do
    assert ignoring.fitted_.settings == plain.fitted_.settings
    assert ignoring.history_ == []
    np.testing.assert_array_equal(ignoring.transform(roll), plain.transform(roll))
    files = [reducer.save(tmp_path / f"{name}.safetensors") for name, reducer in (("plain", plain), ("i", ignoring))]
    metadata = []
    for path in files:
        with safe_open(path, "np") as saved:
            metadata.append({key: saved.metadata()[key] for key in ("training", "requested")})
    assert metadata[0] == metadata[1]
    assert dimred.load(files[1]).get_params()["steps"] is None
    with pytest.raises(dimred.UsageError, match="bad steps 0: must be at least 1"):  # ignored, still checked
        Reducer(model="pca", steps=0).fit(roll)


def test_a_runs_reducer_refits_as_a_one_call_model_with_the_runs_loop_settings(roll):
    result = dimred.run("swissroll", "mlp-ae", steps=5, batch_size=32, out=None, reporters=[],
                        settings={"dataset.n_samples": 100})  # fmt: skip
    assert result.reducer.get_params()["steps"] == 5
    pca = clone(result.reducer).set_params(model="pca").fit(roll)
    np.testing.assert_array_equal(pca.transform(roll), Reducer(model="pca", random_state=0).fit(roll).transform(roll))


def _fixed_width_model(register_in_process) -> None:
    """A model without an n_components option whose network gives 3 codes."""
    from conftest import LinearNetwork, plugin_module
    from dimred.plugin import Model

    class FixedWidth(Model):
        name = "fixed-width"
        description = "a linear autoencoder with codes of 3"

        def build(self, n_features):
            return LinearNetwork(n_features, 3)

    register_in_process(plugin_module("fixed_width", register_models=lambda register: register(FixedWidth)))


def test_n_components_a_model_without_that_option_cannot_honour_is_refused(roll, register_in_process):
    model = "fixed-width"
    _fixed_width_model(register_in_process)
    with pytest.raises(
        dimred.UsageError,
        match=rf"model '{model}' has no n_components option: it chooses the width "
        r"of its codes itself \(3 for 3 columns\), so n_components=4 .*n_components=None .* or 3",
    ):
        Reducer(**QUICK, model=model, n_components=np.int64(4)).fit(roll[:100])
    for n_components in (None, 3, 2):  # 2: the default, which leaves the width to a model without the option
        reducer = Reducer(**QUICK, model=model, n_components=n_components).fit(roll[:100])
        assert (reducer.transform(roll[:5]).shape, reducer.n_components_) == ((5, 3), 3)


@pytest.mark.parametrize(
    ("parameters", "named"),
    [({"n_components": 0}, "n_components"), ({"steps": -1}, "steps"), ({"lr": "fast"}, "lr"),
     ({"model": "no-such"}, "no-such")],
)  # fmt: skip
def test_a_parameter_the_reducer_refuses_is_a_value_error_as_in_scikit_learn(roll, parameters, named):
    with pytest.raises(ValueError, match=named) as caught:
        Reducer(**{**QUICK, **parameters}).fit(roll[:50])
    assert isinstance(caught.value, dimred.UsageError)


def test_pca_asked_for_more_components_than_rows_is_a_usage_error_not_a_broken_plugin():
    rows = np.random.default_rng(0).random((4, 10))
    with pytest.raises(dimred.UsageError, match=r"model 'pca' makes at most .* \(4 x 10: 4\), got n_components=5"):
        Reducer(model="pca", n_components=5).fit(rows)


def _frame_with_labels(dtype: str) -> pd.DataFrame:
    frame = pd.DataFrame(np.random.default_rng(0).random((40, 3)), columns=["a", "b", "c"])
    return frame.assign(species=pd.Series(["setosa", "virginica"] * 20, dtype=dtype))


def _frame_with_dates(start: str, tz: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(np.random.default_rng(0).random((40, 3)), columns=["a", "b", "c"])
    return frame.assign(when=pd.date_range(start, periods=40, tz=tz))


@pytest.mark.parametrize(
    ("X", "message"),
    [(_frame_with_labels("object"), "X's column 'species' holds values that are not numbers (text, categories or "
                                    "dates); leave it out (X.drop(columns=['species']))"),
     (_frame_with_labels("category"), "X's column 'species' holds values that are not numbers"),
     (_frame_with_labels("object").to_numpy(), "X holds 'setosa' at row 0, column 3 (counting from 0), which is not "
                                                "a number"),
     (_frame_with_labels("object").to_numpy().astype(bytes), "X holds 'setosa' at row 0, column 3"),
     (_frame_with_dates("2024-01-01"), "X's column 'when' holds values that are not numbers"),
     (_frame_with_dates("2024-01-01", tz="UTC"), "X's column 'when' holds values that are not numbers"),
     (_frame_with_dates("2024-01-01").assign(when=lambda frame: frame.when - frame.when.min()),
      "X's column 'when' holds values that are not numbers"),
     (np.tile(pd.date_range("2024-01-01", periods=40).to_numpy()[:, None], 4),
      "X holds dates or times (datetime64[ns]), not numbers"),
     (np.array([[1.0, 2.0, 3.0, datetime.date(2024, 1, 1)]] * 40, dtype=object),
      "X holds datetime.date(2024, 1, 1) at row 0, column 3 (counting from 0), a date or a time")],
    ids=["text", "categories", "an array of text", "an array of bytes", "dates", "dates with a time zone",
         "durations", "an array of dates", "an array of date objects"],
)  # fmt: skip
def test_a_column_of_labels_left_in_x_is_named_by_fit_and_transform(X, message):
    """scikit-learn had said only "could not convert string to float: 'setosa'", naming neither the column nor
    that labels do not belong in X. Dates beside numbers had failed in numpy's dtype promotion, and dates alone
    trained on nanoseconds since 1970."""
    with pytest.raises(dimred.DataError, match=re.escape(message)):
        dimred.Reducer(steps=2).fit(X)
    fitted = dimred.Reducer(steps=2, random_state=0).fit(_frame_with_labels("object").drop(columns="species"))
    with pytest.raises(ValueError, match=re.escape(message)):
        fitted.transform(X)


@pytest.mark.parametrize(
    "convert",
    [lambda frame: frame.astype(object), lambda frame: frame.to_numpy().astype(object),
     lambda frame: frame.assign(a=pd.Categorical(np.arange(40) % 3)), lambda frame: frame.astype(str).to_numpy()],
    ids=["a DataFrame of numbers as objects", "an array of numbers as objects", "categories that are numbers",
         "an array of numbers as text"],
)  # fmt: skip
def test_numbers_of_any_dtype_are_read_as_numbers(convert):
    """The check for labels left in X had refused columns by their dtype, numbers stored as objects among them."""
    X = convert(_frame_with_labels("object").drop(columns="species"))
    assert dimred.Reducer(steps=2, random_state=0).fit(X).transform(X).shape == (40, 2)
