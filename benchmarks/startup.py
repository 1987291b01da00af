"""Start-up cost: wall time of `dimred --help` and `dimred plugins`, and what `import dimred.cli` imports.

    python benchmarks/startup.py [--repeats 10]

Writes results/startup.json.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess

from common import DIMRED, PYTHON, count, print_table, run_process, write_results


def import_profile() -> tuple[float, bool, bool]:
    """Total import time of dimred.cli in seconds, and whether torch or matplotlib came with it."""
    shown = subprocess.run([PYTHON, "-X", "importtime", "-c", "import dimred.cli"], capture_output=True, text=True)
    cumulative = [int(match) for match in re.findall(r"\|\s+(\d+) \|\s+dimred\.cli$", shown.stderr, re.MULTILINE)]
    modules = set(re.findall(r"\|\s+([\w.]+)$", shown.stderr, re.MULTILINE))
    return cumulative[0] / 1e6, "torch" in modules, "matplotlib" in modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=count, default=10)
    repeats = parser.parse_args().repeats
    rows, medians = [], {}
    for command in (["--help"], ["plugins"]):
        seconds = [run_process([DIMRED, *command]).seconds for _ in range(repeats)]
        medians[" ".join(command)] = statistics.median(seconds)
        rows.append([f"dimred {' '.join(command)}", statistics.median(seconds), min(seconds), max(seconds)])
    print_table(["command", "median s", "min s", "max s"], rows)
    import_seconds, torch_imported, matplotlib_imported = import_profile()
    print(f"\nimport dimred.cli: {import_seconds * 1e3:.0f} ms; imports torch: {torch_imported}; "
          f"imports matplotlib: {matplotlib_imported}")  # fmt: skip
    print(f"dimred --help: {medians['--help']:.3f} s (target <= 0.3 s)")
    write_results(
        "startup",
        {"median_seconds": medians, "import_dimred_cli_seconds": import_seconds, "imports_torch": torch_imported,
         "imports_matplotlib": matplotlib_imported},
    )  # fmt: skip


if __name__ == "__main__":
    main()
