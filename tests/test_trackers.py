"""The MLflow and TensorBoard plugins, against the real things: a local SQLite MLflow store read back with MLflow's
client, event files read back with TensorBoard's own reader. No mocks."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.datasets import load_digits

import dimred
from conftest import plugin_module
from dimred.cli import cli
from dimred.plugin import Callback, Metric, Reporter
from dimred.plugins import mlflow_tracker, tensorboard_tracker
from dimred.testing import check_callback_plugin, check_reporter_plugin

SMALL = ["--steps", "50", "--batch-size", "100"]
ROLL = ["--dataset", "swissroll", "--set", "dataset.n_samples=300"]
QUICK = {"steps": 50, "batch_size": 100}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One SQLite tracking store for the module (creating one takes seconds); each test has its own experiment."""
    pytest.importorskip("mlflow")  # a fallback: the test extra installs mlflow
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def mlflow(store, monkeypatch, request):
    import mlflow

    # None where unset: get_tracking_uri's answer then, set back, would hide MLFLOW_TRACKING_URI from later tests
    previous = mlflow.tracking._tracking_service.utils._tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", request.node.name[:200])
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # mlflow.set_experiment sets it...
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)  # ...and this
    mlflow.set_tracking_uri(store)
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


def _runs(mlflow, experiment: str):
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return client, client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])


def _history(path: Path) -> list[dict[str, float]]:
    with open(path / "history.csv", newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def _invoke(*arguments: str, dataset: tuple[str, ...] = tuple(ROLL)):
    result = CliRunner().invoke(cli, ["run", *dataset, "--model", "mlp-ae", *SMALL, *arguments])
    assert result.exit_code == 0, result.output
    return result


# -- MLflow ----------------------------------------------------------------------------------------------------
def test_mlflow_callback_and_reporter_make_one_run_read_back_with_mlflows_client(mlflow, store, tmp_path):
    _invoke("--out", "run", "--reporter", "codes-plot", "--reporter", "mlflow", "--callback", "mlflow",
            "--set", f"callback.mlflow.tracking_uri={store}", "--set", "callback.mlflow.experiment=roll",
            "--set", "callback.mlflow.run_name=first")  # fmt: skip
    client, runs = _runs(mlflow, "roll")
    assert len(runs) == 1
    run = runs[0]
    assert (run.info.status, run.info.run_name) == ("FINISHED", "first")
    assert run.data.tags["dimred.model"] == "mlp-ae"
    assert run.data.tags["dimred.directory"] == str((tmp_path / "run").resolve())
    params = run.data.params
    assert params["training.lr"] == "0.05"
    assert params["training.total_steps"] == "50"
    assert params["training.batch_size"] == "100"
    assert params["dataset.name"] == "swissroll"
    assert params["dataset.options.n_samples"] == "300"
    assert params["model.options.hidden"] == "[128, 64]"
    history = _history(tmp_path / "run")
    logged = client.get_metric_history(run.info.run_id, "loss")
    assert [point.step for point in logged] == [int(row["step"]) for row in history] == list(range(1, 51))
    np.testing.assert_allclose([point.value for point in logged], [row["loss"] for row in history], rtol=1e-6)
    assert len(client.get_metric_history(run.info.run_id, "lr")) == 50
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for name in ("rmse", "trustworthiness", "continuity", "train_seconds"):
        assert run.data.metrics[name] == pytest.approx(metrics[name])
    artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert {"model.safetensors", "config.json", "metrics.json", "history.csv", "codes.png"} <= artifacts
    model_file = Path(client.download_artifacts(run.info.run_id, "model.safetensors", str(tmp_path / "download")))
    reducer = dimred.load(model_file)  # the artifact is a working model file
    assert reducer.n_components_ == 2
    assert mlflow.active_run() is None


def test_the_trackers_hand_on_the_runs_own_files_never_the_users_files_beside_them(mlflow, event_accumulator, tmp_path):
    """A folder run again with --overwrite keeps the user's files (their data, their pictures): MLflow uploaded
    them as the run's artifacts, and TensorBoard logged every PNG as a plot and failed on a greyscale one."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "my_data.csv").write_text("1,2\n3,4\n")
    matplotlib.image.imsave(folder / "my_scan.png", np.random.default_rng(0).random((8, 8, 3)))
    matplotlib.image.imsave(folder / "my_grey.png", np.random.default_rng(0).random((8, 8)), cmap="gray")
    Image.open(folder / "my_grey.png").convert("L").save(folder / "my_grey.png")  # one channel
    _invoke("--out", "run", "--overwrite", "--reporter", "codes-plot", "--reporter", "mlflow", "--reporter",
            "tensorboard")  # fmt: skip
    client, [run] = _runs(mlflow, "test_the_trackers_hand_on_the_runs_own_files_never_the_users_files_beside_them")
    artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert {"model.safetensors", "config.json", "metrics.json", "history.csv", "codes.png"} <= artifacts
    assert not {"my_data.csv", "my_scan.png", "my_grey.png"} & artifacts
    images = event_accumulator(folder / "tensorboard").Tags()["images"]
    assert "plots/codes" in images
    assert not {"plots/my_scan", "plots/my_grey"} & set(images)


class GreyPlot(Reporter):
    """Writes a one-channel PNG of its own, as a plugin's plot may be."""

    name = "grey-plot"
    description = "grey.png: a greyscale picture"

    def report(self, run):
        with run.artifact("grey.png") as path:
            Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L").save(path, format="png")


class PlainWriter(Reporter):
    """Writes a file of its own without run.artifact, and keeps the record it saw."""

    name = "plain-writer"
    description = "plain.csv, written directly"
    seen: list = []

    def report(self, run):
        np.savetxt(run.directory / "plain.csv", run.codes[:5], delimiter=",")
        PlainWriter.seen.append(run)


def test_the_files_handed_on_are_the_runs_whoever_wrote_them_and_whenever_they_are_asked_for(
    mlflow, register_in_process
):
    """A reporter's file written without run.artifact is the run's to hand on; the user's file beside it is not,
    also when the record is asked after the run (from another thread, say)."""
    register_in_process(plugin_module("plain", register_reporters=lambda register: register(PlainWriter)))
    Path("run").mkdir()
    Path("run", "my_data.csv").write_text("1,2\n")
    _invoke("--out", "run", "--overwrite", "--reporter", "plain-writer", "--reporter", "mlflow")
    client, [run] = _runs(mlflow, "test_the_files_handed_on_are_the_runs_whoever_wrote_them_and_whenever_they_are_"
                                  "asked_for")  # fmt: skip
    artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert "plain.csv" in artifacts
    assert "my_data.csv" not in artifacts
    assert {path.name for path in PlainWriter.seen[-1].kept_files()} >= {"plain.csv", "metrics.json"}
    assert "my_data.csv" not in {path.name for path in PlainWriter.seen[-1].kept_files()}


def test_a_runs_own_greyscale_plot_reaches_tensorboard_as_an_rgb_image(event_accumulator, register_in_process):
    register_in_process(plugin_module("grey_plot", register_reporters=lambda register: register(GreyPlot)))
    _invoke("--out", "run", "--reporter", "grey-plot", "--reporter", "tensorboard")
    events = event_accumulator(Path("run") / "tensorboard")
    [image] = events.Images("plots/grey")
    assert (image.width, image.height) == (8, 8)


def test_the_mlflow_reporter_alone_logs_the_history_from_the_run(mlflow, tmp_path):
    result = dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300},
                        reporters=["mlflow"], out=tmp_path / "alone", **QUICK)  # fmt: skip
    client, runs = _runs(mlflow, "test_the_mlflow_reporter_alone_logs_the_history_from_the_run")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "alone"
    logged = client.get_metric_history(run.info.run_id, "loss")
    assert [point.step for point in logged] == [int(row["step"]) for row in result.history]
    np.testing.assert_allclose([point.value for point in logged], [row["loss"] for row in result.history])
    assert run.data.metrics["rmse"] == pytest.approx(result.metrics["rmse"])
    assert run.data.params["training.steps"] == "50"


