"""The documentation site: it builds with no warnings, runs the gallery, and covers every command, option, public
name and hook; the README's links resolve.

The build (`python -m sphinx -W --keep-going -b html docs OUT`) runs once per test session, into a temporary
folder. Set DIMRED_DOCS_BUILT=OUT to check a site built already instead.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

import dimred
import dimred.plugin
import dimred.testing
from dimred.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GALLERY = ROOT / "examples" / "gallery"
BUILT_ENV = "DIMRED_DOCS_BUILT"
DOCS_PACKAGES = ("sphinx", "sphinx_gallery", "sphinx_click", "myst_parser", "furo")


def build_command(out: Path) -> list[str]:
    """The documented build command: warnings are errors."""
    return [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", str(DOCS), str(out)]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The built HTML site."""
    if os.environ.get(BUILT_ENV):
        return Path(os.environ[BUILT_ENV]).resolve()
    for package in DOCS_PACKAGES:
        if not os.environ.get("CI"):  # in CI a missing docs extra is a failure, not a skip
            pytest.importorskip(package, reason="the docs extra is not installed: pip install -e '.[docs]'")
        importlib.import_module(package)
    out = tmp_path_factory.mktemp("docs") / "html"
    built = subprocess.run(build_command(out), cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert built.returncode == 0, f"the docs build failed or warned:\n{built.stdout[-4000:]}\n{built.stderr[-8000:]}"
    return out


def page(site: Path, name: str) -> str:
    return (site / name).read_text(encoding="utf-8")


def test_the_documented_build_command_is_the_one_tested():
    documented = "python -m sphinx -W --keep-going -b html docs docs/_build/html"
    assert documented in (DOCS / "getting-started.md").read_text()
    assert build_command(Path("docs/_build/html"))[1:-2] == documented.split()[1:-2]


@pytest.mark.parametrize("example", sorted(path.stem for path in GALLERY.glob("plot_*.py")))
def test_each_gallery_example_ran_and_its_figures_are_on_its_page(site, example):
    html = page(site, f"auto_examples/{example}.html")
    figures = re.findall(rf'<img[^>]+src="\.\./_images/(sphx_glr_{example}_\d+\.png)"', html)
    assert figures, f"{example}: no figure drawn by the build on its page"
    for figure in figures:
        assert (site / "_images" / figure).stat().st_size > 1000
    assert "sphx-glr-script-out" in html or "sphx-glr-single-img" in html


def test_there_is_a_gallery_and_it_is_built_not_committed():
    assert len(list(GALLERY.glob("plot_*.py"))) >= 6
    assert not list(GALLERY.rglob("*.png")), "the gallery's figures come from the build, not from the repository"


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, group)]
    for name, command in getattr(group, "commands", {}).items():
        found += _commands(command, (*path, name)) if isinstance(command, click.Group) else [((*path, name), command)]
    return found


@pytest.mark.parametrize(
    ("path", "command"), _commands(cli), ids=[" ".join(("dimred", *p)) for p, _c in _commands(cli)]
)
def test_every_command_and_option_is_in_the_generated_cli_reference(site, path, command):
    html = page(site, "cli-reference.html")
    prefix = "-".join(("dimred", *path))
    if path:
        assert f'id="{prefix}"' in html, f"`dimred {' '.join(path)}` has no section"
    for param in command.params:
        if isinstance(param, click.Argument):
            assert f'id="cmdoption-{prefix}-arg-{param.human_readable_name.upper()}"' in html
        else:
            for flag in (*param.opts, *param.secondary_opts):
                assert f'id="cmdoption-{prefix}-{flag.lstrip("-")}"' in html, f"{prefix} {flag} is not documented"


def _entries(module) -> list[tuple[str, str]]:
    return [(module.__name__, name) for name in module.__all__]


@pytest.mark.parametrize(
    ("module", "name"),
    _entries(dimred) + _entries(dimred.plugin) + _entries(dimred.testing),
    ids=lambda value: value,
)
def test_every_public_name_has_an_entry_generated_from_its_docstring(site, module, name):
    pages = "".join(page(site, f"api/{stem}.html") for stem in ("dimred", "plugin", "testing"))
    signature = (
        rf'<span class="sig-prename descclassname"><span class="pre">{re.escape(module)}\.</span></span>'
        rf'<span class="sig-name descname"><span class="pre">{re.escape(name)}</span>'
    )
    found = re.search(signature, pages)
    assert found, f"{module}.{name} has no entry in the API pages"
    entry = pages[found.end() :].split('<dt class="sig sig-object py', 1)[0]
    assert "<p>" in entry, f"{module}.{name}: its entry has no text from a docstring"


def _relative_links(markdown: str) -> list[str]:
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)  # code blocks hold no links
    targets = re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", markdown)
    targets += re.findall(r"^\s*\[[^\]]+\]:\s*(\S+)", markdown, re.MULTILINE)  # reference-style links
    targets += re.findall(r"""(?:src|href)=["']([^"']+)["']""", markdown)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#|^//", t, re.IGNORECASE)]


@pytest.mark.parametrize("readme", [ROOT / "README.md"], ids=lambda path: path.name)
def test_every_relative_link_in_the_readme_resolves(readme):
    links = _relative_links(readme.read_text())
    missing = [link for link in links if not (readme.parent / link.split("#")[0]).exists()]
    assert missing == []


def test_the_readme_fits_on_a_screen_or_two():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    assert "docs/" in readme, "the README links into the docs"
