"""The CUDA path, on a machine with an NVIDIA GPU: device selection, repeatability, resume after SIGKILL, and
``ne-ae``'s quality and fit time on the GPU against the same machine's CPU.

    pip install -e '.[bench]'
    python benchmarks/cuda_check.py          # about 3 minutes on an H200

What it prints: the device ``auto`` picked; the largest weight difference between two runs with the same seed
(and against a CPU run); whether a run killed with SIGKILL and resumed ends as the uninterrupted one; whether
``torch.use_deterministic_algorithms(True)`` trains; held-out T / kNN / acc / RMSE and fit seconds of ``ne-ae``
on digits and MNIST-5k (the protocol of ``real_data.py``), on the GPU (seeds 0-2) and the CPU (seed 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import real_data
import torch
from safetensors.numpy import load_file

import dimred
from common import DIMRED, print_table, write_results

RUN = [DIMRED, "run", "--dataset", "swissroll", "--model", "mlp-ae", "--reporter", "metrics-table"]


def cli_run(folder: Path, *extra: str) -> tuple[dict[str, np.ndarray], dict, dict]:
    subprocess.run([*RUN, "--out", str(folder), *extra], check=True, capture_output=True)
    config, metrics = (json.loads((folder / name).read_text()) for name in ("config.json", "metrics.json"))
    return load_file(folder / "model.safetensors"), metrics, config


def largest_difference(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> float:
    return max(float(np.abs(first[name].astype(np.float64) - second[name]).max(initial=0)) for name in first)


def killed_and_resumed(folder: Path, *extra: str) -> dict[str, np.ndarray]:
    """A run killed with SIGKILL once its first checkpoint is written, then resumed to its end."""
    process = subprocess.Popen([*RUN, "--out", str(folder), *extra], stdout=subprocess.DEVNULL)
    while not (folder / "checkpoint.safetensors").exists() and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    process.kill()
    process.wait()
    subprocess.run([DIMRED, "run", "--resume", str(folder)], check=True, capture_output=True)
    return load_file(folder / "model.safetensors")


def runs_and_resume(scratch: Path) -> dict[str, object]:
    first, metrics, config = cli_run(scratch / "first")
    second, _, _ = cli_run(scratch / "second")
    on_cpu, cpu_metrics, _ = cli_run(scratch / "cpu", "--device", "cpu")
    long = ("--steps", "5000", "--checkpoint-every", "250")
    uninterrupted, _, _ = cli_run(scratch / "uninterrupted", *long)
    resumed = killed_and_resumed(scratch / "resumed", *long)
    return {
        "auto picked": config["device_used"],
        "same seed, two GPU runs: largest weight difference": largest_difference(first, second),
        "GPU run against CPU run: largest weight difference": largest_difference(first, on_cpu),
        "GPU / CPU RMSE": f"{metrics['rmse']:.4f} / {cpu_metrics['rmse']:.4f}",
        "GPU / CPU training seconds": f"{metrics['train_seconds']:.2f} / {cpu_metrics['train_seconds']:.2f}",
        "killed and resumed vs uninterrupted: largest weight difference": largest_difference(uninterrupted, resumed),
    }


def repeatability(X: np.ndarray) -> dict[str, object]:
    """Codes of two fits with one seed on the GPU, by default and with torch's deterministic algorithms."""

    def codes() -> np.ndarray:
        return (
            dimred.Reducer(model="ne-ae", random_state=0, device="cuda", callbacks=["no-progress"]).fit(X).transform(X)
        )

    found = {"ne-ae, two fits: largest code difference": float(np.abs(codes() - codes()).max())}
    torch.use_deterministic_algorithms(True)
    try:
        found["the same with deterministic algorithms"] = float(np.abs(codes() - codes()).max())
    finally:
        torch.use_deterministic_algorithms(False)
    return found


def ne_ae(dataset: str, device: str, seeds: list[int]) -> list[float]:
    """Means over ``seeds`` of held-out T, kNN, acc, RMSE and fit seconds."""
    X, y = real_data.load(dataset)
    rows = []
    fit = real_data.dimred_model("ne-ae", device)  # timed to its last loss, read back from the device
    for seed in seeds:
        X_train, X_test, y_train, y_test = real_data.split(X, y, seed)
        codes_train, codes_test, reconstruction, seconds, _ = fit(X_train, X_test, seed)
        s = real_data.score(X_test, codes_train, codes_test, reconstruction, y_train, y_test)
        rows.append([s["T"], s["kNN"], s["acc"], s["RMSE"], seconds])
    return [float(value) for value in np.mean(rows, axis=0)]


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("Error: this check needs a CUDA GPU; torch sees none here")
    warnings.filterwarnings("ignore")
    # cuBLAS reads this when this process first uses it, which must be before the deterministic-algorithms check
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    device_name = torch.cuda.get_device_name(0)
    print(f"{device_name}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as scratch:
        facts = runs_and_resume(Path(scratch))
    facts |= repeatability(real_data.split(*real_data.load("digits"), 0)[0])
    for name, value in facts.items():
        print(f"{name}: {value}")
    table = [[dataset, device, *ne_ae(dataset, device, [0, 1, 2] if device == "cuda" else [0])]
             for dataset in ("digits", "mnist-5k") for device in ("cuda", "cpu")]  # fmt: skip
    print_table(["data", "device", "T", "kNN", "acc", "RMSE", "fit s"], table)
    write_results("cuda_check", {"gpu": device_name, "facts": facts, "ne-ae": table})


if __name__ == "__main__":
    main()
