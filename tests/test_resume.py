"""Checkpoints, resuming after SIGKILL, divergence, determinism, and Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.numpy import load_file

import dimred
from conftest import hidden_leftovers, plugin_module
from dimred._engine.training import DivergenceError
from dimred.cli import cli
from dimred.plugin import Callback, Loss, Reporter

SCRIPT = str(Path(sys.executable).with_name("dimred"))
TRAIN = ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=600", "--steps", "900",
         "--checkpoint-every", "30", "--reporter", "metrics-table"]  # fmt: skip


def checkpoint_step(folder: Path) -> int:
    try:
        with safe_open(folder / "checkpoint.safetensors", framework="numpy") as opened:
            return json.loads(opened.metadata()["facts"])["step"]
    except Exception:  # not written yet, or being replaced right now
        return 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, np.ndarray]:
    out = tmp_path_factory.mktemp("whole") / "run"
    subprocess.run([SCRIPT, *TRAIN, "--out", str(out)], check=True, capture_output=True)
    return load_file(out / "model.safetensors")


@pytest.mark.parametrize("kill_after_step", [30, 600])
def test_a_run_killed_with_sigkill_and_resumed_ends_bitwise_identical(uninterrupted, tmp_path, kill_after_step):
    out = tmp_path / "killed"
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen([SCRIPT, *TRAIN, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 60
    while checkpoint_step(out) < kill_after_step and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, f"the run ended before it was killed: {errors.read_text()[-2000:]}"
    assert not (out / "model.safetensors").exists()
    resumed = subprocess.run([SCRIPT, "run", "--resume", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    weights = load_file(out / "model.safetensors")
    assert weights.keys() == uninterrupted.keys()
    for name, value in uninterrupted.items():
        assert np.array_equal(weights[name], value), name
    assert not hidden_leftovers(out.iterdir())
    history = (out / "history.csv").read_text().splitlines()
    assert history[-1].startswith("900,")


class BlowsUp(Loss):
    name = "blows-up"
    description = "mse until step 50, then NaN"
    calls = 0

    def __call__(self, batch):
        BlowsUp.calls += 1
        loss = (batch.x_hat - batch.x).square().mean()
        return loss * torch.nan if BlowsUp.calls > 50 else loss


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(register_in_process, tmp_path):
    register_in_process(plugin_module("blowing", register_losses=lambda register: register(BlowsUp)))
    BlowsUp.calls = 0  # another test starts it at 100
    with pytest.raises(DivergenceError, match=r"loss became NaN \(in loss 'blows-up'\) at epoch \d+ \(step \d+\)"):
        dimred.run(dataset="swissroll", model="mlp-ae", loss="blows-up", steps=200, checkpoint_every=20,
                   out=tmp_path / "run", reporters=[], settings={"dataset.n_samples": 300})  # fmt: skip
    assert not (tmp_path / "run" / "model.safetensors").exists()
    assert checkpoint_step(tmp_path / "run") == 40
    checkpoint = load_file(tmp_path / "run" / "checkpoint.safetensors")
    assert all(np.isfinite(value).all() for value in checkpoint.values() if value.dtype.kind == "f")
    with pytest.raises(dimred.DimredError, match=re.escape(f"continue it with dimred run --resume {tmp_path / 'run'}")):
        dimred.load(tmp_path / "run")
    (tmp_path / "run" / "checkpoint.safetensors").unlink()
    with pytest.raises(dimred.DimredError, match=r"the run there did not finish; run it again$"):
        dimred.load(tmp_path / "run")


def test_weights_that_diverged_after_the_steps_loss_was_taken_are_never_checkpointed(tmp_path):
    """The loss of step 1 is finite, its update (lr 1e41) is not: that state is no checkpoint to resume from, so
    with none saved before it the run leaves nothing to resume (it kept a checkpoint of NaN weights)."""
    with (
        pytest.raises(DivergenceError, match=r"loss became NaN"),
        pytest.warns(UserWarning, match="no checkpoint") as warned,
    ):
        dimred.run(dataset="swissroll", model="mlp-ae", steps=300, lr=1e41, checkpoint_every=1, out=tmp_path / "run",
                   reporters=[], settings={"dataset.n_samples": 300})  # fmt: skip
    assert not (tmp_path / "run").exists()
    said = [str(warning.message) for warning in warned if "no checkpoint" in str(warning.message)]
    assert said == ["no checkpoint from step 1 on: the weights are no longer finite numbers (a learning rate too "
                    "high: --lr, now 1e+41); the last checkpoint stays"]  # fmt: skip


def test_moments_that_overflowed_are_said_once_on_stderr_not_per_checkpoint_on_stdout(tmp_path):
    """lr 100: Adam's second moments overflow while the weights stay finite; 59 lines on stdout had said the
    weights were no longer finite."""
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--set", "dataset.n_samples=300", "--model",
                                      "mlp-ae", "--steps", "300", "--lr", "100", "--schedule", "constant",
                                      "--checkpoint-every", "5", "--callback", "no-collapse", "--reporter",
                                      "metrics-table", "--out", str(tmp_path / "run")])  # fmt: skip
    assert "no checkpoint" not in result.stdout
    assert result.stderr.count("no checkpoint") == 1, result.stderr
    assert "the optimizer's moments are no longer finite numbers" in result.stderr


def test_a_loss_that_is_not_finite_before_any_update_is_named_without_blaming_the_learning_rate(register_in_process):
    register_in_process(plugin_module("blowing", register_losses=lambda register: register(BlowsUp)))
    BlowsUp.calls = 100  # NaN from the first call
    with pytest.raises(DivergenceError) as raised:
        dimred.run(dataset="swissroll", model="mlp-ae", loss="blows-up", steps=20, out=None, reporters=[],
                   settings={"dataset.n_samples": 300})  # fmt: skip
    assert str(raised.value) == ("loss 'blows-up' gave nan on the first step, before training changed anything; "
                                 "reset any model or loss option you set far from its default, or, for a loss of "
                                 "your own, check what it computes from the untrained network's outputs")  # fmt: skip


def test_a_divergence_under_a_weight_decay_that_flips_the_weights_names_it():
    """--weight-decay 1e30 had been told to lower the learning rate only."""
    flips = r"lower the weight decay \(--weight-decay, weight_decay=: at lr [0-9.e+-]+ each step takes [0-9.e+-]+"
    with pytest.raises(DivergenceError, match=flips):
        dimred.run(dataset="swissroll", model="mlp-ae", steps=20, weight_decay=1e30, out=None, reporters=[],
                   settings={"dataset.n_samples": 300})  # fmt: skip


def test_a_divergence_among_several_losses_names_the_one_that_diverged(register_in_process):
    register_in_process(plugin_module("blowing", register_losses=lambda register: register(BlowsUp)))
    BlowsUp.calls = 0
    with pytest.raises(DivergenceError, match=r"loss became NaN \(in loss 'blows-up'\) at epoch"):
        dimred.run(dataset="swissroll", model="mlp-ae", loss="mse+blows-up:0.5", steps=100, out=None, reporters=[],
                   settings={"dataset.n_samples": 300})  # fmt: skip


def test_the_same_seed_gives_bitwise_identical_results_and_another_seed_does_not():
    def train(seed):
        result = dimred.run(dataset="swissroll", model="mlp-ae", steps=60, seed=seed, out=None, reporters=[],
                            settings={"dataset.n_samples": 400})  # fmt: skip
        weights = {name: value.clone() for name, value in result.reducer.module_.state_dict().items()}
        metrics = {key: value for key, value in result.metrics.items() if not key.endswith("_seconds")}
        return weights, result.codes, metrics

    first, again, other = train(0), train(0), train(1)
    assert all(torch.equal(first[0][name], again[0][name]) for name in first[0])
    assert np.array_equal(first[1], again[1])
    assert first[2] == again[2]
    assert not torch.equal(first[0]["encoder.0.weight"], other[0]["encoder.0.weight"])
    assert not np.array_equal(first[1], other[1])


def test_temporary_files_a_killed_run_left_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".model.safetensors.0123456789abcdef.tmp.safetensors").write_bytes(b"half")
    (out / "notes.txt").write_text("mine")
    dimred.run(dataset="swissroll", model="mlp-ae", steps=3, out=out, overwrite=True, reporters=[],
               settings={"dataset.n_samples": 100})  # fmt: skip
    assert sorted(path.name for path in out.iterdir()) == [
        ".dimred-files.json", "config.json", "history.csv", "metrics.json", "model.safetensors",
        "notes.txt"]  # fmt: skip


def _ctrl_c_as_at_a_terminal() -> None:
    """SIGINT back to its default in the child: a shell starts background jobs (a CI runner's, say) with SIGINT
    ignored, and a child inherits that, so Ctrl-C would never reach the run under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_ends_with_one_line_and_no_half_written_file(tmp_path):
    out = tmp_path / "interrupted"
    command = [SCRIPT, *TRAIN[:-6], "--steps", "100000", "--checkpoint-every", "25", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ctrl_c_as_at_a_terminal)  # fmt: skip
    deadline = time.monotonic() + 60
    while checkpoint_step(out) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == ("Error: interrupted; files already written are complete, nothing was "
                                               f"half-written; continue it with dimred run --resume {out}")  # fmt: skip
    assert "Traceback" not in stderr
    assert stdout == ""
    assert sorted(path.name for path in out.iterdir()) == [
        ".dimred-files.json", "FAILED.txt", "checkpoint.safetensors", "config.json"]  # fmt: skip
    assert os.path.getsize(out / "checkpoint.safetensors") > 0


def test_a_divergence_on_unscaled_data_suggests_scaling_it():
    huge = np.random.default_rng(0).random((200, 3)) * 1e25  # squared errors beyond float32
    with pytest.raises(DivergenceError, match=r"loss 'mse' gave inf on the first step, before training changed "
                                              r"anything; scale the data \(--scaler minmax or standard"):  # fmt: skip
        dimred.Reducer(model="mlp-ae", scaler="none", steps=5).fit(huge)
    with pytest.raises(DivergenceError) as scaled:  # a scaled run that diverges is told of the learning rate only
        dimred.Reducer(model="mlp-ae", lr=1e30, steps=5).fit(huge)
    assert "scale the data" not in str(scaled.value)


def test_a_resumed_runs_config_json_records_the_settings_it_went_on_with(interrupt_once, tmp_path):
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 60,
                 "batch_size": 100, "out": tmp_path / "run", "callbacks": [interrupt_once],
                 "reporters": []}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(checkpoint_every=20, device="auto", **arguments)
    dimred.run(checkpoint_every=30, device="cpu", resume=True, **arguments)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (recorded["training"]["checkpoint_every"], recorded["device"]) == (30, "cpu")