def test_the_mlflow_callback_alone_closes_its_run(mlflow):
    result = dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300}, reporters=[],
                        callbacks=["mlflow"], out=None, **QUICK)  # fmt: skip
    assert mlflow.active_run() is None
    client, runs = _runs(mlflow, "test_the_mlflow_callback_alone_closes_its_run")
    assert [run.info.status for run in runs] == ["FINISHED"]
    assert len(client.get_metric_history(runs[0].info.run_id, "loss")) == len(result.history) == 50
    assert runs[0].data.params["training.seed"] == "0"


def test_the_mlflow_callback_logs_the_batch_the_loop_took_as_config_json_records_it(mlflow, tmp_path):
    """A batch larger than the rows (mlp-ae's default 750 on 300 rows) had been logged as asked, 750, where the
    loop took 300; MLflow keeps a parameter's first value, so the reporter could not mend it."""
    result = dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300}, reporters=[],
                        callbacks=["mlflow"], out=tmp_path / "run", steps=5, holdout=0)  # fmt: skip
    assert result.config["training"]["batch_size"] == 300
    _client, runs = _runs(mlflow, "test_the_mlflow_callback_logs_the_batch_the_loop_took_as_config_json_records_it")
    assert runs[0].data.params["training.batch_size"] == "300"


def test_a_run_without_the_reporter_leaves_nothing_a_later_run_takes_for_its_own(mlflow):
    """The callback hands its run to the reporter of the same dimred run only: a later run in the process (here
    without a folder, as compare's are) makes its own MLflow run."""
    first = dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300}, reporters=[],
                       callbacks=["mlflow"], out=None, **QUICK)  # fmt: skip
    dimred.run(dataset="swissroll", model="pca", settings={"dataset.n_samples": 300}, reporters=["mlflow"], out=None)
    client, runs = _runs(mlflow, "test_a_run_without_the_reporter_leaves_nothing_a_later_run_takes_for_its_own")
    assert [run.data.tags["dimred.model"] for run in runs] == ["mlp-ae", "pca"]
    assert len(client.get_metric_history(runs[0].info.run_id, "loss")) == len(first.history)
    assert "rmse" not in runs[0].data.metrics
    assert "rmse" in runs[1].data.metrics


def test_callback_and_reporter_options_that_disagree_are_refused_before_training(mlflow, tmp_path):
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, "--callback", "mlflow", "--reporter",
                                      "mlflow", "--set", "reporter.mlflow.experiment=elsewhere", "--set",
                                      "callback.mlflow.experiment=here", "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "callback.mlflow.experiment is 'here' and reporter.mlflow.experiment 'elsewhere'" in (
        result.output.replace("\n", " ")
    )
    assert not (tmp_path / "run").exists()
    assert mlflow.MlflowClient().get_experiment_by_name("here") is None


def test_the_reporters_options_reach_the_callback_of_the_same_run(mlflow, tmp_path):
    """Set once, on either plugin: the callback opens the run where the reporter names, with its name."""
    _invoke("--callback", "mlflow", "--reporter", "mlflow", "--set", "reporter.mlflow.experiment=elsewhere",
            "--set", "reporter.mlflow.run_name=named", "--out", str(tmp_path / "run"))  # fmt: skip
    client, runs = _runs(mlflow, "elsewhere")
    assert [(run.info.run_name, run.info.status) for run in runs] == [("named", "FINISHED")]
    assert len(client.get_metric_history(runs[0].info.run_id, "loss")) == 50
    assert "rmse" in runs[0].data.metrics


def test_reporter_options_that_name_where_the_callbacks_run_is_are_accepted(mlflow, store, tmp_path):
    _invoke(
        "--callback",
        "mlflow",
        "--reporter",
        "mlflow",
        "--set",
        f"reporter.mlflow.tracking_uri={store}",
        "--out",
        str(tmp_path / "run"),
    )  # fmt: skip  (the callback's store came from MLFLOW_TRACKING_URI)
    _client, runs = _runs(mlflow, "test_reporter_options_that_name_where_the_callbacks_run_is_are_accepted")
    assert [run.data.tags["dimred.model"] for run in runs] == ["mlp-ae"]


def test_one_sqlite_store_written_two_ways_is_one_store(mlflow, store, monkeypatch):
    """A relative path beside the absolute one MLflow was given had been refused as another store ("set
    tracking_uri once"), and a run inside the notebook's active run was not nested in it."""
    database = Path(store.removeprefix("sqlite:///"))
    monkeypatch.chdir(database.parent)
    relative = {"dataset.n_samples": 300, "reporter.mlflow.tracking_uri": f"sqlite:///{database.name}",
                "callback.mlflow.tracking_uri": store}  # fmt: skip
    with mlflow.start_run() as outer:
        dimred.run("swissroll", "mlp-ae", settings=relative, callbacks=["mlflow"], reporters=["mlflow"], out=None,
                   **QUICK)  # fmt: skip
    _client, runs = _runs(mlflow, "test_one_sqlite_store_written_two_ways_is_one_store")
    nested = [run for run in runs if run.info.run_id != outer.info.run_id]
    assert [run.data.tags.get("mlflow.parentRunId") for run in nested] == [outer.info.run_id]


def test_sqlite_store_paths_are_read_as_sqlalchemy_reads_them(tmp_path):
    """A query string had been taken for part of the file's name (a resume then found 'no database file')."""
    (tmp_path / "m.db").write_bytes(b"")
    assert mlflow_tracker.store.same_store("sqlite:///m.db", f"sqlite:///{tmp_path}/m.db?timeout=20")
    assert mlflow_tracker.store.database_file("sqlite:///a%2541.db") == Path("a%41.db")  # unquoted once
    assert not mlflow_tracker.store.same_store("sqlite:///m.db", "sqlite:///n.db")
    assert mlflow_tracker.store.existing_store("sqlite:///m.db?timeout=20")
    assert not mlflow_tracker.store.existing_store("sqlite:///other.db")


def test_a_run_stopped_while_mlflow_makes_a_new_store_leaves_none_and_the_next_run_makes_it(mlflow, tmp_path,
                                                                                           monkeypatch):  # fmt: skip
    """MLflow makes a new SQLite store's tables one by one over a second; a SIGTERM meanwhile had left a database
    that every later run (and MLflow's own client) refused: "table experiment_tags already exists"."""
    real_client = mlflow.MlflowClient

    def stopped_once_made(uri, *arguments, **keywords):
        client = real_client(uri, *arguments, **keywords)
        if "/.mlflow-store-" in uri:  # the store being made, whole by now: stopped before it is put in place
            raise KeyboardInterrupt
        return client

    store = f"sqlite:///{tmp_path / 'new.db'}"
    arguments = ["run", *ROLL, "--model", "mlp-ae", "--steps", "5", "--reporter", "metrics-table", "--callback",
                 "mlflow", "--set", f"callback.mlflow.tracking_uri={store}"]  # fmt: skip
    monkeypatch.setattr(mlflow, "MlflowClient", stopped_once_made)
    assert CliRunner().invoke(cli, arguments).exit_code == 130
    assert sorted(path.name for path in tmp_path.iterdir() if path.name != "mlruns") == []
    monkeypatch.setattr(mlflow, "MlflowClient", real_client)
    assert CliRunner().invoke(cli, [*arguments, "--out", str(tmp_path / "run")]).exit_code == 0
    client = real_client(store)
    assert len(client.search_runs([experiment.experiment_id for experiment in client.search_experiments()])) == 1
    assert sorted(path.name for path in tmp_path.iterdir() if path.name != "mlruns") == ["new.db", "run"]


