"""A plugin of each kind, defined and registered inside the test (nothing installed), run through `dimred run`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import dimred
from conftest import LinearNetwork, plugin_module
from dimred import Callback, Data, Dataset, EstimatorModel, Loss, Metric, Model, Reporter, option
from dimred.cli import cli


class Line(Dataset):
    name = "line"
    description = "points along a line in 4-D"

    @dataclass(frozen=True)
    class Options:
        n_samples: int = option(64, "number of points")

    def load(self, seed):
        t = np.random.default_rng(seed).random(self.options.n_samples)
        return Data(X=np.outer(t, [1.0, 2.0, -1.0, 0.5]), color=t)


class LinearAutoencoder(Model):
    name = "linear-ae"
    description = "a linear autoencoder"
    default_loss = "mean-abs"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(1, "code size")

    def build(self, n_features):
        return LinearNetwork(n_features, self.options.n_components)


class MeanAbsolute(Loss):
    name = "mean-abs"
    description = "mean absolute error"
    calls = 0

    def __call__(self, batch):
        MeanAbsolute.calls += 1
        return (batch.x_hat - batch.x).abs().mean()


class CodeSummary(Reporter):
    name = "code-summary"
    description = "writes the code's shape"
    seen = {}

    def report(self, run):
        CodeSummary.seen = {"codes": run.codes.shape, "rmse": run.metrics["rmse"], "steps": run.history[-1]["step"]}
        with run.artifact("summary.json") as path:
            path.write_text(json.dumps({"shape": list(run.codes.shape)}))
        run.echo("code summary written")


def test_a_plugin_of_each_kind_registered_in_process_runs_end_to_end(register_in_process, tmp_path):
    register_in_process(
        plugin_module(
            "test_plugins",
            register_datasets=lambda register: register(Line),
            register_models=lambda register: register(LinearAutoencoder),
            register_losses=lambda register: register(MeanAbsolute),
            register_reporters=lambda register: register(CodeSummary),
        )
    )
    out = tmp_path / "line-run"
    MeanAbsolute.calls = 0
    result = CliRunner().invoke(
        cli,
        ["run", "--dataset", "line", "--model", "linear-ae", "--reporter", "code-summary", "--out", str(out),
         "--steps", "40", "--batch-size", "32", "--set", "dataset.n_samples=80", "--set", "model.n_components=2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "code summary written" in result.output
    assert MeanAbsolute.calls == 40  # the model's default loss trained every step
    assert CodeSummary.seen["codes"] == (80, 2)
    assert CodeSummary.seen["steps"] == 40
    assert json.loads((out / "summary.json").read_text()) == {"shape": [80, 2]}
    assert json.loads((out / "config.json").read_text())["loss"][0]["name"] == "mean-abs"
    listed = CliRunner().invoke(cli, ["plugins"]).output
    assert "linear-ae  a linear autoencoder  [from module test_plugins]" in listed


class Unreadable(Dataset):
    name = "unreadable"
    description = "a dataset whose loading breaks"

    def load(self, seed):
        raise OSError("disk on fire")


def test_a_plugin_failing_inside_a_run_gives_one_message_naming_it(register_in_process):
    register_in_process(plugin_module("unreadable_plugin", register_datasets=lambda register: register(Unreadable)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "unreadable", "--model", "mlp-ae"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: dataset 'unreadable' failed to load its data: disk on fire"


class Careless(Dataset):
    name = "careless"
    description = "a dataset that hands over what it should not"

    @dataclass(frozen=True)
    class Options:
        mistake: str = option("array", "array: the matrix itself; names: two names for three columns")

    def load(self, seed):
        X = np.random.default_rng(seed).normal(size=(60, 3))
        return X if self.options.mistake == "array" else Data(X=X, feature_names=("a", "b"))


@pytest.mark.parametrize(
    ("mistake", "message"),
    [("array", "Error: dataset 'careless' must return dimred.plugin.Data from load, not ndarray"),
     ("names", "Error: dataset 'careless' failed to load its data: feature_names must be 3 names, one per column of "
               "X, got 2: ('a', 'b')")],
)  # fmt: skip
def test_a_dataset_handing_over_the_wrong_thing_is_named_before_training(register_in_process, tmp_path, mistake,
                                                                         message):  # fmt: skip
    register_in_process(plugin_module("careless_plugin", register_datasets=lambda register: register(Careless)))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "--dataset", "careless", "--model", "mlp-ae", "--out", str(out),
                                      "--set", f"dataset.mistake={mistake}"])  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip() == message
    assert not (out / "model.safetensors").exists()


class ListsOfRows(Dataset):
    """A plugin that hands over Python lists, as a quick one would."""

    name = "lists"
    description = "600 rows, colours and labels as lists"

    @dataclass(frozen=True)
    class Options:
        mixed_labels: bool = option(False, "label a row by name, the rest by number")

    def load(self, seed):
        X = np.random.default_rng(seed).normal(size=(600, 4))
        labels = [int(value > 0) for value in X[:, 0]]
        if self.options.mixed_labels:
            labels[7] = "positive"
        return Data(X=X.tolist(), color=list(X[:, 1]), labels=labels)


def test_a_dataset_giving_lists_is_split_and_scored_and_mixed_labels_are_named(register_in_process, tmp_path):
    register_in_process(plugin_module("lists_plugin", register_datasets=lambda register: register(ListsOfRows)))
    base = ["run", "--dataset", "lists", "--model", "pca", "--reporter", "metrics-table"]
    result = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["holdout.rows"] == 60
    result = CliRunner().invoke(cli, [*base, "--set", "dataset.mixed_labels=true", "--out", str(tmp_path / "mixed")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: dataset 'lists' failed to load its data: labels mix names and numbers")
    assert "row 7 'positive'" in result.output


class Misshapen(LinearNetwork):
    """A linear autoencoder that breaks one shape rule, chosen by ``mistake``."""

    def __init__(self, n_features: int, mistake: str) -> None:
        super().__init__(n_features, 2)
        self.mistake = mistake

    def encode(self, x):
        z = super().encode(x)
        if self.mistake == "1-d codes":
            return z[:, 0]
        if self.mistake == "no codes":  # a model of n_components=0 (a third party's unchecked option) had run on
            return z[:, :0]
        if self.mistake == "float64 codes":
            return z.double()
        return z.detach().numpy() if self.mistake == "numpy codes from encode" else z

    def encode_for_training(self, x):
        z = self.encode(x)
        extras = {"spread": z[:3] if self.mistake == "extras" else z}
        if self.mistake == "codes alone":
            return z
        if self.mistake == "numpy codes":
            return z.detach().numpy(), extras
        return (z[1:] if self.mistake == "codes" else z), extras

    def decode(self, z):
        x_hat = super().decode(z)
        if self.mistake == "numpy reconstructions" and self.training:
            return x_hat.detach().numpy()
        return x_hat[:, :1] if self.mistake == "reconstructions" and self.training else x_hat


class MisshapenModel(Model):
    name = "misshapen"
    description = "a network with one output of the wrong shape"

    @dataclass(frozen=True)
    class Options:
        mistake: str = option("codes", "codes, reconstructions, numpy reconstructions, extras, codes alone or numpy "
                                       "codes")  # fmt: skip

    def build(self, n_features):
        return Misshapen(n_features, self.options.mistake)


PLAIN_ENCODE = ("1-d codes", "no codes", "numpy codes from encode")  # float64 codes: found where training decodes them


@pytest.mark.parametrize(
    ("mistake", "message"),
    [("codes", "its encode must return codes of shape (60, n_components), n_components at least 1, got a tensor of "
               "shape (59, 2)"),
     ("reconstructions", "its decode must return rows of shape (60, 3), got a tensor of shape (60, 1)"),
     ("numpy reconstructions", "its decode must return rows of shape (60, 3), got a ndarray"),
     ("extras", "its encode_for_training must return extras of one row per input row (60); 'spread' is a tensor "
                "of shape (3, 2)"),
     ("codes alone", "its encode_for_training must return (z, extras), extras a dict of tensors by name, got Tensor"),
     ("numpy codes", "its encode must return the codes as a torch.Tensor, got ndarray"),
     ("1-d codes", "its encode must return codes of shape (60, n_components), n_components at least 1, got a "
                   "tensor of shape (60,)"),
     ("no codes", "its encode must return codes of shape (60, n_components), n_components at least 1, got a "
                  "tensor of shape (60, 0)"),
     ("float64 codes", "its encode must return codes in the rows' dtype (torch.float32), got torch.float64"),
     ("numpy codes from encode", "its encode must return the codes as a torch.Tensor, got ndarray")],
)  # fmt: skip
def test_a_network_output_of_the_wrong_shape_is_named_on_the_first_step(register_in_process, tmp_path, mistake,
                                                                         message):  # fmt: skip
    register_in_process(plugin_module("misshapen", register_models=lambda register: register(MisshapenModel)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "misshapen", "--set",
                                      f"model.mistake={mistake}", "--set", "dataset.n_samples=60", "--steps", "3",
                                      "--batch-size", "60", "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1
    # a plain encode's mistakes show where training first encodes: the callbacks' sample of the rows
    action = "encode a sample of its training rows for the callbacks" if mistake in PLAIN_ENCODE else "train"
    assert result.output.strip() == f"Error: model 'misshapen' failed to {action}: {message}"


class OffInEvalMode(torch.nn.Module):
    """Trains as a linear autoencoder; in eval mode it breaks its contract as ``mistake`` says."""

    def __init__(self, n_features: int, mistake: str) -> None:
        super().__init__()
        self.linear, self.mistake = LinearNetwork(n_features, 2), mistake

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear.encode(x)
        if self.training:
            return z
        if self.mistake == "raises":
            raise ValueError("no eval mode here")
        if self.mistake == "nan codes":
            return z * torch.nan
        return torch.cat([z, z[:, :1]], dim=1) if self.mistake == "wide codes" else z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        rows = self.linear.decode(z[:, :2])
        return rows[:, :-1] if self.mistake == "short rows" and not self.training else rows


class OffInEvalModeModel(Model):
    name = "off-in-eval"
    description = "a network that breaks its contract in eval mode only"
    default_loss = "mse"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")
        mistake: str = option("wide codes", "wide codes, short rows or raises")

    def build(self, n_features):
        return OffInEvalMode(n_features, self.options.mistake)


class OffProjection(EstimatorModel):
    name = "off-projection"
    description = "a projection fitted in one call that breaks its contract as told"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")
        mistake: str = option("nan codes", "nan codes, a row short, wide rows, complex codes, no codes, codes in "
                                           "3-D or inverse raises")  # fmt: skip

    def fit_transform(self, X, seed):
        codes = self.transform(X)
        mistakes = {"a row short": lambda: codes[:-1], "complex codes": lambda: codes + 1j, "no codes": lambda: None,
                    "codes in 3-D": lambda: codes[:, :, None]}  # fmt: skip
        return mistakes.get(self.options.mistake, lambda: codes)()

    def transform(self, X):
        return X[:, :2] * (np.nan if self.options.mistake == "nan codes" else 1.0)

    def inverse_transform(self, Z):
        if self.options.mistake == "inverse raises":
            raise NotImplementedError("no inverse here")
        return np.hstack([Z, Z] if self.options.mistake == "wide rows" else [Z, Z[:, :1]])


def test_codes_that_are_not_finite_before_any_step_name_the_model_not_training(register_in_process, tmp_path):
    """The message had guessed an overflow on the input and named no model."""
    register_in_process(plugin_module("off_models", register_models=lambda register: register(OffInEvalModeModel)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "off-in-eval", "--set",
                                      "model.mistake=nan codes", "--set", "dataset.n_samples=60", "--steps", "3",
                                      "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: the codes of model 'off-in-eval' are not finite (NaN or inf) for ")
    assert "they come from the untrained network, before any step, so not from training" in result.output
    assert "overflows" not in result.output


@pytest.mark.parametrize(
    ("model", "mistake", "message"),
    [("off-in-eval", "wide codes", "model 'off-in-eval' must give codes of shape (60, 2) from encode (eval mode) "
                                   "for 60 rows; it gave (60, 3)"),
     ("off-in-eval", "short rows", "model 'off-in-eval' must give rows of shape (60, 3) from decode (eval mode); it "
                                   "gave (60, 2)"),
     ("off-in-eval", "raises", "model 'off-in-eval' failed to map rows in eval mode: no eval mode here"),
     ("off-projection", "nan codes", "model 'off-projection' gave values that are not finite (NaN or inf) from "
                                     "fit_transform"),
     ("off-projection", "a row short", "model 'off-projection' must give codes of shape (60, 2) from fit_transform "
                                       "for 60 rows; it gave (59, 2)"),
     ("off-projection", "wide rows", "model 'off-projection' must give rows of shape (60, 3) from inverse_transform; "
                                     "it gave (60, 4)"),
     ("off-projection", "complex codes", "model 'off-projection' must give real numbers from fit_transform; it gave "
                                         "complex values"),
     ("off-projection", "no codes", "model 'off-projection' must give an array of numbers from fit_transform; it "
                                    "gave None"),
     ("off-projection", "codes in 3-D", "model 'off-projection' must give codes of shape (60, 2) from fit_transform "
                                        "for 60 rows; it gave (60, 2, 1)"),
     ("off-projection", "inverse raises", "model 'off-projection' failed to inverse_transform its codes: no inverse "
                                          "here")],
)  # fmt: skip
def test_a_fitted_models_codes_and_rows_are_checked_before_anything_scores_them(register_in_process, tmp_path, model,
                                                                               mistake, message):  # fmt: skip
    """Codes wider than n_components had been scored and saved with exit 0; NaN codes scored by some metrics."""
    models = [OffInEvalModeModel, OffProjection]
    register_in_process(plugin_module("off_models", register_models=lambda register: [*map(register, models)]))
    trained = ["--steps", "3", "--callback", "no-collapse"] if model == "off-in-eval" else []
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", model, "--set",
                                      f"model.mistake={mistake}", "--set", "dataset.n_samples=60", "--holdout", "0",
                                      "--out", str(tmp_path / "run"), *trained])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"Error: {message}"
    assert not (tmp_path / "run").exists()


class BuildsNothing(Model):
    name = "builds-nothing"
    description = "builds no network, or one whose default loss is not installed"
    default_loss = "not-installed-loss"

    @dataclass(frozen=True)
    class Options:
        builds: bool = option(False, "build a real network")
        encoder_only: bool = option(False, "build a bare layer, without encode and decode")

    def build(self, n_features):
        if self.options.encoder_only:
            return torch.nn.Linear(n_features, 2)
        return LinearNetwork(n_features, 2) if self.options.builds else object()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--loss", "mse"], "Error: model 'builds-nothing' must build a torch.nn.Module, not a object"),
     (["--loss", "mse", "--set", "model.builds=true", "--set", "model.encoder_only=true"], "Error: model "
      "'builds-nothing' must build a network with encode(x) and decode(z) methods; its Linear has no encode()"),
     ([], "Error: model 'builds-nothing' trains with loss 'not-installed-loss' by default (its default_loss), which "
          "is not installed; name one with --loss: ")],
)  # fmt: skip
def test_a_model_building_no_network_or_wanting_a_missing_loss_is_named(register_in_process, arguments, message):
    register_in_process(plugin_module("builds_nothing", register_models=lambda register: register(BuildsNothing)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "builds-nothing", "--set",
                                      "dataset.n_samples=60", "--steps", "3", *arguments])  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip().startswith(message)


class Exiting(Dataset):
    name = "exiting"
    description = "calls sys.exit while loading"
    code: int | str = 0

    def load(self, seed):
        raise SystemExit(Exiting.code)


@pytest.mark.parametrize("code", [0, 2, 3, 256, "stop"])
def test_a_plugin_calling_sys_exit_is_one_error_naming_it_never_a_silent_exit(
    register_in_process, tmp_path, monkeypatch, code
):
    """Exit status 1, as for a plugin's exception: the plugin's own had passed for dimred's (sys.exit(0) or
    sys.exit(256) as success, sys.exit(2) as a usage error)."""
    monkeypatch.setattr(Exiting, "code", code)
    register_in_process(plugin_module("exiting_plugin", register_datasets=lambda register: register(Exiting)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "exiting", "--model", "pca", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: dataset 'exiting' failed to load its data: it called sys.exit({code!r}); "
                                     "a plugin raises an exception instead")  # fmt: skip
    assert not (tmp_path / "r").exists()


class InterruptedMetric(Metric):
    name = "interrupted"
    description = "computes while the caller's SIGTERM handler calls sys.exit(143)"

    def compute(self, context):
        raise SystemExit(143)  # where a handler's sys.exit lands: wherever the main thread is


def test_an_exit_inside_a_metric_is_never_skipped_as_a_failing_metric_is(register_in_process):
    """A library caller's signal handler exiting during a metric must end the caller's program, not be taken for
    the metric's failure (skipped, the run going on)."""
    register_in_process(plugin_module("interrupting", register_metrics=lambda register: register(InterruptedMetric)))
    with pytest.raises(SystemExit) as exited:
        dimred.run("swissroll", "pca", settings={"dataset.n_samples": 100}, reporters=[], out=None)
    assert exited.value.code == 143
    assert str(exited.value).startswith("metric 'interrupted' failed to compute: it called sys.exit(143)")