def test_a_run_with_a_loss_weight_of_many_digits_resumes(interrupt_once, tmp_path):
    """The weight is recorded as given (it was rounded to 6 digits, and the resume refused as other settings)."""
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 60,
                 "batch_size": 100, "out": tmp_path / "run", "callbacks": [interrupt_once], "reporters": [],
                 "loss": "mse:1.23456789", "checkpoint_every": 20}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")])  # the settings of its config.json
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss"] == [
        {"name": "mse", "weight": 1.23456789, "options": {}}]  # fmt: skip


def test_a_resume_on_other_data_of_the_same_name_is_refused_and_on_its_own_goes_on(
    interrupt_once, tmp_path, monkeypatch
):
    """config.json keeps dataset.path as typed: resumed from another folder, a relative path is another file."""
    rng = np.random.default_rng(0)
    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "rows.npy", rng.random((200, 3)))
    arguments = {"dataset": "file", "model": "mlp-ae", "settings": {"dataset.path": "rows.npy"}, "steps": 60,
                 "batch_size": 50, "out": tmp_path / "run", "callbacks": [interrupt_once], "reporters": [],
                 "checkpoint_every": 20}  # fmt: skip
    monkeypatch.chdir(tmp_path / "first")
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    monkeypatch.chdir(tmp_path / "second")
    with pytest.raises(dimred.UsageError, match=r"the data differ from those the checkpoint of .*run was saved on"):
        dimred.run(resume=True, **arguments)
    assert checkpoint_step(tmp_path / "run") == 20  # kept, to resume on its own data
    assert "(interrupted)" in (tmp_path / "run" / "FAILED.txt").read_text()  # refused before the folder was claimed
    monkeypatch.chdir(tmp_path / "first")
    assert dimred.run(resume=True, **arguments).history[-1]["step"] == 60


