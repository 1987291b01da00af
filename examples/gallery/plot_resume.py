"""
Resuming a killed run
=====================

``dimred run --checkpoint-every N`` saves the whole training state every N steps: weights, optimizer moments,
the step, the current epoch's order of rows and every random generator. Kill the process at any moment, even
with SIGKILL, and ``dimred run --resume RUN`` continues it. On the CPU the resumed run ends with weights bitwise
identical to a run that was never interrupted. Here all three are real ``dimred`` processes.
"""

import csv
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from safetensors.numpy import load_file

folder = Path(tempfile.mkdtemp(prefix="dimred-resume-"))
dimred_command = [sys.executable, "-m", "dimred"]
settings = ["--dataset", "swissroll", "--model", "mlp-ae", "--steps", "600", "--reporter", "metrics-table"]

# %%
# Start a run that checkpoints every 50 steps, and kill it with SIGKILL once its first checkpoint is on disk:

killed = folder / "killed"
process = subprocess.Popen([*dimred_command, "run", *settings, "--checkpoint-every", "50", "--out", str(killed)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
while not (killed / "checkpoint.safetensors").exists() and process.poll() is None:
    time.sleep(0.005)
process.send_signal(signal.SIGKILL)
process.wait()
print(f"killed with signal {-process.returncode}; the run folder holds {sorted(p.name for p in killed.iterdir())}")

# %%
# Resume it, and for comparison train the same settings in one go:

resumed = subprocess.run([*dimred_command, "run", "--resume", str(killed)], capture_output=True, text=True)
print(resumed.stdout)
subprocess.run([*dimred_command, "run", *settings, "--out", str(folder / "whole")], capture_output=True, check=True)

weights_resumed = load_file(killed / "model.safetensors")
weights_whole = load_file(folder / "whole" / "model.safetensors")
identical = all(np.array_equal(weights_resumed[name], weights_whole[name]) for name in weights_whole)
print(f"resumed run's weights bitwise identical to the uninterrupted run's: {identical}")

# %%
# The two training losses, logged every interval, lie on top of each other:


def losses(run):
    with open(run / "history.csv") as file:
        rows = list(csv.DictReader(file))
    return [int(row["step"]) for row in rows], [float(row["loss"]) for row in rows]


plt.figure(figsize=(6, 3.2))
plt.semilogy(*losses(folder / "whole"), label="uninterrupted", linewidth=4, alpha=0.4)
plt.semilogy(*losses(killed), label="killed and resumed", linestyle="--")
plt.xlabel("step")
plt.ylabel("training loss")
plt.legend()
plt.tight_layout()
plt.show()
shutil.rmtree(folder)  # the three runs were only for this comparison
