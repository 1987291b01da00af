"""A plugin author's mistakes are named as the plugin's, where dimred first meets them: an entry point that provides
no hook, a class whose declaration no run could use, options or an ``__init__`` that fail; the registry calls each
hook once; and the contract checks blame the plugin checked only for its own faults."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import dimred
from conftest import FakeDistribution, FakeEntryPoint, LinearNetwork, plugin_module
from dimred import Callback, Data, Dataset, EstimatorModel, Loss, Metric, Model, Reporter, option
from dimred._core.kinds import KIND
from dimred._host.registry import PluginWarning, get_registry
from dimred.cli import cli
from dimred.testing import (
    check_callback_plugin,
    check_dataset_plugin,
    check_loss_plugin,
    check_model_plugin,
    check_reporter_plugin,
)


def _rows(seed: int) -> Data:
    return Data(X=np.random.default_rng(seed).random((60, 3)))


class Rows(Dataset):
    name = "rows"
    description = "random rows"

    def load(self, seed):
        return _rows(seed)


def _register_datasets(register):  # a hook lacking @hookimpl
    register(Rows)


def _unmarked_module() -> types.ModuleType:
    module = types.ModuleType("unmarked")
    module.register_datasets = _register_datasets
    return module


@pytest.mark.parametrize(
    ("loaded", "why"),
    [(_unmarked_module, "module unmarked has register_datasets without @hookimpl"),
     (lambda: Rows, f"class {__name__}.Rows has no register_\\* function marked @hookimpl"),
     (lambda: _register_datasets, f"function {__name__}._register_datasets has no register_\\* function")],
    ids=["a hook without @hookimpl", "an entry point naming a class", "an entry point naming a function"],
)  # fmt: skip
def test_an_entry_point_providing_no_hook_is_a_failed_plugin(fake_entry_points, loaded, why):
    """It had been ignored without a word, even with DIMRED_STRICT_PLUGINS=1."""
    fake_entry_points(FakeEntryPoint("rows", loaded, FakeDistribution("dimred-rows")))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert re.search(f"Warning: plugin 'rows' from dimred-rows: registered no dimred hooks: {why}", result.stderr)
    assert "rows from dimred-rows: registered no dimred hooks" in result.stdout  # under "failed plugins"


def test_strict_mode_makes_an_entry_point_providing_no_hook_an_error(fake_entry_points, monkeypatch):
    monkeypatch.setenv("DIMRED_STRICT_PLUGINS", "1")
    fake_entry_points(FakeEntryPoint("rows", _unmarked_module, FakeDistribution("dimred-rows")))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: plugin 'rows' from dimred-rows: registered no dimred hooks: module unmarked has register_datasets "
        "without @hookimpl\n"
    )


def test_registering_a_module_calls_its_hooks_once_and_no_other_plugins_again(register_in_process):
    """Every registered plugin's hooks had run again after each registration, as the docs say they do not."""
    calls: list[str] = []

    def counted(name: str) -> types.ModuleType:
        cls = type(name.title(), (Dataset,), {"name": name, "description": "rows", "load": Rows.load})
        return plugin_module(name, register_datasets=lambda register: calls.append(name) or register(cls))

    register_in_process(counted("first"))
    assert "first" in get_registry().names("dataset")
    register_in_process(counted("second"))
    assert {"first", "second"} <= set(get_registry().names("dataset"))
    get_registry().unregister("second")
    assert "second" not in get_registry().names("dataset")
    assert "first" in get_registry().names("dataset")
    assert calls == ["first", "second"]


def _model_with(**attributes) -> type[Model]:
    def build(self, n_features):
        return LinearNetwork(n_features, 2)

    return type("Defaulted", (Model,), {"name": "defaulted", "description": "x", "build": build, **attributes})


@pytest.mark.parametrize("default_loss", [3, None, "", "mse:0"])
def test_a_model_whose_default_loss_names_no_loss_is_refused_as_it_registers(register_in_process, default_loss):
    """It had registered, and a run naming no loss had failed as the user's usage error (exit 2)."""
    register_in_process(plugin_module("defaulting", register_models=lambda register: register(
        _model_with(default_loss=default_loss))))  # fmt: skip
    with pytest.warns(PluginWarning, match=r"registered a model that is left out: model 'defaulted': bad default_loss"):
        assert "defaulted" not in get_registry().names("model")