def _rewritten_checkpoint(interrupt_once, tmp_path: Path, change) -> Path:
    """The checkpoint of a 60-step run interrupted after its checkpoint at step 20, rewritten: ``change`` takes its
    tensors and facts and gives the tensors and the facts' text (None: no facts)."""
    from safetensors.torch import save_file

    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 60,
                 "batch_size": 100, "out": tmp_path / "run", "callbacks": [interrupt_once], "reporters": [],
                 "checkpoint_every": 20}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    with safe_open(checkpoint, framework="pt") as opened:
        metadata, tensors = opened.metadata(), {key: opened.get_tensor(key) for key in opened.keys()}  # noqa: SIM118
    tensors, facts = change(tensors, json.loads(metadata.pop("facts")))
    save_file(tensors, checkpoint, metadata=metadata | ({} if facts is None else {"facts": facts}))
    return checkpoint


def test_a_run_started_with_a_seed_beyond_32_bits_before_seeds_stopped_there_resumes(
    interrupt_once, tmp_path, monkeypatch
):
    """New runs refuse seeds beyond 2**32 - 1 (torch's generator keeps a seed's low 32 bits, so s and s + 2**32
    had trained alike); a run recorded with one before goes on with it."""
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 60,
                 "batch_size": 100, "out": tmp_path / "run", "callbacks": [interrupt_once], "reporters": [],
                 "checkpoint_every": 20, "seed": 2**32 + 3}  # fmt: skip
    with pytest.raises(
        dimred.UsageError, match=r"bad seed 4294967299: must be at most 4294967295 .* the low 32 bits, 3\)"
    ):
        dimred.run(**arguments)
    with monkeypatch.context() as earlier_dimred:
        earlier_dimred.setattr("dimred._api.run.check_new_seed", lambda seed: None)
        with pytest.raises(KeyboardInterrupt):
            dimred.run(**arguments)
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seed"] == 2**32 + 3


