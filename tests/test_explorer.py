"""The interactive explorer (``explorer.html``), opened in a real headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` (``.ci/run`` installs it); Playwright drives it through ``executable_path`` and
never downloads a browser of its own. Without chromium the browser tests are skipped, except in CI (``CI`` set),
where they fail.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import dimred
from conftest import hidden_leftovers
from dimred.cli import cli
from dimred.plugin import ComparisonRecord, Data, Reporter, RunRecord, import_installed, installed
from dimred.testing import check_reporter_plugin

bokeh = pytest.importorskip("bokeh")  # a fallback: the test extra installs it

from dimred.plugins import explorer  # noqa: E402 (after the skip: the module needs nothing, the pages need bokeh)

# The screen position of one point of a named renderer, the bounds of its canvas, and its data source, read from
# Bokeh's own views (glyph.sx / glyph.sy are the data -> screen transform it drew with).
LOCATE = """([name, row]) => {
  const renderer = Bokeh.documents[0].get_model_by_name(name);
  function* walk(view) { yield view; for (const child of (view.children ? view.children() : [])) yield* walk(child); }
  for (const root of Bokeh.index.roots) for (const view of walk(root)) if (view.model === renderer) {
    const canvas = view.parent.canvas_view.el.getBoundingClientRect();
    const frame = view.parent.frame.bbox;
    return {sx: Array.from(view.glyph.sx), sy: Array.from(view.glyph.sy), left: canvas.left, top: canvas.top,
            frame: [frame.left, frame.top, frame.right, frame.bottom], points: renderer.data_source.get_length(),
            source: renderer.data_source.id, selected: Array.from(renderer.data_source.selected.indices),
            index: Array.from(renderer.data_source.data.index), label: renderer.data_source.data.label ?
              Array.from(renderer.data_source.data.label) : null,
            image: renderer.data_source.data.image ? renderer.data_source.data.image[row] : null};
  }
  return null;
}"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "no chromium browser on PATH: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if os.environ.get("CI"):
        from playwright.sync_api import sync_playwright
    else:
        sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


class Page:
    """One explorer page open in the browser, with the console errors it logged."""

    def __init__(self, browser, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.route("**/*", self._offline)
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function("() => window.Bokeh && Bokeh.index.roots.length > 0 && "
                                    "Bokeh.documents[0].is_idle", timeout=30000)  # fmt: skip

    @staticmethod
    def _offline(route) -> None:
        """The page must open with no network: anything but the file itself is refused."""
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    def locate(self, name: str, row: int = 0) -> dict:
        found = self.page.evaluate(LOCATE, [name, row])
        assert found is not None, f"no renderer named {name}"
        return found

    def screen(self, found: dict, row: int) -> tuple[float, float]:
        return found["left"] + found["sx"][row], found["top"] + found["sy"][row]

    def colours(self, clip: dict | None = None) -> int:
        from matplotlib.image import imread

        pixels = imread(io.BytesIO(self.page.screenshot(clip=clip)), format="png")
        return len(np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0))


def _isolated_row(found: dict) -> int:
    """The point farthest from its nearest neighbour on screen (inside the plot's frame), so that hovering it shows
    its tooltip alone."""
    xy = np.column_stack([found["sx"], found["sy"]])
    left, top, right, bottom = found["frame"]
    inside = (xy[:, 0] > left + 20) & (xy[:, 0] < right - 20) & (xy[:, 1] > top + 20) & (xy[:, 1] < bottom - 20)
    gaps = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(gaps, np.inf)
    nearest = np.where(inside, gaps.min(axis=1), -1)
    return int(np.argmax(nearest))


