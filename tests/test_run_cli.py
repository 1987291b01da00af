"""`dimred run` end to end through the command line, with short training."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors import safe_open

import dimred
from conftest import hidden_leftovers
from dimred._engine.device import resolve_device
from dimred.cli import cli

NEEDS_NO_GPU = pytest.mark.skipif(resolve_device("auto").type == "cuda", reason="this machine has a GPU")

QUICK = ["--steps", "30", "--set", "dataset.n_samples=300"]


def invoke(*arguments: str):
    return CliRunner().invoke(cli, list(arguments))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("runs") / "roll"
    result = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--out", str(out), *QUICK)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_run_writes_the_run_directory(finished_run):
    out, output = finished_run
    expected = {"model.safetensors", "config.json", "metrics.json", "history.csv"}
    expected |= {"input.png", "codes.png", "reconstruction.png", "loss.png"}
    assert expected <= {path.name for path in out.iterdir()}
    assert not hidden_leftovers(out.iterdir()), "temporary files left behind"
    assert f"run directory: {out}" in output


def test_run_prints_a_metrics_table(finished_run):
    _out, output = finished_run
    assert "reconstruction RMSE (eval mode)" in output
    assert "trustworthiness (k=10)" in output


def test_metrics_json_has_the_promised_keys(finished_run):
    metrics = json.loads((finished_run[0] / "metrics.json").read_text())
    assert {"rmse", "trustworthiness", "continuity", "train_seconds"} <= set(metrics)
    assert 0 < metrics["rmse"] < 1
    assert 0.5 < metrics["trustworthiness"] <= 1


def test_config_json_holds_the_resolved_configuration(finished_run):
    config = json.loads((finished_run[0] / "config.json").read_text())
    assert config["dataset"] == {"name": "swissroll", "options": {"n_samples": 300, "noise": 0.05, "seed": None}}
    assert config["model"]["options"]["hidden"] == [128, 64]
    assert config["loss"] == [{"name": "mse", "weight": 1.0, "options": {}}]
    assert config["training"]["steps"] == 30
    assert config["device_used"] == str(resolve_device("auto"))


def test_history_has_one_row_per_logging_interval(finished_run):
    rows = list(csv.DictReader((finished_run[0] / "history.csv").open()))
    assert [int(row["step"]) for row in rows][-1] == 30
    assert all(float(row["loss"]) > 0 for row in rows)


def test_the_model_file_opens_with_safetensors_alone(finished_run):
    with safe_open(finished_run[0] / "model.safetensors", framework="numpy") as model_file:
        metadata = model_file.metadata()
        names = set(model_file.keys())
    assert metadata["format"] == "dimred-model"
    assert metadata["model"] == "mlp-ae"
    assert json.loads(metadata["model_options"])["dropout"] == 0.2
    assert metadata["dataset"] == "swissroll"
    assert metadata["n_features"] == "3"
    assert {"model.encoder.0.weight", "model.decoder.0.running_mean", "scaler.offset", "scaler.factor"} <= names


def test_settings_reach_the_plugins(tmp_path):
    out = tmp_path / "small"
    result = invoke(
        "run", "--dataset", "swissroll", "--model", "mlp-ae", "--out", str(out), "--steps", "5",
        "--set", "dataset.n_samples=120", "--set", "model.n_components=3", "--set", "model.hidden=16",
        "--reporter", "metrics-table",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with safe_open(out / "model.safetensors", framework="numpy") as model_file:
        assert model_file.get_tensor("model.encoder.0.weight").shape == (16, 3)
        assert model_file.get_tensor("model.encoder.3.weight").shape == (3, 16)
    assert json.loads((out / "metrics.json").read_text())["n_samples"] == 120
    assert not (out / "codes.png").exists()


def test_full_batch_float64_and_epochs_are_reachable(tmp_path):
    out = tmp_path / "tutorial"
    result = invoke(
        "run", "--dataset", "swissroll", "--model", "mlp-ae", "--out", str(out), "--set", "dataset.n_samples=200",
        "--epochs", "7", "--batch-size", "full", "--lr", "1e-3", "--schedule", "constant", "--dtype", "float64",
        "--reporter", "metrics-table",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    expected = {"steps": 7, "epochs": 7, "batch_size": 200, "lr": 1e-3, "schedule": "constant"}
    assert config["training"] == expected | {"checkpoint_every": None, "weight_decay": 0.0, "precision": "float32",
                                             "optimizer": "adam"}  # fmt: skip
    with safe_open(out / "model.safetensors", framework="numpy") as model_file:
        assert str(model_file.get_tensor("model.encoder.0.weight").dtype) == "float64"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dataset", "swisroll", "--model", "mlp-ae"], "unknown dataset 'swisroll' (did you mean 'swissroll'?)"),
        (["--dataset", "swissroll", "--model", "zz-unheard-of"], "unknown model 'zz-unheard-of'; choose from: "),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--loss", "l1"], "unknown loss 'l1'; choose from: geodesic"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--reporter", "nope"], "unknown reporter 'nope'"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_sample=5"],
         "unknown option 'dataset.n_sample' (did you mean 'n_samples'?); allowed: dataset.n_samples"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "model.dropout=lots"],
         "bad value 'lots' for 'model.dropout' (float)"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "model.dropout=1.5"], "dropout must be in [0, 1)"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "colour=red"], "bad setting 'colour'"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "datset.n_samples=300"],
         "bad setting 'datset.n_samples' (did you mean 'dataset'?): use dataset.OPTION"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "reporter.loss-curve.dpi=5"],
         "settings for a reporter that is not in this run: reporter.loss-curve; to use it, name it: --reporter "
         "loss-curve (in Python: reporters=[..., 'loss-curve']; reporters named replace the default ones)"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "reporter.rnx-plot.dpi=50"],  # not 'input-plot'?
         "settings for a reporter that is not in this run: reporter.rnx-plot; to use it, name it: --reporter rnx-plot"),
        (["--dataset", "swissroll", "--model", "ne-ae", "--set", "loss.ne-umap.min_dist=0.5"],
         "options for a loss that is not in this run: loss.ne-umap (its loss is mse+ne-tsne); to use it: --loss "
         "mse+ne-umap (in Python: loss='mse+ne-umap')"),  # one loss that adds rows per run: it replaces ne-tsne
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "loss.geodesic.landmarks=50"],
         "options for a loss that is not in this run: loss.geodesic (its loss is mse); to use it: --loss "
         "mse+geodesic"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--loss", "mse:2+ne-tsne:0.5", "--set",
          "loss.ne-umap.min_dist=0.5"], "to use it: --loss mse:2+ne-umap:0.5"),  # in the place, and weight, of ne-tsne
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "loss.ne-tsne.neighbours=5", "--set",
          "loss.ne-umap.min_dist=0.5"], "options for losses that are not in this run: loss.ne-tsne, loss.ne-umap (its "
         "loss is mse); ne-tsne and ne-umap both add rows to each step: a run trains with one of them"),
        (["--dataset", "swissroll", "--model", "ne-ae", "--set", "loss.ne_tsne.neighbours=5"],
         "unknown loss 'ne_tsne' (did you mean 'ne-tsne'?); choose from: "),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--loss", "mse+ne-tsne:1e39"],
         "bad loss 'ne-tsne:1e39': use NAME or NAME:WEIGHT with a weight above 0 and at most 1e6"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--batch-size", "1"],
         "batch norm needs at least 2 samples per batch (per process); raise the batch size (--batch-size, "
         "batch_size=) or turn batch norm off (dimred's MLP models: --set model.batch_norm=false"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "reporter.nope.x=1"],
         "unknown reporter 'nope'; choose from: "),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--steps", "5", "--epochs", "5"], "not both"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "callback.collapse.checks=0"],
         "bad callback.collapse options: checks must be at least 1, got 0"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "callback.collapse.after=5"],
         "after must be from 0 to 1 (a fraction of the training steps), got 5.0"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--reporter", "codes-plot", "--set",
          "reporter.codes-plot.dpi=100000"], "dpi must be from 10 to 1200, got 100000"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.seed=-1"],
         "bad dataset options: seed must not be negative, got -1"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=2"],
         "n_samples must be at least 3, got 2"),
        (["--dataset", "swissroll", "--model", "mlp-ae", "--callback", "early-stopping", "--set",
          "callback.early-stopping.min_delta=-1"], "bad callback.early-stopping options: min_delta must be at least 0, "
                                                   "got -1"),
        (["--dataset", "swissroll", "--model", "kernel-pca", "--set", "model.landmarks=1"],
         "bad model options: landmarks must be at least 2, got 1"),
        (["--dataset", "swissroll", "--model", "geo-ae", "--set", "loss.geodesic.landmarks=2"],
         "landmarks must be at least 3, got 2"),
        pytest.param(["--dataset", "swissroll", "--model", "mlp-ae", "--device", "cuda"],
                     "device 'cuda' is not available", marks=NEEDS_NO_GPU),
    ],
)  # fmt: skip
def test_user_errors_exit_2_with_one_clear_message(arguments, message):
    result = invoke("run", *arguments, "--reporter", "metrics-table")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not Path("runs").exists(), "a failed run must not leave a run directory"


def test_a_bad_set_syntax_is_a_usage_error():
    result = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--set", "n_samples")
    assert result.exit_code == 2
    assert "is not KIND.OPTION=VALUE" in result.output


def test_an_existing_run_directory_is_not_overwritten(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--out", str(out), *QUICK)
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert [path.name for path in out.iterdir()] == ["notes.txt"]


def test_plugins_lists_every_kind_with_options_and_source():
    result = invoke("plugins")
    assert result.exit_code == 0
    for heading in ("datasets", "models", "losses", "reporters"):
        assert heading in result.output
    assert "n_samples (int, default 1500): number of points" in result.output
    assert "[from dimred]" in result.output


def test_plugins_json_is_machine_readable():
    listing = json.loads(invoke("plugins", "--json").output)
    swissroll = next(entry for entry in listing["dataset"] if entry["name"] == "swissroll")
    assert swissroll["source"] == "dimred"
    assert {"name": "noise", "type": "float", "default": 0.05}.items() <= swissroll["options"][1].items()
    assert listing["failed"] == []


SCRIPT = str(Path(sys.executable).with_name("dimred"))  # the console script installed beside this interpreter


@pytest.mark.parametrize("command", [[SCRIPT, "--help"], [sys.executable, "-m", "dimred", "--help"]])
def test_help_works_as_a_script_and_as_a_module(command):
    shown = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "dimred run --dataset swissroll --model mlp-ae" in shown.stdout


def test_run_help_lists_the_options():
    output = invoke("run", "--help").output
    for flag in ("--dataset", "--model", "--loss", "--reporter", "--epochs", "--batch-size", "--lr", "--device",
                 "--seed", "--out", "--set"):  # fmt: skip
        assert flag in output


@pytest.mark.parametrize(
    ("model", "setting", "message"),
    [("pca", "n_components=0", "n_components must be at least 1, got 0"),
     ("isomap", "n_neighbors=0", "n_neighbors must be at least 1, got 0"),
     ("tsne", "perplexity=-5", "perplexity must be above 0, got -5"),
     ("tsne", "n_components=4", "n_components must be at most 3 for t-SNE, got 4")],
)  # fmt: skip
def test_bad_options_of_the_scikit_learn_models_are_usage_errors_before_anything_runs(
    tmp_path, model, setting, message
):
    result = invoke("run", "--dataset", "swissroll", "--model", model, "--set", f"model.{setting}", "--out",
                    str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"Error: bad model options: {message}" in result.output
    assert not (tmp_path / "run").exists()
    name, value = setting.split("=")
    with pytest.raises(dimred.UsageError, match=message):
        dimred.run("swissroll", model, settings={f"model.{name}": json.loads(value)}, out=None)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"settings": [1]}, "settings must map 'kind.option' to a value"),
     ({"out": 3}, "out must be a folder's path, 'auto' or None, not int"),
     ({"loss": [("mse", "x")]}, "loss must be NAME, NAME:WEIGHT or a list of them"),
     ({"callbacks": 3}, "callbacks must be a list of names, not int")],
)  # fmt: skip
def test_the_python_api_names_an_argument_of_the_wrong_type(arguments, message):
    with pytest.raises(dimred.UsageError, match=message):
        dimred.run("swissroll", "mlp-ae", steps=2, **{"out": None, **arguments})


@pytest.mark.parametrize("call", [dimred.evaluate, dimred.compare], ids=["evaluate", "compare"])
def test_evaluate_and_compare_name_an_out_of_the_wrong_type_as_run_does(call, tmp_path):
    model = dimred.run("swissroll", "mlp-ae", steps=2, settings={"dataset.n_samples": 100}, out=tmp_path / "r")
    first = model.path if call is dimred.evaluate else "swissroll"
    second = "swissroll" if call is dimred.evaluate else ["pca"]
    with pytest.raises(dimred.UsageError, match="out must be a folder's path, 'auto' or None, not int"):
        call(first, second, out=3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["run", "--dataset", "swissroll", "--model", "mlp-ae", "--out", ""], "out (--out) is empty; name a folder"),
     (["run", "--dataset", "swissroll", "--model", "mlp-ae", "--resume", ""], "--resume is empty; name a folder"),
     (["run", "--dataset", "swissroll", "--model", "mlp-ae", "--config", ""], "--config is empty; name a file"),
     (["compare", "--dataset", "swissroll", "--model", "pca", "--out", ""], "out (--out) is empty; name a folder")],
    ids=["run --out", "run --resume", "run --config", "compare --out"],
)  # fmt: skip
def test_an_empty_path_is_refused_not_taken_for_an_option_left_out(tmp_path, monkeypatch, arguments, message):
    """An unset shell variable ("$OUT") had trained a fresh run into runs/..., or ignored the config file."""
    monkeypatch.chdir(tmp_path)
    result = invoke(*arguments)
    assert result.exit_code == 2, result.output
    assert f"Error: {message}" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call", [dimred.run, dimred.compare], ids=["run", "compare"])
def test_the_python_api_refuses_an_empty_out_which_would_be_the_current_folder(tmp_path, monkeypatch, call):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(dimred.UsageError, match=re.escape("out (--out) is empty; name a folder, or 'auto'")):
        call("swissroll", "mlp-ae" if call is dimred.run else ["pca"], out="")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_out_is_refused_by_export_and_beside_resume(tmp_path, monkeypatch):
    """export --out '' had written encoder.onnx and decoder.onnx into the current folder; --resume with --out ''
    had taken the empty --out for one left out."""
    dimred.run("swissroll", "mlp-ae", steps=4, checkpoint_every=2, settings={"dataset.n_samples": 100},
               out=tmp_path / "run", reporters=[])  # fmt: skip
    (tmp_path / "run" / "metrics.json").unlink()  # as a run killed before its metrics leaves it: resumable
    monkeypatch.chdir(tmp_path)
    exported = invoke("export", str(tmp_path / "run"), "--out", "")
    assert exported.exit_code == 2, exported.output
    assert "Error: the output folder (--out) is empty; give a folder's path" in exported.output
    resumed = invoke("run", "--resume", str(tmp_path / "run"), "--out", "")
    assert resumed.exit_code == 2, resumed.output
    assert "--resume continues the run in its own folder; leave out --out" in resumed.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


def test_evaluate_never_writes_over_the_model_file_it_scores(tmp_path):
    """A comparison's saved models are among the files its folder lists: evaluating one with --out that folder
    and --overwrite had removed the model file it was scoring. A folder that merely holds a run is fine."""
    dimred.compare("swissroll", ["pca"], save=True, out=tmp_path / "compared")
    model = tmp_path / "compared" / "models" / "pca.safetensors"
    result = invoke("evaluate", str(model), "--dataset", "swissroll", "--out", str(tmp_path / "compared"),
                    "--overwrite")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "holds the model file being evaluated (pca.safetensors) among the results that new ones replace" in \
        result.output  # fmt: skip
    assert model.is_file()
    dimred.run("swissroll", "pca", out=tmp_path / "runs" / "run", reporters=[])
    beside = invoke("evaluate", str(tmp_path / "runs" / "run"), "--dataset", "swissroll", "--out",
                    str(tmp_path / "runs"), "--overwrite")  # fmt: skip
    assert beside.exit_code == 0, beside.output
    assert (tmp_path / "runs" / "run" / "model.safetensors").is_file()


def test_links_to_themselves_or_to_nothing_are_refused_in_one_clear_line(tmp_path, finished_run):
    run_dir, _ = finished_run
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    rows = tmp_path / "rows.npy"
    np.save(rows, np.random.default_rng(0).random((5, 3)))
    dangling = tmp_path / "dangling.npy"
    dangling.symlink_to(tmp_path / "nothing.npy")
    refused = invoke("encode", str(run_dir), str(rows), "-o", str(dangling))
    assert refused.exit_code == 2, refused.output
    assert "already exists" in refused.output
    assert dangling.is_symlink()
    for arguments in (["encode", str(run_dir), str(rows), "-o", str(loop)],
                      ["evaluate", str(run_dir), "--dataset", "swissroll", "--out", str(loop)]):  # fmt: skip
        result = invoke(*arguments)
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"Error: {loop} is a symbolic link that leads back to itself (a loop); name " \
            "another path"  # fmt: skip


def test_bare_dimred_shows_the_help_not_an_error():
    result = subprocess.run([sys.executable, "-m", "dimred"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: dimred")
    assert "Error" not in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_output_the_system_refuses_is_one_error_line():
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "dimred", "plugins"], stdout=full, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: No space left on device"


def test_an_empty_loss_is_refused_not_taken_for_none_given(tmp_path):
    for losses in ([""], ["mse", " "]):
        result = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", *(f"--loss={loss}" for loss in losses),
                        "--out", str(tmp_path / "run"))  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "Error: --loss is empty" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("value", "said"), [("abc", "not a whole number"), ("1e2", "not a whole number")])
def test_a_setting_that_is_not_a_number_says_so(value, said):
    result = invoke("run", "--dataset", "swissroll", "--model", "pca", "--set", f"dataset.n_samples={value}")
    assert result.exit_code == 2, result.output
    assert f"bad value '{value}' for 'dataset.n_samples' (int): {said}" in result.output
    assert "invalid literal" not in result.output


def test_plugins_says_which_reporters_and_callbacks_run_by_default():
    listed = invoke("plugins")
    assert re.search(r"^  codes-plot .*\[from dimred, on by default\]$", listed.output, re.MULTILINE)
    assert re.search(r"^  rnx-plot .*\[from dimred\]$", listed.output, re.MULTILINE)
    catalogue = json.loads(invoke("plugins", "--json").output)
    defaults = {entry["name"] for entry in catalogue["callback"] if entry["enabled_by_default"]}
    assert {"collapse", "progress"} <= defaults
    assert "early-stopping" not in defaults


def test_encode_messages_name_the_options_and_what_an_h5ad_output_needs(tmp_path, finished_run):
    run_dir, _ = finished_run
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((5, 3)))
    empty = invoke("encode", str(run_dir), str(tmp_path / "rows.npy"), "-o", "")
    assert "Error: destination (-o/--output) is empty" in empty.output
    h5ad = invoke("encode", str(run_dir), str(tmp_path / "rows.npy"), "-o", str(tmp_path / "codes.h5ad"))
    assert h5ad.exit_code == 2
    assert "an .h5ad output is a copy of an .h5ad input with its codes added" in h5ad.output


def test_a_setting_given_twice_with_two_values_and_a_model_compared_twice_are_refused(tmp_path):
    twice = invoke("run", "--dataset", "swissroll", "--model", "pca", "--set", "dataset.noise=0.1", "--set",
                   "dataset.noise=0.2", "--out", str(tmp_path / "run"))  # fmt: skip
    assert twice.exit_code == 2
    assert "dataset.noise is set twice ('0.1' and '0.2'); give it once" in twice.output
    assert not (tmp_path / "run").exists()
    compared = invoke("compare", "--dataset", "swissroll", "--model", "pca", "--model", "pca", "--out",
                      str(tmp_path / "cmp"))  # fmt: skip
    assert compared.exit_code == 2
    assert "model 'pca' is named twice" in compared.output
    with pytest.raises(dimred.UsageError, match="a model is named by its plugin's name"):
        dimred.compare("swissroll", [{}, "pca"], out=None)  # had been Python's "unhashable type: 'dict'"


def test_the_table_says_why_a_model_without_transform_has_no_held_out_figures(tmp_path):
    result = invoke("run", "--dataset", "swissroll", "--model", "tsne", "--holdout", "0.2", "--set",
                    "dataset.n_samples=200", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held-out rows (40: not mapped, the model has no transform)" in result.output


@pytest.mark.parametrize(("rows", "said"), [(600, "scoring 540 rows and 60 held-out rows in eval mode"), (500, None)])
def test_scoring_many_rows_after_training_is_announced(monkeypatch, tmp_path, rows, said):
    """A million labelled rows had been scored for 40 s after training's last line, in silence."""
    from dimred._api import pipeline

    monkeypatch.setattr(pipeline, "LONG_SCORING_ROWS", 600)
    result = invoke("run", "--dataset", "swissroll", "--model", "pca", "--set", f"dataset.n_samples={rows}",
                    "--reporter", "metrics-table", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    announced = [line for line in result.output.splitlines() if line.startswith("scoring")]
    assert announced == ([said] if said else [])