@pytest.mark.parametrize(
    "damage",
    [lambda facts: None, lambda facts: "{not json", lambda facts: json.dumps([1, 2]),
     lambda facts: json.dumps({**facts, "data": 5}), lambda facts: json.dumps({**facts, "config": [1]}),
     lambda facts: json.dumps({**facts, "history": [{**facts["history"][0], "loss": float("nan")}]})],
    ids=["no facts", "not JSON", "a list", "data a number", "config a list", "a NaN loss in the history"],
)  # fmt: skip
def test_a_checkpoint_whose_facts_are_damaged_is_refused_by_name(damage, interrupt_once, tmp_path):
    """Such checkpoints had ended a resume with 'unexpected KeyError' (or AttributeError, JSONDecodeError), and one
    whose history held a NaN had trained on and written it into history.csv with exit 0."""
    checkpoint = _rewritten_checkpoint(interrupt_once, tmp_path, lambda tensors, facts: (tensors, damage(facts)))
    resumed = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")])
    assert resumed.exit_code == 1, resumed.output
    assert (
        resumed.output == f"Error: checkpoint {checkpoint} is damaged: its facts (step, history, settings) are "
        "not what dimred writes; start the run again there with overwrite=True (--overwrite)\n"
    )


def test_a_checkpoint_holding_nan_weights_is_refused_by_name_not_blamed_on_the_learning_rate(interrupt_once,
                                                                                            tmp_path):  # fmt: skip
    """Resumed from it, training had met a NaN loss at once and advised a lower learning rate."""
    damaged: list[str] = []

    def nan_in_a_weight(tensors, facts):
        damaged.append(name := next(key for key in tensors if key.endswith("weight") and tensors[key].ndim == 2))
        return {**tensors, name: torch.full_like(tensors[name], float("nan"))}, json.dumps(facts)

    checkpoint = _rewritten_checkpoint(interrupt_once, tmp_path, nan_in_a_weight)
    resumed = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")])
    assert resumed.exit_code == 1, resumed.output
    assert resumed.output == (
        f"Error: checkpoint {checkpoint} holds NaN in {damaged[0]}: it is damaged, or training had diverged before it "
        "was saved; start the run again there with overwrite=True (--overwrite), at a lower learning rate if it "
        "diverged\n"
    )


