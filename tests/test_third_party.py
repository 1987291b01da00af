"""The example third-party package (examples/dimred-extras), installed as a user would, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dimred.cli import cli

SCRIPT = str(Path(sys.executable).with_name("dimred"))


@pytest.fixture
def with_third_party_plugins(monkeypatch):
    try:
        import dimred_extras  # noqa: F401
    except ImportError:
        pytest.fail("examples/dimred-extras is not installed: use the README's test command")
    monkeypatch.delenv("DIMRED_LOAD_PLUGINS")


def test_plugins_shows_where_each_came_from(with_third_party_plugins):
    listing = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    sources = {(kind, entry["name"]): entry["source"] for kind in ("dataset", "model", "loss", "reporter")
               for entry in listing[kind]}  # fmt: skip
    assert sources[("dataset", "scurve")] == "dimred-extras"
    assert sources[("model", "denoising-ae")] == "dimred-extras"
    assert sources[("loss", "huber")] == "dimred-extras"
    assert sources[("reporter", "codes-csv")] == "dimred-extras"
    assert sources[("model", "mlp-ae")] == "dimred"


def test_a_run_with_the_third_party_plugins_end_to_end(with_third_party_plugins, tmp_path):
    out = tmp_path / "extras"
    command = [SCRIPT, "run", "--dataset", "scurve", "--model", "denoising-ae", "--loss", "huber", "--reporter",
               "codes-csv", "--reporter", "metrics-table", "--steps", "200", "--out", str(out)]  # fmt: skip
    shown = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert shown.returncode == 0, shown.stderr
    assert "codes written to" in shown.stdout
    config = json.loads((out / "config.json").read_text())
    assert (config["dataset"]["name"], config["model"]["name"], config["loss"][0]["name"]) == (
        "scurve",
        "denoising-ae",
        "huber",
    )
    lines = (out / "codes.csv").read_text().splitlines()
    assert len(lines) == 1501 - 150  # a header, the rows not held out
    assert lines[0] == "row,code_0,code_1,color"
    trained = {int(line.split(",")[0]) for line in lines[1:]}  # each code by its row in the data set
    held_out = {int(line) for line in (out / "held_out_rows.csv").read_text().splitlines()[1:]}
    assert trained | held_out == set(range(1500))
    assert not trained & held_out
    assert json.loads((out / "metrics.json").read_text())["trustworthiness"] > 0.8
    without = subprocess.run([SCRIPT, "encode", str(out), str(out / "codes.csv"), "-o", str(tmp_path / "c.npy")],
                             capture_output=True, text=True, env={**os.environ, "DIMRED_LOAD_PLUGINS": ""})  # fmt: skip
    assert without.returncode == 1  # where the plugin's package is not installed, the file names it
    assert "model plugin 'denoising-ae', which is not installed here" in without.stderr
    assert "install the package that provides it (dimred-extras " in without.stderr


def test_load_plugins_empty_keeps_third_party_plugins_out(tmp_path):
    environment = {**os.environ, "DIMRED_LOAD_PLUGINS": ""}
    shown = subprocess.run([SCRIPT, "plugins"], capture_output=True, text=True, env=environment, check=True)
    assert "scurve" not in shown.stdout
    assert "swissroll" in shown.stdout