def _image_prefix(height: int, width: int) -> str:
    """The start of every data URI of an image of this size (the PNG header holds the size)."""
    return explorer._png(np.zeros((height, width), np.uint8))[: len("data:image/png;base64,") + 32]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explorer") / "digits"
    result = CliRunner().invoke(cli, ["run", "--dataset", "digits", "--model", "pca", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


# -- the page, without a browser -------------------------------------------------------------------------------
def test_explorer_is_a_default_reporter_where_bokeh_is_installed(digits_run):
    assert explorer.Explorer.enabled_by_default
    assert (digits_run / "explorer.html").exists()
    assert not hidden_leftovers(digits_run.iterdir()), "temporary files left behind"
    page = (digits_run / "explorer.html").read_text()
    assert "<script src=" not in page  # Bokeh's JavaScript is inlined
    assert "cdn.bokeh.org" not in page
    assert page.count(_image_prefix(8, 8)) == 1797  # every row: the held-out ones too, marked as such
    assert "held out" in page


def test_explorer_passes_the_reporter_contract_checks():
    check_reporter_plugin(explorer.Explorer)


def test_unlabelled_data_is_coloured_by_value_and_one_column_codes_work(tmp_path):
    X = np.random.default_rng(0).random((40, 3))
    record = RunRecord("roll", "m", Data(X, color=X[:, 0]), X, X[:, :1], None, [], {}, tmp_path)
    explorer.Explorer().report(record)
    page = (tmp_path / "explorer.html").read_text()
    assert '"name":"ColorBar"' in page
    assert "colour value" in page
    assert '"name":"Legend"' not in page
    assert "m on roll (one component, along a line)" in page
    (tmp_path / "two").mkdir()
    explorer.Explorer().report(RunRecord("roll", "m", Data(X, color=X[:, 0], color_name="depth <m>"), X, X[:, :2],
                                         None, [], {}, tmp_path / "two"))  # fmt: skip
    named = (tmp_path / "two" / "explorer.html").read_text()
    # the colour bar's title and the tooltip's words, as the data set names its colours (the page escapes its JSON
    # once more, the tooltip's own escaping too)
    assert '"title":"depth &lt;m&gt;"' in named
    assert "depth &amp;lt;m&amp;gt; &lt;b&gt;@value" in named
    hidden = named.count('"visible":false')
    assert page.count('"visible":false') == hidden + 1  # the y axis: 1-D codes lie along x


def test_codes_of_more_than_two_components_say_which_two_are_shown(tmp_path):
    X = np.random.default_rng(0).random((40, 3))
    explorer.Explorer().report(RunRecord("roll", "m", Data(X), X, X, None, [], {}, tmp_path))
    assert "m on roll (components 1 and 2 of 3)" in (tmp_path / "explorer.html").read_text()
    (tmp_path / "two").mkdir()
    explorer.Explorer().report(RunRecord("roll", "m", Data(X), X, X[:, :2], None, [], {}, tmp_path / "two"))
    assert "components 1 and 2" not in (tmp_path / "two" / "explorer.html").read_text()


@pytest.mark.parametrize("infinite", [np.inf, -np.inf])
def test_colour_values_that_are_not_finite_are_gaps_not_the_ends_of_the_scale(tmp_path, infinite):
    X = np.random.default_rng(0).random((40, 3))
    color = X[:, 0].copy()
    color[[3, 7]] = [infinite, np.nan]
    explorer.Explorer().report(RunRecord("roll", "m", Data(X, color=color), X, X[:, :2], None, [], {}, tmp_path))
    page = (tmp_path / "explorer.html").read_text()
    assert '"type":"number","value":"+inf"' not in page  # bokeh's form of an infinite number in the data
    assert '"type":"number","value":"-inf"' not in page
    assert f'"low":{X[[i for i in range(40) if i not in (3, 7)], 0].min()}' in page.replace(" ", "")
    nothing = tmp_path / "none"
    nothing.mkdir()
    record = RunRecord("roll", "m", Data(X, color=np.full(40, np.nan)), X, X[:, :2], None, [], {}, nothing)
    explorer.Explorer().report(record)  # no colour scale rather than a NaN one (nor numpy's all-NaN warning)
    assert '"name":"ColorBar"' not in (nothing / "explorer.html").read_text()


def test_max_points_samples_the_rows(tmp_path):
    X = np.random.default_rng(0).random((300, 4))
    record = RunRecord("d", "m", Data(X, labels=np.arange(300) % 3, images=(2, 2)), X, X[:, :2], None, [], {},
                       tmp_path)  # fmt: skip
    explorer.Explorer(explorer.ExplorerOptions(max_points=100)).report(record)
    page = (tmp_path / "explorer.html").read_text()
    assert page.count(_image_prefix(2, 2)) == 100
    assert "100 of 300 points (a random sample: max_points)" in page


def test_classes_are_counted_over_every_row_as_the_plots_count_them(tmp_path):
    """40 classes of 400 rows, 40 of them shown: the legend decision and the count are the plots' (all 40)."""
    X = np.random.default_rng(0).random((400, 3))
    record = RunRecord("d", "m", Data(X, labels=np.arange(400) % 40), X, X[:, :2], None, [], {}, tmp_path)
    explorer.Explorer(explorer.ExplorerOptions(max_points=40)).report(record)
    page = (tmp_path / "explorer.html").read_text()
    assert "40 of 400 points (a random sample: max_points), 40 classes" in page
    assert '"name":"Legend"' not in page


def test_classes_too_many_for_a_legend_are_counted_in_the_header(tmp_path):
    X = np.random.default_rng(0).random((120, 3))
    explorer.Explorer().report(RunRecord("d", "m", Data(X, labels=np.arange(120) % 40), X, X[:, :2], None, [], {},
                                         tmp_path))  # fmt: skip
    page = (tmp_path / "explorer.html").read_text()
    assert "120 points, 40 classes (too many for a legend" in page
    assert '"name":"Legend"' not in page


def test_the_legend_lists_the_classes_in_order_whatever_order_the_rows_come_in(tmp_path):
    import re

    X = np.random.default_rng(0).random((60, 4))
    labels = np.array([6, 2, 10, 0, 8, 1] * 10)  # first seen: 6, 2, 10, ...; as text "10" would sort before "2"
    explorer.Explorer().report(RunRecord("d", "m", Data(X, labels=labels), X, X[:, :2], None, [], {}, tmp_path))
    page = (tmp_path / "explorer.html").read_text()
    legend = re.findall(r'"label":\{"type":"value","value":"(\w+)"', page)
    assert legend == ["0", "1", "2", "6", "8", "10"]


def test_a_colour_column_beside_labels_colours_the_points_as_the_plots_do(tmp_path):
    """A dataset's chosen colour values go first, as in codes.png; the labels stay in the hover text."""
    X = np.random.default_rng(0).random((40, 3))
    labels = np.array(["b", "a"] * 20)
    explorer.Explorer().report(RunRecord("d", "m", Data(X, color=X[:, 0], labels=labels), X, X[:, :2], None, [], {},
                                         tmp_path))  # fmt: skip
    page = (tmp_path / "explorer.html").read_text()
    assert '"name":"ColorBar"' in page
    assert '"name":"Legend"' not in page
    columns = explorer.Explorer()._columns(Data(X, color=X[:, 0], labels=labels), np.arange(40))
    assert "fill" not in columns
    assert columns["label"][:2] == ["b", "a"]
    assert "@label" in explorer._tooltip(columns, "colour value")


def test_each_class_has_the_colour_the_plots_give_it():
    """Classes named 1, 2 and 10 in the plots' order, by value (as text "10" would come before "2")."""
    from bokeh.palettes import Category10_10
    from matplotlib.colors import to_hex
    from matplotlib.figure import Figure

    from dimred.plugin import scatter_points

    X = np.random.default_rng(0).random((30, 3))
    labels = np.array(["10", "2", "1"] * 10)
    columns = explorer.Explorer()._columns(Data(X, labels=labels), np.arange(30))
    axes = scatter_points(Figure(), 111, X[:, :2], "t", labels=labels)
    legend = axes.get_legend()
    plotted = {str(text.get_text()): to_hex(handle.get_facecolor()[0])
               for text, handle in zip(legend.get_texts(), axes.collections, strict=True)}  # fmt: skip
    assert plotted == {"1": Category10_10[0], "2": Category10_10[1], "10": Category10_10[2]}
    assert columns["fill"][:3] == [plotted["10"], plotted["2"], plotted["1"]]


def test_without_bokeh_naming_the_explorer_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "bokeh", None)  # as if it were not installed
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "pca", "--reporter", "explorer"])
    assert result.exit_code == 2, result.output
    assert "Error: the explorer reporter needs Bokeh: pip install 'dimred[explorer]'" in result.output
    assert not (tmp_path / "runs").exists()  # refused before anything ran