def test_a_run_folders_json_nested_too_deeply_is_said_so_not_unexpected(interrupt_once, tmp_path):
    """json's RecursionError on a config.json (or a file list) of 3 000 nested lists had ended resume, encode and
    --overwrite with 'unexpected RecursionError'."""
    _rewritten_checkpoint(interrupt_once, tmp_path, lambda tensors, facts: (tensors, json.dumps(facts)))
    deep = '{"model": ' + "[" * 3000 + "]" * 3000 + "}"
    (tmp_path / "run" / "config.json").write_text(deep)
    resumed = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")])
    assert resumed.exit_code == 2, resumed.output
    config = tmp_path / "run" / "config.json"
    assert resumed.output == f"Error: config file {config} is not valid JSON: nested too deeply\n"
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "config.json").write_text(deep)
    (tmp_path / "bare" / ".dimred-files.json").write_text(deep)
    np.save(tmp_path / "rows.npy", np.zeros((5, 3)))
    encoded = CliRunner().invoke(cli, ["encode", str(tmp_path / "bare"), str(tmp_path / "rows.npy"), "-o",
                                       str(tmp_path / "codes.npy")])  # fmt: skip
    assert encoded.exit_code != 0
    assert encoded.output.startswith("Error: "), encoded.output
    assert "unexpected" not in encoded.output, encoded.output
    again = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "pca", "--reporter", "metrics-table",
                                     "--out", str(tmp_path / "bare"), "--overwrite"])  # fmt: skip
    assert again.exit_code == 2, again.output  # an unreadable list lists nothing: config.json is kept as the user's
    assert ("holds config.json, which dimred would replace, but its list of the files dimred wrote there "
            "(.dimred-files.json) is damaged") in again.output  # fmt: skip


def _interrupted_on_a_file(callback: str, folder: Path) -> tuple[np.ndarray, dict]:
    """5 000 rows saved as folder/rows.npy, and the arguments of a run on them that ``callback`` interrupted
    after its checkpoint at step 20."""
    rows = np.random.default_rng(0).random((5000, 3))
    np.save(folder / "rows.npy", rows)
    arguments = {"dataset": "file", "model": "mlp-ae", "settings": {"dataset.path": str(folder / "rows.npy")},
                 "steps": 60, "batch_size": 500, "out": folder / "run", "callbacks": [callback],
                 "reporters": [], "checkpoint_every": 20, "holdout": 0}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    return rows, arguments


def test_a_resume_on_a_file_changed_in_one_value_anywhere_is_refused(interrupt_once, tmp_path):
    """The fingerprint hashed 1 000 evenly spaced rows: a change in the others went unseen."""
    rows, arguments = _interrupted_on_a_file(interrupt_once, tmp_path)
    rows[1, 2] += 1e-9  # row 1 is not among the rows sampled before
    np.save(tmp_path / "rows.npy", rows)
    with pytest.raises(dimred.UsageError, match=r"the data differ from those the checkpoint"):
        dimred.run(resume=True, **arguments)


def test_a_checkpoint_from_before_the_whole_data_was_hashed_resumes_on_its_data(interrupt_once, tmp_path):
    from dimred._engine.checkpoint import read_checkpoint, write_checkpoint
    from dimred._engine.fitting import data_fingerprint

    rows, arguments = _interrupted_on_a_file(interrupt_once, tmp_path)
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    tensors, facts = read_checkpoint(checkpoint)
    sampled = data_fingerprint(rows, like="an earlier checkpoint's")  # sampled rows, no prefix
    assert facts["data"] == data_fingerprint(rows) != sampled
    write_checkpoint(checkpoint, tensors, facts | {"data": sampled})
    assert dimred.run(resume=True, **arguments).history[-1]["step"] == 60


def test_a_run_recorded_with_an_option_since_retired_resumes_and_reruns(interrupt_once, tmp_path):
    """loss-curve and rnx-plot listed max_points, which they ignored; runs recorded with it still resume."""
    with pytest.raises(KeyboardInterrupt):
        dimred.run("swissroll", "mlp-ae", settings={"dataset.n_samples": 300}, steps=60, batch_size=100,
                   out=tmp_path / "run", callbacks=[interrupt_once], reporters=[], checkpoint_every=20)  # fmt: skip
    record = tmp_path / "run" / "config.json"

    def recorded_with_max_points() -> None:
        written = json.loads(record.read_text())
        written["reporters"] = [{"name": "loss-curve", "options": {"dpi": 50, "max_points": 20000}}]
        record.write_text(json.dumps(written))

    recorded_with_max_points()
    resumed = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")])
    assert resumed.exit_code == 0, resumed.output
    assert (tmp_path / "run" / "loss.png").exists()
    recorded_with_max_points()
    again = CliRunner().invoke(cli, ["run", "--config", str(record), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / "config.json").read_text())["reporters"] == [
        {"name": "loss-curve", "options": {"dpi": 50}}]  # fmt: skip
    with pytest.raises(
        dimred.UsageError, match=r"option 'reporter\.loss-curve\.max_points' is retired: the plugin no longer takes it"
    ):
        dimred.run("swissroll", "pca", reporters=["loss-curve"], settings={"reporter.loss-curve.max_points": 5})