@pytest.mark.parametrize("links", [True, False])
def test_a_new_store_is_made_where_the_file_system_links_no_files_and_under_any_name(mlflow, tmp_path, monkeypatch,
                                                                                    links):  # fmt: skip
    """The store built beside its path had failed every run where os.link is refused (vfat, SMB), and one named
    with a '?' had been made as './.a' (the rest read as a query string)."""
    from urllib.parse import quote

    def refused(source, target):
        raise PermissionError(1, "Operation not permitted")

    if not links:
        monkeypatch.setattr(os, "link", refused)
    name = "a?b.db"
    uri = f"sqlite:///{quote(str(tmp_path / name))}"
    arguments = ["run", *ROLL, "--model", "pca", "--reporter", "mlflow", "--set", f"reporter.mlflow.tracking_uri={uri}"]
    result = CliRunner().invoke(cli, [*arguments, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in tmp_path.iterdir() if path.name != "mlruns") == sorted([name, "run"])


@pytest.mark.parametrize("lands", [True, False])
def test_losses_mlflow_takes_late_are_logged_once(mlflow, store, tmp_path, monkeypatch, lands):
    """A tracking store that stalled past the end of training: the reporter logged the losses from the history
    while the callback's thread went on sending them once the store answered again, and steps were logged twice;
    a batch still being sent that then failed was not to be lost either."""
    from mlflow.tracking.client import MlflowClient

    store_answers, real_log_batch = threading.Event(), MlflowClient.log_batch

    def stalled(self, run_id, *arguments, **keywords):
        if threading.current_thread().name == "dimred-mlflow":
            store_answers.wait(60)
            if not lands:
                raise ConnectionError("the store went away")
        return real_log_batch(self, run_id, *arguments, **keywords)

    monkeypatch.setattr(MlflowClient, "log_batch", stalled)
    monkeypatch.setattr(mlflow_tracker.tracking, "STREAM_WAIT_SECONDS", 0.2)
    result = _invoke("--out", "run", "--callback", "mlflow", "--reporter", "mlflow")
    assert "MLflow did not take all of the losses" in result.output
    store_answers.set()
    for thread in threading.enumerate():
        if thread.name == "dimred-mlflow":
            thread.join(60)
    client, (run,) = _runs(mlflow, os.environ["MLFLOW_EXPERIMENT_NAME"])
    steps = [point.step for point in client.get_metric_history(run.info.run_id, "loss")]
    assert sorted(steps) == list(range(1, 51))


def test_a_tracking_server_that_does_not_answer_is_named_in_seconds(mlflow, tmp_path):
    import socket
    import time

    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, "--callback", "mlflow", "--set",
                                      f"callback.mlflow.tracking_uri=http://127.0.0.1:{port}", "--out",
                                      str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2
    assert f"the MLflow tracking server at http://127.0.0.1:{port} does not answer" in result.output
    assert not (tmp_path / "run").exists()
    assert time.monotonic() - started < 30  # MLflow's own retries take minutes


def test_dimred_runs_nest_inside_an_active_mlflow_run(mlflow):
    with mlflow.start_run(run_name="sweep") as parent:
        for seed in (0, 1):
            dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300},
                       reporters=["mlflow"], callbacks=["mlflow"], out=f"seed{seed}", seed=seed, **QUICK)  # fmt: skip
            assert mlflow.active_run().info.run_id == parent.info.run_id
    _client, runs = _runs(mlflow, "test_dimred_runs_nest_inside_an_active_mlflow_run")
    children = [run for run in runs if run.info.run_id != parent.info.run_id]
    assert [run.info.run_name for run in children] == ["seed0", "seed1"]
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent.info.run_id}
    assert [run.data.params["training.seed"] for run in children] == ["0", "1"]


def test_compare_inside_an_active_mlflow_run_logs_each_run_nested_with_its_results(mlflow):
    with mlflow.start_run(run_name="sweep") as parent:
        dimred.compare("swissroll", ["mlp-ae", "pca"], seeds=2, out=None, callbacks=["mlflow"], reporters=["mlflow"],
                       settings={"dataset.n_samples": 300}, **QUICK)  # fmt: skip
    _client, runs = _runs(mlflow, "test_compare_inside_an_active_mlflow_run_logs_each_run_nested_with_its_results")
    [comparison] = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert comparison.info.run_name == "compare-swissroll"
    nested = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == comparison.info.run_id]
    expected = [f"swissroll-{model}-seed{seed}" for model in ("mlp-ae", "pca") for seed in (0, 1)]
    assert sorted(run.info.run_name for run in nested) == expected
    assert all("trustworthiness" in run.data.metrics and run.info.status == "FINISHED" for run in nested)
    assert len(runs) == 6


def test_compare_at_the_command_line_logs_a_comparison_run_with_its_files_and_every_run_nested(mlflow, tmp_path):
    result = CliRunner().invoke(cli, ["compare", *ROLL, "--model", "pca", "--model", "mlp-ae", "--steps", "30",
                                      "--reporter", "mlflow", "--callback", "mlflow", "--set",
                                      "reporter.mlflow.experiment=compared", "--out", str(tmp_path / "c")])  # fmt: skip
    assert result.exit_code == 0, result.output
    client, runs = _runs(mlflow, "compared")
    [comparison] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert (comparison.info.run_name, comparison.info.status) == ("c", "FINISHED")
    artifacts = {artifact.path for artifact in client.list_artifacts(comparison.info.run_id)}
    assert {"comparison.csv", "embeddings.png", "explorer.html"} <= artifacts
    nested = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == comparison.info.run_id]
    assert sorted(run.data.tags["dimred.model"] for run in nested) == ["mlp-ae", "pca"]
    [network] = [run for run in nested if run.data.tags["dimred.model"] == "mlp-ae"]
    assert len(client.get_metric_history(network.info.run_id, "loss")) == 30  # streamed by the callback


def test_a_comparisons_run_name_names_the_comparison_and_its_runs_keep_their_own(mlflow, tmp_path):
    """Every nested run had been called by the comparison's name, and the comparison by its folder's."""
    result = CliRunner().invoke(cli, ["compare", *ROLL, "--model", "pca", "--model", "mlp-ae", "--steps", "5",
                                      "--reporter", "mlflow", "--set", "reporter.mlflow.experiment=named", "--set",
                                      "reporter.mlflow.run_name=my-comparison", "--out",
                                      str(tmp_path / "c")])  # fmt: skip
    assert result.exit_code == 0, result.output
    _client, runs = _runs(mlflow, "named")
    names = {run.info.run_name: run.data.tags.get("mlflow.parentRunId") for run in runs}
    parent = next(run.info.run_id for run in runs if run.info.run_name == "my-comparison")
    assert names == {"my-comparison": None, "swissroll-pca-seed0": parent, "swissroll-mlp-ae-seed0": parent}