def test_a_model_whose_default_loss_is_a_sum_of_losses_registers(register_in_process):
    register_in_process(plugin_module("defaulting", register_models=lambda register: register(
        _model_with(default_loss="mse+geodesic:10"))))  # fmt: skip
    assert "defaulted" in get_registry().names("model")


@dataclass(frozen=True)
class Fragile:
    n: int = option(60, "rows")

    def __post_init__(self) -> None:
        if self.n == 7:
            raise RuntimeError("seven")
        if self.n == 8:
            raise KeyError("eight")


class FragileRows(Rows):
    name = "fragile"
    Options = Fragile


class FailingInit(Rows):
    name = "failing-init"

    def __init__(self, options=None):
        super().__init__(options)
        raise RuntimeError("no network")


class ForgetfulInit(Rows):
    name = "forgetful-init"

    def __init__(self, options=None):
        self.started = True  # and no super().__init__(options): no .options


def _invoke_run(*arguments: str):
    return CliRunner().invoke(cli, ["run", "--model", "pca", "--reporter", "metrics-table", *arguments])


@pytest.mark.parametrize(
    ("dataset", "settings", "message"),
    [("fragile", ["--set", "dataset.n=7"], "dataset 'fragile' failed to build its options: seven"),
     ("fragile", ["--set", "dataset.n=8"], "dataset 'fragile' failed to build its options: KeyError: 'eight'"),
     ("failing-init", [], "dataset 'failing-init' failed to start (its __init__): no network"),
     ("forgetful-init", [], "dataset 'forgetful-init' has no options once made: its __init__ must call "
                            "super().__init__(options)")],
)  # fmt: skip
def test_a_plugin_whose_options_or_init_fail_is_named(register_in_process, tmp_path, dataset, settings, message):
    """Each had been 'Error: unexpected RuntimeError: seven' (KeyError, AttributeError), naming no plugin."""
    register_in_process(plugin_module("fragile", register_datasets=lambda register: [
        register(FragileRows), register(FailingInit), register(ForgetfulInit)]))  # fmt: skip
    result = _invoke_run("--dataset", dataset, *settings, "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == f"Error: {message}"
    assert "unexpected" not in result.output


@pytest.mark.parametrize(
    ("cls", "options", "message"),
    [(FragileRows, {"n": 7}, "dataset 'fragile' failed to build its options: seven"),
     (FailingInit, None, "dataset 'failing-init' failed to start (its __init__): no network"),
     (ForgetfulInit, None, "dataset 'forgetful-init' has no options once made")],
)  # fmt: skip
def test_the_checks_name_options_or_an_init_that_fail(cls, options, message):
    """The plugin's own exception had escaped the check, which promises an AssertionError."""
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_dataset_plugin(cls, options)


class FixedWidthNetwork(torch.nn.Module):
    """Codes two wide, whatever the model's n_components asks for."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.inner = LinearNetwork(n_features, 2)

    def encode(self, x):
        return self.inner.encode(x)

    def decode(self, z):
        return self.inner.decode(z)


class FixedWidth(Model):
    name = "fixed-width"
    description = "declares n_components, builds codes two wide"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")

    def build(self, n_features):
        return FixedWidthNetwork(n_features)


def test_the_model_check_asks_for_another_code_size_than_the_default():
    """A network of a width of its own had passed, being checked at the default n_components only."""
    message = "model 'fixed-width' ignores its n_components option: with n_components=3 encode gave (16, 2)"
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_model_plugin(FixedWidth)


class Exiting(Metric):
    name = "exiting"
    description = "another package's metric, which calls sys.exit(2)"

    def compute(self, context):
        sys.exit(2)


class Quiet(Callback):
    name = "quiet"
    description = "does nothing"


class Silent(Reporter):
    name = "silent"
    description = "writes nothing"

    def report(self, run):
        pass


@pytest.mark.parametrize(("check", "cls"), [(check_callback_plugin, Quiet), (check_reporter_plugin, Silent)])
def test_the_checks_do_not_blame_the_plugin_checked_for_another_packages_fault(register_in_process, check, cls):
    """With such a metric installed, the callback check had said "callback 'quiet' called sys.exit(2)" and the
    reporter check had ended in PluginExit."""
    register_in_process(plugin_module("exiting", register_metrics=lambda register: register(Exiting)))
    register_in_process(plugin_module("quiet", register_callbacks=lambda register: register(Quiet)))
    check(cls)
    assert "exiting" in get_registry().names("metric")  # the check leaves the registry as it was


@dataclass(frozen=True)
class BareTuple:
    widths: tuple = option((1, 2), "widths, of no type")


class MultiLine(Rows):
    name = "multi-line"
    description = "first line\nsecond line"


@pytest.mark.parametrize(
    ("cls", "message"),
    [(type("Bare", (Rows,), {"name": "bare", "Options": BareTuple}), "dataset 'bare': option 'widths' is of type "
      "tuple; options are int, float, bool, str, tuple[int, ...] (of one of those), or one of them | None"),
     (MultiLine, "dataset 'multi-line': description must be one line, got 'first line\\nsecond line'")],
    ids=["a bare tuple option", "a description of two lines"],
)  # fmt: skip
def test_a_dataset_declared_as_no_run_can_use_is_refused_as_it_registers(register_in_process, cls, message):
    """A bare tuple option had registered and could not be set; a description of two lines had broken the listing of
    dimred plugins."""
    register_in_process(plugin_module("declared", register_datasets=lambda register: register(cls)))
    with pytest.warns(PluginWarning, match=re.escape(f"registered a dataset that is left out: {message}")):
        assert cls.name not in get_registry().names("dataset")


@dataclass(frozen=True)
class AtLeastOne:
    k: int = option(0, "neighbours, at least 1")

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("k must be at least 1")


def _named(base: type, name: str, **attributes) -> type:
    return type(name.title(), (base,), {"name": name, "description": "x", **attributes})


def _fits(self, X, seed):
    return X[:, :2]


UNUSABLE = [
    (_named(Metric, "no-compute"), "metric", "metric 'no-compute' does not define compute(), which a metric must"),
    (_named(Dataset, "no-load"), "dataset", "dataset 'no-load' does not define load(), which a dataset must"),
    (_named(Loss, "no-call"), "loss", "loss 'no-call' does not define __call__(), which a loss must"),
    (_named(Reporter, "no-report"), "reporter", "reporter 'no-report' does not define report(), which a reporter must"),
    (_named(EstimatorModel, "no-transform", fit_transform=_fits, can_inverse_transform=False), "model",
     "model 'no-transform' does not define transform(), which a model must"),
    (_named(EstimatorModel, "no-build", fit_transform=_fits, transform=_fits, inverse_transform=_fits,
            fitted_module=lambda self: None), "model", "model 'no-build' does not define build(), which a model must"),
    (_named(Metric, "strict", Options=AtLeastOne, compute=lambda self, context: {}), "metric",
     "metric 'strict' takes part in every run, but its own default options are refused: k must be at least 1"),
    (_named(Reporter, "strict-reporter", Options=AtLeastOne, report=lambda self, run: None, enabled_by_default=True),
     "reporter", "reporter 'strict-reporter' takes part in runs that do not turn it off, but its own default options "
     "are refused: k must be at least 1"),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "kind", "message"), UNUSABLE, ids=[case[0].name for case in UNUSABLE])
def test_a_plugin_that_no_run_could_use_as_it_stands_is_left_out_as_it_registers(register_in_process, cls, kind,
                                                                                 message):  # fmt: skip
    """Each had registered: a metric without compute() or whose defaults its own checks refuse then failed every
    run (all metrics take part in every run), the others failed with a bare NotImplementedError when first used."""
    register_in_process(plugin_module("unusable", **{KIND[kind].hook: lambda register: register(cls)}))
    with pytest.warns(PluginWarning, match=re.escape(f"registered a {kind} that is left out: {message}")):
        assert cls.name not in get_registry().names(kind)
    assert get_registry().names("metric"), "the other metrics are kept"


def test_a_one_call_model_that_decides_per_instance_what_it_can_map_registers(register_in_process):
    """A property for can_transform had refused it: 'can't multiply sequence by non-int of type property'."""

    class PerInstance(EstimatorModel):
        name = "per-instance"
        description = "x"
        fit_transform = transform = _fits
        can_inverse_transform = np.False_

        @property
        def can_transform(self):
            return True

    register_in_process(plugin_module("per_instance", register_models=lambda register: register(PerInstance)))
    assert "per-instance" in get_registry().names("model")


def test_a_dataset_whose_defaults_need_a_setting_registers_since_it_runs_only_when_named(register_in_process):
    cls = _named(Rows, "needs-k", Options=AtLeastOne)
    register_in_process(plugin_module("needs_k", register_datasets=lambda register: register(cls)))
    assert "needs-k" in get_registry().names("dataset")


class Refusing(Reporter):
    name = "refusing"
    description = "refuses every run"

    def check_run(self, config):
        raise dimred.UsageError("the tracking server is not reachable")

    def report(self, run):
        pass


def test_a_refusal_in_check_run_names_the_plugin(register_in_process, tmp_path):
    """It had been 'Error: the tracking server is not reachable', naming no plugin."""
    register_in_process(plugin_module("refusing", register_reporters=lambda register: register(Refusing)))
    result = _invoke_run("--dataset", "swissroll", "--reporter", "refusing", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: reporter 'refusing' refuses this run: the tracking server is not reachable"
    )
    assert not (tmp_path / "run").exists()


class NoRows(Rows):
    name = "no-rows"

    def load(self, seed):
        return Data(X=None)


def test_data_without_rows_says_what_x_must_be_naming_the_dataset(register_in_process, tmp_path):
    """It had been "'NoneType' object has no attribute 'ndim'"."""
    with pytest.raises(ValueError, match=re.escape("X must be a 2-D array of numbers (samples x features), got None")):
        Data(X=None)
    register_in_process(plugin_module("no_rows", register_datasets=lambda register: register(NoRows)))
    result = _invoke_run("--dataset", "no-rows", "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: dataset 'no-rows' failed to load its data: X must be a 2-D array of numbers (samples x features), "
        "got None"
    )


class Meddler(Callback):
    """Does at step 15 what a callback must not: ``what`` says which."""

    name = "meddler"
    description = "meddles with what dimred keeps"

    @dataclass(frozen=True)
    class Options:
        what: str = option("history", "history: writes into the history's last row; any other: writes that file")

    def on_interval(self, training, status):
        if status.step != 15:
            return
        if self.options.what == "history":
            training.history[-1]["loss"] = float("nan")
        else:
            (training.directory / self.options.what).write_text("{}")


def _meddling_run(register_in_process, out, what: str):
    register_in_process(plugin_module("meddling", register_callbacks=lambda register: register(Meddler)))
    return _invoke_run("--dataset", "swissroll", "--model", "mlp-ae", "--steps", "20", "--set", "dataset.n_samples=100",
                       "--callback", "meddler", "--set", f"callback.meddler.what={what}", "--checkpoint-every", "10",
                       "--out", str(out))  # fmt: skip


def test_a_callback_gets_a_copy_of_the_history(register_in_process, tmp_path):
    """A NaN put into a history row had been written into history.csv with exit 0, and a value in some rows only
    failed the run at its end as 'unexpected'."""
    result = _meddling_run(register_in_process, tmp_path / "run", "history")
    assert result.exit_code == 0, result.output
    history = (tmp_path / "run" / "history.csv").read_text()
    assert "nan" not in history
    assert history.startswith("step,epoch,loss,lr,seconds\n")


@pytest.mark.parametrize("name", ["config.json", "history.csv"])
def test_a_callback_that_writes_dimreds_own_files_fails_the_run_and_they_are_put_back(register_in_process, tmp_path,
                                                                                      name):  # fmt: skip
    """config.json written over had been left so, and the run could be neither resumed nor repeated; a
    history.csv a callback wrote would have been replaced at the end without a word."""
    out = tmp_path / "run"
    result = _meddling_run(register_in_process, out, name)
    assert result.exit_code == 1
    how = "put back as dimred wrote them" if name == "config.json" else "removed: dimred writes them as the run ends"
    assert result.output.splitlines()[-1] == (
        f"Error: callback 'meddler' changed {name}, dimred's own results in {out} ({how}): a callback writes files "
        "of its own, under other names"
    )
    config = json.loads((out / "config.json").read_text())  # kept with its checkpoint, to resume from
    assert config["model"]["name"] == "mlp-ae"
    assert not (out / "history.csv").exists()  # dimred writes it as training ends


class WidthFromData(Model):
    """A model whose ``options_for`` chooses a value for the data that ``how`` says."""

    name = "width-from-data"
    description = "a linear network whose width options_for chooses"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")
        width: int | None = option(None, "hidden width (None: chosen for the data)")
        how: str = option("text", "what options_for gives: text, or a number")

    def options_for(self, n_features):
        width = "wide" if self.options.how == "text" else 2 * n_features
        return dataclasses.replace(self.options, width=width)

    def build(self, n_features):
        return LinearNetwork(n_features, self.options.n_components)


class ScaleFromData(Loss):
    name = "scale-from-data"
    description = "mse times a scale that options_for chooses"

    @dataclass(frozen=True)
    class Options:
        scale: float = option(1.0, "the scale")

    def options_for(self, n_samples, n_features):
        return dataclasses.replace(self.options, scale=float("nan"))

    def __call__(self, batch):
        return self.options.scale * (batch.x_hat - batch.x).square().mean()


def test_options_that_options_for_chooses_are_checked_as_a_users_are(register_in_process, tmp_path):
    """A width given as text and a NaN scale had trained and exited 0, into a model file that dimred could not load
    and a config.json it could not rerun."""
    register_in_process(plugin_module("from_data", register_models=lambda register: register(WidthFromData),
                                      register_losses=lambda register: register(ScaleFromData)))  # fmt: skip
    arguments = ["--dataset", "swissroll", "--set", "dataset.n_samples=100", "--steps", "5"]
    result = _invoke_run(*arguments, "--model", "width-from-data", "--out", str(tmp_path / "model"))
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: model 'width-from-data' chose options for the data (options_for) that dimred refuses: bad value "
        "'wide' for 'model.width-from-data.width' (int | None): not a whole number, or none"
    )
    assert not (tmp_path / "model").exists()
    result = _invoke_run(*arguments, "--model", "mlp-ae", "--loss", "scale-from-data", "--out", str(tmp_path / "loss"))
    assert result.exit_code == 1
    assert "Error: loss 'scale-from-data' chose options for the data (options_for) that dimred refuses: " in (
        result.output
    )
    assert "must be a finite number" in result.output
    fine = _invoke_run(*arguments, "--model", "width-from-data", "--set", "model.how=number", "--out",
                       str(tmp_path / "fine"))  # fmt: skip
    assert fine.exit_code == 0, fine.output
    with pytest.raises(AssertionError, match=r"loss 'scale-from-data': options_for failed: .*must be a finite number"):
        check_loss_plugin(ScaleFromData)