@pytest.mark.parametrize(
    ("given", "message"),
    [({"color": np.zeros((6, 2))}, "color must be one number per row (class names go in labels), got an array of "
                                  "shape (6, 2)"),
     ({"intrinsic": np.zeros((6, 2, 1))}, "intrinsic must be 2-D (samples x true coordinates), got shape (6, 2, 1)"),
     ({"color": np.array(list("abcdef"))}, "color must be one number per row (class names go in labels), got an "
                                           "array of shape (6,) and dtype <U1"),
     ({"intrinsic": np.full((6, 2), np.nan)}, "intrinsic must be finite numbers"),
     ({"row_numbers": np.arange(3)}, "row_numbers has 3 rows but X has 6"),
     ({"row_numbers": np.linspace(0, 1, 6)}, "row_numbers must be one whole number per row"),
     ({"images": (3, 3)}, "images must be the (height, width) of one row as an image, height x width = 3 columns, "
                          "got (3, 3)")],
)  # fmt: skip
def test_data_refuses_colours_and_true_coordinates_of_the_wrong_shape(given, message):
    """Named where the dataset hands them over, not later by the plots and metrics that read them."""
    with pytest.raises(ValueError, match=re.escape(message)):
        Data(X=np.zeros((6, 3)), **given)
    assert Data(X=np.zeros((6, 3)), intrinsic=np.arange(6.0)).intrinsic.shape == (6, 1)  # a curve's one coordinate
    assert Data(X=np.zeros((6, 4)), images=[2, 2], row_numbers=np.arange(6), color=np.arange(6) > 2).images == [2, 2]


