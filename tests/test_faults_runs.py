"""Runs that fail never leave a folder that looks like a run, never report a wrong answer with exit 0, and one
failing plugin costs only itself: run folders, resume, locks, signals, failing metrics/reporters/models,
degenerate data and numbers beyond the model's dtype."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import dimred
from conftest import LinearNetwork, plugin_module
from dimred._core.atomic import atomic_path, is_temporary
from dimred._core.errors import UsageError
from dimred._core.runfiles import LOCK_NAME
from dimred._io import folderlock
from dimred._io.folderlock import locked_folder
from dimred.cli import cli
from dimred.plugin import Data, Dataset, Loss, Metric, Model, Reporter, option

SCRIPT = str(Path(sys.executable).with_name("dimred"))
QUICK = ["--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=200", "--steps", "5",
         "--reporter", "metrics-table"]  # fmt: skip


def invoke(*arguments: str):
    return CliRunner().invoke(cli, ["run", *arguments])


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error:")]


def digest(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


class BrokenMetric(Metric):
    name = "broken-metric"
    description = "raises"

    def compute(self, context):
        raise RuntimeError("boom in the metric")


class BrokenReporter(Reporter):
    name = "broken-reporter"
    description = "raises"

    def report(self, record):
        raise RuntimeError("boom in the reporter")


class NaNCodes(Model):
    """Trains fine, but its eval-mode codes are NaN."""

    name = "nan-codes"
    description = "NaN codes in eval mode"
    default_loss = "mse"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")

    def build(self, n_features: int):
        class Network(LinearNetwork):
            def encode(self, x):
                codes = super().encode(x)
                return codes if self.training else codes * float("nan")

        return Network(n_features, self.options.n_components)


class FailsToBuild(NaNCodes):
    name = "fails-to-build"
    description = "raises while building"

    def build(self, n_features: int):
        raise RuntimeError("cannot build this")


@pytest.fixture
def broken(register_in_process):
    register_in_process(plugin_module(
        "broken_plugins",
        register_reporters=lambda register: register(BrokenReporter),
        register_models=lambda register: (register(NaNCodes), register(FailsToBuild)),
    ))  # fmt: skip


@pytest.fixture
def broken_metric(register_in_process):
    register_in_process(plugin_module("broken_metric", register_metrics=lambda register: register(BrokenMetric)))


class TooBigAGraph(Loss):
    name = "too-big-a-graph"
    description = "runs out of memory while preparing"

    def prepare(self, data):
        raise MemoryError("Unable to allocate 74.5 GiB for an array with shape (100000, 100000)")

    def __call__(self, batch):
        return batch.z.sum()


def test_a_plugin_running_out_of_memory_is_named_with_what_to_shrink(register_in_process, tmp_path):
    register_in_process(plugin_module("too_big", register_losses=lambda register: register(TooBigAGraph)))
    result = invoke(*QUICK, "--loss", "too-big-a-graph", "--out", str(tmp_path / "r"))
    assert result.exit_code == 1, result.output
    assert error_lines(result) == ["Error: loss 'too-big-a-graph' ran out of memory; ask for less at once: fewer "
                                   "rows, a smaller batch or a smaller model (while it tried to prepare)"]  # fmt: skip
    assert not (tmp_path / "r").exists()


OUT_OF_MEMORY = """
import resource, sys
import torch  # mapped before the limit, as the plugins
import dimred.plugins.neighbour_embedding
from dimred.cli import cli
with open("/proc/self/statm") as statm:
    size = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (size + 1_000_000_000, resource.RLIM_INFINITY))
cli.main(sys.argv[1:])
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="measures the process's memory through /proc")
def test_running_out_of_memory_is_one_line_that_says_what_to_shrink(tmp_path):
    """Two 10 000-wide layers build in the gigabyte left to the process, but not the optimizer's copies of them."""
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((80, 40)))
    arguments = ["run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npy'}", "--model", "ne-ae",
                 "--set", "model.hidden=10000,10000", "--steps", "3", "--out", str(tmp_path / "run")]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY, *arguments], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == ("Error: dimred ran out of memory; ask for less at once: fewer rows, a "
                                            "smaller batch or a smaller model")  # fmt: skip
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


# -- half-finished folders -------------------------------------------------------------------------------------
def test_a_usage_error_found_during_training_leaves_no_folder(tmp_path):
    out = tmp_path / "run"
    result = invoke(*QUICK, "--batch-size", "1", "--out", str(out))  # batch norm needs two rows per batch
    assert result.exit_code == 2, result.output
    assert len(error_lines(result)) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "refused",
    [
        ["--batch-size", "1"],
        ["--optimizer", "muon", "--set", "model.hidden=4,4"],
        ["--model", "tsne", "--set", "model.perplexity=500"],
        ["--model", "isomap", "--set", "model.n_neighbors=500"],
    ],
    ids=["batch norm on one row", "muon with no matrix to step", "t-SNE's rows", "Isomap's rows"],
)  # fmt: skip (one-call models refuse too few rows as they fit: the folder had been taken over before)
@pytest.mark.parametrize("earlier", ["finished", "killed with a checkpoint"])
def test_a_usage_error_found_as_training_starts_leaves_an_earlier_runs_folder_as_it_was(tmp_path, refused, earlier):
    """The folder had been taken over first: --overwrite lost the earlier run's results, and a failed run's
    checkpoint was removed by the run that then refused to start."""
    out = tmp_path / "run"
    assert invoke(*QUICK, "--checkpoint-every", "2", "--out", str(out)).exit_code == 0
    if earlier != "finished":  # as a run killed after its last checkpoint leaves its folder
        for name in ("model.safetensors", "metrics.json", "history.csv"):
            (out / name).unlink()
        (out / "FAILED.txt").write_text("This run did not finish (interrupted).\n")
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    one_call = ["--dataset", "swissroll", "--set", "dataset.n_samples=200", "--reporter", "metrics-table"]
    quick = one_call if "--model" in refused else QUICK
    result = invoke(*quick, *refused, "--out", str(out), "--overwrite")
    assert result.exit_code == 2, result.output
    assert len(error_lines(result)) == 1
    assert "needs more rows" in result.output or "--model" not in refused
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


@pytest.mark.parametrize("out", ["kept/new/nested/run", "kept/new/../empty/run"])
def test_a_failed_run_removes_the_folders_it_created_above_its_own_and_no_other(broken, tmp_path, out):
    """--out new/nested/run: the run's own folder went, the two above it stayed, empty; through 'new/..' the
    folder 'empty' that was there stays (and 'new', which the run made, goes)."""
    (tmp_path / "kept" / "empty").mkdir(parents=True)
    result = invoke("--dataset", "swissroll", "--model", "nan-codes", "--steps", "3", "--out", str(tmp_path / out))
    assert result.exit_code == 1, result.output
    assert [path.name for path in (tmp_path / "kept").iterdir()] == ["empty"]
    assert list((tmp_path / "kept" / "empty").iterdir()) == []


