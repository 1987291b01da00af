"""Data-parallel training with torchrun: two CPU processes (gloo) against one, same seed and global batch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
SETTINGS = ["--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=800", "--steps", "300",
            "--batch-size", "200", "--seed", "3", "--reporter", "metrics-table", "--device", "cpu"]  # fmt: skip


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=_environment(cwd), timeout=300)


def _environment(folder: Path) -> dict[str, str]:
    """One thread per process, and the temporary folders torchrun leaves behind beside the test's ``folder``
    (where pytest removes them) rather than in /tmp."""
    temporary = folder.with_name(f"{folder.name}-tmp")
    temporary.mkdir(exist_ok=True)
    return {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(temporary)}


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("single")
    result = run([sys.executable, "-m", "dimred", "run", *SETTINGS, "--out", "run"], folder)
    assert result.returncode == 0, result.stderr
    return json.loads((folder / "run" / "metrics.json").read_text())


def test_two_processes_write_one_run_and_match_one_process(single, tmp_path):
    command = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "dimred", "run", *SETTINGS, "--out", "run",
               "--checkpoint-every", "50"]  # fmt: skip
    result = run(command, tmp_path)
    assert result.returncode == 0, result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["run"]
    assert sorted(path.name for path in tmp_path.rglob("*.safetensors")) == ["checkpoint.safetensors",
                                                                             "model.safetensors"]  # fmt: skip
    assert result.stdout.count("run directory:") == 1
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["training"]["batch_size"] == 200  # the global batch: 100 rows per process
    # Each process normalises its own half of the batch (no SyncBatchNorm on the CPU) and draws its own dropout, so
    # the two runs differ: two processes must train as well as one, and stay near it (torch 2.14.1: rmse 0.073
    # against 0.082, 0.10 below).
    assert metrics["rmse"] <= single["rmse"] * 1.10
    assert metrics["rmse"] == pytest.approx(single["rmse"], rel=0.25)
    for key in ("trustworthiness", "continuity"):
        assert metrics[key] >= single[key] - 0.01, key


def test_a_failing_process_ends_the_run_with_its_message(tmp_path):
    command = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "dimred", "run", *SETTINGS, "--out", "run",
               "--set", "model.dropout=2"]  # fmt: skip
    result = run(command, tmp_path)
    assert result.returncode != 0
    assert "Error: bad model options: dropout must be in [0, 1)" in result.stderr


def test_processes_that_read_different_data_stop_with_one_message_instead_of_waiting(tmp_path):
    """Process 1 reads 900 rows where process 0 reads 800 (a stale copy, a relative path read elsewhere): each
    would plan other steps, and DDP would wait forever."""
    script = tmp_path / "by_rank.sh"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m dimred run --set dataset.n_samples=$((800 + RANK * 100)) '
                      '"$@"\n')  # fmt: skip
    script.chmod(0o755)
    settings = [setting for setting in SETTINGS if setting != "dataset.n_samples=800"]
    settings.remove("--set")
    result = run([TORCHRUN, "--standalone", "--nproc_per_node=2", "--no-python", str(script), *settings, "--holdout",
                  "0", "--out", "run"], tmp_path)  # fmt: skip
    assert result.returncode != 0
    assert (
        "Error: the training processes read different data: process 1 read 900 x 3 (rows x columns), process 0 "
        "800 x 3; every process must read the same data (the same file at the same path on every machine)"
    ) in result.stderr
    assert "failed to train" not in result.stderr


def test_a_refusal_only_process_0_makes_is_another_process_stopping_for_the_others(tmp_path):
    """Only process 0 checks the run folder: the others had reported "unexpected RuntimeError ... Connection closed
    by peer" where they met it in their first exchange."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "mine.txt").write_text("a user's file")
    command = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "dimred", "run", *SETTINGS, "--out", "run"]
    result = run(command, tmp_path)
    assert result.returncode != 0
    assert "Error: output folder run already exists and is not empty" in result.stderr
    assert "Error: another training process stopped (its own message says why)" in result.stderr
    assert "unexpected" not in result.stderr
    assert [path.name for path in (tmp_path / "run").iterdir()] == ["mine.txt"]


def test_processes_started_with_other_steps_stop_with_one_message_instead_of_waiting(tmp_path):
    """Process 1 planned 60 steps where process 0 planned 50: process 0 waited at the end for a process still in
    a step, forever."""
    script = tmp_path / "by_rank.sh"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m dimred run --steps $((50 + RANK * 10)) "$@"\n')
    script.chmod(0o755)
    arguments = ["--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=400", "--holdout", "0",
                 "--reporter", "metrics-table", "--device", "cpu"]  # fmt: skip
    result = run([TORCHRUN, "--standalone", "--nproc_per_node=2", "--no-python", str(script), *arguments, "--out",
                  "run"], tmp_path)  # fmt: skip
    assert result.returncode != 0
    assert ("Error: the training processes were started with different settings: process 1's differ from process "
            "0's") in result.stderr  # fmt: skip