def test_a_comparisons_run_names_the_models_that_failed(mlflow, tmp_path):
    """A failed model had left no trace in MLflow: no run of its own, and nothing on the comparison's."""
    result = CliRunner().invoke(cli, ["compare", *ROLL, "--model", "pca", "--model", "tsne", "--set",
                                      "model.tsne.perplexity=400", "--reporter", "mlflow", "--set",
                                      "reporter.mlflow.experiment=partly", "--out", str(tmp_path / "c")])  # fmt: skip
    assert result.exit_code == 1, result.output
    _client, runs = _runs(mlflow, "partly")
    [comparison] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert comparison.data.tags["dimred.comparison"] == "pca"
    assert comparison.data.tags["dimred.failed"].startswith("tsne: seed 0: ")


def test_compare_refuses_options_for_a_reporter_its_runs_do_not_have_before_any_run(tmp_path):
    result = CliRunner().invoke(cli, ["compare", *ROLL, "--model", "pca", "--set", "reporter.mlflow.experiment=x",
                                      "--out", str(tmp_path / "c")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "settings for a reporter that is not in this run: reporter.mlflow" in result.output
    assert "pca, seed 0" not in result.output


def test_another_store_leaves_the_notebooks_mlflow_state_as_it_was(mlflow, tmp_path):
    """A reporter that logs to a store of its own neither changes the notebook's tracking URI nor touches its
    active run: dimred's run is a top-level run of the other store, and said to be."""
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with mlflow.start_run(run_name="notebook") as outer:
        with pytest.warns(UserWarning, match="it is not nested in that run"):
            dimred.run(dataset="swissroll", model="pca", settings={"dataset.n_samples": 300,
                       "reporter.mlflow.tracking_uri": other}, reporters=["mlflow"], out=None)  # fmt: skip
        assert mlflow.get_tracking_uri() != other
        assert mlflow.active_run().info.run_id == outer.info.run_id
        mlflow.log_metric("after", 1.0)  # the notebook's run still takes its own logging
    assert mlflow.MlflowClient().get_run(outer.info.run_id).data.metrics == {"after": 1.0}
    theirs = mlflow.MlflowClient(other)
    experiment = theirs.get_experiment_by_name("test_another_store_leaves_the_notebooks_mlflow_state_as_it_was")
    [logged] = theirs.search_runs([experiment.experiment_id])  # MLFLOW_EXPERIMENT_NAME's, in the other store
    assert "mlflow.parentRunId" not in logged.data.tags
    assert logged.data.tags["dimred.model"] == "pca"


def test_a_notebooks_experiment_takes_the_runs(mlflow):
    mlflow.set_experiment("chosen in the notebook")
    dimred.run(dataset="swissroll", model="pca", settings={"dataset.n_samples": 300}, reporters=["mlflow"], out=None)
    _client, runs = _runs(mlflow, "chosen in the notebook")
    assert [run.data.tags["dimred.model"] for run in runs] == ["pca"]


def test_a_run_without_a_folder_logs_its_whole_configuration(mlflow):
    """compare's runs and out=None runs write no config.json: the parameters are the configuration all the same,
    and the callback alone logs the model's."""
    dimred.run(dataset="swissroll", model="pca", settings={"dataset.n_samples": 300, "model.n_components": 2},
               reporters=["mlflow"], out=None, seed=7)  # fmt: skip
    dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300}, reporters=[],
               callbacks=["mlflow"], out=None, **QUICK)  # fmt: skip
    _client, (estimator, network) = _runs(mlflow, "test_a_run_without_a_folder_logs_its_whole_configuration")
    params = estimator.data.params
    assert (params["seed"], params["dataset.options.n_samples"], params["model.options.n_components"]) == (
        "7", "300", "2")  # fmt: skip
    assert "holdout" in params
    assert "None" not in params.values()
    assert network.data.params["model.name"] == "mlp-ae"
    assert network.data.params["model.options.hidden"] == "[128, 64]"
    assert network.data.tags["dimred.dataset"] == "swissroll"


def test_a_resumed_run_logs_each_step_once_to_mlflow_and_hands_on_only_its_results(mlflow, interrupt_once,
                                                                                    tmp_path):  # fmt: skip
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300},
                 "reporters": ["mlflow"], "out": tmp_path / "run", "steps": 60, "batch_size": 100,
                 "checkpoint_every": 20, "callbacks": ["mlflow", interrupt_once]}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    resumed = dimred.run(resume=True, **arguments)
    client, [run] = _runs(mlflow, "test_a_resumed_run_logs_each_step_once_to_mlflow_and_hands_on_only_its_results")
    assert run.info.status == "FINISHED"
    steps = [point.step for point in client.get_metric_history(run.info.run_id, "loss")]
    assert steps == [int(row["step"]) for row in resumed.history] == list(range(1, 61))
    artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert "model.safetensors" in artifacts
    assert not artifacts & {"FAILED.txt", "checkpoint.safetensors"}


def test_a_failed_training_leaves_its_mlflow_run_failed(mlflow, register_in_process):
    from dimred.plugin import DimredError

    class Boom(Callback):
        name = "boom"
        description = "fails at the third logging interval"

        def on_interval(self, training, status):
            if status.step == 3:
                raise DimredError("boom")

    register_in_process(plugin_module("boom_only", register_callbacks=lambda register: register(Boom)))
    with mlflow.start_run(run_name="notebook") as outer:  # as a notebook around dimred.run
        with pytest.raises(DimredError, match="boom"):
            dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300},
                       reporters=["mlflow"], callbacks=["mlflow", "boom"], out=None, **QUICK)  # fmt: skip
        assert mlflow.active_run().info.run_id == outer.info.run_id  # not the failed run left open
        _client, runs = _runs(mlflow, "test_a_failed_training_leaves_its_mlflow_run_failed")
        assert [run.info.status for run in runs if run.info.run_id != outer.info.run_id] == ["FAILED"]
    dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300}, reporters=["mlflow"],
               callbacks=["mlflow"], out=None, **QUICK)  # fmt: skip
    _client, runs = _runs(mlflow, "test_a_failed_training_leaves_its_mlflow_run_failed")
    assert [run.info.status for run in runs] == ["FINISHED", "FAILED", "FINISHED"]


@pytest.mark.parametrize(
    ("database", "message"),
    [("", "not a database file"), ("absent/mlflow.db", "absent does not exist"),
     ("wine.csv", "wine.csv, which is not an SQLite database"),
     (":memory:", "is a database in memory, which nothing can read")],
)  # fmt: skip
@pytest.mark.parametrize("given_in", ["option", "environment"])
def test_an_sqlite_store_mlflow_cannot_open_is_refused_before_training(tmp_path, database, message, given_in):
    (tmp_path / "wine.csv").write_text("a,b\n1,2\n")
    uri = f"sqlite:///{database if database == ':memory:' else tmp_path / database}"
    option = ["--set", f"reporter.mlflow.tracking_uri={uri}"] if given_in == "option" else []
    arguments = ["--reporter", "mlflow", *option, "--out", str(tmp_path / "run")]
    environment = {"MLFLOW_TRACKING_URI": uri} if given_in == "environment" else {}
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *arguments], env=environment)
    assert result.exit_code == 2
    # an option is refused as it is given; the store a run logs to without one before the run trains
    refused = "bad reporter.mlflow options" if given_in == "option" else "the mlflow reporter cannot log"
    assert result.stderr.startswith(f"Error: {refused}")
    assert message in result.stderr
    assert ("MLFLOW_TRACKING_URI" in result.stderr) == (given_in == "environment")
    assert not (tmp_path / "run").exists()
    assert (tmp_path / "wine.csv").read_text() == "a,b\n1,2\n"


def test_mlflow_plugins_pass_the_contract_checks(mlflow):
    check_callback_plugin(mlflow_tracker.MLflowCallback)
    check_reporter_plugin(mlflow_tracker.MLflowReporter)