def test_a_failed_run_through_a_parent_it_made_or_that_cannot_be_made_removes_only_what_it_made(tmp_path):
    """'x/..' names a folder that was there (x did not exist, so it had been taken for one the run made, and a
    failure removed the user's files in it); a name too long to make had left the folders made above it."""
    from dimred._io.rundir import claimed_directory

    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "data.csv").write_text("mine")
    with pytest.raises(RuntimeError), claimed_directory(tmp_path / "work" / "x" / "..", overwrite=True):
        raise RuntimeError("the run failed")
    kept = {path.name for path in (tmp_path / "work").iterdir() if not path.name.startswith(".")}
    assert kept == {"FAILED.txt", "data.csv"}  # and no 'x'
    with (
        pytest.raises(UsageError, match="cannot create the output folder"),
        claimed_directory(tmp_path / "new" / "nested" / ("z" * 300)),
    ):
        pass
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", ["run", "compare"])
def test_an_out_name_too_long_for_the_file_system_is_a_folder_that_cannot_be_made(tmp_path, command):
    """A last name of 256 characters failed with the system's bare 'File name too long' and exit 1."""
    too_long = tmp_path / ("b" * 256)
    result = CliRunner().invoke(cli, [command, "--dataset", "swissroll", "--model", "pca", "--out", str(too_long)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: cannot create the output folder {too_long}: File name too long")


def test_a_failure_in_a_folder_named_for_it_removes_the_empty_folders_made_above_it_too(tmp_path):
    """An evaluation interrupted in its default folder removed that folder but left an empty evaluations/ in the
    run's folder (and a run in a fresh directory an empty runs/)."""
    from dimred._io.rundir import claimed_directory, timestamped_directory

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(b"mine")
    named = timestamped_directory(tmp_path / "run" / "evaluations", "digits")

    def interrupted(folder):
        (folder / "metrics.json").write_text("{}")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), claimed_directory(named, automatic=True, work="evaluation") as folder:
        interrupted(folder)
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["model.safetensors"]


def test_files_the_user_changed_or_made_in_their_folders_while_a_run_worked_stay_theirs(tmp_path):
    """A run given a project folder (--out . --overwrite) listed as its own every file new or changed while it
    worked: the user's edited notes and a module saved into their src/ folder, which the next --overwrite deleted."""
    from dimred._io import written
    from dimred._io.rundir import claimed_directory

    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "analysis.py").write_text("mine")
    with claimed_directory(tmp_path, overwrite=True) as folder:
        (folder / "metrics.json").write_text("{}")  # the run's, as a reporter writes it (not atomically)
        (folder / "plots").mkdir()
        (folder / "plots" / "codes.png").write_bytes(b"png")
        (folder / "notes.txt").write_text("mine, edited meanwhile")
        (folder / "src" / "new_module.py").write_text("mine, new")
    assert set(written.listed_files(tmp_path)) == {"metrics.json", "plots/codes.png"}
    with claimed_directory(tmp_path, overwrite=True):
        pass
    assert (tmp_path / "notes.txt").read_text() == "mine, edited meanwhile"
    assert (tmp_path / "src" / "new_module.py").read_text() == "mine, new"
    assert not (tmp_path / "metrics.json").exists()
    assert not (tmp_path / "plots").exists()


def test_an_out_below_a_file_or_in_a_folder_another_run_holds_is_refused_before_a_one_call_model_fits(tmp_path):
    """A one-call model takes its folder once it has fitted: these refusals came only after the fit."""
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("--dataset", "swissroll", "--model", "pca", "--out", str(tmp_path / "notes.txt" / "run"))
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [f"Error: cannot create the output folder {tmp_path / 'notes.txt' / 'run'}: "
                                   f"{tmp_path / 'notes.txt'} is not a folder"]  # fmt: skip
    (tmp_path / "held").mkdir()
    with locked_folder(tmp_path / "held"):
        result = invoke("--dataset", "swissroll", "--model", "pca", "--out", str(tmp_path / "held"))
    assert result.exit_code == 2, result.output
    assert error_lines(result)[0].startswith(f"Error: {tmp_path / 'held'} is being written by another dimred process")