def test_other_values_in_the_same_shape_and_a_batch_that_does_not_divide_are_warned_of(tmp_path):
    """Each process generates its roll from its own seed (generated data may differ in its last bits between
    machines): the same shape trains, with a warning; a batch of 201 leaves a row out of every step."""
    script = tmp_path / "by_rank.sh"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m dimred run --seed $RANK "$@"\n')
    script.chmod(0o755)
    arguments = ["--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=400", "--steps", "20",
                 "--batch-size", "201", "--holdout", "0", "--reporter", "metrics-table", "--device", "cpu"]  # fmt: skip
    result = run([TORCHRUN, "--standalone", "--nproc_per_node=2", "--no-python", str(script), *arguments, "--out",
                  "run"], tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = " ".join(result.stderr.split())
    assert ("process 1 read other values than process 0 (or another dtype), in the same shape: the model trains on "
            "both") in warnings  # fmt: skip
    assert (
        "the batch of 201 rows does not divide among 2 processes: each trains on 100 rows a step, 200 in all"
        in warnings
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["compare", "--dataset", "swissroll", "--model", "pca"],
            "compare runs in one process; start it without torchrun (dimred run trains under it)",
        ),
        (
            ["run", *SETTINGS, "--set", "model.batch_norm=false", "--batch-size", "1"],
            "a batch of 1 is shared by 2 processes, each needing a row at least: raise --batch-size to 2 or more, or "
            "train on fewer processes",
        ),
    ],
)
def test_what_cannot_run_under_torchrun_is_one_clear_error(arguments, message, tmp_path):
    result = run([TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "dimred", *arguments], tmp_path)
    assert result.returncode != 0
    assert f"Error: {message}" in result.stderr
    assert not list(tmp_path.rglob("*.safetensors"))


def test_an_exchange_broken_by_another_process_is_named_as_that_not_as_the_model_failing():
    from dimred._core.errors import DimredError, blame
    from dimred._engine.distributed import World, peers_failing
    from dimred.plugins.mlp_ae import MLPAutoencoder

    broken = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:1234: "
                          "Connection reset by peer")  # fmt: skip
    named = (r"^another training process stopped \(its own message says why\), so this one could not go on "
             r"\(\[\.\./third_party/gloo/.*Connection reset by peer\)$")  # fmt: skip
    with pytest.raises(DimredError, match=named), blame(MLPAutoencoder(), "train"), peers_failing(World(0, 2)):
        raise broken
    alone = r"model 'mlp-ae' failed to train: .*Connection reset by peer"  # no other process to blame
    with pytest.raises(DimredError, match=alone), blame(MLPAutoencoder(), "train"), peers_failing(World()):
        raise broken
    own = RuntimeError("NCCL error in: ProcessGroupNCCL.cpp:1234, unhandled cuda error, Cuda failure 'out of memory'")
    ran_out = "model 'mlp-ae' ran out of memory"  # this process's own failure keeps its own message
    with pytest.raises(DimredError, match=ran_out), blame(MLPAutoencoder(), "train"), peers_failing(World(0, 2)):
        raise own


def test_only_torchrun_starting_several_processes_refuses_the_one_process_commands(monkeypatch):
    from dimred.cli import _under_torchrun

    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "4")  # another launcher's job, whose program may call dimred's library
    assert not _under_torchrun()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    assert _under_torchrun()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not _under_torchrun()


