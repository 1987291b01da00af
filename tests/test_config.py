"""dimred run --config: TOML experiment files and a run's own config.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.numpy import load_file

from dimred.cli import cli

EXPERIMENT = """
seed = 3
reporters = ["metrics-table"]

[dataset]
name = "swissroll"
options = { n_samples = 300, noise = 0.1 }

[model]
name = "mlp-ae"
options = { dropout = 0.1, hidden = [32, 16] }

[training]
steps = 40
lr = 0.02
"""


PLUGINS = "[dataset]\nname = 'swissroll'\n[model]\nname = 'mlp-ae'\n"


def invoke(*arguments: str):
    return CliRunner().invoke(cli, list(arguments))


def test_a_toml_file_configures_the_run(tmp_path):
    (tmp_path / "experiment.toml").write_text(EXPERIMENT)
    result = invoke("run", "--config", str(tmp_path / "experiment.toml"), "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["seed"] == 3
    assert config["dataset"]["options"] == {"n_samples": 300, "noise": 0.1, "seed": None}
    assert config["model"]["options"]["hidden"] == [32, 16]
    assert config["training"]["steps"] == 40
    assert config["training"]["lr"] == 0.02
    assert [reporter["name"] for reporter in config["reporters"]] == ["metrics-table"]


def test_a_runs_config_json_repeats_the_run_bit_for_bit(tmp_path):
    (tmp_path / "experiment.toml").write_text(EXPERIMENT)
    assert invoke("run", "--config", str(tmp_path / "experiment.toml"), "--out", str(tmp_path / "first")).exit_code == 0
    result = invoke("run", "--config", str(tmp_path / "first" / "config.json"), "--out", str(tmp_path / "again"))
    assert result.exit_code == 0, result.output
    first = load_file(tmp_path / "first" / "model.safetensors")
    again = load_file(tmp_path / "again" / "model.safetensors")
    assert first.keys() == again.keys()
    assert all((first[name] == again[name]).all() for name in first)


def test_a_runs_record_holds_its_thread_count_and_a_replay_on_another_says_it_will_not_repeat_it_bit_for_bit(
    tmp_path,
):
    """On the CPU the same seed trains the same weights only on as many torch threads; the record had not held
    the count, so a replay that differed by float rounding could not be told why."""
    quick = ["--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=200", "--steps", "5"]
    assert invoke("run", *quick, "--reporter", "metrics-table", "--out", str(tmp_path / "first")).exit_code == 0
    record = json.loads((tmp_path / "first" / "config.json").read_text())
    assert record["threads"] == torch.get_num_threads()
    same = invoke("run", "--config", str(tmp_path / "first" / "config.json"), "--out", str(tmp_path / "same"))
    assert same.exit_code == 0, same.output
    assert "threads" not in same.output
    (tmp_path / "other.json").write_text(json.dumps(record | {"threads": record["threads"] + 1}))
    other = invoke("run", "--config", str(tmp_path / "other.json"), "--out", str(tmp_path / "other"))
    assert other.exit_code == 0, other.output
    assert (f"its run computed on {record['threads'] + 1} torch threads, this process on {record['threads']}, so it "
            f"trains weights that differ by float rounding; OMP_NUM_THREADS={record['threads'] + 1} repeats it bit "
            "for bit") in other.output  # fmt: skip


def test_a_batch_larger_than_the_rows_is_recorded_as_taken_so_a_rerun_writes_the_same_model_file(tmp_path):
    quick = [
        "--dataset",
        "swissroll",
        "--model",
        "mlp-ae",
        "--set",
        "dataset.n_samples=200",
        "--batch-size",
        "1000",
        "--steps",
        "5",
    ]
    assert invoke("run", *quick, "--reporter", "metrics-table", "--out", str(tmp_path / "first")).exit_code == 0
    result = invoke("run", "--config", str(tmp_path / "first" / "config.json"), "--out", str(tmp_path / "again"))
    assert result.exit_code == 0, result.output
    first = (tmp_path / "first" / "model.safetensors").read_bytes()
    assert first == (tmp_path / "again" / "model.safetensors").read_bytes()
    with safe_open(tmp_path / "first" / "model.safetensors", "np") as model_file:
        training = json.loads(model_file.metadata()["training"])
    assert training["batch_size"] == 200  # the rows it trained on (none are held out by default on so few)


@pytest.mark.parametrize(
    ("in_file", "flag", "expected"),
    [
        ("steps = 20", ("--epochs", "2"), {"steps": 4, "epochs": 2}),
        ("epochs = 2", ("--steps", "7"), {"steps": 7, "epochs": None}),
    ],
)
def test_steps_or_epochs_on_the_command_line_replace_the_files_length_of_either_kind(tmp_path, in_file, flag, expected):
    (tmp_path / "e.toml").write_text(f'[dataset]\nname = "swissroll"\noptions = {{ n_samples = 300 }}\n[model]\n'
                                     f'name = "mlp-ae"\n[training]\nbatch_size = 150\n{in_file}\n')  # fmt: skip
    result = invoke("run", "--config", str(tmp_path / "e.toml"), *flag, "--holdout", "0", "--reporter",
                    "metrics-table", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    training = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    assert {name: training[name] for name in expected} == expected


def test_a_rerun_of_a_one_call_model_on_fewer_rows_than_a_batch_writes_the_same_model_file(tmp_path):
    quick = [
        "--dataset",
        "swissroll",
        "--model",
        "pca",
        "--set",
        "dataset.n_samples=600",
        "--reporter",
        "metrics-table",
    ]
    assert invoke("run", *quick, "--out", str(tmp_path / "first")).exit_code == 0
    result = invoke("run", "--config", str(tmp_path / "first" / "config.json"), "--out", str(tmp_path / "again"))
    assert result.exit_code == 0, result.output
    first, again = (tmp_path / name / "model.safetensors" for name in ("first", "again"))
    assert first.read_bytes() == again.read_bytes()


def test_command_line_flags_override_the_file(tmp_path):
    (tmp_path / "experiment.toml").write_text(EXPERIMENT)
    result = invoke("run", "--config", str(tmp_path / "experiment.toml"), "--out", str(tmp_path / "run"),
                    "--steps", "10", "--set", "dataset.noise=0.2", "--seed", "5")  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["training"]["steps"], config["dataset"]["options"]["noise"], config["seed"]) == (10, 0.2, 5)
    assert config["dataset"]["options"]["n_samples"] == 300


def test_a_loss_given_on_the_command_line_replaces_the_files_loss_and_its_options(tmp_path):
    first = tmp_path / "first"
    quick = ["--set", "dataset.n_samples=200", "--steps", "5", "--reporter", "metrics-table"]
    assert invoke("run", "--dataset", "swissroll", "--model", "ne-ae", *quick, "--out", str(first)).exit_code == 0
    recorded = json.loads((first / "config.json").read_text())
    assert [term["name"] for term in recorded["loss"]] == ["mse", "ne-tsne"]
    result = invoke("run", "--config", str(first / "config.json"), "--loss", "mse", "--loss", "ne-umap", "--set",
                    "loss.ne-umap.min_dist=0.3", "--out", str(tmp_path / "second"))  # fmt: skip
    assert result.exit_code == 0, result.output
    loss = json.loads((tmp_path / "second" / "config.json").read_text())["loss"]
    assert [term["name"] for term in loss] == ["mse", "ne-umap"]
    assert loss[1]["options"]["min_dist"] == 0.3
    (tmp_path / "one-loss.toml").write_text('[dataset]\nname = "swissroll"\noptions = { n_samples = 200 }\n'
                                            '[model]\nname = "ne-ae"\n[loss]\nname = "ne-tsne"\n'
                                            'options = { neighbours = 12 }\n[training]\nsteps = 5\n')  # fmt: skip
    added = invoke("run", "--config", str(tmp_path / "one-loss.toml"), "--loss", "mse+ne-tsne", "--reporter",
                   "metrics-table", "--out", str(tmp_path / "third"))  # fmt: skip
    assert added.exit_code == 0, added.output
    loss = json.loads((tmp_path / "third" / "config.json").read_text())["loss"]
    assert ([term["name"] for term in loss], loss[1]["options"]["neighbours"]) == (["mse", "ne-tsne"], 12)


def test_a_callback_the_command_line_leaves_out_takes_its_recorded_options_with_it(tmp_path):
    quick = ["--set", "dataset.n_samples=200", "--steps", "30", "--reporter", "metrics-table"]
    first = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", *quick, "--callback", "early-stopping",
                   "--set", "callback.early-stopping.patience=5", "--out", str(tmp_path / "first"))  # fmt: skip
    assert first.exit_code == 0, first.output
    again = invoke("run", "--config", str(tmp_path / "first" / "config.json"), "--callback", "no-early-stopping",
                   "--out", str(tmp_path / "again"))  # fmt: skip
    assert again.exit_code == 0, again.output
    recorded = json.loads((tmp_path / "again" / "config.json").read_text())
    assert "early-stopping" not in json.dumps(recorded)


def test_a_toml_file_asks_for_the_full_batch_and_automatic_settings_as_the_command_line_does(tmp_path):
    training = "[training]\nsteps = 3\nbatch_size = 'Full'\nlr = 'AUTO'\nweight_decay = ' auto'\n"
    (tmp_path / "experiment.toml").write_text(f"{PLUGINS}{training}")
    result = invoke("run", "--config", str(tmp_path / "experiment.toml"), "--out", str(tmp_path / "run"),
                    "--set", "dataset.n_samples=300")  # fmt: skip
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    from_the_command_line = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--steps", "3",
                                   "--batch-size", "FULL", "--lr", "Auto", "--set", "dataset.n_samples=300",
                                   "--out", str(tmp_path / "cli"))  # fmt: skip
    assert from_the_command_line.exit_code == 0, from_the_command_line.output
    assert recorded == json.loads((tmp_path / "cli" / "config.json").read_text())["training"]
    assert recorded["batch_size"] == 300


def test_a_one_call_models_config_json_reruns(tmp_path):
    quick = ["--dataset", "swissroll", "--set", "dataset.n_samples=200"]
    assert invoke("run", *quick, "--model", "pca", "--out", str(tmp_path / "first")).exit_code == 0
    again = invoke("run", "--config", str(tmp_path / "first" / "config.json"), "--out", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    first, rerun = (
        load_file(tmp_path / "first" / "model.safetensors"),
        load_file(tmp_path / "again" / "model.safetensors"),
    )
    assert first.keys() == rerun.keys()
    assert all((first[name] == rerun[name]).all() for name in first)


@pytest.mark.parametrize("change", [["--holdout", "0.2"], ["--set", "dataset.n_samples=550"]])
def test_a_one_call_models_config_json_reruns_on_other_rows(tmp_path, change):
    """The record's batch size (the training rows it fitted on at once) had been taken as the user's
    --batch-size on other rows, refused as a setting of a loop that a one-call model does not run."""
    quick = ["--dataset", "swissroll", "--set", "dataset.n_samples=600", "--reporter", "metrics-table"]
    assert invoke("run", *quick, "--model", "pca", "--out", str(tmp_path / "first")).exit_code == 0
    again = invoke("run", "--config", str(tmp_path / "first" / "config.json"), *change, "--out", str(tmp_path / "b"))
    assert again.exit_code == 0, again.output
    rows = json.loads((tmp_path / "b" / "metrics.json").read_text())["n_samples"]
    assert rows == (480 if change[0] == "--holdout" else 495)  # 0.2 of 600 and 0.1 of 550 held out
    assert json.loads((tmp_path / "b" / "config.json").read_text())["training"]["batch_size"] == rows
    # a network named over the record chooses its own settings: nothing of pca's record is kept, nor said to be
    network = invoke("run", "--config", str(tmp_path / "first" / "config.json"), "--model", "ne-ae", "--steps", "3",
                     "--out", str(tmp_path / "n"))  # fmt: skip
    assert network.exit_code == 0, network.output
    assert "Warning" not in network.output
    assert json.loads((tmp_path / "n" / "config.json").read_text())["training"]["lr"] == 0.01  # ne-ae's own
    (tmp_path / "by-hand.toml").write_text("[dataset]\nname = 'swissroll'\n[model]\nname = 'pca'\n"
                                           "[training]\nbatch_size = 7\n")  # fmt: skip
    refused = invoke("run", "--config", str(tmp_path / "by-hand.toml"), "--out", str(tmp_path / "c"))
    assert refused.exit_code == 2
    assert "--batch-size (batch_size) does not apply to it" in refused.output


def test_listed_callbacks_add_to_the_defaults_and_a_runs_record_keeps_the_ones_it_left_out(tmp_path):
    (tmp_path / "experiment.toml").write_text(f"callbacks = ['early-stopping', 'no-progress']\n{PLUGINS}")
    quick = ["--steps", "3", "--set", "dataset.n_samples=200"]
    result = invoke("run", "--config", str(tmp_path / "experiment.toml"), "--out", str(tmp_path / "run"), *quick)
    assert result.exit_code == 0, result.output

    def callbacks(run: str) -> list[str]:
        return sorted(entry["name"] for entry in json.loads((tmp_path / run / "config.json").read_text())["callbacks"])

    assert callbacks("run") == ["checkpoint", "collapse", "early-stopping"]
    again = invoke("run", "--config", str(tmp_path / "run" / "config.json"), "--out", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    assert callbacks("again") == callbacks("run")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"{PLUGINS}[trainning]\nsteps = 3\n", "unknown keys 'trainning';"),
        (f"{PLUGINS}[training]\nstep = 3\n", "unknown [training] keys"),
        ("[dataset]\nname = 'swissroll'\noptions = { n_sample = 5 }\n[model]\nname = 'mlp-ae'\n",
         "unknown option 'dataset.n_sample'"),
        ("[dataset\nname = 'swissroll'\n", "is not valid TOML"),
        ("[dataset]\nname = 'swissroll'\n", "Missing option '--model'"),
        (f"{PLUGINS}[training]\nsteps = 5\nepochs = 2\n", "sets both steps and epochs"),
        (f"{PLUGINS}[training]\nbatch_size = 'half'\n", "must be a whole number, full or auto"),
        (f"loss = []\n{PLUGINS}", "loss is an empty list; name a loss, or leave loss out for the model's"),
        (f"{PLUGINS}[training]\nlr = '0.01'\n", "bad lr '0.01': the learning rate must be a positive number, e.g. "
                                                 "0.01, or auto (a number, not text: write it without quotes)"),
        (f"seed = '3'\n{PLUGINS}", "bad seed '3': must be a whole number (a number, not text: write it without"),
    ],
)  # fmt: skip
def test_a_bad_config_file_is_a_usage_error(tmp_path, content, message):
    (tmp_path / "bad.toml").write_text(content)
    result = invoke("run", "--config", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("deep.json", '{"seed": ' + "[" * 3000 + "]" * 3000 + "}", "is not valid JSON: nested too deeply"),
        ("long.json", '{"seed": 1' + "0" * 5000 + "}", "is not valid JSON: a whole number of more than 4300 digits"),
        ("deep.toml", "seed = " + "[" * 3000 + "]" * 3000, "is not valid TOML: nested too deeply"),
        ("long.toml", "seed = 1" + "0" * 5000, "is not valid TOML: a whole number of more than 4300 digits"),
    ],
)
def test_a_config_file_nested_too_deeply_or_with_too_long_a_number_is_one_usage_error(tmp_path, name, content, message):
    """Python's parsers stop at such files with a RecursionError or a ValueError of their own: the command had
    ended with 'unexpected RecursionError' and exit 1."""
    (tmp_path / name).write_text(content)
    result = invoke("run", "--config", str(tmp_path / name))
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: config file {tmp_path / name} {message}\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.toml", b"\xff\xfe[dataset]", "bad.toml is not UTF-8 text"),
        ("bad.json", b"3", "bad.json must hold a table of settings (a JSON object), got 3"),
        ("bad.json", b"null", "must hold a table of settings (a JSON object), got null"),
        ("bad.json", b"[1, 2]", "must hold a table of settings (a JSON object), got [1, 2]"),
        ("bad.json", b'{"dataset": "swissroll", "model": "mlp-ae", "loss": [{"name": "mse", "weight": null}]}',
         "bad.json: a [loss] weight must be a positive number, got null"),
        ("bad.json", b'{"dataset": "swissroll", "model": "mlp-ae", "loss": [{"name": "mse", "weight": "x"}]}',
         'a [loss] weight must be a positive number, got "x"'),
        ("folder.json", None, "folder.json is a folder; give a .toml or .json file"),
        ("twice.json", b'{"dataset": "swissroll", "model": "pca", "seed": 1, "seed": 2}',
         'twice.json: the key "seed" is given twice in one object; give it once'),
        ("twice.json", b'{"dataset": {"name": "swissroll", "options": {"noise": 0.1, "noise": 0.2}}, "model": "pca"}',
         'the key "noise" is given twice'),
        ("twice.toml", f"metrics = [{{name = 'knn-accuracy', options = {{k = 3}}}}, {{name = 'knn-accuracy', "
                       f"options = {{k = 9}}}}]\n{PLUGINS}".encode(),
         """twice.toml: metrics lists 'knn-accuracy' twice, with different options ({"k": 3} and {"k": 9}); list it"""),
        ("twice.toml", f"{PLUGINS}[[callbacks]]\nname = 'early-stopping'\n[[callbacks]]\nname = 'early-stopping'\n"
                       "options = { patience = 50 }\n".encode(),
         """callbacks lists 'early-stopping' twice, with different options ({} and {"patience": 50})"""),
    ],
)  # fmt: skip
def test_a_config_file_that_is_not_a_table_of_settings_is_a_usage_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.mkdir() if content is None else path.write_bytes(content)
    result = invoke("run", "--config", str(path), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] == [result.output.strip()]
    assert message in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("setting", "refused"), [("lr = 'nan'", "bad lr 'nan'"), ("steps = '1e3'", "bad steps '1e3'")])
def test_text_that_would_be_refused_as_a_number_too_is_not_told_to_drop_its_quotes(tmp_path, setting, refused):
    (tmp_path / "bad.toml").write_text(f"{PLUGINS}[training]\n{setting}\n")
    result = invoke("run", "--config", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert refused in result.output
    assert "without quotes" not in result.output


@pytest.mark.parametrize("name", ["marked.toml", "marked.json"])
def test_a_config_file_saved_with_a_byte_order_mark_reads_as_without(tmp_path, name):
    """As Windows Notepad may save it: the mark is no setting."""
    content = EXPERIMENT if name.endswith(".toml") else json.dumps({"dataset": "swissroll", "model": "mlp-ae",
                                                                   "training": {"steps": 40}, "seed": 3})  # fmt: skip
    (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + content.encode())
    result = invoke("run", "--config", str(tmp_path / name), "--reporter", "metrics-table", "--out",
                    str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["seed"], config["training"]["steps"]) == (3, 40)


def test_a_loss_weight_is_recorded_exactly_so_the_runs_config_reruns_it(tmp_path):
    run = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=100", "--steps",
                 "3", "--reporter", "metrics-table", "--loss", "mse:1.23456789",
                 "--out", str(tmp_path / "run"))  # fmt: skip
    assert run.exit_code == 0, run.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss"][0]["weight"] == 1.23456789
    again = invoke("run", "--config", str(tmp_path / "run" / "config.json"), "--out", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    first, rerun = (
        load_file(tmp_path / "run" / "model.safetensors"),
        load_file(tmp_path / "again" / "model.safetensors"),
    )
    assert all((first[name] == rerun[name]).all() for name in first)
    with safe_open(tmp_path / "run" / "model.safetensors", "np") as model_file:
        assert model_file.metadata()["loss"] == "mse:1.23456789"


def test_an_option_added_since_a_run_means_what_the_plugin_did_then_in_its_record_not_in_a_hand_written_file(
    tmp_path,
):
    from dimred._api.config import read_config

    loss = [{"name": "mse", "options": {}}, {"name": "ne-tsne", "options": {"neighbours": 10, "dof": 1.0}}]
    old_record = {"dataset": "digits", "model": {"name": "ne-ae", "options": {}}, "loss": loss, "versions": {}}
    (tmp_path / "config.json").write_text(json.dumps(old_record))  # a run's record from before `exaggeration`
    assert read_config(tmp_path / "config.json")["settings"]["loss.ne-tsne.exaggeration"] == 1.0
    (tmp_path / "experiment.toml").write_text(
        "dataset = 'digits'\nmodel = 'ne-ae'\n[[loss]]\nname = 'mse'\n[[loss]]\nname = 'ne-tsne'\n"
        "options = { neighbours = 10 }\n"
    )
    assert "loss.ne-tsne.exaggeration" not in read_config(tmp_path / "experiment.toml")["settings"]  # the default


def test_a_runs_config_json_repeats_its_metrics_options(tmp_path):
    """A metric's options (knn-accuracy's k) are part of what a run's config.json repeats."""
    rows = np.random.default_rng(0).random((60, 4))
    labels = np.repeat(np.arange(3), 20)
    np.savez(tmp_path / "rows.npz", X=rows, y=labels)
    first = tmp_path / "first"
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npz'}", "--model", "pca",
                    "--set", "metric.knn-accuracy.k=1", "--reporter", "metrics-table", "--out", str(first))  # fmt: skip
    assert result.exit_code == 0, result.output
    recorded = {entry["name"]: entry["options"] for entry in json.loads((first / "config.json").read_text())["metrics"]}
    assert recorded["knn-accuracy"] == {"k": 1}
    again = invoke("run", "--config", str(first / "config.json"), "--out", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (first, tmp_path / "again")]
    assert metrics[0]["knn_accuracy"] == metrics[1]["knn_accuracy"]
    assert {"name": "knn-accuracy", "options": {"k": 1}} in json.loads(
        (tmp_path / "again" / "config.json").read_text()
    )["metrics"]
    other_k = invoke("run", "--config", str(first / "config.json"), "--set", "metric.knn-accuracy.k=7", "--out",
                     str(tmp_path / "other"))  # fmt: skip
    assert other_k.exit_code == 0, other_k.output
    assert {"name": "knn-accuracy", "options": {"k": 7}} in json.loads(
        (tmp_path / "other" / "config.json").read_text()
    )["metrics"]
    record = json.loads((first / "config.json").read_text())
    record["metrics"].append({"name": "uninstalled-metric", "options": {"k": 3}})  # a plugin removed since
    (tmp_path / "record.json").write_text(json.dumps(record))
    rerun = invoke("run", "--config", str(tmp_path / "record.json"), "--out", str(tmp_path / "rerun"))
    assert rerun.exit_code == 0, rerun.output
    assert json.loads((tmp_path / "rerun" / "metrics.json").read_text())["knn_accuracy"] == metrics[0]["knn_accuracy"]