def test_a_folder_named_after_an_optional_package_is_not_taken_for_it(monkeypatch, tmp_path):
    """A log folder named ``mlflow`` or ``tensorboard``, or a ``bokeh`` folder, in the folder Python started in had
    been taken for the package (Python imports such a folder as an empty namespace package): the explorer was on
    by default and failed after training, the mlflow callback failed on a missing attribute instead of naming
    the extra to install."""
    for name in ("bokeh", "dimred_no_such_package"):
        (tmp_path / name).mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not installed("dimred_no_such_package")
    with pytest.raises(ModuleNotFoundError, match="dimred_no_such_package"):
        import_installed("dimred_no_such_package")
    # the package installed takes precedence over the folder, as it does on import (in a process of its own: this
    # one has imported bokeh, whose spec it keeps)
    code = "from dimred.plugin import installed\nfrom dimred.plugins import explorer\nprint(installed('bokeh'), " \
           "explorer.Explorer.enabled_by_default)"  # fmt: skip
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert shown.stdout.split() == ["True", "True"], shown.stderr


def test_without_bokeh_a_default_run_neither_needs_nor_writes_the_explorer(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['bokeh'] = None\n"  # as if it were not installed
        "from dimred.cli import cli\n"
        "code = cli.main(['run', '--dataset', 'swissroll', '--model', 'mlp-ae', '--steps', '20', '--out', 'r'],"
        " standalone_mode=False)\n"
        "print(code, 'bokeh' in [name.split('.')[0] for name in sys.modules if sys.modules[name] is not None])\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert shown.stdout.strip().splitlines()[-1] == "0 False", shown.stdout + shown.stderr
    assert (tmp_path / "r" / "codes.png").exists()
    assert not (tmp_path / "r" / "explorer.html").exists()


def test_the_help_does_not_import_bokeh():
    code = "import sys\nfrom dimred.cli import cli\ncli.main(['--help'], standalone_mode=False)\n"
    code += "print('bokeh' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "False"


def test_reporters_ignore_comparisons_unless_they_show_them(tmp_path):
    X = np.zeros((5, 2))
    record = ComparisonRecord("d", Data(X), {"m": X}, tmp_path)
    Reporter().report_comparison(record)  # the default does nothing
    assert list(tmp_path.iterdir()) == []


# -- in the browser --------------------------------------------------------------------------------------------
def test_digits_explorer_loads_shows_every_point_and_hovering_shows_the_digit(browser, digits_run):
    from sklearn.datasets import load_digits

    page = Page(browser, digits_run / "explorer.html")
    found = page.locate("points")
    assert found["points"] == 1797
    assert len(found["sx"]) == 1797
    assert page.colours() > 20, "the screenshot is blank"

    row = _isolated_row(found)
    page.page.mouse.move(*page.screen(found, row))
    image = page.page.locator("img.explorer-image")  # Playwright's locators see inside Bokeh's shadow DOM
    image.first.wait_for(state="visible", timeout=10000)
    assert page.locate("points", row)["image"] in [image.nth(n).get_attribute("src") for n in range(image.count())]
    tooltip = image.first.locator("xpath=..").inner_text()
    digit = load_digits().target[found["index"][row]]
    assert f"row {found['index'][row]}" in tooltip
    assert f"label {digit}" in tooltip
    assert image.first.evaluate("(img) => img.complete && img.naturalWidth") == 8  # the 8 x 8 digit decoded
    assert page.errors == []


def test_comparison_explorer_links_selection_across_methods(browser, tmp_path):
    comparison = dimred.compare("digits", ["pca", "isomap"], out=tmp_path / "cmp")
    page = Page(browser, tmp_path / "cmp" / "explorer.html")
    first, second = page.locate("points_0"), page.locate("points_1")
    rows = len(comparison.runs["pca"][0].codes)
    assert first["points"] == second["points"] == rows
    assert first["source"] == second["source"]  # one data source: a selection is the same rows everywhere
    assert page.colours() > 20

    left, top, right, bottom = second["frame"]
    clip = {"x": second["left"] + left, "y": second["top"] + top, "width": right - left, "height": bottom - top}
    before = page.page.screenshot(clip=clip)
    page.page.locator('[title="Box Select"]').first.click()  # the toolbar's box selection, shared by both plots
    left, top, right, bottom = first["frame"]
    page.page.mouse.move(first["left"] + left + 0.25 * (right - left), first["top"] + top + 0.25 * (bottom - top))
    page.page.mouse.down()
    page.page.mouse.move(first["left"] + left + 0.6 * (right - left), first["top"] + top + 0.6 * (bottom - top),
                         steps=8)  # fmt: skip
    page.page.mouse.up()
    selected = page.locate("points_1")["selected"]
    assert 0 < len(selected) < rows
    assert page.page.screenshot(clip=clip) != before, "the other method's plot did not show the selection"
    assert page.errors == []


def test_long_class_names_neither_narrow_the_plots_nor_read_alike_in_the_legend(browser, tmp_path):
    """Cell types named at length: the legend beside the first plot had taken its width (79 px of a comparison's
    320, the title cut off the page's edge), and every entry read 'CD4+ T helper cell, activa…'."""
    import re

    rng = np.random.default_rng(0)
    names = [f"CD4+ T helper cell, activated, donor batch {batch}" for batch in range(4)]
    X = rng.random((120, 4))
    np.savez(tmp_path / "cells.npz", X=X, y=np.array(names)[rng.integers(0, 4, 120)])
    dimred.compare("file", ["pca", "kernel-pca", "isomap"], settings={"dataset.path": str(tmp_path / "cells.npz")},
                   out=tmp_path / "cmp")  # fmt: skip
    html = (tmp_path / "cmp" / "explorer.html").read_text()
    legend = re.findall(r'"label":\{"type":"value","value":"([^"]+)"', html)
    legend = [json.loads(f'"{name}"') for name in legend]  # the page escapes the ellipsis
    assert legend == [f"CD4+ T helper…, donor batch {batch}" for batch in range(4)]
    page = Page(browser, tmp_path / "cmp" / "explorer.html")
    frames = [page.locate(f"points_{index}")["frame"] for index in range(3)]
    widths = {round(right - left) for left, _top, right, _bottom in frames}
    assert widths == {320}, frames  # each method's points get the same square, the legend's beside it
    assert all(page.locate(f"points_{index}")["left"] >= 0 for index in range(3))
    assert page.errors == []
