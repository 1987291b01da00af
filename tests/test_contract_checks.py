"""The contract checks of dimred.testing fail with an AssertionError that names the plugin and what is wrong: never
with the plugin's own exception or its sys.exit, and never by passing a plugin that a run refuses or mishandles."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import dimred
from conftest import plugin_module
from dimred.plugin import Callback, Data, Dataset, EstimatorModel, Loss, Metric, Model, Reporter, UsageError, option
from dimred.testing import (
    check_callback_plugin,
    check_dataset_plugin,
    check_loss_plugin,
    check_metric_plugin,
    check_model_plugin,
    check_reporter_plugin,
)


class Fixed(torch.nn.Module):
    """A fixed random projection: encode and decode, and nothing to train."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("W", torch.randn(n_features, 2))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ torch.linalg.pinv(self.W)


class Unfit(Model):
    name = "unfit"
    description = "builds a network that is not one dimred can train"

    @dataclass(frozen=True)
    class Options:
        mistake: str = option("bare layer", "bare layer (no encode) or fixed (no trainable parameters)")

    def build(self, n_features):
        return torch.nn.Linear(n_features, 2) if self.options.mistake == "bare layer" else Fixed(n_features)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [("bare layer", "model 'unfit' must build a network with encode(x) and decode(z) methods; its Linear has no "
                    "encode()"),
     ("fixed", "model 'unfit': its network has no trainable parameters, so there is nothing to train")],
)  # fmt: skip
def test_the_model_check_names_a_network_without_encode_or_without_parameters(mistake, message):
    """They had escaped as AttributeError and as torch's 'element 0 of tensors does not require grad'."""
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_model_plugin(Unfit, {"mistake": mistake})


class Unprepared(Loss):
    name = "unprepared"
    description = "a loss whose prepare fails"

    def prepare(self, data):
        raise RuntimeError("cannot prepare")

    def __call__(self, batch):
        return (batch.x_hat - batch.x).square().mean()


def test_the_loss_check_names_a_prepare_that_fails():
    with pytest.raises(AssertionError, match="loss 'unprepared': prepare failed: RuntimeError: cannot prepare"):
        check_loss_plugin(Unprepared)


class Complex(Dataset):
    name = "complex"
    description = "a data set of complex numbers"

    def load(self, seed):
        return Data(X=np.random.default_rng(seed).random((20, 3)) + 1j)


def test_the_dataset_check_refuses_complex_values_as_a_run_does():
    with pytest.raises(AssertionError, match="dataset 'complex' holds complex numbers; dimred works on real numbers"):
        check_dataset_plugin(Complex)


class TwoRows(Dataset):
    name = "two-rows"
    description = "a data set of two rows"

    def load(self, seed):
        return Data(X=np.arange(6.0).reshape(2, 3))


def test_the_dataset_check_refuses_fewer_rows_than_a_run_takes():
    """Two rows had passed the check; a run refuses them."""
    with pytest.raises(AssertionError, match=r"dataset 'two-rows': X has shape \(2, 3\), not at least the 3 rows"):
        check_dataset_plugin(TwoRows)
    with pytest.raises(ValueError, match="a minimum of 3 is required by Reducer"):  # scikit-learn's words
        dimred.Reducer(model="pca").fit(TwoRows().load(0).X)


class ComplexProjection(EstimatorModel):
    name = "complex-projection"
    description = "a projection fitted in one call that gives complex codes"
    can_inverse_transform = False

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")

    def fit_transform(self, X, seed):
        return self.transform(X)

    def transform(self, X):
        return X[:, :2] + 1j


def test_the_model_check_refuses_complex_codes_as_a_run_does():
    """np.isfinite takes complex values: the check had passed them."""
    with pytest.raises(AssertionError, match="model 'complex-projection' must give real numbers from fit_transform; "
                                             "it gave complex values"):  # fmt: skip
        check_model_plugin(ComplexProjection)