def test_a_run_that_trained_in_several_processes_says_that_its_resume_in_one_goes_on_otherwise(
    interrupt_once, tmp_path
):
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 60,
                 "batch_size": 100, "out": tmp_path / "run", "callbacks": [interrupt_once], "reporters": [],
                 "checkpoint_every": 20}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["processes"] == 1
    (tmp_path / "run" / "config.json").write_text(json.dumps(config | {"processes": 2}))  # as torchrun's 2 wrote it
    with pytest.warns(UserWarning, match="trained in 2 processes .* not bit for bit"):
        dimred.run(resume=True, **arguments)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["processes"] == 1  # as it went on


class CtrlCOnce(Reporter):
    """Ctrl-C while the first run that names it reports (resumed runs name it too and go on)."""

    name = "ctrl-c-once"
    description = "Ctrl-C while reporting, once"
    pressed = False

    def report(self, run):
        if not CtrlCOnce.pressed:
            CtrlCOnce.pressed = True
            raise KeyboardInterrupt


@pytest.fixture
def ctrl_c_once(register_in_process) -> str:
    CtrlCOnce.pressed = False
    register_in_process(plugin_module("reporting", register_reporters=lambda register: register(CtrlCOnce)))
    return CtrlCOnce.name


def test_a_run_interrupted_while_it_reports_is_resumed_as_its_failed_txt_says(ctrl_c_once, tmp_path):
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 60,
                 "checkpoint_every": 20, "out": tmp_path / "run", "reporters": [ctrl_c_once]}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    assert {"FAILED.txt", "model.safetensors"} <= {path.name for path in (tmp_path / "run").iterdir()}
    assert "--resume continues it" in (tmp_path / "run" / "FAILED.txt").read_text()
    first = load_file(tmp_path / "run" / "model.safetensors")
    dimred.run(resume=True, **arguments)
    assert not (tmp_path / "run" / "FAILED.txt").exists()
    again = load_file(tmp_path / "run" / "model.safetensors")
    assert all(np.array_equal(first[name], again[name]) for name in first)


def test_a_run_killed_after_saving_its_model_and_before_its_metrics_resumes(tmp_path):
    """--resume had taken the model file for a finished run ('already complete'), though the metrics, written
    last, were missing: the run could be neither resumed nor, without losing its checkpoint, started again."""
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 60,
                 "checkpoint_every": 20, "out": tmp_path / "run", "reporters": []}  # fmt: skip
    dimred.run(**arguments)
    finished = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for name in ("metrics.json", "history.csv"):  # as SIGKILL after the model file leaves it
        (tmp_path / "run" / name).unlink()
    dimred.run(resume=True, **arguments)
    resumed = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (resumed["rmse"], resumed["trustworthiness"]) == (finished["rmse"], finished["trustworthiness"])
    with pytest.raises(dimred.UsageError, match=r"is already complete: it has its metrics\.json") as refused:
        dimred.run(resume=True, **arguments)
    advice = str(refused.value).rsplit(": dimred ", 1)[1].split()  # --resume with --overwrite is refused: not that
    assert advice == ["run", "--config", str(tmp_path / "run" / "config.json"), "--out", str(tmp_path / "run"),
                      "--overwrite"]  # fmt: skip
    assert CliRunner().invoke(cli, advice).exit_code == 0


def test_a_run_interrupted_while_it_reports_keeps_its_finished_results_without_a_checkpoint(ctrl_c_once, tmp_path):
    """Ctrl-C during a slow reporter removed the whole finished run, while saying that files already written were
    complete."""
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 30,
                 "out": tmp_path / "run", "reporters": [ctrl_c_once]}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    assert dimred.load(tmp_path / "run").transform(np.zeros((1, 3))).shape == (1, 2)
    assert "rmse" in json.loads((tmp_path / "run" / "metrics.json").read_text())
    failed = (tmp_path / "run" / "FAILED.txt").read_text()
    assert "model.safetensors where the model keeps one) are complete; it stopped while its reporters ran" in failed
    assert "--resume" not in failed
    dimred.run(**arguments)  # replaced without overwrite=True, as a failed run's folder is
    assert not (tmp_path / "run" / "FAILED.txt").exists()


class _InterruptAt(Callback):
    """Ctrl-C after step ``at`` of the first run that names it (resumed runs name it too and go on)."""

    name = "interrupt-at"
    description = "Ctrl-C after a step, once"
    every_step = True
    at = 0
    done = False

    def on_step(self, training, status):
        if status.step == _InterruptAt.at and not _InterruptAt.done:
            _InterruptAt.done = True
            raise KeyboardInterrupt