class Stopper(Callback):
    name = "stopper"
    description = "stops training at a chosen step with a chosen reason"

    @dataclass(frozen=True)
    class Options:
        at: int = option(5, "the step to stop at")
        reason: str = option("enough", "what it says")

    def on_interval(self, training, status):
        if status.step == self.options.at:
            training.stop(self.options.reason)


@pytest.mark.parametrize(("at", "stopped_early"), [(5, True), (20, False)])
def test_a_stop_at_the_last_step_is_no_early_stop(register_in_process, at, stopped_early):
    register_in_process(plugin_module("stopping", register_callbacks=lambda register: register(Stopper)))
    result = dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300, "callback.stopper.at":
                        at}, callbacks=["stopper"], out=None, steps=20, batch_size=100)  # fmt: skip
    assert result.metrics.get("stopped_early", False) is stopped_early
    assert len(result.history) == at


def test_a_stop_without_a_reason_is_named(register_in_process):
    register_in_process(plugin_module("stopping", register_callbacks=lambda register: register(Stopper)))
    with pytest.raises(dimred.DimredError, match=r"callback 'stopper' failed .*training.stop needs the reason"):
        dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300, "callback.stopper.reason":
                   " "}, callbacks=["stopper"], out=None, steps=20, batch_size=100)  # fmt: skip