# -- TensorBoard -----------------------------------------------------------------------------------------------
@pytest.fixture
def event_accumulator():
    pytest.importorskip("tensorboard")  # a fallback: the test extra installs tensorboard
    from tensorboard.backend.event_processing import event_accumulator

    def read(folder: Path):
        accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
        return accumulator.Reload()

    return read


def test_tensorboard_scalars_metrics_plots_and_projector_read_back(event_accumulator, tmp_path):
    _invoke("--out", "digits", "--reporter", "codes-plot", "--reporter", "tensorboard", "--callback", "tensorboard",
            dataset=("--dataset", "digits"))  # fmt: skip
    folder = tmp_path / "digits" / "tensorboard"
    events = event_accumulator(folder)
    tags = events.Tags()
    history = _history(tmp_path / "digits")
    loss = events.Scalars("train/loss")
    assert [point.step for point in loss] == [int(row["step"]) for row in history] == list(range(1, 51))
    np.testing.assert_allclose([point.value for point in loss], [row["loss"] for row in history], rtol=1e-6)
    assert len(events.Scalars("train/lr")) == 50
    metrics = json.loads((tmp_path / "digits" / "metrics.json").read_text())
    for name in ("rmse", "trustworthiness", "continuity"):
        [point] = events.Scalars(f"metrics/{name}")
        assert point.value == pytest.approx(metrics[name], rel=1e-6)
        assert point.step == 50
    assert "plots/codes" in tags["images"]
    assert "settings/text_summary" in tags["tensors"]

    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    config = text_format.Parse((folder / "projector_config.pbtxt").read_text(), projector_config_pb2.ProjectorConfig())
    [embedding] = config.embeddings
    assert embedding.tensor_name.startswith("codes")
    codes = np.loadtxt(folder / embedding.tensor_path, delimiter="\t")
    assert codes.shape == (metrics["n_samples"], 2)  # the training rows (digits holds some rows out)
    header, *rows = [line.split("\t") for line in (folder / embedding.metadata_path).read_text().splitlines()]
    assert header == ["index", "label", "color"]
    numbers = [int(row[0]) for row in rows]  # each code's row in the data set, as the explorer and encode number it
    assert len(numbers) == len(codes)
    assert numbers == sorted(numbers) != list(range(len(codes)))  # the held-out rows' numbers are left out
    assert [row[1] for row in rows] == [str(digit) for digit in load_digits().target[numbers]]
    assert {row[1] for row in rows} == {str(digit) for digit in range(10)}
    assert all(row[1] == row[2] for row in rows)  # digits colours its plots by the label
    assert list(embedding.sprite.single_image_dim) == [8, 8]
    assert (folder / embedding.sprite.image_path).stat().st_size > 0


def test_projector_metadata_keeps_one_row_per_code_whatever_the_label_names_hold(tmp_path):
    """The metadata is tab-separated, one line per code: a tab or line break inside a label would split it."""
    from dimred.plugin import Data, RunRecord

    X = np.random.default_rng(0).random((30, 3))
    labels = np.array(["tab\there", "new\nline", "plain"] * 10)
    record = RunRecord("file", "m", Data(X, labels=labels), X, X[:, :2], None, [], {"rmse": 0.1}, tmp_path)
    tensorboard_tracker.TensorBoardReporter().report(record)
    [metadata] = (tmp_path / "tensorboard").rglob("metadata.tsv")
    header, *rows = [line.split("\t") for line in metadata.read_text().splitlines()]
    assert header == ["index", "label"]
    assert [row[1] for row in rows[:3]] == ["tab here", "new line", "plain"]
    assert len(rows) == 30


def test_the_tensorboard_reporter_alone_writes_the_history(event_accumulator, tmp_path):
    result = dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300},
                        reporters=["tensorboard"], out=tmp_path / "alone", **QUICK)  # fmt: skip
    events = event_accumulator(tmp_path / "alone" / "tensorboard")
    assert [point.step for point in events.Scalars("train/loss")] == [int(row["step"]) for row in result.history]
    assert events.Scalars("metrics/rmse")[0].value == pytest.approx(result.metrics["rmse"], rel=1e-6)


def test_a_later_run_into_the_same_folder_writes_its_own_curves(event_accumulator, tmp_path):
    """The callback's 'already written' belongs to its own dimred run, not to the folder."""
    settings = {"dataset.n_samples": 300}
    dimred.run(dataset="swissroll", model="mlp-ae", settings=settings, callbacks=["tensorboard"], reporters=[],
               out=tmp_path / "run", **QUICK)  # fmt: skip
    again = dimred.run(dataset="swissroll", model="mlp-ae", settings=settings, reporters=["tensorboard"], seed=1,
                       out=tmp_path / "run", overwrite=True, **QUICK)  # fmt: skip
    events = event_accumulator(tmp_path / "run" / "tensorboard")
    assert [point.step for point in events.Scalars("train/loss")] == [int(row["step"]) for row in again.history]


def test_tensorboard_log_dir_option(event_accumulator, tmp_path):
    log_dir = tmp_path / "tb"
    _invoke("--out", "run", "--reporter", "tensorboard", "--callback", "tensorboard",
            "--set", f"callback.tensorboard.log_dir={log_dir}", "--set", f"reporter.tensorboard.log_dir={log_dir}",
            "--set", "reporter.tensorboard.max_points=100")  # fmt: skip
    assert not (tmp_path / "run" / "tensorboard").exists()
    events = event_accumulator(tmp_path / "tb" / "run")  # one subfolder per run, named after it
    assert len(events.Scalars("train/loss")) == 50  # written once, by the callback
    assert len(np.loadtxt(next((tmp_path / "tb" / "run").glob("*/codes/tensors.tsv")), delimiter="\t")) == 100


def test_runs_sharing_a_tensorboard_log_dir_each_keep_their_own_curves_and_codes(event_accumulator, tmp_path):
    """Two comparisons' runs (no folders) and a resumed run into one log_dir: none mixes into another."""
    settings = {"dataset.n_samples": 300, "reporter.tensorboard.log_dir": str(tmp_path / "tb"),
                "callback.tensorboard.log_dir": str(tmp_path / "tb")}  # fmt: skip
    for _ in range(2):
        dimred.compare("swissroll", ["mlp-ae"], out=None, reporters=["tensorboard"], callbacks=["tensorboard"],
                       settings=settings, **QUICK)  # fmt: skip
    folders = sorted(path.name for path in (tmp_path / "tb").iterdir())
    assert folders == ["swissroll-mlp-ae-seed0", "swissroll-mlp-ae-seed0-2"]
    for folder in folders:
        assert [point.step for point in event_accumulator(tmp_path / "tb" / folder).Scalars("train/loss")] == list(
            range(1, 51)
        )