@pytest.mark.parametrize(
    ("environment", "message"),
    [({"WORLD_SIZE": "abc"}, "environment variable WORLD_SIZE='abc' is not a whole number from 0 (torchrun sets it)"),
     ({"WORLD_SIZE": "2"}, "WORLD_SIZE=2 says this process is one of 2, but RANK, MASTER_ADDR, MASTER_PORT are not "
                           "set: start training on several processes with torchrun"),
     ({"WORLD_SIZE": "2", "RANK": "5", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"},
      "RANK=5 is not one of the WORLD_SIZE=2 processes' ranks, 0 to 1")],
)  # fmt: skip
def test_a_launchers_environment_that_cannot_start_a_process_group_is_one_clear_error(monkeypatch, environment,
                                                                                      message):  # fmt: skip
    """Set by hand or by another launcher, these had given "unexpected KeyError: 'RANK'" and torch's own words."""
    from click.testing import CliRunner

    from dimred.cli import cli

    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for command in ("run", "compare"):  # compare says each model's failure as it comes, the error at the end
        result = CliRunner().invoke(cli, [command, "--dataset", "swissroll", "--model", "pca", "--out", "none"])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert lines[-1].startswith(f"Error: {message}")
        assert len(lines) == 1 or command == "compare"


def test_a_large_array_is_streamed_from_its_file(tmp_path, monkeypatch):
    import numpy as np
    import torch

    import dimred
    from dimred._engine import fitting
    from dimred._engine.scaling import Scaler

    monkeypatch.setattr(fitting, "STREAM_ROWS", 1000)
    monkeypatch.setattr(fitting, "EVALUATION_ROWS", 700)
    from dimred.plugins.swissroll import SwissRoll

    np.save(tmp_path / "big.npy", SwissRoll(SwissRoll.Options(n_samples=3000)).load(0).X.astype(np.float32))
    result = dimred.run(dataset="file", model="mlp-ae", settings={"dataset.path": str(tmp_path / "big.npy")},
                        steps=300, out=tmp_path / "run", reporters=["codes-plot"])  # fmt: skip
    assert result.metrics["evaluated_rows"] == 700
    assert result.metrics["n_samples"] == 700
    monkeypatch.setattr(fitting, "EVALUATION_VALUES", 1200)  # wide rows are sampled fewer: 400 of 3 columns
    monkeypatch.setattr(fitting, "FEWEST_EVALUATION_ROWS", 100)
    narrower = dimred.run(dataset="file", model="mlp-ae", settings={"dataset.path": str(tmp_path / "big.npy")},
                          steps=3, out=None, reporters=[])  # fmt: skip
    assert narrower.metrics["evaluated_rows"] == 400
    assert result.metrics["trustworthiness"] > 0.95
    assert (tmp_path / "run" / "codes.png").exists()
    X = torch.from_numpy(np.load(tmp_path / "big.npy"))
    for kind in ("minmax", "standard"):
        whole, streamed = Scaler.fit(kind, X), Scaler.fit_chunks(kind, list(X.split(700)))
        assert torch.allclose(whole.offset, streamed.offset, atol=1e-5)
        assert torch.allclose(whole.factor, streamed.factor, rtol=1e-4)
    # a batch of every row is the full batch, however it is given (3000 had reached the network as the mapped file)
    for batch_size, given in ((None, "full"), (3000, "3000"), (10**7, "10000000")):
        with pytest.raises(
            dimred.UsageError,
            match=rf"^--batch-size {given} \(batch_size\) trains on every row at "
            r"each step, which only data of at most 1000 rows does; these 3000 rows are streamed",
        ):
            dimred.run(dataset="file", model="mlp-ae", settings={"dataset.path": str(tmp_path / "big.npy")},
                       batch_size=batch_size, steps=3, out=None, reporters=[])  # fmt: skip


@pytest.mark.parametrize(
    ("change", "scaler", "message"),
    [(lambda X: X.__setitem__((1205, 1), 1e39), "none",
      "big.npy) has 1e+39 at row 1205, column 1 (counting from 0), beyond the range of float32"),
     (lambda X: X.__setitem__((slice(None), 0), 1e6 + (np.arange(len(X)) % 3) * 0.01), "minmax", None)],
    ids=["a value beyond float32", "a column that float32 rounds to one number"],
)  # fmt: skip
def test_streamed_rows_are_checked_as_rows_in_memory_are(tmp_path, monkeypatch, change, scaler, message):
    """Streamed rows were cast unchecked: 1e39 became inf (a NaN loss, or nothing where no batch drew it), and a
    column float32 rounds to one number was not warned of."""
    import dimred
    from dimred._engine import fitting
    from dimred._io import validation

    monkeypatch.setattr(fitting, "STREAM_ROWS", 1000)
    monkeypatch.setattr(fitting, "EVALUATION_ROWS", 700)
    monkeypatch.setattr(validation, "CHUNK_VALUES", 1500)  # chunks of 500 rows: the value lies in the third, named
    # by its row in the file
    X = np.random.default_rng(0).random((1500, 3))
    change(X)
    np.save(tmp_path / "big.npy", X)
    arguments = {"dataset": "file", "model": "mlp-ae", "settings": {"dataset.path": str(tmp_path / "big.npy")},
                 "steps": 3, "scaler": scaler, "out": None, "reporters": []}  # fmt: skip
    if message is not None:
        with pytest.raises(dimred.DataError, match=re.escape(message)):
            dimred.run(**arguments)
    else:
        with pytest.warns(
            UserWarning, match=r"column 0 \(counting from 0\) varies by 0.02 around 1e\+06, but in float32"
        ):
            dimred.run(**arguments)


def _share_from_rank_zero(rank: int, size: int, port: int, results: dict) -> None:
    import torch
    import torch.distributed as dist

    from dimred._engine.distributed import World, computed_once

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    built_here = []

    def build() -> dict:
        built_here.append(rank)
        return {"indices": torch.arange(10).reshape(5, 2), "weights": torch.linspace(0, 1, 7, dtype=torch.float64)}

    shared = computed_once(World(rank, size), torch.device("cpu"))(build)
    results[rank] = (built_here, {name: (tensor.dtype, tensor.tolist()) for name, tensor in shared.items()})
    dist.destroy_process_group()


def test_what_a_loss_computes_once_is_built_by_one_process_and_shared_with_all():
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_share_from_rank_zero, args=(2, port, results), nprocs=2)
        results = dict(results)
    assert results[0][0] == [0]
    assert results[1][0] == []
    assert results[0][1] == results[1][1]
    assert results[1][1]["weights"][1][-1] == 1.0