@pytest.mark.parametrize("holdout", ["1.5", "-0.1", "'a fifth'", "true"])
def test_a_bad_holdout_in_a_file_names_the_file(tmp_path, holdout):
    (tmp_path / "experiment.toml").write_text(f"holdout = {holdout}\n{PLUGINS}")
    result = invoke("run", "--config", str(tmp_path / "experiment.toml"), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: config file {tmp_path / 'experiment.toml'}: bad holdout ")
    assert result.output.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_another_dataset_named_over_a_config_file_leaves_the_files_options_for_the_old_one(tmp_path):
    quick = ["--set", "dataset.n_samples=300", "--steps", "5", "--reporter", "metrics-table"]
    assert invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", *quick, "--set", "model.dropout=0.2",
                  "--out", str(tmp_path / "roll")).exit_code == 0  # fmt: skip
    config = str(tmp_path / "roll" / "config.json")
    digits = invoke("run", "--config", config, "--dataset", "digits", "--out", str(tmp_path / "digits"))
    assert digits.exit_code == 0, digits.output  # swissroll's n_samples is not one of digits' options
    assert json.loads((tmp_path / "digits" / "config.json").read_text())["model"]["options"]["dropout"] == 0.2
    assert (f"Warning: {config} is a run's record of the choices it made for dataset 'swissroll' (the model's "
            "options") in digits.output  # fmt: skip
    for model in ("geo-ae", "vae"):  # each chooses its learning rate
        other_model = invoke("run", "--config", config, "--model", model, "--out", str(tmp_path / model))
        assert other_model.exit_code == 0, other_model.output
        assert (f"Warning: {config} is a run's record of the training settings model 'mlp-ae' chose (learning rate, "
                "batch size") in other_model.output.replace("\n", " ")  # fmt: skip
    for model in ("pca", "mlp-ae"):  # trains in no loop (its settings are dropped); or is the run's own model
        quiet = invoke("run", "--config", config, "--model", model, "--out", str(tmp_path / model))
        assert quiet.exit_code == 0, quiet.output
        assert "Warning" not in quiet.output
    written = tmp_path / "experiment.toml"
    written.write_text('[dataset]\nname = "swissroll"\n[model]\nname = "pca"\n')  # written by hand: nothing chosen
    by_hand = invoke("run", "--config", str(written), "--dataset", "digits", "--out", str(tmp_path / "hand"))
    assert by_hand.exit_code == 0, by_hand.output
    assert "Warning" not in by_hand.output