class FailsComparisons(Reporter):
    name = "fails-comparisons"
    description = "reports runs, fails on comparisons"

    def report(self, run):
        pass

    def report_comparison(self, comparison):
        raise ValueError("comparison boom")


def test_a_reporter_failing_on_a_comparison_is_named_and_the_comparison_exits_1(register_in_process, tmp_path):
    register_in_process(plugin_module("failing_cmp", register_reporters=lambda register: register(FailsComparisons)))
    arguments = ["--set", "dataset.n_samples=300", "--model", "pca", "--reporter", "fails-comparisons"]
    result = CliRunner().invoke(cli, ["compare", "--dataset", "swissroll", *arguments, "--out", str(tmp_path / "c")])
    assert result.exit_code == 1
    assert "reporter 'fails-comparisons' failed to report the comparison: comparison boom" in result.output
    assert (tmp_path / "c" / "comparison.csv").exists()


class NaNCodes(LinearAutoencoder):
    name = "nan-codes"
    description = "codes (or reconstructions) that turn NaN in eval mode"

    @dataclass(frozen=True)
    class Options(LinearAutoencoder.Options):
        decode: bool = option(False, "the reconstructions turn NaN, not the codes")

    def build(self, n_features):
        nan_in = "decode" if self.options.decode else "encode"

        class Network(LinearNetwork):
            def encode(self, x):
                return _nan_in_eval_mode(self, super().encode(x), nan_in == "encode")

            def decode(self, z):
                return _nan_in_eval_mode(self, super().decode(z), nan_in == "decode")

        return Network(n_features, self.options.n_components)


