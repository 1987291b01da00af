"""The layering holds: cli -> api -> engine | plugin host -> io -> core, built-in plugins use only
``dimred.plugin`` and import no other built-in. import-linter checks the package as it is installed (the
top-level ``plugins/`` folder is ``dimred.plugins``), so the check runs on a copy laid out that way; the same check
on a copy with one offending module must fail and name it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHES = shutil.ignore_patterns("__pycache__")


def _installed_layout(folder: Path) -> Path:
    shutil.copytree(ROOT / "dimred", folder / "dimred", ignore=CACHES)
    shutil.copytree(ROOT / "plugins", folder / "dimred" / "plugins", ignore=CACHES)
    return folder


def _lint(tree: Path) -> subprocess.CompletedProcess:
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    environment = os.environ | {"PYTHONPATH": str(tree)}
    return subprocess.run([lint_imports, str(ROOT / "pyproject.toml"), "--no-cache"], cwd=tree, env=environment,
                          capture_output=True, text=True)  # fmt: skip


def test_the_layers_hold(tmp_path):
    result = _lint(_installed_layout(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("where", "source", "broken"),
    [
        ("dimred/plugins/sneaky.py", "from dimred._core.errors import UsageError\n", "use only dimred.plugin"),
        ("dimred/plugins/borrower.py", "from dimred.plugins.mlp_ae import MLPAutoencoder\n", "imports another"),
        ("dimred/_engine/lookup.py", "from dimred._host.registry import get_registry\n", "arrows only downward"),
        ("dimred/_core/upward.py", "from dimred._engine import fitting\n", "arrows only downward"),
    ],
)
def test_the_check_fails_on_an_offending_module(tmp_path, where, source, broken):
    tree = _installed_layout(tmp_path)
    (tree / where).write_text(source)
    result = _lint(tree)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout
    assert Path(where).with_suffix("").as_posix().replace("/", ".") in result.stdout