def test_checkpoints_between_logging_intervals_change_nothing_and_a_resume_from_one_goes_on_exactly(
    register_in_process, tmp_path
):
    """Checkpoint steps were logging intervals too: --checkpoint-every moved early stopping's count (and which
    steps history.csv averages), and a checkpoint saved between intervals lost the running loss."""
    register_in_process(plugin_module("interrupting_at", register_callbacks=lambda register: register(_InterruptAt)))
    _InterruptAt.at, _InterruptAt.done = 45, True
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "steps": 2000, "batch_size": 100, "reporters": [],
                 "callbacks": ["early-stopping", "interrupt-at"],
                 "settings": {"dataset.n_samples": 200, "model.hidden": (16,), "callback.early-stopping.patience": 3,
                              "callback.early-stopping.min_delta": 0.05}}  # fmt: skip
    plain = dimred.run(out=tmp_path / "plain", **arguments)  # logs every 10 steps, stops early, no checkpoints
    _InterruptAt.done = False
    with pytest.raises(KeyboardInterrupt):  # after step 45: the checkpoint of step 42 goes on from there
        dimred.run(out=tmp_path / "run", checkpoint_every=7, **arguments)
    resumed = dimred.run(out=tmp_path / "run", checkpoint_every=7, resume=True, **arguments)
    assert plain.metrics["stopped_early"]
    assert plain.metrics["steps_trained"] < 2000
    assert [row | {"seconds": 0} for row in resumed.history] == [row | {"seconds": 0} for row in plain.history]
    first, again = (
        load_file(tmp_path / "plain" / "model.safetensors"),
        load_file(tmp_path / "run" / "model.safetensors"),
    )
    assert all(np.array_equal(first[name], again[name]) for name in first)


def test_a_run_stopped_and_then_interrupted_before_it_was_saved_resumes_to_the_stop_not_beyond(
    register_in_process, ctrl_c_once, tmp_path
):
    """A checkpoint taken at the step where a callback stopped training did not say so: the resumed run trained
    on to its last step."""

    class StopAtTen(Callback):
        name = "stop-at-ten"
        description = "stops training at step 10"

        def on_interval(self, training, status):
            if status.step == 10:
                training.stop("enough at step 10")

    register_in_process(plugin_module("stopping", register_callbacks=lambda register: register(StopAtTen)))
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "steps": 60, "batch_size": 100, "checkpoint_every": 5,
                 "callbacks": ["stop-at-ten"], "settings": {"dataset.n_samples": 200}}  # fmt: skip
    plain = dimred.run(out=tmp_path / "plain", reporters=[], **arguments)
    with pytest.raises(KeyboardInterrupt):
        dimred.run(out=tmp_path / "run", reporters=[ctrl_c_once], **arguments)
    resumed = dimred.run(out=tmp_path / "run", reporters=[ctrl_c_once], resume=True, **arguments)
    assert (plain.metrics["steps_trained"], resumed.metrics["steps_trained"]) == (10, 10)
    assert resumed.metrics["stop_reason"] == "enough at step 10"
    assert np.array_equal(resumed.codes, plain.codes)


def test_resume_and_overwrite_together_are_refused(tmp_path):
    """--resume had ignored --overwrite without a word."""
    dimred.run("swissroll", "mlp-ae", steps=4, checkpoint_every=2, settings={"dataset.n_samples": 100},
               out=tmp_path / "run", reporters=[])  # fmt: skip
    (tmp_path / "run" / "metrics.json").unlink()  # as a run killed before its metrics leaves it: resumable
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run"), "--overwrite"])
    assert result.exit_code == 2, result.output
    assert "continues the run in its folder, overwrite=True (--overwrite) starts it again there" in result.output
    assert (tmp_path / "run" / "checkpoint.safetensors").is_file()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [(lambda tensors, facts: ({**tensors, "model.encoder.0.weight": torch.zeros(32, 3)}, facts),
      r"is not this run's: it holds encoder.0.weight of shape \(32, 3\), where the run's network has it of shape "
      r"\(128, 3\); start the run again there with --overwrite"),
     (lambda tensors, facts: ({key: value for key, value in tensors.items() if key != "model.decoder.1.bias"}, facts),
      r"is not this run's: it lacks decoder.1.bias"),
     (lambda tensors, facts: (tensors, {**facts, "optimizer_steps": None}),
      r"does not fit this run \(.*\): it was written with another optimizer or settings, or was damaged"),
     (lambda tensors, facts: (tensors, {**facts, "step": 10000}),
      r"does not fit this run \(step 10000 of a run of 60 steps, logged to step \d+\)")],
    ids=["another network", "a tensor missing", "damaged facts", "a step beyond the run's"],
)  # fmt: skip
def test_a_checkpoint_not_of_this_run_is_said_in_one_line(interrupt_once, tmp_path, tamper, message):
    """A checkpoint of another network had failed as 'unexpected RuntimeError' and a dozen lines of size
    mismatches, damaged facts as 'unexpected TypeError'."""

    def tampered(tensors: dict, facts: dict) -> tuple[dict, str]:
        tensors, facts = tamper(tensors, facts)
        return tensors, json.dumps(facts)

    _rewritten_checkpoint(interrupt_once, tmp_path, tampered)
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert re.search(message, line), line
    assert "unexpected" not in result.output