@pytest.mark.parametrize(
    ("given", "held"),
    [("absent", "it does not exist"), ("data.csv", "it is a file"), ("folder", "it holds no config.json")],
)
def test_resume_of_what_is_not_a_runs_folder_says_so(tmp_path, given, held):
    (tmp_path / "data.csv").write_text("1,2\n")
    (tmp_path / "folder").mkdir()
    result = invoke("run", "--resume", str(tmp_path / given))
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {tmp_path / given} is not a run's folder ({held}): "
        "--resume takes the folder of a run started with --checkpoint-every"
    )


def test_another_model_named_over_a_runs_config_trains_with_its_own_loss_and_a_one_call_one_without_a_loop(
    tmp_path,
):
    quick = ["--set", "dataset.n_samples=300", "--reporter", "metrics-table"]
    assert invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--steps", "5", *quick, "--out",
                  str(tmp_path / "ae")).exit_code == 0  # fmt: skip
    config = str(tmp_path / "ae" / "config.json")
    vae = invoke("run", "--config", config, "--model", "vae", "--out", str(tmp_path / "vae"))
    assert vae.exit_code == 0, vae.output
    assert [term["name"] for term in json.loads((tmp_path / "vae" / "config.json").read_text())["loss"]] == [
        "mse",
        "kl",
    ]
    pca = invoke("run", "--config", config, "--model", "pca", "--out", str(tmp_path / "pca"))
    assert pca.exit_code == 0, pca.output  # mlp-ae's steps were not given for pca, which runs no training loop