def test_each_run_of_a_comparison_is_a_row_of_tensorboards_hparams_table(event_accumulator, tmp_path):
    """TensorBoard's HPARAMS tab compares runs by their settings and final figures: it had been empty."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    settings = {"dataset.n_samples": 300, "reporter.tensorboard.log_dir": str(tmp_path / "tb")}
    dimred.compare("swissroll", ["mlp-ae", "pca"], out=None, reporters=["tensorboard"], settings=settings, **QUICK)
    sessions = {}
    for folder in sorted((tmp_path / "tb").iterdir()):
        content = event_accumulator(folder).PluginTagToContent("hparams")
        data = {tag: plugin_data_pb2.HParamsPluginData.FromString(value) for tag, value in content.items()}
        start = data["_hparams_/session_start_info"].session_start_info.hparams
        sessions[folder.name] = {key: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
                                 for key, value in start.items()}  # fmt: skip
        metrics = [info.name.tag for info in data["_hparams_/experiment"].experiment.metric_infos]
        assert {"metrics/rmse", "metrics/trustworthiness", "metrics/train_seconds"} <= set(metrics)
        assert event_accumulator(folder).Scalars("metrics/rmse")  # the figures the table shows
    autoencoder, pca = sessions["swissroll-mlp-ae-seed0"], sessions["swissroll-pca-seed0"]
    assert (autoencoder["model"], autoencoder["dataset"], autoencoder["loss"]) == ("mlp-ae", "swissroll", "mse")
    assert autoencoder["training.steps"] == QUICK["steps"]
    assert autoencoder["model.hidden"] == "[128, 64]"  # a list as JSON text
    assert autoencoder["model.batch_norm"] == "True"  # not the number 1
    assert autoencoder["dataset.n_samples"] == 300
    assert pca["model"] == "pca"


def test_tensorboard_plugins_pass_the_contract_checks(event_accumulator):
    check_callback_plugin(tensorboard_tracker.TensorBoardCallback)
    check_reporter_plugin(tensorboard_tracker.TensorBoardReporter)


# -- without the extras ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--reporter", "mlflow"], "the mlflow reporter needs MLflow: pip install 'dimred[mlflow]'"),
        (["--callback", "mlflow"], "the mlflow callback needs MLflow: pip install 'dimred[mlflow]'"),
        (  # the missing package is said first, not a store it could not have logged to anyway
            ["--callback", "mlflow", "--set", "callback.mlflow.tracking_uri=http://127.0.0.1:1"],
            "the mlflow callback needs MLflow: pip install 'dimred[mlflow]'",
        ),
        (
            ["--reporter", "mlflow", "--set", "reporter.mlflow.tracking_uri=sqlite:///no-such-folder/m.db"],
            "the mlflow reporter needs MLflow: pip install 'dimred[mlflow]'",
        ),
        (
            ["--reporter", "tensorboard"],
            "the tensorboard reporter needs TensorBoard: pip install 'dimred[tensorboard]'",
        ),
        (
            ["--callback", "tensorboard"],
            "the tensorboard callback needs TensorBoard: pip install 'dimred[tensorboard]'",
        ),
    ],
)
def test_without_the_extra_naming_the_plugin_is_one_clear_error(arguments, message, monkeypatch, tmp_path):
    for package in ("mlflow", "tensorboard"):
        monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, *arguments])
    assert result.exit_code == 2, result.output
    assert f"Error: {message}" in result.output
    assert not (tmp_path / "runs").exists()  # refused before anything ran


@pytest.mark.parametrize(
    ("arguments", "package", "message"),
    [
        (["--model", "umap"], "umap", "model 'umap' needs umap-learn, which is installed"),
        (["--model", "pca", "--reporter", "mlflow"], "mlflow", "the mlflow reporter needs MLflow, which is installed"),
    ],
)
def test_an_extra_installed_but_failing_to_import_says_so_instead_of_naming_the_extra(
    arguments, package, message, tmp_path
):
    """An optional package that is there but cannot be imported (an MLflow whose setuptools lost pkg_resources)
    had been reported as missing, with the pip command that installs what is already installed."""
    broken = tmp_path / "site" / package
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pkg_resources'\")\n")
    command = [sys.executable, "-m", "dimred", "run", *ROLL, *arguments, "--out", str(tmp_path / "run")]
    environment = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "OMP_NUM_THREADS": "1"}
    shown = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=tmp_path)
    assert shown.returncode == 1, shown.stderr
    expected = f"Error: {message} but fails to import (ModuleNotFoundError: No module named 'pkg_resources')"
    assert shown.stderr.strip().splitlines()[-1].startswith(expected), shown.stderr
    assert "pip install" not in shown.stderr
    assert not (tmp_path / "run").exists()


def test_a_missing_package_is_said_missing_without_a_folder_of_its_name():
    with pytest.raises(ModuleNotFoundError) as raised:
        dimred.plugin.import_installed("dimred_no_such_package")
    assert str(raised.value) == "No module named 'dimred_no_such_package'"


def test_importing_the_tracker_plugins_imports_neither_package():
    code = (
        "import sys, dimred.plugins.mlflow_tracker, dimred.plugins.tensorboard_tracker\n"
        "print(sorted(name for name in ('mlflow', 'tensorboard', 'torch', 'matplotlib') if name in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


@pytest.mark.parametrize("shared_log_dir", [False, True])
def test_a_resumed_run_logs_each_step_once(event_accumulator, interrupt_once, tmp_path, shared_log_dir):
    settings = {"dataset.n_samples": 300} | ({"callback.tensorboard.log_dir": str(tmp_path / "tb")}
                                             if shared_log_dir else {})  # fmt: skip
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": settings, "reporters": [],
                 "out": tmp_path / "run", "steps": 60, "batch_size": 100, "checkpoint_every": 20}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(callbacks=["tensorboard", interrupt_once], **arguments)
    time.sleep(1.1)  # a resume comes later: TensorBoard reads event files in the order of the second in their names
    resumed = dimred.run(callbacks=["tensorboard", interrupt_once], resume=True, **arguments)
    logs = tmp_path / "tb" if shared_log_dir else tmp_path / "run"
    assert [path.name for path in logs.iterdir() if path.is_dir()] == ["run" if shared_log_dir else "tensorboard"]
    steps = [point.step for point in event_accumulator(logs / ("run" if shared_log_dir else "tensorboard")).Scalars(
        "train/loss")]  # fmt: skip
    assert steps == [int(row["step"]) for row in resumed.history] == list(range(1, 61))


@pytest.mark.parametrize("kind", ["reporter", "callback"])
def test_tensorboard_for_a_run_without_a_folder_says_it_wrote_nothing(event_accumulator, tmp_path, kind):
    """dimred compare's runs have no folder: without a log_dir the event files had gone nowhere, in silence."""
    plugins = {"reporters": ["tensorboard"]} if kind == "reporter" else {"callbacks": ["tensorboard"], "reporters": []}
    with pytest.warns(UserWarning, match=rf"the tensorboard {kind} writes nothing for run swissroll-mlp-ae-seed0: it "
                                         rf"has no folder .* set {kind}.tensorboard.log_dir=FOLDER"):  # fmt: skip
        dimred.compare("swissroll", ["mlp-ae"], settings={"dataset.n_samples": 300}, steps=5, out=tmp_path / "c",
                       **plugins)  # fmt: skip
    assert not list(tmp_path.rglob("events.out.tfevents*"))


@pytest.mark.parametrize(("kind", "below"), [("reporter", "x"), ("callback", "")])
def test_a_tensorboard_log_dir_that_a_file_blocks_is_refused_before_training(tmp_path, kind, below):
    (tmp_path / "afile").write_text("mine")
    log_dir = tmp_path / "afile" / below if below else tmp_path / "afile"
    setting = f"{kind}.tensorboard.log_dir={log_dir}"
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, f"--{kind}", "tensorboard", "--set",
                                      setting, "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2
    assert "is a file, not a folder" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["reporter", "callback"])