class Projection(EstimatorModel):
    """PCA fitted in one call, saved as a module of its components, with one mistake a run refuses."""

    name = "mistaken-projection"
    description = "a projection fitted in one call, with a mistake"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")
        mistake: str = option("none", "none, fitted_module (raises), width (always 1 code) or state (build's W wider)")

    def fit_transform(self, X, seed):
        from sklearn.decomposition import PCA

        width = 1 if self.options.mistake == "width" else self.options.n_components
        self.pca = PCA(width, random_state=seed).fit(X)
        return self.pca.transform(X)

    def transform(self, X):
        return self.pca.transform(X)

    def inverse_transform(self, Z):
        return self.pca.inverse_transform(Z)

    def fitted_module(self):
        if self.options.mistake == "fitted_module":
            raise RuntimeError("no saved state yet")
        module = Components(self.options.n_components, len(self.pca.mean_))
        module.load_state_dict({"W": torch.as_tensor(self.pca.components_), "mean": torch.as_tensor(self.pca.mean_)})
        return module

    def build(self, n_features):
        wider = int(self.options.mistake == "state")
        return Components(self.options.n_components + wider, n_features)


class Components(torch.nn.Module):
    def __init__(self, n_components: int, n_features: int) -> None:
        super().__init__()
        self.register_buffer("W", torch.zeros(n_components, n_features, dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) @ self.W.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W + self.mean


@pytest.mark.parametrize(
    ("mistake", "message"),
    [("fitted_module", "model 'mistaken-projection' failed to give its fitted state as a module (fitted_module): "
                       "no saved state yet"),
     ("width", "model 'mistaken-projection' must give codes of shape (80, 2) from fit_transform for 80 rows; it gave "
               "(80, 1)"),
     ("state", "model 'mistaken-projection' failed to build the network its fitted state loads into (build, as "
               "dimred.load does): Error(s) in loading state_dict for Components: size mismatch for W: copying")],
)  # fmt: skip
def test_the_model_check_fits_a_one_call_model_as_a_run_does(register_in_process, mistake, message):
    """Its saved state, rebuilt by build, and the codes' width had not been checked: such models passed the check
    and failed every run."""
    register_in_process(plugin_module("projections", register_models=lambda register: register(Projection)))
    check_model_plugin(Projection)  # a correct one passes, its model file loaded back
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_model_plugin(Projection, {"mistake": mistake})


class Gives(Metric):
    name = "gives"
    description = "gives the value it is told to"
    value: dict = {}

    def compute(self, context):
        return Gives.value


@pytest.mark.parametrize(
    ("value", "message"),
    [({"": 1.0}, "metric 'gives' named a value ''; name every value with non-blank text"),
     ({" ": 1.0}, "metric 'gives' named a value ' '; "),
     ({"huge": 10**400}, "metric 'gives' gave huge = an int of 401 digits, beyond a float's range"),
     ({"deep": {"a": [1, -(10**400)]}}, "metric 'gives' gave deep = an int of 401 digits, beyond a float's range")],
)  # fmt: skip
def test_the_metric_check_refuses_a_blank_name_and_an_int_beyond_a_float(monkeypatch, value, message):
    """A 401-digit int was written into metrics.json, where dimred compare crashed on it."""
    monkeypatch.setattr(Gives, "value", value)
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_metric_plugin(Gives)
    monkeypatch.setattr(Gives, "value", {"fine": 10**300, "text": "ok", "none": None})
    assert check_metric_plugin(Gives) == {"fine": 10**300, "text": "ok", "none": None}


class ReconstructionGap(Metric):
    name = "reconstruction-gap"
    description = "the largest reconstruction error (assumes every model reconstructs)"

    def compute(self, context):
        return {"gap": float((context.reconstruction_all - context.X_all).abs().max())}


class ThirdIntrinsic(Metric):
    name = "third-intrinsic"
    description = "the spread of a third intrinsic coordinate (assumes three)"

    def compute(self, context):
        return {"third": None if context.intrinsic is None else float(context.intrinsic[:, 2].std())}


@pytest.mark.parametrize(
    ("metric", "where"),
    [(ReconstructionGap, "(on rows of a model without an inverse, unlabelled)"),
     (ThirdIntrinsic, "(on rows with intrinsic coordinates)")],
)  # fmt: skip
def test_the_metric_check_scores_rows_without_a_reconstruction_and_with_intrinsic_coordinates(metric, where):
    """Both had passed, and then failed every t-SNE run and every swiss-roll run."""
    with pytest.raises(AssertionError, match=re.escape(where)):
        check_metric_plugin(metric)


class Quits(Metric):
    name = "quits"
    description = "calls sys.exit(4)"

    def compute(self, context):
        sys.exit(4)


def test_the_metric_check_names_a_sys_exit():
    """It had escaped as SystemExit, where the other checks raise AssertionError."""
    with pytest.raises(AssertionError, match=re.escape("metric 'quits' failed to compute: it called sys.exit(4)")):
        check_metric_plugin(Quits)


class Particular(Reporter):
    name = "particular"
    description = "a reporter that fails, or takes part in some runs only, as told"

    @dataclass(frozen=True)
    class Options:
        mistake: str = option("", "raises, exits, refuses, crashes in check_run, writes config.json, or none")
        url: str = option("", "the server it reports to")

    def check_run(self, config):
        assert [reporter["name"] for reporter in config["reporters"]] == ["particular"]
        if "model" in config:  # a run's configuration; a comparison's names its reporters and callbacks only
            assert (config["dataset"]["name"], config["model"]["name"]) == ("swissroll", "pca")
        if self.options.mistake == "refuses" and not self.options.url:
            raise UsageError("reporter 'particular' needs a server: set reporter.particular.url")
        if self.options.mistake == "crashes in check_run":
            raise KeyError("url")

    def report(self, run):
        if self.options.mistake == "raises":
            raise RuntimeError("the server is down")
        if self.options.mistake == "exits":
            sys.exit(0)
        if self.options.mistake == "writes config.json" and run.directory is not None:
            (run.directory / "config.json").write_text("{}")
        if not self.options.mistake:
            assert run.config["model"]["name"] == "pca"


@pytest.mark.parametrize(
    ("mistake", "message"),
    [("raises", "reporter 'particular': report failed: RuntimeError: the server is down"),
     ("exits", "reporter 'particular': report called sys.exit(0); a plugin raises an exception instead"),
     ("refuses", "reporter 'particular' refuses a plain run (dataset 'swissroll', model 'pca') in check_run: "
                 "reporter 'particular' needs a server: set reporter.particular.url; refuse only runs it cannot "
                 "take part in, and give the check the options such a run needs"),
     ("crashes in check_run", "reporter 'particular': check_run failed on the configuration of a plain run "
                              "(dataset 'swissroll', model 'pca'): KeyError: 'url'"),
     ("writes config.json", "reporter 'particular' changed config.json, dimred's own results in ")],
)  # fmt: skip
def test_the_reporter_check_names_a_failing_report_and_a_check_run_that_refuses_a_plain_run(mistake, message):
    """Errors had escaped as they were, sys.exit included; check_run had never been called; a reporter that
    replaced a run's own file passed."""
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_reporter_plugin(Particular, {"mistake": mistake})
    if mistake == "refuses":  # with the option its users' runs set, it takes part
        check_reporter_plugin(Particular, {"mistake": mistake, "url": "http://localhost"})


def test_the_reporter_check_hands_check_run_and_report_a_real_runs_configuration():
    """report had seen an empty configuration, which no run hands over."""
    check_reporter_plugin(Particular)


class Wayward(Callback):
    name = "wayward"
    description = "stops training as it starts, exits, or keeps a state of NaN, as told"

    @dataclass(frozen=True)
    class Options:
        mistake: str = option("stops", "stops, exits or nan")

    def on_fit_start(self, training):
        if self.options.mistake == "stops":
            training.stop("nothing to train today")

    def on_interval(self, training, status):
        if self.options.mistake == "exits":
            sys.exit(3)

    def state_dict(self):
        return {"best": float("nan") if self.options.mistake == "nan" else 1.0}


def test_the_callback_check_takes_a_stop_as_training_starts(register_in_process):
    """A run ends such a stop with 0 steps and exit 0; the check had failed on the checkpoint that it never saved
    (start it again with overwrite=True)."""
    register_in_process(plugin_module("wayward", register_callbacks=lambda register: register(Wayward)))
    result = dimred.run("swissroll", "mlp-ae", settings={"dataset.n_samples": 64}, callbacks=["wayward"],
                        reporters=[], out=None, steps=20)  # fmt: skip
    assert result.history == []
    assert result.metrics["stopped_early"]
    check_callback_plugin(Wayward)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [("exits", "callback 'wayward' called sys.exit(3) in a run that checkpoints; a plugin raises an exception "
               "instead"),
     ("nan", "callback 'wayward' gave a state_dict holding nan, not a finite number (a checkpoint holds finite "
             "numbers")],
)  # fmt: skip
def test_the_callback_check_names_a_sys_exit_and_a_state_that_is_not_finite(register_in_process, mistake, message):
    """sys.exit(3) had escaped as SystemExit; a NaN state, written into the checkpoint's JSON, had passed."""
    register_in_process(plugin_module("wayward", register_callbacks=lambda register: register(Wayward)))
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_callback_plugin(Wayward, {"mistake": mistake})