def test_a_neighbour_embedding_autoencoder_trains_under_torchrun_in_mixed_precision_with_muon(tmp_path):
    command = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "dimred", "run", "--dataset", "swissroll",
               "--model", "ne-ae", "--set", "dataset.n_samples=600", "--steps", "60", "--precision", "bf16",
               "--optimizer", "muon", "--reporter", "metrics-table", "--out", "run"]  # fmt: skip
    result = run(command, tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["trustworthiness"] > 0.8
    training = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    assert (training["precision"], training["optimizer"]) == ("bf16", "muon")


STOPPING_DIMRED = """
from dimred._host.registry import get_registry
from dimred.cli import cli
from dimred.plugin import Callback, hookimpl


class StopOnProcessZero(Callback):
    name = "stop-on-process-0"
    description = "process 0 alone stops training as it starts"

    def on_fit_start(self, training):
        if training.is_main:
            training.stop("process 0 stopped it at the start")


class EveryStepElsewhere(Callback):
    name = "every-step-in-process-1"
    description = "acts every step in process 1 alone"

    def on_fit_start(self, training):
        self.every_step = not training.is_main

    def on_step(self, training, status):
        pass


class Plugins:
    @hookimpl
    def register_callbacks(self, register):
        register(StopOnProcessZero)
        register(EveryStepElsewhere)


get_registry().register(Plugins(), name="stopping")
cli()
"""


def test_a_stop_one_process_decides_as_training_starts_stops_every_process(tmp_path):
    """The others went on to their first logging interval and waited there for process 0, which had left."""
    (tmp_path / "stopping_dimred.py").write_text(STOPPING_DIMRED)
    command = [
        TORCHRUN,
        "--standalone",
        "--nproc_per_node=2",
        "stopping_dimred.py",
        "run",
        *SETTINGS,
        "--callback",
        "stop-on-process-0",
        "--steps",
        "2000",
        "--out",
        "run",
    ]  # fmt: skip (logging every 10 steps)
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env=_environment(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (metrics["steps_trained"], metrics["stop_reason"]) == (0, "process 0 stopped it at the start")


def test_a_callback_acting_every_step_in_one_process_only_does_not_leave_the_processes_waiting(tmp_path):
    """Process 1 shared its stop after every step, process 0 only at each interval: both waited for good."""
    (tmp_path / "stopping_dimred.py").write_text(STOPPING_DIMRED)
    command = [TORCHRUN, "--standalone", "--nproc_per_node=2", "stopping_dimred.py", "run", *SETTINGS, "--steps",
               "30", "--callback", "every-step-in-process-1", "--out", "run"]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env=_environment(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "history.csv").read_text().splitlines()[-1].startswith("30,")


@pytest.mark.parametrize("gpus", [0, 1, 2])
def test_each_process_gets_a_gpu_of_its_own_or_auto_takes_the_cpu(monkeypatch, gpus):
    """nccl cannot share one GPU between two processes: with fewer GPUs than processes on a machine, auto trains
    on the CPU (gloo) and naming cuda is one clear error. (The GPU count is set here: CI has no GPU.)"""
    import torch

    from dimred import UsageError
    from dimred._engine.distributed import device_of_process

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    expected = [torch.device("cuda", 0), torch.device("cuda", 1)] if gpus >= 2 else [torch.device("cpu")] * 2
    assert [device_of_process("auto", rank, 2) for rank in (0, 1)] == expected
    assert device_of_process("cpu", 1, 2) == torch.device("cpu")
    if gpus == 1:
        with pytest.raises(UsageError, match=r"started 2 processes on this machine, but it has 1 CUDA device: .*"
                                             r"--nproc-per-node.*--device cpu"):  # fmt: skip
            device_of_process("cuda", 1, 2)