def test_the_users_files_in_the_run_folders_tensorboard_folder_are_never_written_over(tmp_path, kind):
    """Under --overwrite the event and projector files had replaced a user's files of those names there, and a
    file named tensorboard had failed the run with a bare 'File exists'."""
    for folder, blocking in (("run", "tensorboard/projector_config.pbtxt"), ("other", "tensorboard")):
        (tmp_path / folder / blocking).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / blocking).write_text("mine")
        result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, f"--{kind}", "tensorboard",
                                          "--out", str(tmp_path / folder), "--overwrite"])  # fmt: skip
        assert result.exit_code != 0
        assert (tmp_path / folder / blocking).read_text() == "mine"
        said = "holds projector_config.pbtxt, which this run did not write" if folder == "run" else "is a file, not"
        assert f"{tmp_path / folder / 'tensorboard'} {said}" in result.output
        assert f"set {kind}.tensorboard.log_dir=FOLDER" in result.output
    _invoke(f"--{kind}", "tensorboard", "--out", str(tmp_path / "again"))  # dimred's own files there are replaced
    _invoke(f"--{kind}", "tensorboard", "--out", str(tmp_path / "again"), "--overwrite")
    stray = tmp_path / "killed" / "tensorboard" / "events.out.tfevents.1.host.1.0"  # a killed run's, never listed
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"")
    _invoke(f"--{kind}", "tensorboard", "--out", str(tmp_path / "killed"), "--overwrite")  # a writer never reuses one
    assert len(list(stray.parent.glob("events.out.tfevents.*"))) == 2


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, which refuses every new file")
@pytest.mark.parametrize(
    ("setting", "message"),
    [("reporter.mlflow.tracking_uri=sqlite:////proc/dimred.db", "sqlite:////proc/dimred.db: /proc is not writable"),
     ("reporter.tensorboard.log_dir=/proc/dimred/tb", "log_dir /proc/dimred/tb: /proc is not writable")],
)  # fmt: skip
def test_a_tracker_destination_that_cannot_be_written_is_refused_before_training(tmp_path, setting, message):
    """Root passes every permission check, so the reporters had found out only after training (and the callbacks
    as it started)."""
    reporter = setting.split(".")[1]
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, "--reporter", reporter, "--set",
                                      setting, "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: bad reporter.{reporter} options: {message} (making a file there failed: ")
    assert not (tmp_path / "run").exists()


def test_unwritable_says_why_a_path_cannot_be_written(tmp_path):
    from dimred.plugin import unwritable

    (tmp_path / "afile").write_text("mine")
    assert unwritable(tmp_path / "new" / "deeper") is None
    assert unwritable(tmp_path / "afile") is None
    assert unwritable(tmp_path / "afile" / "below") == f"{tmp_path / 'afile'} is a file, not a folder"
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "deeper")  # had been taken for the folder it is in
    assert (
        unwritable(tmp_path / "dangling" / "log")
        == f"{tmp_path / 'dangling'} is a link to nothing ({tmp_path / 'nowhere' / 'deeper'})"
    )
    assert (tmp_path / "afile").read_text() == "mine"
    assert sorted(tmp_path.iterdir()) == [tmp_path / "afile", tmp_path / "dangling"]  # the probe left nothing


def test_a_resume_against_another_mlflow_store_names_the_run_and_the_store(mlflow, interrupt_once, tmp_path,
                                                                            monkeypatch):  # fmt: skip
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "reporters": [],
                 "out": tmp_path / "run", "steps": 60, "batch_size": 100, "checkpoint_every": 20,
                 "callbacks": ["mlflow", interrupt_once]}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    other = f"sqlite:///{tmp_path / 'other.db'}"  # as MLFLOW_TRACKING_URI set otherwise in the resuming shell
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    mlflow.set_tracking_uri(other)
    with pytest.raises(dimred.DimredError, match=f"this run logged to is not in the store at {other} .*--overwrite"):
        dimred.run(resume=True, **arguments)
    assert not (tmp_path / "other.db").exists()  # not made by looking for the run there


def test_a_resume_naming_another_experiment_than_its_mlflow_runs_is_refused_before_training(mlflow, interrupt_once,
                                                                                            tmp_path):  # fmt: skip
    """The callback reopens the run where it started; a reporter naming another experiment was refused only once
    the whole resumed training was done, and its MLflow run got no results."""
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "reporters": [],
                 "out": tmp_path / "run", "steps": 60, "batch_size": 100, "checkpoint_every": 20,
                 "callbacks": ["mlflow", interrupt_once]}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    left = {path.name: path.read_bytes() for path in (tmp_path / "run").iterdir()}
    resumed = arguments | {"reporters": ["mlflow"], "settings": {"dataset.n_samples": 300,
                                                                 "reporter.mlflow.experiment": "other"}}  # fmt: skip
    with pytest.raises(
        dimred.UsageError,
        match=r"mlflow's experiment is 'other', but the MLflow run \w+ this run "
        r"logged to is in '.*' \(a resumed run goes on where it started\)",
    ):
        dimred.run(resume=True, **resumed)
    client, [run] = _runs(mlflow, "test_a_resume_naming_another_experiment_than_its_mlflow_runs_is_refused_before_"
                                  "training")  # fmt: skip
    assert run.info.status == "KILLED"  # as the interrupted run left it: not reopened
    assert max(point.step for point in client.get_metric_history(run.info.run_id, "loss")) <= 35  # none resumed
    # refused before the folder was taken: its config.json had taken the refused reporter, so a plain resume was
    # refused too
    assert {path.name: path.read_bytes() for path in (tmp_path / "run").iterdir()} == left
    dimred.run(resume=True, **arguments | {"reporters": ["mlflow"], "settings": {
        "dataset.n_samples": 300, "reporter.mlflow.run_name": "renamed on resume"}})  # fmt: skip
    [run] = _runs(mlflow, "test_a_resume_naming_another_experiment_than_its_mlflow_runs_is_refused_before_"
                          "training")[1]  # fmt: skip
    assert (run.info.status, run.info.run_name) == ("FINISHED", "renamed on resume")  # the name had been dropped


def test_the_mlflow_callback_refuses_a_deleted_experiment_before_it_takes_the_run_folder(mlflow, tmp_path):
    """The callback found it as training started, after --overwrite had cleared the earlier run's results."""
    out = str(tmp_path / "run")
    assert CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, "--out", out]).exit_code == 0
    before = {path.name: path.read_bytes() for path in (tmp_path / "run").iterdir()}
    client = mlflow.MlflowClient()
    client.delete_experiment(client.create_experiment("deleted"))
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, "--callback", "mlflow", "--set",
                                      "callback.mlflow.experiment=deleted", "--out", out, "--overwrite"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "MLflow experiment 'deleted' is deleted in" in result.stderr
    assert {path.name: path.read_bytes() for path in (tmp_path / "run").iterdir()} == before


def test_mlflows_default_store_is_checked_before_training(mlflow, tmp_path, monkeypatch):
    """With neither tracking_uri nor MLFLOW_TRACKING_URI, MLflow logs to mlflow.db in the working folder; that
    store was found unusable only after the training (or, with the callback, after minutes of retries)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(None)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlflow.db").mkdir()
    for plugin in ("callback", "reporter"):
        result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, f"--{plugin}", "mlflow",
                                          "--out", str(tmp_path / "run")])  # fmt: skip
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"Error: the mlflow {plugin} cannot log: MLflow's tracking store sqlite:///")
        assert f"names the folder {tmp_path / 'mlflow.db'}" in result.stderr
        assert f"set {plugin}.mlflow.tracking_uri" in result.stderr
        assert not (tmp_path / "run").exists()


def test_an_sqlite_database_of_another_program_is_refused_and_left_as_it_was(tmp_path):
    """MLflow had added its fifty tables to it, with exit 0."""
    import sqlite3

    database = tmp_path / "customers.db"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
        connection.commit()
    before = database.read_bytes()
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, "--reporter", "mlflow", "--set",
                                      f"reporter.mlflow.tracking_uri=sqlite:///{database}"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "an SQLite database without MLflow's tables" in result.stderr
    assert database.read_bytes() == before


def test_a_store_set_on_one_mlflow_plugin_is_used_whatever_mlflow_tracking_uri_says(tmp_path, monkeypatch):
    """The variable, which neither plugin logs to here, had been checked for the plugin without the option."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}")
    store = f"sqlite:///{tmp_path / 'chosen.db'}"
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, "--callback", "mlflow", "--reporter",
                                      "mlflow", "--set", f"callback.mlflow.tracking_uri={store}", "--out",
                                      str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 0, result.output
    import mlflow

    [run] = mlflow.MlflowClient(store).search_runs(["0"])
    assert run.info.status == "FINISHED"
    assert "loss" in run.data.metrics