def _nan_in_eval_mode(network: torch.nn.Module, values: torch.Tensor, turns: bool) -> torch.Tensor:
    return values * float("nan") if turns and not network.training else values


def test_reconstructions_that_are_not_finite_name_the_model_plugin(register_in_process, tmp_path):
    """A plugin's network decoding to NaN had been told apart from a learning rate's overflow by no name."""
    register_in_process(plugin_module("nan_model", register_models=lambda register: register(NaNCodes)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "nan-codes", "--loss", "mse",
                                      "--steps", "3", "--set", "model.decode=true", "--set", "dataset.n_samples=100",
                                      "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(
        "Error: the reconstructions of model 'nan-codes' are not finite (NaN or inf) for 100 of 100 rows"
    )


def test_the_model_check_names_codes_that_are_not_finite_as_such(register_in_process):
    from dimred.testing import check_model_plugin

    register_in_process(plugin_module("nan_model", register_models=lambda register: register(NaNCodes)))
    with pytest.raises(AssertionError, match="model 'nan-codes': eval-mode codes are NaN or infinite"):
        check_model_plugin(NaNCodes)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [("wide codes", r"model 'off-in-eval': eval-mode encode gave \(16, 3\) torch.float32 for 16 rows, not train "
                    r"mode's \(16, 2\) float32"),
     ("short rows", r"model 'off-in-eval': eval-mode decode gave \(16, 2\) torch.float32 for 16 codes, not \(16, 3\)"),
     ("raises", r"model 'off-in-eval': encode \(eval mode\) failed: ValueError: no eval mode here")],
)  # fmt: skip
def test_the_model_check_finds_a_network_that_breaks_its_contract_in_eval_mode_only(mistake, message):
    from dimred.testing import check_model_plugin

    with pytest.raises(AssertionError, match=message):
        check_model_plugin(OffInEvalModeModel, {"mistake": mistake})