def test_a_bad_config_value_creates_nothing(tmp_path):
    config = tmp_path / "experiment.toml"
    config.write_text('[dataset]\nname = "swissroll"\n[model]\nname = "mlp-ae"\n[training]\nlr = "fast"\n')
    result = invoke("--config", str(config), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert "lr" in error_lines(result)[0]
    assert not (tmp_path / "run").exists()


def test_a_model_whose_codes_are_nan_fails_and_leaves_no_folder(broken, tmp_path):
    out = tmp_path / "run"
    result = invoke("--dataset", "swissroll", "--model", "nan-codes", "--steps", "3", "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "not finite" in error_lines(result)[0]
    assert "unexpected" not in result.output
    assert not out.exists()


def test_a_failed_run_in_an_existing_folder_is_marked_and_the_next_run_replaces_it(broken, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    first = invoke("--dataset", "swissroll", "--model", "nan-codes", "--steps", "3", "--out", str(out),
                   "--overwrite")  # fmt: skip
    assert first.exit_code == 1
    assert "did not finish" in (out / "FAILED.txt").read_text()
    second = invoke(*QUICK, "--out", str(out))  # no --overwrite needed: the folder holds a failed run
    assert second.exit_code == 0, second.output
    assert not (out / "FAILED.txt").exists()
    assert (out / "model.safetensors").exists()


def test_overwrite_replaces_the_earlier_runs_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "run"
    first = invoke(*QUICK[:-2], "--reporter", "codes-plot", "--reporter", "loss-curve", "--reporter", "tensorboard",
                   "--checkpoint-every", "2", "--out", str(out))  # fmt: skip
    assert first.exit_code == 0, first.output
    assert {"codes.png", "loss.png", "checkpoint.safetensors", "tensorboard"} <= {path.name for path in out.iterdir()}
    (out / "notes.txt").write_text("mine")
    (out / "tensorboard" / "mine.txt").write_text("mine too")
    (out / "evaluations").mkdir()
    (out / "evaluations" / "table.csv").write_text("kept")
    second = invoke(*QUICK[:-2], "--reporter", "codes-plot", "--out", str(out), "--overwrite")
    assert second.exit_code == 0, second.output
    left = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if not path.name.startswith("."))
    assert left == ["codes.png", "config.json", "evaluations", "evaluations/table.csv", "history.csv", "metrics.json",
                    "model.safetensors", "notes.txt", "tensorboard", "tensorboard/mine.txt"]  # fmt: skip
    assert [reporter["name"] for reporter in json.loads((out / "config.json").read_text())["reporters"]] == [
        "codes-plot"
    ]


def test_taking_a_folder_over_removes_a_killed_runs_temporaries_and_no_hidden_file_of_the_users(tmp_path):
    out = tmp_path / "run"
    assert invoke(*QUICK, "--out", str(out)).exit_code == 0
    stray = out / ".model.safetensors.0123456789abcdef.tmp.safetensors"  # what a run killed while saving leaves
    stray.write_bytes(b"half")
    users = [".notes.tmp", ".template.tmpl", ".draft.tmp.txt"]
    for name in users:
        (out / name).write_text("mine")
    result = invoke(*QUICK, "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert not stray.exists()
    assert all((out / name).read_text() == "mine" for name in users)


@pytest.mark.parametrize("name", ["model.safetensors", "codes.npy", "README", "data.tar.gz", ".hidden.csv"])
def test_the_temporary_files_of_atomic_writes_are_told_by_their_names(tmp_path, name):
    with atomic_path(tmp_path / name) as temporary:
        assert is_temporary(temporary.name)
        temporary.write_text("x")
    assert not is_temporary(name)


def test_overwrite_never_replaces_a_users_file_that_has_the_name_of_a_runs_result(tmp_path):
    out = tmp_path / "project"
    out.mkdir()
    rows = "\n".join(f"{i % 7},{i % 5},{i % 3}" for i in range(200))
    (out / "history.csv").write_text(f"a,b,c\n{rows}\n")  # the user's data, where the run writes its loss history
    quick = ["--dataset", "file", "--set", f"dataset.path={out / 'history.csv'}", "--model", "mlp-ae", "--steps", "5",
             "--reporter", "metrics-table"]  # fmt: skip
    result = invoke(*quick, "--out", str(out), "--overwrite")
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [f"Error: output folder {out} holds history.csv, which no dimred run there listed "
                                   "as its own (.dimred-files.json) and dimred would replace; move it, or choose "
                                   "another --out"]  # fmt: skip
    assert sorted(path.name for path in out.iterdir()) == ["history.csv"]
    assert (out / "history.csv").read_text().startswith("a,b,c\n0,0,0\n")
    # a chosen reporter's file name: refused before the run, as the run's own results are (it had trained and written
    # its results beside the user's files, and then failed, exit 1); a reporter not chosen leaves the name free
    (out / "codes.png").write_text("mine")
    (out / "history.csv").rename(out / "data.csv")
    quick[3] = f"dataset.path={out / 'data.csv'}"
    result = invoke(*quick[:-2], "--reporter", "codes-plot", "--out", str(out), "--overwrite")
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [f"Error: output folder {out} holds codes.png, which no dimred run there listed as "
                                   "its own (.dimred-files.json) and dimred would replace; move it, or choose another "
                                   "--out"]  # fmt: skip
    assert sorted(path.name for path in out.iterdir()) == ["codes.png", "data.csv"]
    assert invoke(*quick, "--out", str(out), "--overwrite").exit_code == 0
    assert (out / "codes.png").read_text() == "mine"
    trained = out / "trained"
    assert invoke(*quick, "--out", str(trained)).exit_code == 0
    scores = tmp_path / "scores"
    scores.mkdir()
    (scores / "codes.png").write_text("mine too")
    result = CliRunner().invoke(cli, ["evaluate", str(trained), "--dataset", "file", "--set",
                                      f"dataset.path={out / 'data.csv'}", "--reporter", "codes-plot", "--out",
                                      str(scores), "--overwrite"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"output folder {scores} holds codes.png" in error_lines(result)[0]
    assert sorted(path.name for path in scores.iterdir()) == ["codes.png"]


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (b"garbage\n", 'is damaged: not the JSON {"files": [...]} dimred writes'),
        (b'{"files": 3}', "is damaged"),
        (b"\xff\xfe", "is damaged: not UTF-8 text"),
        (None, "cannot be read: "),
    ],
)
def test_overwrite_onto_a_run_whose_file_list_is_damaged_says_the_list_is_why(tmp_path, damage, said):
    """The run's files are then not known as its own, and are kept as the user's; the refusal had said only that no
    run listed them, as if the list were whole."""
    out = tmp_path / "run"
    quick = ["--dataset", "swissroll", "--model", "pca", "--reporter", "metrics-table", "--out", str(out)]
    assert invoke(*quick).exit_code == 0
    manifest = out / ".dimred-files.json"
    if damage is None:
        manifest.unlink()
        manifest.mkdir()
    else:
        manifest.write_bytes(damage)
    kept = sorted(path.name for path in out.iterdir())
    result = invoke(*quick, "--overwrite")
    assert result.exit_code == 2, result.output
    [line] = error_lines(result)
    assert line.startswith(f"Error: output folder {out} holds config.json, which dimred would replace, but its list "
                           f"of the files dimred wrote there (.dimred-files.json) {said}")  # fmt: skip
    assert line.endswith(", so config.json may be the user's; move it, or choose another --out")
    assert sorted(path.name for path in out.iterdir()) == kept


def test_overwrite_never_replaces_a_users_link(tmp_path):
    """A link named like a result had been replaced by the result (its target kept), and listed as the run's."""
    out = tmp_path / "project"
    out.mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    (out / "metrics.json").symlink_to(tmp_path / "notes.txt")
    (out / "elsewhere").symlink_to(tmp_path / "notes.txt")
    result = invoke(*QUICK, "--out", str(out), "--overwrite")
    assert result.exit_code == 2, result.output
    assert "holds metrics.json, which no dimred run there listed" in error_lines(result)[0]
    (out / "metrics.json").unlink()
    assert invoke(*QUICK, "--out", str(out), "--overwrite").exit_code == 0
    (out / "best.safetensors").symlink_to(out / "model.safetensors")  # a link to a result keeps no result
    result = invoke(*QUICK, "--out", str(out), "--overwrite")  # the earlier run's files replaced
    assert result.exit_code == 0, result.output
    assert (out / "elsewhere").is_symlink()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_resumed_run_keeps_the_users_files_too(tmp_path):
    out = tmp_path / "killed"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    _killed(out, [*QUICK[:-4], "--reporter", "codes-plot", "--overwrite"])
    (out / "codes.png").write_text("mine too")  # the name of the resumed run's plot: refused before it resumes
    result = invoke("--resume", str(out))
    assert result.exit_code == 2, result.output
    assert f"output folder {out} holds codes.png, which no dimred run there listed" in error_lines(result)[0]
    assert (out / "codes.png").read_text() == "mine too"
    (out / "codes.png").unlink()
    result = invoke("--resume", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "mine"
    listed = json.loads((out / ".dimred-files.json").read_text())["files"]
    assert "notes.txt" not in listed
    assert "codes.png" in listed


def test_a_killed_runs_folder_lists_what_it_wrote_so_overwrite_replaces_it(tmp_path):
    out = _killed(tmp_path / "killed", QUICK[:-4])
    assert {"config.json"} <= set(json.loads((out / ".dimred-files.json").read_text())["files"])
    result = invoke(*QUICK, "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (out / "checkpoint.safetensors").exists()


def test_a_failed_runs_files_go_when_the_next_run_replaces_it_and_a_listed_path_never_leaves_the_folder(
    broken, tmp_path
):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    failed = invoke("--dataset", "swissroll", "--model", "nan-codes", "--steps", "3", "--reporter", "loss-curve",
                    "--out", str(out), "--overwrite")  # fmt: skip
    assert failed.exit_code == 1
    assert (out / "config.json").exists()
    outside = tmp_path / "outside.txt"
    outside.write_text("not the run's")
    listed = out / ".dimred-files.json"
    listed.write_text(json.dumps({"files": [*json.loads(listed.read_text())["files"], "../outside.txt",
                                            str(outside)]}))  # fmt: skip
    second = invoke(*QUICK[:-2], "--reporter", "codes-plot", "--out", str(out))
    assert second.exit_code == 0, second.output
    assert outside.read_text() == "not the run's"
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads(listed.read_text())["files"] == ["codes.png", "config.json", "history.csv", "metrics.json",
                                                       "model.safetensors"]  # fmt: skip


def _start(arguments: list[str]) -> subprocess.Popen:
    return subprocess.Popen([SCRIPT, "run", *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert path.exists(), process.communicate()


@pytest.mark.parametrize("checkpoints", [False, True])
def test_sigterm_stops_cleanly_with_exit_143(tmp_path, checkpoints):
    out = tmp_path / "run"
    extra = ["--checkpoint-every", "10"] if checkpoints else []
    process = _start([*QUICK[:-4], "--steps", "100000", *extra, "--out", str(out)])
    _wait_for(out / ("checkpoint.safetensors" if checkpoints else "config.json"), process)
    process.send_signal(signal.SIGTERM)
    _stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1].startswith("Error: terminated")
    assert "Traceback" not in stderr
    if checkpoints:  # kept to --resume from, marked as not finished
        assert sorted(path.name for path in out.iterdir()) == [
            ".dimred-files.json", "FAILED.txt", "checkpoint.safetensors", "config.json"]  # fmt: skip
        assert (out / "FAILED.txt").read_text().startswith("This run did not finish (terminated by SIGTERM).")
        assert stderr.strip().endswith(f"; continue it with dimred run --resume {out}")
    else:
        assert not out.exists()


# -- resume --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def killed_once(tmp_path_factory) -> Path:
    return _killed(tmp_path_factory.mktemp("template") / "killed", QUICK[:-4])


@pytest.fixture
def killed_run(killed_once, tmp_path) -> Path:
    """A run directory holding a checkpoint and no model, as a killed run leaves it (a copy of one killed run:
    starting and killing a process for each test took longer than the test)."""
    return Path(shutil.copytree(killed_once, tmp_path / "killed"))


def _killed(out: Path, arguments: list[str]) -> Path:
    """``out`` as a run of 600 steps with these arguments leaves it when killed after its first checkpoint."""
    process = _start([*arguments, "--steps", "600", "--checkpoint-every", "10", "--out", str(out)])
    _wait_for(out / "checkpoint.safetensors", process)
    process.kill()
    process.wait()
    return out


@pytest.mark.parametrize("change", [["--seed", "7"], ["--steps", "300"], ["--lr", "0.5"],
                                    ["--set", "dataset.n_samples=300"]])  # fmt: skip
def test_resume_refuses_settings_that_differ_from_the_run_and_writes_nothing(killed_run, change):
    before = digest(killed_run)
    result = CliRunner().invoke(cli, ["run", "--resume", str(killed_run), *change])
    assert result.exit_code == 2, result.output
    message = error_lines(result)[0]
    assert "differ" in message
    assert "may change on resume" in message
    assert digest(killed_run) == before


def test_resume_refuses_another_output_folder_rather_than_ignoring_it(killed_run, tmp_path):
    before = digest(killed_run)
    result = CliRunner().invoke(cli, ["run", "--resume", str(killed_run), "--out", str(tmp_path / "elsewhere")])
    assert result.exit_code == 2, result.output
    assert "--resume continues the run in its own folder; leave out --out" in error_lines(result)[0]
    assert digest(killed_run) == before
    assert not (tmp_path / "elsewhere").exists()


def test_a_run_killed_before_dimred_had_the_optimizer_and_precision_settings_resumes(killed_run):
    config_file = killed_run / "config.json"
    config = json.loads(config_file.read_text())
    assert (config["training"].pop("optimizer"), config["training"].pop("precision")) == ("adam", "float32")
    config_file.write_text(json.dumps(config))  # as an older dimred wrote it
    refused = CliRunner().invoke(cli, ["run", "--resume", str(killed_run), "--optimizer", "muon"])
    assert refused.exit_code == 2, refused.output
    assert "training.optimizer 'adam' -> 'muon'" in error_lines(refused)[0]
    result = CliRunner().invoke(cli, ["run", "--resume", str(killed_run)])
    assert result.exit_code == 0, result.output
    assert (killed_run / "model.safetensors").exists()


def test_an_ne_ae_run_saved_before_dimred_recorded_its_choices_for_the_data_resumes(tmp_path):
    out = _killed(tmp_path / "killed", [*QUICK[:3], "ne-ae", *QUICK[4:-4], "--reporter", "metrics-table"])
    config_file = out / "config.json"
    config = json.loads(config_file.read_text())
    config["model"]["options"] |= {"hidden": [], "decoder_hidden": [], "mask": None, "noise": None}
    config["loss"][1]["options"] |= {"neighbours": None, "dof": None}
    del config["loss"][1]["options"]["exaggeration"]
    config_file.write_text(json.dumps(config))  # as dimred wrote it before Model and Loss had options_for
    _without_its_config(out / "checkpoint.safetensors")  # an older dimred's checkpoint kept none
    refused = CliRunner().invoke(cli, ["run", "--resume", str(out), "--set", "model.noise=0.3"])
    assert refused.exit_code == 2, refused.output
    assert "model.options.noise None -> 0.3" in error_lines(refused)[0]
    result = CliRunner().invoke(cli, ["run", "--resume", str(out)])
    assert result.exit_code == 0, result.output
    assert _recorded_loss_options(out)["ne-tsne"]["exaggeration"] == 1.0  # as it trained, not today's 1.3


def _without_its_config(checkpoint: Path) -> None:
    """The checkpoint as a dimred before it kept the run's settings wrote it."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(checkpoint, "pt") as saved:
        metadata, tensors = saved.metadata(), {key: saved.get_tensor(key) for key in saved.keys()}  # noqa: SIM118
    facts = json.loads(metadata["facts"])
    del facts["config"]
    save_file(tensors, checkpoint, metadata={**metadata, "facts": json.dumps(facts)})


def _recorded_loss_options(run: Path) -> dict:
    from safetensors import safe_open

    with safe_open(run / "model.safetensors", "pt") as saved:
        return json.loads(saved.metadata()["loss_options"])


def test_an_ne_ae_run_killed_before_ne_tsne_had_its_exaggeration_resumes_as_it_trained(tmp_path):
    out = _killed(tmp_path / "killed", [*QUICK[:3], "ne-ae", *QUICK[4:-4], "--reporter", "metrics-table"])
    config_file = out / "config.json"
    config = json.loads(config_file.read_text())
    del config["loss"][1]["options"]["exaggeration"]
    config_file.write_text(json.dumps(config))  # as dimred wrote it before the option existed
    _without_its_config(out / "checkpoint.safetensors")  # an older dimred's checkpoint kept none
    refused = CliRunner().invoke(cli, ["run", "--resume", str(out), "--set", "loss.ne-tsne.exaggeration=1.3"])
    assert refused.exit_code == 2, refused.output
    assert "these differ: loss.ne-tsne.options.exaggeration 1.0 -> 1.3 (only" in error_lines(refused)[0]
    result = CliRunner().invoke(cli, ["run", "--resume", str(out)])
    assert result.exit_code == 0, result.output
    assert _recorded_loss_options(out)["ne-tsne"]["exaggeration"] == 1.0  # as before, not 1.3


def test_a_run_killed_before_its_packages_were_upgraded_resumes(killed_run):
    config_file = killed_run / "config.json"
    config = json.loads(config_file.read_text())
    config["versions"] |= {"torch": "2.0.0", "numpy": "1.26.0"}
    config_file.write_text(json.dumps(config))  # as the run recorded them before an upgrade
    result = CliRunner().invoke(cli, ["run", "--resume", str(killed_run)])
    assert result.exit_code == 0, result.output
    assert (killed_run / "model.safetensors").exists()


def test_resume_may_change_the_device_reporters_and_metrics(killed_run):
    """Metrics are computed after training; a run's config.json from before it listed them resumes too."""
    config = json.loads((killed_run / "config.json").read_text())
    assert "knn-accuracy" in [metric["name"] for metric in config.pop("metrics")]
    (killed_run / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["run", "--resume", str(killed_run), "--device", "cpu", "--reporter",
                                      "metrics-table", "--checkpoint-every", "50", "--set",
                                      "metric.knn-accuracy.k=3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (killed_run / "model.safetensors").exists()
    recorded = json.loads((killed_run / "config.json").read_text())
    assert {"name": "knn-accuracy", "options": {"k": 3}} in recorded["metrics"]
    assert [reporter["name"] for reporter in recorded["reporters"]] == ["metrics-table"]


def test_a_checkpoint_written_on_a_gpu_resumes_on_the_cpu_reproducibly(killed_run, tmp_path):
    """A CUDA generator's state (its seed and offset, 16 bytes) does not fit a CPU generator: the batches go on
    from a generator seeded from the run's seed and step, the same on every such resume. A checkpoint from before
    checkpoints recorded their device is known for a GPU's by its CUDA state."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from dimred._engine.checkpoint import read_checkpoint, write_checkpoint

    tensors, facts = read_checkpoint(killed_run / "checkpoint.safetensors")
    cuda_state = torch.arange(16, dtype=torch.uint8)  # what torch.cuda.get_rng_state() returns
    tensors |= {"rng.batches": cuda_state, "rng.cuda": cuda_state}
    write_checkpoint(killed_run / "checkpoint.safetensors", tensors, {**facts, "device_type": "cuda"})
    config = json.loads((killed_run / "config.json").read_text())
    (killed_run / "config.json").write_text(json.dumps({**config, "device": "cuda", "device_used": "cuda"}))
    older = shutil.copytree(killed_run, tmp_path / "older")
    write_checkpoint(older / "checkpoint.safetensors", tensors, {k: v for k, v in facts.items() if k != "device_type"})
    for folder in (killed_run, older):
        result = CliRunner().invoke(cli, ["run", "--resume", str(folder), "--device", "cpu"])
        assert result.exit_code == 0, result.output
        config = json.loads((folder / "config.json").read_text())
        assert (config["device"], config["device_used"]) == ("cpu", "cpu")  # where it went on, both
    first, second = (load_file(folder / "model.safetensors") for folder in (killed_run, older))
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_resume_without_a_readable_checkpoint_changes_nothing(killed_run):
    (killed_run / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    before = digest(killed_run)
    result = CliRunner().invoke(cli, ["run", "--resume", str(killed_run)])
    assert result.exit_code == 1
    assert "checkpoint" in error_lines(result)[0]
    assert digest(killed_run) == before


# -- two writers -----------------------------------------------------------------------------------------------
def test_a_second_writer_to_a_locked_folder_fails_at_once(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with locked_folder(out):  # as a running dimred process holds it
        started = time.monotonic()
        result = invoke(*QUICK, "--out", str(out))
        assert time.monotonic() - started < 30
    assert result.exit_code == 2, result.output
    assert "another dimred process" in error_lines(result)[0]
    assert list(out.iterdir()) == []


def test_export_into_a_folder_a_running_dimred_process_holds_is_refused(tmp_path):
    """export wrote encoder.onnx and decoder.onnx into a folder a running run held, which run, evaluate and
    compare refuse."""
    pytest.importorskip("onnx")
    reducer = dimred.Reducer(model="pca").fit(np.random.default_rng(0).normal(size=(30, 3)))
    out = tmp_path / "run"
    out.mkdir()
    with locked_folder(out), pytest.raises(UsageError, match="is being written by another dimred process"):
        reducer.to_onnx(out)
    assert list(out.iterdir()) == []
    assert set(reducer.to_onnx(out)) == {"encoder", "decoder"}  # once it is let go


def test_a_writer_that_opened_the_lock_file_as_its_holder_let_go_locks_the_one_that_counts(tmp_path, monkeypatch):
    """A holder removes the lock file as it lets go: a process that had opened it just before had locked the
    removed file, and a third then locked a new one, so two wrote into the folder."""
    out = tmp_path / "run"
    out.mkdir()
    real_lock = folderlock._try_lock
    opened_before_removal = []

    def lock_after_the_holder_let_go(handle):
        if not opened_before_removal:
            opened_before_removal.append(handle)
            (out / LOCK_NAME).unlink()  # the holder lets go between this process's open and its lock
        real_lock(handle)

    monkeypatch.setattr(folderlock, "_try_lock", lock_after_the_holder_let_go)
    with locked_folder(out):
        monkeypatch.setattr(folderlock, "_try_lock", real_lock)
        with pytest.raises(UsageError, match="another dimred process"), locked_folder(out):  # the third
            pass
    assert opened_before_removal


def test_two_runs_started_together_on_one_folder_do_not_both_succeed(tmp_path):
    out = tmp_path / "run"
    arguments = [*QUICK[:-4], "--steps", "300", "--out", str(out)]
    first, second = _start(arguments), _start([*arguments[:-4], "--seed", "5", *arguments[-4:]])
    outcomes = [process.communicate(timeout=120) for process in (first, second)]
    codes = sorted(process.returncode for process in (first, second))
    assert codes == [0, 2], outcomes
    config = json.loads((out / "config.json").read_text())
    winner = first if first.returncode == 0 else second
    assert config["seed"] == (0 if winner is first else 5)


STAMP = "20261206-001951"


@pytest.fixture
def folder_taken_while_loading(register_in_process, monkeypatch) -> Callable[[str], Path]:
    """A dataset 'taken' whose loading creates a given folder, with a file in it, as another dimred process
    started in the same second would (the clock stands still at STAMP); returns the function naming that
    folder."""
    from dimred._io import rundir

    monkeypatch.setattr(rundir, "time", SimpleNamespace(strftime=lambda _format: STAMP))
    taken: list[Path] = []

    class Taken(Dataset):
        name = "taken"
        description = "a roll whose loading takes a folder"

        def load(self, seed):
            for folder in taken:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "config.json").write_text("another process's run")
            return Data(X=np.random.default_rng(seed).random((200, 3)))

    register_in_process(plugin_module("taking", register_datasets=lambda register: register(Taken)))

    def take(folder: str) -> Path:
        taken.append(Path(folder))
        return taken[-1]

    return take


def test_runs_started_in_the_same_second_each_get_their_own_folder(folder_taken_while_loading, tmp_path):
    quick = {"reporters": ["metrics-table"], "steps": 5}
    other_run = folder_taken_while_loading(f"runs/taken-mlp-ae-{STAMP}")
    run = dimred.run("taken", "mlp-ae", **quick)
    assert run.path == Path(f"runs/taken-mlp-ae-{STAMP}-2")
    other_evaluation = folder_taken_while_loading(f"{run.path}/evaluations/taken-{STAMP}")
    evaluation = dimred.evaluate(run.path, "taken", reporters=["metrics-table"])
    assert evaluation.path == Path(f"{run.path}/evaluations/taken-{STAMP}-2")
    other_comparison = folder_taken_while_loading(f"runs/compare-taken-{STAMP}")
    comparison = dimred.compare("taken", ["mlp-ae"], steps=5)
    assert comparison.path == Path(f"runs/compare-taken-{STAMP}-2")
    for other in (other_run, other_evaluation, other_comparison):
        assert [entry.name for entry in other.iterdir()] == ["config.json"]
        assert (other / "config.json").read_text() == "another process's run"
    assert all((mine / "metrics.json").exists() for mine in (run.path, evaluation.path))
    assert (comparison.path / "comparison.json").exists()


# -- one bad plugin --------------------------------------------------------------------------------------------
def test_a_failing_metric_is_named_and_skipped_and_the_model_is_kept(broken_metric, tmp_path):
    out = tmp_path / "run"
    result = invoke(*QUICK, "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "metric 'broken-metric'" in error_lines(result)[0]
    assert result.output.count("boom in the metric") == 1  # in the Error line, not in a warning before it too
    assert (out / "model.safetensors").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert "trustworthiness" in metrics
    assert "broken-metric" in metrics["failed_metrics"]


def _metric_giving(value):
    class Giving(Metric):
        name = "giving"
        description = "gives one value"

        def compute(self, context):
            return {"given": value() if callable(value) else value}

    return Giving


@pytest.mark.parametrize(
    ("value", "reported"),
    [(np.float32(1.5), 1.5), (np.int64(3), 3), (lambda: torch.tensor(0.25), 0.25), (np.array([1, 2]), [1, 2])],
    ids=["numpy float", "numpy int", "torch number", "numpy array"],
)
def test_a_metric_giving_numpy_or_torch_numbers_is_reported_as_plain_numbers(register_in_process, tmp_path, value,
                                                                             reported):  # fmt: skip
    register_in_process(plugin_module("giving", register_metrics=lambda register: register(_metric_giving(value))))
    result = invoke(*QUICK, "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["given"] == reported


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "given = nan, not a finite number"),
        (np.float64("inf"), "given = inf, not a finite number"),
        (object(), "given = a object, which JSON has no form for"),
        ([1, -(10**400)], "given = an int of 401 digits, beyond a float's range"),
    ],
    ids=["NaN", "inf", "object", "int beyond a float"],
)
def test_a_metric_giving_nan_or_what_json_cannot_hold_fails_by_name(register_in_process, tmp_path, value, message):
    register_in_process(plugin_module("giving", register_metrics=lambda register: register(_metric_giving(value))))
    out = tmp_path / "run"
    result = invoke(*QUICK, "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "metric 'giving'" in error_lines(result)[0]
    assert message in error_lines(result)[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert "given" not in metrics
    assert "giving" in metrics["failed_metrics"]
    assert (out / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("name", "owner"),
    [("rmse", "metric 'rmse'"), ("n_samples", "dimred"), ("train_seconds", "dimred"), ("stop_reason", "dimred"),
     ("holdout.rmse", "dimred"), ("failed_metrics", "dimred")],
)  # fmt: skip
def test_a_metric_giving_a_name_already_reported_fails_and_leaves_the_first_figure(register_in_process, tmp_path,
                                                                                    name, owner):  # fmt: skip
    class Shadowing(Metric):
        name_given = name
        description = "gives a value under a taken name"

        def compute(self, context):
            return {self.name_given: 123.0}

    Shadowing.name = "a-shadow"  # before the built-ins in name order
    register_in_process(plugin_module("shadow", register_metrics=lambda register: register(Shadowing)))
    out = tmp_path / "run"
    result = invoke(*QUICK, "--out", str(out))
    assert result.exit_code == 1, result.output
    assert f"metric 'a-shadow' gave {name}, which {owner} already reports" in error_lines(result)[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.get(name) != 123.0
    assert "a-shadow" in metrics["failed_metrics"]


def test_a_failing_reporter_does_not_stop_the_reporters_after_it(broken, tmp_path):
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="reporter 'broken-reporter'"):
        result = dimred.run("swissroll", "mlp-ae", steps=5, out=out, reporters=["broken-reporter", "codes-plot"],
                            settings={"dataset.n_samples": 200})  # fmt: skip
    assert (out / "codes.png").exists()
    assert any("broken-reporter" in failure for failure in result.failures)


def test_compare_with_a_failing_model_still_compares_the_others(broken, tmp_path):
    out = tmp_path / "cmp"
    arguments = ["--dataset", "swissroll", "--model", "pca", "--model", "fails-to-build", "--out", str(out)]
    result = CliRunner().invoke(cli, ["compare", *arguments, "--set", "dataset.n_samples=200"])
    assert result.exit_code == 1, result.output
    assert "fails-to-build" in error_lines(result)[0]
    assert result.output.count("cannot build this") == 2  # in the table and the error, not in the progress too
    table = (out / "comparison.md").read_text()
    assert "| pca |" in table
    assert "| fails-to-build | failed:" in table
    assert "cannot build this" in table
    assert (out / "embeddings.png").exists()


def test_compare_names_a_model_that_refuses_the_data_and_compares_the_others(tmp_path):
    """t-SNE needs more training rows than its perplexity, which a large holdout does not leave (ne-ae's loss
    takes fewer neighbours there); a setting that every model refuses is still the one usage error."""
    out = tmp_path / "cmp"
    arguments = ["compare", "--dataset", "swissroll", "--set", "dataset.n_samples=40", "--model", "pca", "--model",
                 "tsne", "--model", "ne-ae", "--holdout", "0.9", "--steps", "5", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 1, result.output
    assert "model 'tsne' failed" in error_lines(result)[0]
    table = (out / "comparison.md").read_text()
    assert "| pca |" in table
    assert "| ne-ae |" in table  # 4 training rows: a graph of 3 neighbours
    everyone = CliRunner().invoke(cli, [*arguments[:-6], "--holdout", "0.95", "--out", str(tmp_path / "none")])
    assert everyone.exit_code == 2, everyone.output
    assert error_lines(everyone) == ["Error: --holdout 0.95 of 40 rows leaves 2 to train on and 38 to test on (each "
                                     "needs 3); choose another fraction or --holdout 0"]  # fmt: skip
    assert not (tmp_path / "none").exists()


def test_compare_where_every_model_fails_writes_no_results_and_says_why_once(broken, tmp_path):
    rows = np.random.default_rng(0).random((40, 3))
    rows[5, 1] = np.nan
    np.save(tmp_path / "nan.npy", rows)
    base = ["compare", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'nan.npy'}"]
    result = CliRunner().invoke(cli, [*base, "--model", "pca", "--model", "mlp-ae", "--out", str(tmp_path / "a")])
    assert result.exit_code == 1, result.output
    assert error_lines(result) == [f"Error: the data of dataset 'file' ({tmp_path / 'nan.npy'}) has NaN at row 5, "
                                   "column 1 (counting from 0)"]  # fmt: skip
    assert not (tmp_path / "a").exists()
    unlike = ["--model", "fails-to-build", "--model", "tsne", "--set", "dataset.n_samples=20", "--out",
              str(tmp_path / "b")]  # fmt: skip
    result = CliRunner().invoke(cli, ["compare", "--dataset", "swissroll", *unlike])
    assert result.exit_code == 1, result.output
    assert error_lines(result)[0].startswith(
        "Error: every model failed: fails-to-build: model 'fails-to-build' "
        "failed to build its network: cannot build this; tsne: model 'tsne'"
    )
    assert not (tmp_path / "b").exists()


# -- degenerate data and numbers beyond the dtype -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("rows", "extra", "expected"),
    [
        (np.ones((50, 3)), [], "same point"),
        (np.random.default_rng(0).random((2, 3)), [], "too few"),
        (np.random.default_rng(0).random((50, 3)), ["--set", "model.n_components=5"], "n_components"),
    ],
)
def test_degenerate_data_is_refused_before_training(tmp_path, rows, extra, expected):
    data = tmp_path / "data.npy"
    np.save(data, rows)
    out = tmp_path / "run"
    result = invoke("--dataset", "file", "--set", f"dataset.path={data}", "--model", "mlp-ae", "--steps", "3",
                    "--out", str(out), *extra)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert expected in error_lines(result)[0]
    assert not out.exists()


def test_a_value_beyond_float32_is_named_by_row_and_column(tmp_path):
    rows = np.random.default_rng(0).random((40, 3))
    rows[7, 2] = 1e39
    data = tmp_path / "data.npy"
    np.save(data, rows)
    base = ["--dataset", "file", "--set", f"dataset.path={data}", "--model", "mlp-ae", "--steps", "3",
            "--reporter", "metrics-table"]  # fmt: skip
    result = invoke(*base, "--out", str(tmp_path / "f32"))
    assert result.exit_code == 1, result.output
    assert "row 7, column 2" in error_lines(result)[0]
    assert "float32" in error_lines(result)[0]
    assert not (tmp_path / "f32").exists()
    # float64 holds the value, but no model file could hold the scaling of a column that varies by 1e38
    result = invoke(*base, "--dtype", "float64", "--scaler", "standard", "--out", str(tmp_path / "f64"))
    assert result.exit_code == 1, result.output
    assert (
        f"column 2 (counting from 0) of the data of dataset 'file' ({data}) varies by 1.581e+38"
        in (error_lines(result)[0])
    )
    assert not (tmp_path / "f64").exists()


def test_encoding_values_beyond_float32_fails_without_writing(tmp_path):
    model = dimred.run("swissroll", "mlp-ae", steps=5, out=tmp_path / "model", reporters=[],
                       settings={"dataset.n_samples": 200}).path  # fmt: skip
    points = tmp_path / "points.npy"
    np.save(points, np.array([[0.0, 1.0, 2.0], [1e39, 0.0, 0.0]]))
    result = CliRunner().invoke(cli, ["encode", str(model), str(points), "-o", str(tmp_path / "codes.npy")])
    assert result.exit_code == 1, result.output
    assert "row 1, column 0" in error_lines(result)[0]
    assert not (tmp_path / "codes.npy").exists()
    with pytest.raises(dimred.DimredError, match="float32"):
        dimred.load(model).transform(np.array([[1e39, 0.0, 0.0]]))


def test_the_library_raises_the_same_errors(tmp_path):
    np.save(tmp_path / "rows.npy", np.ones((30, 2)))
    with pytest.raises(UsageError, match="same point"):
        dimred.run("file", "mlp-ae", settings={"dataset.path": str(tmp_path / "rows.npy")}, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(UsageError, match="same point"):
        dimred.Reducer(steps=3).fit(np.ones((30, 2)))


# -- plugins that break their contract during training, and absurd numbers -------------------------------------
class DetachedLoss(Loss):
    name = "detached"
    description = "computes its value outside the graph"

    def __call__(self, batch):
        return (batch.x - batch.x_hat).square().mean().detach()


class ConstantLoss(Loss):
    name = "constant"
    description = "a tensor that asks for a gradient but is not computed from the batch: it trains nothing"

    def __call__(self, batch):
        return torch.tensor(1.0, requires_grad=True)


class WrongCodes(NaNCodes):
    name = "wrong-codes"
    description = "codes with one row too few"

    def build(self, n_features: int):
        class Network(LinearNetwork):
            def encode(self, x):
                return super().encode(x)[1:]

        return Network(n_features, self.options.n_components)


@pytest.fixture
def contract_breakers(register_in_process):
    register_in_process(plugin_module(
        "contract_breakers",
        register_losses=lambda register: (register(DetachedLoss), register(ConstantLoss)),
        register_models=lambda register: register(WrongCodes),
    ))  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--model", "mlp-ae", "--loss", "detached"], "loss 'detached'"),
        (
            ["--model", "mlp-ae", "--loss", "constant"],
            "loss 'constant' must return a scalar tensor that carries a "
            "gradient (computed with torch from the batch, not detached); "
            "it returned a tensor of shape () not computed from the batch",
        ),
        (["--model", "wrong-codes"], "model 'wrong-codes'"),
    ],
)
def test_a_plugin_that_breaks_its_contract_in_training_is_named(contract_breakers, tmp_path, arguments, named):
    result = invoke("--dataset", "swissroll", "--steps", "3", "--out", str(tmp_path / "run"), *arguments)
    assert result.exit_code == 1, result.output
    assert len(error_lines(result)) == 1
    assert named in error_lines(result)[0]
    assert "unexpected" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("setting", ["model.hidden=1000000000000000000000,2", "model.hidden=10000000,10000000",
                                     "model.n_components=100000000000000000000000000000"])  # fmt: skip
def test_absurd_sizes_are_refused_before_anything_is_allocated(tmp_path, setting):
    result = invoke(*QUICK, "--set", setting, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert setting.split("=")[0].split(".")[1] in error_lines(result)[0]
    assert not (tmp_path / "run").exists()


def test_a_slow_plugin_import_is_reported_with_its_time(fake_entry_points, monkeypatch):
    from conftest import FakeDistribution, FakeEntryPoint
    from dimred._host import registry

    monkeypatch.setattr(registry, "SLOW_IMPORT_SECONDS", 0.2)

    def slow():
        time.sleep(0.3)
        return plugin_module("slow_plugin")

    fake_entry_points(FakeEntryPoint("sloth", slow, FakeDistribution("sloth-dist")))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "plugin 'sloth' from sloth-dist took 0.3 s to import" in result.output


def test_a_model_that_cannot_be_kept_says_so_when_run_and_when_loaded(tmp_path):
    out = tmp_path / "iso"
    result = invoke("--dataset", "swissroll", "--model", "isomap", "--set", "dataset.n_samples=200", "--reporter",
                    "metrics-table", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "model 'isomap' keeps no model file" in result.output
    np.save(tmp_path / "rows.npy", np.zeros((3, 3)))
    encoded = CliRunner().invoke(cli, ["encode", str(out), str(tmp_path / "rows.npy"), "-o", str(tmp_path / "c.npy")])
    assert encoded.exit_code == 1
    assert "trained model 'isomap', which keeps no model file" in error_lines(encoded)[0]


def test_a_folder_without_a_model_file_says_why_by_what_it_holds(tmp_path):
    """A finished mlp-ae run whose model file was deleted had been told that mlp-ae may keep none, as Isomap; a
    comparison's folder was only 'no model file at c/model.safetensors'."""
    out = tmp_path / "run"
    assert invoke(*QUICK, "--out", str(out)).exit_code == 0
    (out / "model.safetensors").unlink()
    with pytest.raises(dimred.ModelFileError, match=r"the run trained model 'mlp-ae', .* or the file was removed"):
        dimred.load(out)
    (out / "metrics.json").unlink()  # as a run killed outright (SIGKILL) before any checkpoint leaves its folder
    with pytest.raises(dimred.ModelFileError, match=r"did not finish \(it trained model 'mlp-ae'\); run it again$"):
        dimred.load(out)
    comparison = tmp_path / "cmp"
    dimred.compare("swissroll", ["pca"], seeds=1, out=comparison, settings={"dataset.n_samples": 100})
    with pytest.raises(dimred.ModelFileError, match=r"is a comparison's folder; compare --save keeps each model "
                                                    r"there as models/MODEL.safetensors"):  # fmt: skip
        dimred.load(comparison)


def test_a_reader_that_goes_away_ends_the_command_quietly_with_sigpipes_status():
    process = subprocess.Popen([SCRIPT, "plugins"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # as `dimred plugins | head -1` does once it has its line
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 128 + signal.SIGPIPE
    assert stderr == ""


def _terminated_in_a_library_that_swallows_it() -> None:
    """SIGTERM to this process, landing in a library that swallows the interrupt and raises an error of its own
    without it (numpy's interrupted comparisons do)."""
    swallowed = False
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between these
            time.sleep(0.01)
    except KeyboardInterrupt:
        swallowed = True  # and gone from the error raised below
    if swallowed:
        raise TypeError("Cannot compare structured arrays unless they have a common dtype")
    raise AssertionError("SIGTERM did not arrive")


def test_a_stop_that_a_library_swallows_still_stops_the_run_as_stopped(register_in_process, tmp_path):
    """numpy's comparisons, interrupted, raise an error of their own in place of the KeyboardInterrupt; a SIGTERM
    landing there had ended the run with exit 1, as if the plugin had failed."""

    class SwallowsTheStop(Metric):
        name = "swallows-the-stop"
        description = "receives SIGTERM inside a library that swallows it"

        signals = 1

        def compute(self, context):
            if not SwallowsTheStop.signals:
                return {"swallows-the-stop": 0.0}
            SwallowsTheStop.signals -= 1
            _terminated_in_a_library_that_swallows_it()

    register_in_process(plugin_module("swallowing", register_metrics=lambda register: register(SwallowsTheStop)))
    out = tmp_path / "run"
    out.mkdir()  # the user's: marked as failed, not removed
    result = invoke(*QUICK, "--out", str(out))
    assert result.exit_code == 143, result.output
    assert error_lines(result)[-1].startswith("Error: terminated")
    assert "failed to compute" not in result.output
    assert "terminated by SIGTERM" in (out / "FAILED.txt").read_text()
    after = invoke(*QUICK, "--out", str(tmp_path / "next"))
    assert after.exit_code == 0, after.output  # the stop is forgotten once handled


def test_a_stop_swallowed_in_dimreds_own_work_marks_the_run_as_stopped(monkeypatch, tmp_path):
    """Outside any plugin too: the run's FAILED.txt says it was terminated, not what the library raised."""
    import dimred._api.pipeline

    monkeypatch.setattr(
        dimred._api.pipeline, "score", lambda *arguments: _terminated_in_a_library_that_swallows_it()
    )  # after training, in the claimed folder
    out = tmp_path / "run"
    out.mkdir()  # the user's: marked as failed, not removed
    result = invoke(*QUICK, "--out", str(out))
    assert result.exit_code == 143, result.output
    assert error_lines(result)[-1].startswith("Error: terminated")
    assert "terminated by SIGTERM" in (out / "FAILED.txt").read_text()


class _TerminatedWhereDiscarded:
    """Sends this process SIGTERM as it is garbage-collected: the handler's exception is raised in ``__del__``,
    where Python prints it as ignored and goes on (sqlalchemy's collection callbacks met one so, as MLflow built
    its store)."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between these
            time.sleep(0.01)


@pytest.mark.parametrize("when", ["on_fit_start", "report"])
def test_a_stop_raised_where_python_discards_it_still_stops_the_command(register_in_process, tmp_path, when):
    """A SIGTERM whose exception Python discarded had been lost: the run trained to the end and exited 0."""
    from dimred.plugin import Callback

    def discard_a_stop(self, *arguments) -> None:
        _TerminatedWhereDiscarded()  # collected at once

    register_in_process(
        plugin_module(
            "discarding",
            register_callbacks=lambda register: register(
                type(
                    "Discarding",
                    (Callback,),
                    {"name": "discarding", "description": "x", "on_fit_start": discard_a_stop},
                )
            ),
            register_reporters=lambda register: register(
                type(
                    "DiscardingReporter",
                    (Reporter,),
                    {"name": "discarding", "description": "x", "report": discard_a_stop},
                )
            ),
        )
    )
    plugin = ["--callback", "discarding"] if when == "on_fit_start" else ["--reporter", "discarding"]
    out = tmp_path / "run"
    result = invoke(*QUICK, "--steps", "400", *plugin, "--out", str(out))
    assert result.exit_code == 143, result.output
    assert error_lines(result)[-1].startswith("Error: terminated")
    if when == "on_fit_start":  # stopped at its first step, the folder it made removed
        assert not out.exists()


def test_a_metric_raising_its_own_error_is_skipped_like_any_failing_metric(register_in_process, tmp_path):
    class Refusing(Metric):
        name = "refusing"
        description = "refuses with a message of its own"

        def compute(self, context):
            raise dimred.DimredError("needs labels")

    register_in_process(plugin_module("refusing", register_metrics=lambda register: register(Refusing)))
    out = tmp_path / "run"
    result = invoke(*QUICK, "--out", str(out))
    assert result.exit_code == 1
    assert "metric 'refusing' failed to compute: needs labels" in error_lines(result)[0]
    assert json.loads((out / "metrics.json").read_text())["failed_metrics"]["refusing"].endswith("needs labels")
    assert (out / "model.safetensors").exists()


def test_compare_says_which_runs_skipped_a_failing_metric_and_exits_1(register_in_process, tmp_path):
    register_in_process(plugin_module("giving", register_metrics=lambda register: register(_metric_giving(math.nan))))
    out = tmp_path / "cmp"
    result = CliRunner().invoke(cli, ["compare", "--dataset", "swissroll", "--model", "pca", "--seeds", "2", "--set",
                                      "dataset.n_samples=200", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "pca, seed 1: metric 'giving' gave given = nan, not a finite number" in error_lines(result)[0]
    assert error_lines(result)[0].count("(skipped)") == 2
    assert "Warning" not in result.output  # said once, in the Error line
    assert len(json.loads((out / "comparison.json").read_text())["skipped"]) == 2


class Overwriting(Reporter):
    name = "overwriting"
    description = "writes its artifact under the name of one of the run's own files"

    @dataclass(frozen=True)
    class Options:
        filename: str = option("model.safetensors", "the name it asks for")
        directly: bool = option(False, "write straight into the run folder, not through run.artifact")

    def report(self, run):
        if self.options.directly:
            (run.directory / self.options.filename).write_text("{}")
            return
        with run.artifact(self.options.filename) as path:
            path.write_text("{}")


@pytest.mark.parametrize("filename", ["model.safetensors", "metrics.json", "config.json", ".dimred-files.json"])
def test_a_reporter_cannot_replace_the_runs_own_files(register_in_process, tmp_path, filename):
    register_in_process(plugin_module("overwriting", register_reporters=lambda register: register(Overwriting)))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", *QUICK, "--reporter", "overwriting", "--set",
                                      f"reporter.overwriting.filename={filename}", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 1
    assert f"reporter 'overwriting' failed to report: {filename} is dimred's own file" in result.output
    assert dimred.load(out).transform(np.zeros((1, 3))).shape == (1, 2)
    assert json.loads((out / "metrics.json").read_text())["rmse"] > 0
    assert json.loads((out / ".dimred-files.json").read_text())["files"]


@pytest.mark.parametrize("filename", ["model.safetensors", "metrics.json", "config.json"])
def test_a_reporter_that_changes_the_runs_own_files_without_artifact_is_an_error(register_in_process, tmp_path,
                                                                                 filename):  # fmt: skip
    """It had ended with exit 0 and the run's model file or results replaced; then with exit 1 and a message saying
    the other results were kept, with the file still replaced. The file is put back as dimred wrote it."""
    register_in_process(plugin_module("overwriting", register_reporters=lambda register: register(Overwriting)))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", *QUICK, "--reporter", "overwriting", "--set",
                                      f"reporter.overwriting.filename={filename}", "--set",
                                      "reporter.overwriting.directly=true", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 1, result.output
    expected = (f"reporter 'overwriting' changed {filename}, dimred's own results in {out} (put back as dimred "
                "wrote them): a reporter writes files of its own, through run.artifact(NAME)")  # fmt: skip
    assert expected in error_lines(result)[0]
    assert (out / filename).read_text(errors="replace") != "{}"
    assert dimred.load(out).transform(np.zeros((1, 3))).shape == (1, 2)
    assert json.loads((out / "metrics.json").read_text())["rmse"] > 0


class FailsOnHeldOutRows(Metric):
    name = "fails-held-out"
    description = "NaN on held-out rows only"

    def compute(self, context):
        return {"odd": float("nan") if context.reference_codes is not None else 1.0}


def test_a_metric_failing_on_the_held_out_rows_only_is_said_to(register_in_process, tmp_path):
    register_in_process(plugin_module("held_out_only", register_metrics=lambda register: register(FailsOnHeldOutRows)))
    out = tmp_path / "run"
    result = invoke(*QUICK, "--holdout", "0.2", "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "or lists and dicts of them) (on the held-out rows) (skipped" in error_lines(result)[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["odd"], "holdout.odd" in metrics) == (1.0, False)


def test_a_failed_run_without_a_checkpoint_is_not_offered_resume(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a folder that existed before is kept, marked failed
    result = invoke(*QUICK, "--lr", "1e30", "--out", str(out), "--overwrite")
    assert result.exit_code == 1, result.output
    failed = (out / "FAILED.txt").read_text()
    assert "A new run with the same output folder replaces it." in failed
    assert "--resume" not in failed


def test_overwriting_a_run_removes_the_evaluations_of_the_model_it_replaces(tmp_path):
    """They had stayed inside the new run, scores of a model that no longer exists; a file of the user's there
    stays."""
    settings = {"dataset.n_samples": 300}
    first = dimred.run("swissroll", "pca", settings=settings, out=tmp_path / "run", reporters=[])
    evaluated = dimred.evaluate(first.path, "swissroll", reporters=[])
    assert evaluated.path.parent == tmp_path / "run" / "evaluations"
    (tmp_path / "run" / "evaluations" / "notes.txt").write_text("mine")
    dimred.run("swissroll", "pca", settings=settings, seed=2, out=tmp_path / "run", overwrite=True, reporters=[])
    assert [path.name for path in (tmp_path / "run" / "evaluations").iterdir()] == ["notes.txt"]