def _dataset_named(name: str, **attributes) -> type[Dataset]:
    def load(self, seed):
        return Data(X=np.random.default_rng(seed).random((20, 3)))

    return type("Named", (Dataset,), {"name": name, "description": "rows", "load": load, **attributes})


def _callback_named(name: str) -> type[Callback]:
    return type("Named", (Callback,), {"name": name, "description": "does nothing"})


@pytest.mark.parametrize(
    ("make", "check", "message"),
    [(lambda: _dataset_named("my data"), check_dataset_plugin, "Named.name must be lower-case letters, digits"),
     (lambda: _dataset_named("ok", description=5), check_dataset_plugin, "dataset 'ok' has no description"),
     (lambda: _callback_named("no-stop"), check_callback_plugin, "a callback's name may not begin with 'no-'")],
    ids=["a space in the name", "a description that is not text", "a callback named no-..."],
)  # fmt: skip
def test_the_checks_refuse_a_class_that_registering_it_refuses(make, check, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        check(make())


class _MyMse(Loss):
    name = "mse"
    description = "an author's squared error, under the built-in's name"

    def __call__(self, batch):
        return (batch.x_hat - batch.x).square().mean()


class _MyProgress(Callback):
    name = "progress"
    description = "an author's progress callback, under the built-in's name"


@pytest.mark.parametrize(("cls", "check"), [(_MyMse, check_loss_plugin), (_MyProgress, check_callback_plugin)])
def test_a_plugin_under_a_built_in_name_fails_its_check(cls, check):
    """The checks had passed for a loss named mse, which no run uses (the built-in is), and told a callback named
    progress to install its package."""
    kind = "loss" if cls is _MyMse else "callback"
    with pytest.raises(AssertionError, match=f"^{kind} '{cls.name}' has the name of dimred's built-in {kind}, which"):
        check(cls)


class _FailsOnThreeCodes(Projection):
    name = "fails-on-three"
    description = "a projection fitted in one call whose Options fail (a TypeError, not a refusal) at 3 codes"

    @dataclass(frozen=True)
    class Options(Projection.Options):
        def __post_init__(self):
            if self.n_components > 2:
                raise TypeError("cannot compare")


def test_the_model_check_fails_options_that_raise_other_than_a_refusal():
    """Such options had been read as refusing one more code column, and that check skipped."""
    with pytest.raises(AssertionError, match=r"model 'fails-on-three': its Options failed on \{'n_components': 3, "
                                             r"'mistake': 'none'\}: "
                                             "TypeError: cannot compare"):  # fmt: skip
        check_model_plugin(_FailsOnThreeCodes)