def test_a_deleted_experiment_is_named_with_how_to_restore_it(mlflow, tmp_path):
    client = mlflow.MlflowClient()
    client.delete_experiment(client.create_experiment("gone"))
    with pytest.raises(
        dimred.UsageError,
        match=r"MLflow experiment 'gone' is deleted in .*: restore it \(MLFLOW_TRACKING_URI="
        + re.escape(shlex.quote(client.tracking_uri))
        + r" mlflow experiments restore --experiment-id \w+\) or name another",  # in that store, not the default
    ):
        dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300,
                   "callback.mlflow.experiment": "gone"}, callbacks=["mlflow"], out=None, **QUICK)  # fmt: skip
    # the reporter alone, before training (it had been found only once the model was trained and saved)
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, "--reporter", "mlflow", "--set",
                                      "reporter.mlflow.experiment=gone", "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "MLflow experiment 'gone' is deleted in" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_deleted_experiment_named_by_the_environment_is_refused_before_training(mlflow, tmp_path, monkeypatch):
    """It had been found only once the model was trained (the option alone was checked before)."""
    client = mlflow.MlflowClient()
    client.delete_experiment(client.create_experiment("gone-by-environment"))
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "gone-by-environment")
    result = CliRunner().invoke(cli, ["run", *ROLL, "--model", "mlp-ae", *SMALL, "--reporter", "mlflow", "--out",
                                      str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "MLflow experiment 'gone-by-environment' is deleted in" in result.stderr
    assert "training" not in result.stderr
    assert not (tmp_path / "run").exists()


class AtSign(Metric):
    name = "at-sign"
    description = "a value under a name MLflow refuses"

    def compute(self, context):
        return {"precision@10": 0.5, "long" * 63: 1.0}  # 252 characters, beyond MLflow's 250


def test_a_metric_name_mlflow_refuses_is_left_out_and_said_not_the_whole_record(mlflow, register_in_process,
                                                                                tmp_path):  # fmt: skip
    """One such name had failed the whole batch: the MLflow run had no metrics and no artifacts."""
    register_in_process(plugin_module("at_sign", register_metrics=lambda register: register(AtSign)))
    with pytest.warns(UserWarning, match=r"MLflow: not logged: precision@10, (long)+; MLflow takes metric names"):
        result = dimred.run("swissroll", "pca", settings={"dataset.n_samples": 300}, reporters=["mlflow"],
                            out=tmp_path / "run")  # fmt: skip
    assert result.metrics["precision@10"] == 0.5  # metrics.json keeps it
    client, [run] = _runs(mlflow, "test_a_metric_name_mlflow_refuses_is_left_out_and_said_not_the_whole_record")
    assert run.info.status == "FINISHED"
    assert "trustworthiness" in run.data.metrics
    assert "precision@10" not in run.data.metrics
    assert "long" * 63 not in run.data.metrics
    assert "model.safetensors" in {artifact.path for artifact in client.list_artifacts(run.info.run_id)}


def test_an_evaluation_logs_its_configuration_and_the_model_it_scored(mlflow, tmp_path):
    dimred.run(dataset="swissroll", model="pca", settings={"dataset.n_samples": 300}, out=tmp_path / "run")
    dimred.evaluate(tmp_path / "run", dataset="swissroll", settings={"dataset.n_samples": 200}, reporters=["mlflow"],
                    out=None)  # fmt: skip
    _client, [run] = _runs(mlflow, "test_an_evaluation_logs_its_configuration_and_the_model_it_scored")
    assert run.data.params["model"] == str(tmp_path / "run")
    assert (run.data.params["dataset.options.n_samples"], run.data.params["seed"]) == ("200", "1")
    assert (run.data.tags["dimred.model"], run.info.run_name) == ("pca", "swissroll-pca-seed1")
    assert "trustworthiness" in run.data.metrics


def test_a_comparisons_run_goes_where_its_runs_went_whichever_plugin_named_the_place(mlflow):
    dimred.compare("swissroll", ["mlp-ae", "pca"], out=None, callbacks=["mlflow"], reporters=["mlflow"],
                   settings={"dataset.n_samples": 300, "callback.mlflow.experiment": "named on the callback"},
                   **QUICK)  # fmt: skip
    _client, runs = _runs(mlflow, "named on the callback")
    [comparison] = [run for run in runs if run.info.run_name == "compare-swissroll"]
    nested = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == comparison.info.run_id]
    assert sorted(run.data.tags["dimred.model"] for run in nested) == ["mlp-ae", "pca"]
    assert comparison.data.params["runs"] == "2"


def test_disagreeing_callback_and_reporter_options_stop_a_comparison_before_any_run(mlflow, tmp_path):
    result = CliRunner().invoke(cli, ["compare", *ROLL, "--model", "pca", "--model", "mlp-ae", "--steps", "10",
                                      "--reporter", "mlflow", "--callback", "mlflow", "--set",
                                      "reporter.mlflow.experiment=a", "--set", "callback.mlflow.experiment=b",
                                      "--out", str(tmp_path / "c")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "callback.mlflow.experiment is 'b' and reporter.mlflow.experiment 'a'" in result.output.replace("\n", " ")
    assert "pca, seed 0" not in result.output
    assert mlflow.MlflowClient().get_experiment_by_name("a") is None


def test_a_run_left_open_by_a_killed_process_is_ended_by_the_next(mlflow):
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(os.environ["MLFLOW_EXPERIMENT_NAME"]) or client.get_experiment(
        client.create_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
    )
    stale = client.create_run(experiment.experiment_id).info.run_id
    mlflow_tracker.tracking._OPEN[stale] = client  # as a callback's on_fit_failed that never ran leaves it
    dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300}, reporters=[],
               callbacks=["mlflow"], out=None, **QUICK)  # fmt: skip
    assert client.get_run(stale).info.status == "FAILED"
    assert not mlflow_tracker.tracking._OPEN


def test_the_tensorboard_reporter_shows_an_evaluation_too(event_accumulator, tmp_path):
    """An evaluation's config names its model by its path, not as a plugin and options: the hyperparameters had
    failed the reporter ('str' object has no attribute 'items')."""
    run = dimred.run("swissroll", "mlp-ae", settings={"dataset.n_samples": 300}, out=tmp_path / "run", reporters=[],
                     **QUICK)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a skipped reporter warns
        dimred.evaluate(run.path, "swissroll", out=tmp_path / "ev", reporters=["tensorboard"])
    assert event_accumulator(tmp_path / "ev" / "tensorboard").Scalars("metrics/rmse")


def test_an_mlflow_error_is_said_by_its_first_line_or_its_type():
    """A store's SQL error had been said with its query over seven lines; an error without a message had failed the
    callback with an IndexError."""
    from dimred.plugins.mlflow_tracker.tracking import _said

    assert _said(RuntimeError("(sqlite3.DatabaseError) file is not a database\n[SQL: SELECT ...]")) == (
        "(sqlite3.DatabaseError) file is not a database"
    )
    assert _said(RuntimeError()) == "RuntimeError"