class ReadsMu(Loss):
    name = "reads-mu"
    description = "a loss on the model's extra output mu"

    @dataclass(frozen=True)
    class Options:
        scale: float = option(1.0, "a factor")

    def __call__(self, batch):
        return self.options.scale * batch.extras["mu"].square().mean()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({}, r"loss 'reads-mu': __call__ \(name the model outputs it reads with extras=\) failed: KeyError: 'mu'"),
     ({"options": {"scale": "abc"}, "extras": {"mu": (2,)}}, r"loss 'reads-mu' cannot be made with options")],
)  # fmt: skip
def test_the_check_helpers_fail_with_assertions_naming_the_plugin(arguments, message):
    from dimred.testing import check_loss_plugin

    check_loss_plugin(ReadsMu, extras={"mu": (2,)})
    with pytest.raises(AssertionError, match=message):
        check_loss_plugin(ReadsMu, **arguments)


class Escaping(Reporter):
    name = "escaping"
    description = "writes its artifact under a name that leads out of the run folder"

    @dataclass(frozen=True)
    class Options:
        filename: str = option("../escaped.txt", "the name it asks for")
        as_path: bool = option(False, "ask for it as a pathlib.Path")

    def report(self, run):
        with run.artifact(Path(self.options.filename) if self.options.as_path else self.options.filename) as path:
            path.write_text("out")