class _WritesCodesPlot(Reporter):
    """Writes codes.png, the built-in codes-plot's file: declared as its own, or not."""

    name = "codes-too"
    description = "writes codes.png"

    @dataclass(frozen=True)
    class Options:
        declared: bool = option(True, "name codes.png in files()")
        raises: bool = option(False, "raise once codes.png is written")

    def files(self):
        return ("codes.png",) if self.options.declared else ()

    def report(self, run):
        if run.directory is None:
            return
        with run.artifact("codes.png") as path:
            path.write_bytes(b"not a png")
        if self.options.raises:
            raise RuntimeError("and then it failed")


def test_a_reporter_that_writes_another_reporters_file_is_refused_and_that_file_kept(register_in_process, tmp_path):
    """One reporter's file written over by another had ended the run with exit 0, the built-in codes.png gone."""
    register_in_process(plugin_module("codes_too", register_reporters=lambda register: register(_WritesCodesPlot)))
    quick = ["--dataset", "swissroll", "--set", "dataset.n_samples=100", "--reporter", "codes-plot", "--reporter",
             "codes-too"]  # fmt: skip
    declared = _invoke_run(*quick, "--out", str(tmp_path / "declared"))
    assert declared.exit_code == 2
    assert declared.output.splitlines()[-1] == (
        "Error: reporters 'codes-plot' and 'codes-too' both write codes.png, one over the other's; choose the "
        "reporters to run without one of them (--reporter NAME, repeatable)"
    )
    assert not (tmp_path / "declared").exists()
    undeclared = _invoke_run(*quick, "--set", "reporter.codes-too.declared=false", "--out", str(tmp_path / "run"))
    assert undeclared.exit_code == 1
    assert ("reporter 'codes-too' wrote over codes.png (written by reporter 'codes-plot', put back as it wrote it)"
            in undeclared.output)  # fmt: skip
    assert (tmp_path / "run" / "codes.png").read_bytes().startswith(b"\x89PNG")
    raising = _invoke_run(*quick, "--set", "reporter.codes-too.declared=false", "--set",
                          "reporter.codes-too.raises=true", "--out", str(tmp_path / "raising"))  # fmt: skip
    assert raising.exit_code == 1
    assert "failed to report: and then it failed; reporter 'codes-too' wrote over codes.png" in raising.output
    assert (tmp_path / "raising" / "codes.png").read_bytes().startswith(b"\x89PNG")
    # compare's runs write no folder: the two cannot meet there, and nothing is refused
    compared = dimred.compare("swissroll", ["pca"], out=None, reporters=["codes-plot", "codes-too"],
                              settings={"dataset.n_samples": 100})  # fmt: skip
    assert compared.failed == {}