@pytest.mark.parametrize(
    ("content", "message"),
    [('[training]\nsteps = "30"\n', "bad steps '30': must be a whole number or none"),
     ('dtype = "float16"\n', "bad dtype 'float16'"),
     ('[[callbacks]]\nname = "no-collapse"\noptions = { after = 0.5 }\n',
      "[[callbacks]] 'no-collapse' turns the callback 'collapse' off, so it takes no options; leave them out")],
    ids=["a training value", "a top-level setting", "options for a callback turned off"],
)  # fmt: skip
def test_a_config_files_bad_value_is_named_with_the_file(tmp_path, content, message):
    """The training values' errors had not named the file they came from, and options given to no-NAME were
    refused as an unknown callback 'no-collapse'."""
    path = tmp_path / "experiment.toml"
    path.write_text('dataset = "swissroll"\nmodel = "mlp-ae"\n' + content)
    result = invoke("run", "--config", str(path), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(f"Error: config file {path}: {message}")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("section", "said"),
    [
        ('[dataset]\nname = "swissroll"\noptions = { n_samples = "abc" }\n',
         "bad value 'abc' for 'dataset.n_samples' (int): not a whole number"),
        ('[dataset]\nname = "swissroll"\n[[reporters]]\nname = "codes-plot"\noptions = { dpii = 5 }\n',
         "unknown option 'reporter.codes-plot.dpii' (did you mean 'dpi'?)"),
        ('[dataset]\nname = "swissroll"\noptions = { n_samples = 0 }\n',
         "bad dataset options: n_samples must be at least 3, got 0"),
        ('[dataset]\nname = "swissroll"\n[[reporters]]\nname = "codes-plot"\noptions = { dpi = 0 }\n',
         "bad reporter.codes-plot options: dpi must be from 10 to 1200, got 0"),
    ],
)  # fmt: skip
def test_a_bad_plugin_option_in_a_config_file_names_the_file(tmp_path, section, said):
    (tmp_path / "experiment.toml").write_text(section + '[model]\nname = "pca"\n')
    result = invoke("run", "--config", str(tmp_path / "experiment.toml"), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(f"Error: config file {tmp_path / 'experiment.toml'}: {said}")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ('[dataset]\nname = "swissrol"\n[model]\nname = "pca"\n', "unknown dataset 'swissrol' (did you mean"),
        ('[dataset]\nname = "swissroll"\n[model]\nname = "mlp-aee"\n', "unknown model 'mlp-aee' (did you mean"),
        ('[dataset]\nname = "swissroll"\n[model]\nname = "mlp-ae"\n[[loss]]\nname = "mse"\n[[loss]]\n'
         'name = "geodesik"\n', "unknown loss 'geodesik' (did you mean"),
        ('reporters = ["metrics-tabel"]\n[dataset]\nname = "swissroll"\n[model]\nname = "pca"\n',
         "unknown reporter 'metrics-tabel' (did you mean"),
        ('reporters = ["no-explorer"]\n[dataset]\nname = "swissroll"\n[model]\nname = "pca"\n',
         "unknown reporter 'no-explorer'"),  # reporters named replace the defaults: none is turned off by name
        ('[dataset]\nname = "swissroll"\n[model]\nname = "mlp-ae"\n[[callbacks]]\nname = "no-progres"\n',
         "unknown callback 'progres' (did you mean"),
        ('{"dataset": {"name": "swissroll"}, "model": {"name": "mlp-ae"}, "loss": [{"name": "mse", "weight": '
         'Infinity}]}', "bad loss 'mse:inf'"),
    ],
)  # fmt: skip
def test_an_unknown_plugin_or_a_bad_weight_in_a_config_file_names_the_file(tmp_path, content, said):
    """These had been said without the file, as if typed on the command line."""
    experiment = tmp_path / ("experiment.json" if content.startswith("{") else "experiment.toml")
    experiment.write_text(content)
    result = invoke("run", "--config", str(experiment), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(f"Error: config file {experiment}: {said}")
    assert not (tmp_path / "run").exists()


def test_a_config_files_unknown_plugin_replaced_on_the_command_line_is_not_an_error(tmp_path):
    (tmp_path / "experiment.toml").write_text('[dataset]\nname = "mine"\n[model]\nname = "theirs"\n')
    result = invoke("run", "--config", str(tmp_path / "experiment.toml"), "--dataset", "swissroll", "--model",
                    "pca", "--set", "dataset.n_samples=100", "--reporter", "metrics-table", "--out",
                    str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output


def test_an_option_the_model_or_loss_refuses_in_a_config_file_names_the_file_unless_replaced(tmp_path):
    """Its name and type had been checked with the file named, its range only by the run, without it; a value the
    command line gives replaces the file's, and the run checks them together."""
    experiment = tmp_path / "experiment.toml"
    experiment.write_text('[dataset]\nname = "swissroll"\n[model]\nname = "ne-ae"\noptions = { n_components = 0 }\n'
                          '[[loss]]\nname = "ne-tsne"\noptions = { neighbours = 1 }\n')  # fmt: skip
    common = ("run", "--config", str(experiment), "--set", "dataset.n_samples=100", "--steps", "2", "--reporter",
              "metrics-table")  # fmt: skip
    refused = invoke(*common, "--out", str(tmp_path / "refused"))
    assert refused.exit_code == 2, refused.output
    said = "bad loss.ne-tsne options: neighbours must be at least 2, got 1"
    assert refused.output.strip() == f"Error: config file {experiment}: {said}"
    loss_mended = invoke(*common, "--set", "loss.ne-tsne.neighbours=5", "--out", str(tmp_path / "loss"))
    said = "bad model options: n_components must be from 1 to 65536, got 0"
    assert loss_mended.output.strip() == f"Error: config file {experiment}: {said}"
    mended = invoke(*common, "--set", "model.n_components=2", "--set", "loss.ne-tsne.neighbours=5", "--out",
                    str(tmp_path / "mended"))  # fmt: skip
    assert mended.exit_code == 0, mended.output
    bare = invoke(
        *common, "--set", "model.n_components=2", "--set", "loss.neighbours=5", "--out", str(tmp_path / "bare")
    )
    assert bare.exit_code == 0, bare.output  # loss.OPTION sets the single loss's options as loss.NAME.OPTION does
    assert not (tmp_path / "refused").exists()
    assert not (tmp_path / "loss").exists()


def test_a_config_files_options_are_checked_together_with_the_command_lines(tmp_path):
    """The file's options for the file dataset lack its path, which the command line gives."""
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((60, 3)))
    (tmp_path / "experiment.toml").write_text('[dataset]\nname = "file"\noptions = { ignore_columns = "" }\n'
                                              '[model]\nname = "pca"\n')  # fmt: skip
    result = invoke("run", "--config", str(tmp_path / "experiment.toml"), "--set",
                    f"dataset.path={tmp_path / 'rows.npy'}", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output


def test_one_loss_table_keeps_its_weight_and_an_unknown_metric_is_named(tmp_path):
    """A single [loss] table's weight had been dropped, a negative one too, and the file's loss left out where the
    command line named a model the file did not; a metric named without options had passed unknown."""
    experiment = tmp_path / "experiment.toml"
    common = ("run", "--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=100", "--steps",
              "3", "--reporter", "metrics-table", "--config", str(experiment))  # fmt: skip
    experiment.write_text("[loss]\nname = 'mse'\nweight = 2\n")
    run = invoke(*common, "--out", str(tmp_path / "run"))
    assert run.exit_code == 0, run.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss"][0]["weight"] == 2.0
    experiment.write_text("[loss]\nname = 'mse'\nweight = -5\n")
    refused = invoke(*common, "--out", str(tmp_path / "negative"))
    assert refused.exit_code == 2
    assert refused.output.strip() == (
        f"Error: config file {experiment}: bad loss 'mse:-5': use NAME or NAME:WEIGHT with a weight above 0 and "
        "at most 1e6 (weights are relative: lower the others)"
    )
    experiment.write_text("metrics = ['nope']\n")
    unknown = invoke(*common, "--out", str(tmp_path / "metric"))
    assert unknown.exit_code == 2
    assert unknown.output.startswith(f"Error: config file {experiment}: unknown metric 'nope'; choose from: ")
    assert not (tmp_path / "metric").exists()


def test_what_a_run_records_is_refused_as_a_setting_of_a_hand_written_file(tmp_path):
    """threads = 4 in a TOML file had been taken for a run's record: it set nothing, and the checks that a
    hand-written file gets (a one-call model's steps) were skipped."""
    (tmp_path / "e.toml").write_text('dataset = "swissroll"\nmodel = "pca"\nthreads = 4\n[training]\nsteps = 20\n')
    (tmp_path / "e.json").write_text(json.dumps({"dataset": "swissroll", "model": "pca", "threads": 4,
                                                 "training": {"steps": 20}}))  # fmt: skip
    for name in ("e.toml", "e.json"):  # a run's config.json holds them beside the package versions it ran with
        result = invoke("run", "--config", str(tmp_path / name), "--out", str(tmp_path / "run"))
        assert result.exit_code == 2, result.output
        assert (f"config file {tmp_path / name}: 'threads' is what a run records in its config.json, not a setting; "
                "the environment variable OMP_NUM_THREADS sets torch's threads") in result.output  # fmt: skip
        assert not (tmp_path / "run").exists()