@pytest.mark.parametrize("filename", ["../escaped.txt", "sub/escaped.txt", ".."])
def test_an_artifact_named_by_a_path_out_of_the_run_folder_is_refused(register_in_process, tmp_path, filename):
    register_in_process(plugin_module("escaping", register_reporters=lambda register: register(Escaping)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "pca", "--reporter", "escaping",
                                      "--set", f"reporter.escaping.filename={filename}", "--out",
                                      str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1
    assert "reporter 'escaping' failed to report: an artifact is named by a plain file name" in result.output
    assert sorted(path.name for path in tmp_path.rglob("*escaped*")) == []


def test_an_artifact_may_be_named_by_a_path_of_a_plain_file_name(register_in_process, tmp_path):
    register_in_process(plugin_module("escaping", register_reporters=lambda register: register(Escaping)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "pca", "--reporter", "escaping",
                                      "--set", "reporter.escaping.filename=kept.txt", "--set",
                                      "reporter.escaping.as_path=true", "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "kept.txt").read_text() == "out"


class Fussy(Dataset):
    name = "fussy"
    description = "refuses its options in __post_init__ with a ValueError, or fails there with a TypeError or an assert"

    @dataclass(frozen=True)
    class Options:
        n: int = option(10, "rows")

        def __post_init__(self) -> None:
            if self.n > 100:
                raise TypeError("n too big")
            assert self.n > 0
            if self.n % 2:
                raise ValueError("n must be even")

    def load(self, seed):
        return Data(X=np.random.default_rng(seed).random((self.options.n, 3)))


class Frozen(Model):
    name = "frozen"
    description = "a fixed projection: a network with no trainable parameters"

    def build(self, n_features):
        module = LinearNetwork(n_features, 2)
        module.requires_grad_(False)
        return module


@pytest.mark.parametrize(
    ("arguments", "message"),
    # only a ValueError is the plugin refusing the user's value (exit 2); another exception in __post_init__ is
    # the plugin's own fault, named (a TypeError of None < 0 had been put to the user as "bad dataset options")
    [(["--dataset", "fussy", "--set", "dataset.n=500", "--model", "pca"],
      "Error: dataset 'fussy' failed to build its options: n too big"),
     (["--dataset", "fussy", "--set", "dataset.n=-1", "--model", "pca"],
      "Error: dataset 'fussy' failed to build its options: "),
     (["--dataset", "fussy", "--set", "dataset.n=51", "--model", "pca"], "Error: bad dataset options: n must be even"),
     (["--dataset", "fussy", "--model", "frozen", "--steps", "3"],
      "Error: model 'frozen' built a network with no trainable parameters, so there is nothing to train")],
)  # fmt: skip
def test_a_plugins_own_refusals_are_one_error_naming_it_never_unexpected(register_in_process, arguments, message):
    register_in_process(plugin_module("fussy_plugins", register_datasets=lambda register: register(Fussy),
                                      register_models=lambda register: register(Frozen)))  # fmt: skip
    result = CliRunner().invoke(cli, ["run", *arguments, "--holdout", "0"])
    assert result.output.startswith(message), result.output
    assert "unexpected" not in result.output
    assert result.exit_code == (2 if "bad dataset options" in message else 1)


class Quitter(Callback):
    name = "quitter"
    description = "calls sys.exit(3) at a logging interval, inside the model's training"

    def on_interval(self, training, status):
        raise SystemExit(3)


def test_a_plugins_failing_exit_inside_another_plugins_work_names_the_one_that_exited(register_in_process, tmp_path):
    """The model, whose training the callback runs in, had been named."""
    register_in_process(plugin_module("quitting", register_callbacks=lambda register: register(Quitter)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--set", "dataset.n_samples=200", "--model",
                                      "mlp-ae", "--steps", "5", "--callback", "quitter", "--out",
                                      str(tmp_path / "r")])  # fmt: skip
    assert result.exit_code == 1
    assert result.output.startswith("Error: callback 'quitter' failed to ")
    assert "model 'mlp-ae'" not in result.output


class ShiftNetwork(torch.nn.Module):
    """A one-call model's fitted state: codes are the first two columns minus ``offset``."""

    def __init__(self, n_features: int, offset: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("offset", torch.full((2,), offset, dtype=torch.float64))
        self.n_features = n_features

    def encode(self, x):
        return x[:, :2] - self.offset.to(x.dtype)

    def decode(self, z):
        back = z + self.offset.to(z.dtype)
        return torch.cat([back, back[:, :1].expand(-1, self.n_features - 2)], dim=1)


class ShiftProjection(EstimatorModel):
    """Codes: the first two columns minus their mean; its fitted module is wrong as told."""

    name = "shift-projection"
    description = "a projection fitted in one call whose saved state can be made wrong"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")
        mistake: str = option("none", "none, module off, no build, not a module, narrow transform, clipped")

    def fit_transform(self, X, seed):
        self.offset = float(X[:, :2].mean())
        return self._clipped(X[:, :2]) - self.offset

    def transform(self, X):
        return self._clipped(X[:, :1] if self.options.mistake == "narrow transform" else X[:, :2]) - self.offset

    def _clipped(self, columns):
        """The columns, clipped where the module is told to forget it (it then differs on the clipped rows)."""
        return np.minimum(columns, 0.9) if self.options.mistake == "clipped" else columns

    def inverse_transform(self, Z):
        back = Z + self.offset
        return np.hstack([back, np.repeat(back[:, :1], 1, axis=1)])

    def fitted_module(self):
        if self.options.mistake == "not a module":
            return "offset"
        return ShiftNetwork(3, self.offset * (5 if self.options.mistake == "module off" else 1))

    def build(self, n_features):
        if self.options.mistake == "no build":
            raise NotImplementedError
        return ShiftNetwork(n_features)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [("module off", "model 'shift-projection': the module of its fitted state (fitted_module, rebuilt by build) "
                    "computes other values with encode than its transform (up to "),
     ("no build", "model 'shift-projection' failed to build the network its fitted state loads into (build, as "
                  "dimred.load does): NotImplementedError"),
     ("not a module", "model 'shift-projection' must give a torch.nn.Module with encode(x) and decode(z) from "
                      "fitted_module (or None: nothing to save); it gave a str"),
     ("narrow transform", "model 'shift-projection' must give codes of shape (60, 2) from transform for 60 rows; it "
                          "gave (60, 1)")],
)  # fmt: skip
def test_a_one_call_models_saved_state_must_compute_what_the_run_reports(register_in_process, tmp_path, mistake,
                                                                         message):  # fmt: skip
    """A fitted_module that computes otherwise than transform had been saved with exit 0 (its model file then gave
    other codes than metrics.json reports), one with no build saved a file nothing could load, and one that is no
    module failed as an 'unexpected AttributeError'."""
    register_in_process(plugin_module("shift_models", register_models=lambda register: register(ShiftProjection)))
    arguments = ["run", "--dataset", "swissroll", "--set", "dataset.n_samples=60", "--model", "shift-projection",
                 "--reporter", "metrics-table", "--holdout", "0"]  # fmt: skip
    fine = CliRunner().invoke(cli, [*arguments, "--out", str(tmp_path / "fine")])
    assert fine.exit_code == 0, fine.output
    codes = dimred.load(tmp_path / "fine").transform(np.random.default_rng(0).random((5, 3)))  # loads, maps rows
    assert codes.shape == (5, 2)
    result = CliRunner().invoke(cli, [*arguments, "--set", f"model.mistake={mistake}", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {message}")
    assert not (tmp_path / "r").exists()


def test_a_saved_state_that_computes_otherwise_on_some_rows_only_is_found_wherever_they_are(
    register_in_process, monkeypatch, tmp_path
):
    """The saved state is checked a few rows at a time (memory), over every row: a module that forgets a clip
    computes otherwise on the rows it would have clipped alone, wherever the file holds them."""
    from dimred._api import outputs

    monkeypatch.setattr(outputs, "CHECKED_VALUES", 3)  # one row of 3 columns at a time
    register_in_process(plugin_module("shift_models", register_models=lambda register: register(ShiftProjection)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--set", "dataset.n_samples=60", "--model",
                                      "shift-projection", "--set", "model.mistake=clipped", "--reporter",
                                      "metrics-table", "--holdout", "0", "--out", str(tmp_path / "r")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "computes other values with encode than its transform" in result.output
    assert not (tmp_path / "r").exists()


class FaultyNetwork(LinearNetwork):
    def __init__(self, n_features: int, fault: str) -> None:
        super().__init__(n_features, 2)
        self.fault = fault

    def encode(self, x):
        z = super().encode(x)
        return z.detach() if self.fault in ("detached", "detached codes") else z

    def decode(self, z):
        x_hat = super().decode(z)
        if self.fault == "detached":
            return x_hat.detach()
        return x_hat * torch.nan if self.fault == "nan decode" else x_hat


class FaultyModel(Model):
    name = "faulty-network"
    description = "a network whose outputs break training as told"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")
        fault: str = option("nan decode", "nan decode, detached or detached codes")

    def build(self, n_features):
        return FaultyNetwork(n_features, self.options.fault)


@pytest.mark.parametrize(
    ("fault", "message"),
    [("nan decode", "model 'faulty-network' failed to train: its decode gave values that are not finite (NaN or inf) "
                    "on the first step, before training changed anything; the network the model builds"),
     ("detached", "model 'faulty-network' failed to train: its encode and decode give values that carry no gradient "
                  "(detached"),
     ("detached codes", "model 'faulty-network' failed to train: its encode gives codes that carry no gradient "
                        "(detached, or not computed with torch from its parameters): the encoder would never train")],
)  # fmt: skip
def test_a_networks_own_fault_on_the_first_step_names_the_model_not_the_loss(register_in_process, tmp_path, fault,
                                                                            message):  # fmt: skip
    """Both had been blamed on the built-in loss 'mse' ("gave nan on the first step ... for a loss of your own,
    check what it computes"; "must return a scalar tensor that carries a gradient")."""
    register_in_process(plugin_module("faulty", register_models=lambda register: register(FaultyModel)))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--set", "dataset.n_samples=60", "--model",
                                      "faulty-network", "--set", f"model.fault={fault}", "--steps", "3", "--out",
                                      str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {message}")
    assert "mse" not in result.output


def test_a_model_trained_with_a_loss_not_installed_here_still_maps_rows(tmp_path):
    """Encoding needs no loss; a model file made with a third party's loss had been refused by load, encode and
    evaluate wherever that package was not installed ("unknown loss"). A refit still names the missing loss."""
    from dimred._host.registry import get_registry

    get_registry().register(plugin_module("reads_mu_elsewhere", register_losses=lambda register: register(ReadsMu)),
                            name="reads_mu_elsewhere")  # fmt: skip
    try:
        dimred.run("swissroll", "vae", loss="mse+reads-mu", settings={"dataset.n_samples": 200,
                   "loss.reads-mu.scale": 0.5}, steps=20, reporters=[], out=tmp_path / "run")  # fmt: skip
    finally:
        get_registry().unregister("reads_mu_elsewhere")
    rows = np.random.default_rng(0).random((4, 3))
    reducer = dimred.load(tmp_path / "run")
    assert reducer.transform(rows).shape == (4, 2)
    assert reducer.get_params()["loss_options"] == {"reads-mu": {"scale": 0.5}}
    with pytest.raises(dimred.UsageError, match="unknown loss 'reads-mu'"):
        reducer.fit(rows)


def test_a_vae_subclass_adapts_its_widths_through_the_models_hook():
    """``MLPModel.hidden_widths`` is where a subclass adapts the widths to the data: the vae had read its option
    directly, so a subclass of it changed nothing."""
    from dimred.plugins.vae import VariationalAutoencoder

    class WiderVAE(VariationalAutoencoder):
        def hidden_widths(self, n_features: int) -> tuple[int, ...]:
            return (4 * n_features,)

    network = WiderVAE().build(5)
    widths = [layer.out_features for layer in network.modules() if isinstance(layer, torch.nn.Linear)]
    assert widths == [20, 4, 20, 5]  # into the hidden layer, the two codes' means and log-variances, and back
