"""Time to the reference tutorial's quality: the tutorial's own program against default `dimred run`.

    python benchmarks/time_to_quality.py [--seeds 3]

Both run as whole processes, interleaved seed by seed, each to its end (training, evaluation and figures
included). A run reaches the quality when its eval-mode RMSE <= 0.066 and trustworthiness (k = 10) >= 0.985.
Prints the wall times, the metrics and the ratio of the medians; writes results/time_to_quality.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from common import DIMRED, HERE, PYTHON, count, last_json_line, print_table, run_process, write_results

RMSE_LIMIT = 0.066
TRUSTWORTHINESS_LIMIT = 0.985


def tutorial(seed: int, folder: Path) -> dict:
    process = run_process([PYTHON, str(HERE / "tutorial_loop.py"), "--seed", str(seed), "--plots", str(folder)])
    if process.returncode:
        raise SystemExit(f"tutorial failed:\n{process.stderr}")
    return {"seconds": process.seconds, **last_json_line(process.stdout)}


def dimred(seed: int, folder: Path) -> dict:
    out = folder / f"dimred-{seed}"
    command = [DIMRED, "run", "--dataset", "swissroll", "--model", "mlp-ae", "--seed", str(seed), "--out", str(out)]
    process = run_process(command)
    if process.returncode:
        raise SystemExit(f"dimred failed:\n{process.stderr}")
    return {"seconds": process.seconds, "seed": seed, **json.loads((out / "metrics.json").read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=count, default=3)
    seeds = range(parser.parse_args().seeds)
    runs: dict[str, list[dict]] = {"tutorial": [], "dimred": []}
    with tempfile.TemporaryDirectory() as scratch:
        for seed in seeds:
            for name, runner in (("tutorial", tutorial), ("dimred", dimred)):
                result = runner(seed, Path(scratch))
                result["quality_met"] = (
                    result["rmse"] <= RMSE_LIMIT and result["trustworthiness"] >= TRUSTWORTHINESS_LIMIT
                )
                runs[name].append(result)
                print(f"seed {seed} {name}: {result['seconds']:.2f} s, rmse {result['rmse']:.4f}, "
                      f"trustworthiness {result['trustworthiness']:.4f}", flush=True)  # fmt: skip
    rows = [
        [
            name,
            run["seed"],
            run["seconds"],
            run["train_seconds"],
            run["rmse"],
            run["trustworthiness"],
            run["quality_met"],
        ]
        for name, group in runs.items()
        for run in group
    ]
    print()
    print_table(["program", "seed", "wall s", "train s", "rmse (eval)", "trustworthiness", "quality met"], rows)
    medians = {name: statistics.median(run["seconds"] for run in group) for name, group in runs.items()}
    ratio = medians["tutorial"] / medians["dimred"]
    train_ratio = statistics.median(run["train_seconds"] for run in runs["tutorial"]) / statistics.median(
        run["train_seconds"] for run in runs["dimred"]
    )
    every_seed = all(run["quality_met"] for run in runs["dimred"])
    print(f"\nmedian wall time: tutorial {medians['tutorial']:.2f} s, dimred {medians['dimred']:.2f} s")
    print(f"dimred is {ratio:.1f}x faster end to end ({train_ratio:.1f}x on training alone); "
          f"every dimred seed meets the quality: {every_seed}")  # fmt: skip
    write_results(
        "time_to_quality",
        {"runs": runs, "median_seconds": medians, "ratio": ratio, "train_ratio": train_ratio, "all_met": every_seed},
    )


if __name__ == "__main__":
    main()
