"""Checks on the project itself: the README's commands, style, start-up cost, no pickle."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    readme_head = (ROOT / "README.md").read_text().splitlines()[:5]
    ci_command = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    assert ci_command in readme_head
    assert "pytest" in ci_command


def test_readme_starts_with_the_command_a_new_user_types():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:5])
    assert "dimred run --dataset swissroll --model mlp-ae" in head


def test_the_package_says_its_version_as_the_command_does():
    import dimred

    shown = subprocess.run([sys.executable, "-m", "dimred", "--version"], capture_output=True, text=True, check=True)
    assert shown.stdout.split()[-1] == dimred.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", dimred.__version__)


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff_is_clean(command):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    result = subprocess.run([ruff, *command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_public_modules_have_public_names():
    public = {"__init__", "__main__", "cli", "plugin", "testing", "plugins"}
    names = {path.stem if path.is_file() else path.name for path in (ROOT / "dimred").iterdir()}
    names -= {"__pycache__"}
    assert {name for name in names if not name.startswith("_")} <= public


def test_nothing_unpickles():
    pattern = re.compile(r"torch\.load\(|pickle\.load|allow_pickle=True|import pickle")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("dimred", "plugins")
        for path in (ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "code",
    [
        "import dimred.cli",
        "from click.testing import CliRunner; from dimred.cli import cli; CliRunner().invoke(cli, ['plugins'])",
    ],
)
def test_help_and_plugins_do_not_import_torch_or_matplotlib(code):
    probe = f"{code}; import sys; print(sorted({{'torch', 'matplotlib'}} & set(sys.modules)))"
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("example", "expected"),
    [("quickstart.py", "codes of 5 new points"), ("reference_tutorial.py", "fresh roll, re-fitted scaler")],
)
def test_the_examples_run(example, expected, tmp_path):
    shown = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example)], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert expected in shown.stdout


def test_benchmark_scripts_refuse_bad_arguments_before_any_work_and_help_measures_nothing():
    """explorer_size.py --help had run the whole benchmark and rewritten its results; knn_libraries.py took an
    unknown method or data set with a traceback an hour into a run, and exited 0."""
    results = ROOT / "benchmarks" / "results"
    before = {path.name: path.stat().st_mtime_ns for path in results.iterdir()}

    def script(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, cwd=ROOT / "benchmarks",
                              timeout=120)  # fmt: skip

    assert script("explorer_size.py", "--help").returncode == 0
    for arguments, message in ((["--methods", "exact,bogus"], "unknown method 'bogus'"),
                               (["--datasets", "digits,blobs-2x"], "unknown data set 'blobs-2x'"),
                               (["--datasets", "swissroll"], "unknown data set 'swissroll'")):  # fmt: skip
        refused = script("knn_libraries.py", *arguments)
        assert refused.returncode != 0
        assert message in refused.stderr
        assert "Traceback" not in refused.stderr
    assert {path.name: path.stat().st_mtime_ns for path in results.iterdir()} == before
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from common import count
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert count("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="must be at least 1, got 0"):
        count("0")