def test_a_killed_runs_folder_is_taken_over_by_a_run_only(interrupt_once, tmp_path):
    """A comparison or an evaluation into the folder of a run that a checkpoint could continue had removed the
    checkpoint and the run's config.json, without --overwrite; a run there replaces it, as FAILED.txt says."""
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 60,
                 "batch_size": 100, "out": tmp_path / "run", "callbacks": [interrupt_once], "reporters": [],
                 "checkpoint_every": 20}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    kept = sorted(path.name for path in (tmp_path / "run").iterdir())
    with pytest.raises(dimred.UsageError, match="already exists and is not empty"):
        dimred.compare("swissroll", ["pca"], settings={"dataset.n_samples": 300}, out=tmp_path / "run")
    finished = dimred.run("swissroll", "pca", settings={"dataset.n_samples": 300}, out=tmp_path / "pca",
                          reporters=[])  # fmt: skip
    with pytest.raises(dimred.UsageError, match="already exists and is not empty"):
        dimred.evaluate(finished.path, "swissroll", out=tmp_path / "run", reporters=[])
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == kept
    dimred.run(**{**arguments, "callbacks": []})  # a run there replaces it
    assert not (tmp_path / "run" / "FAILED.txt").exists()


@pytest.mark.parametrize("name", ["FAILED.txt", "checkpoint.safetensors"])
def test_a_users_files_of_the_names_of_dimreds_markers_are_never_removed(tmp_path, name):
    """Files of these names that no dimred run wrote had been taken for a failed run's: a run went into the
    folder without --overwrite and removed them."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / name).write_text("my notes")
    settings = {"dataset.n_samples": 300}
    with pytest.raises(dimred.UsageError, match="already exists and is not empty"):
        dimred.run("swissroll", "pca", settings=settings, out=tmp_path / "mine", reporters=[])
    dimred.run("swissroll", "pca", settings=settings, out=tmp_path / "mine", overwrite=True, reporters=[])
    assert (tmp_path / "mine" / name).read_text() == "my notes"


@pytest.mark.parametrize(
    ("edit", "said"),
    [(lambda config: config["training"] | {"lr": 0.01}, "training.lr 0.01 -> 0.05"),
     (lambda config: config["training"] | {"steps": 30}, "training.steps 30 -> 60")],
    ids=["learning rate", "fewer steps than the checkpoint's"],
)  # fmt: skip
def test_a_resume_of_a_run_whose_config_json_was_edited_since_its_checkpoint_is_refused(
    interrupt_once, tmp_path, edit, said
):
    """Resume checked the flags against config.json alone: an edited config.json (or another run's checkpoint
    copied in) trained on with settings neither described, exit 0."""
    arguments = {"dataset": "swissroll", "model": "mlp-ae", "settings": {"dataset.n_samples": 300}, "steps": 60,
                 "batch_size": 100, "lr": 0.05, "out": tmp_path / "run", "callbacks": [interrupt_once],
                 "reporters": [], "checkpoint_every": 20}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        dimred.run(**arguments)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    (tmp_path / "run" / "config.json").write_text(json.dumps(config | {"training": edit(config)}))
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert f"was saved by a run of other settings than its config.json holds now (config.json -> checkpoint): {said}" \
        in result.output  # fmt: skip
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))  # put back: it goes on
    assert CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")]).exit_code == 0
