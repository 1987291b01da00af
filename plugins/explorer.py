"""An interactive explorer: one self-contained ``explorer.html`` per run and per comparison, drawn with Bokeh.

The page shows the 2-D codes with zoom, pan, box and lasso selection, coloured as the run's plots are: by label
(with a legend) where the data has labels and no colour column of its own, else by the data's colour values (with
a colour bar). Hovering a point shows its row number, its
label or colour value and, for image data (digits, MNIST), the image itself. For ``dimred compare`` the methods
stand side by side on one shared data source, so selecting rows in one selects the same rows in the others.

Bokeh's JavaScript is inlined, so the page opens offline, with no server. Bokeh is optional
(``pip install 'dimred[explorer]'``): the reporter runs by default only where it is installed, and is imported only
when a page is written.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from dimred.plugin import (
    LEGEND_CLASSES,
    ComparisonRecord,
    Data,
    Reporter,
    RunRecord,
    class_colours,
    class_sort_key,
    colours_by_class,
    components_shown,
    hookimpl,
    installed,
    legend_classes,
    legend_name,
    option,
    require_extra,
    shown_rows,
)

FILENAME = "explorer.html"
IMAGE_PIXELS = 84  # the side of the hover image, whatever the data's image size


@dataclass(frozen=True)
class ExplorerOptions:
    max_points: int = option(20000, "show at most this many points (a seeded random subsample beyond it)")
    point_size: float = option(5.0, "the points' diameter in screen pixels")
    images: bool = option(True, "show each row's image on hover, for image data (digits, MNIST)")

    def __post_init__(self) -> None:
        if self.max_points < 1:
            raise ValueError(f"max_points must be at least 1, got {self.max_points}")
        if not self.point_size > 0:
            raise ValueError(f"point_size must be positive, got {self.point_size:g}")


class Explorer(Reporter):
    name = "explorer"
    description = (
        "explorer.html: the codes to zoom, pan, select and hover (with images), offline (Bokeh; dimred[explorer])"
    )
    enabled_by_default = installed("bokeh")  # checked without importing Bokeh
    Options = ExplorerOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        require_extra("bokeh", needed_by="the explorer reporter", extra="explorer", distribution="Bokeh")

    def files(self) -> tuple[str, ...]:
        return (FILENAME,)

    def report(self, run: RunRecord) -> None:
        if run.directory is None:
            return
        data, codes, held_from = run.data, run.codes, None
        if run.held_out is not None:  # every row: the held-out ones mapped by the model's transform, marked so
            data, codes, held_from = _joined(run.data, run.held_out.data), np.vstack([codes, run.held_out.codes]), \
                len(codes)  # fmt: skip
        rows = shown_rows(len(codes), self.options.max_points)
        columns = self._columns(data, rows)
        columns |= _xy(codes[rows], "")
        if held_from is not None:
            columns["split"] = np.where(rows < held_from, "training", "held out")
        title = f"{run.model} on {run.data_title}{components_shown(codes.shape[1])}"
        classes = _class_count(data)
        methods = [("", title, codes.shape[1])]
        figure = _figure(columns, methods, self.options, classes, _colour_name(data))
        page = _page([figure], columns, title, len(codes), classes)
        with run.artifact(FILENAME) as path:
            path.write_text(page, encoding="utf-8")

    def report_comparison(self, comparison: ComparisonRecord) -> None:
        if comparison.directory is None or not comparison.codes:
            return
        rows = shown_rows(len(comparison.data.X), self.options.max_points)
        columns = self._columns(comparison.data, rows)
        methods = []
        for number, (model, codes) in enumerate(comparison.codes.items()):
            columns |= _xy(codes[rows], f"_{number}")
            methods.append((f"_{number}", f"{model}{components_shown(codes.shape[1])}", codes.shape[1]))
        title = f"{comparison.dataset}: {', '.join(comparison.codes)} (select in one to select in all)"
        classes = _class_count(comparison.data)
        figure = _figure(columns, methods, self.options, classes, _colour_name(comparison.data))
        page = _page([figure], columns, title, len(comparison.data.X), classes)
        with comparison.artifact(FILENAME) as path:
            path.write_text(page, encoding="utf-8")

    def _columns(self, data: Data, rows: np.ndarray) -> dict[str, Any]:
        """The per-point columns every plot of a page shares: row number (in the data set), colour, label, image."""
        columns: dict[str, Any] = {"index": rows if data.row_numbers is None else np.asarray(data.row_numbers)[rows]}
        if data.labels is not None:
            columns["label"] = [str(label) for label in np.asarray(data.labels)[rows]]
        if colours_by_class(data.color, data.labels):  # as the run's plots: a chosen colour column goes first
            classes = legend_classes(np.asarray(data.labels))  # the same class, the same colour as in the plots
            colours = class_colours(classes)
            columns["fill"] = [colours[label] for label in np.asarray(data.labels)[rows]]
        elif data.color is not None:
            values = np.asarray(data.color, dtype=np.float64)[rows]
            if np.isfinite(values).any():  # values not finite show grey (as NaN), not at an infinite end of the scale
                columns["value"] = np.where(np.isfinite(values), values, np.nan)
        if data.images is not None and self.options.images:  # Data holds image shapes that fit its rows only
            columns["image"] = _images(np.asarray(data.X), rows, data.images)
        return columns


def _joined(train: Data, held: Data) -> Data:
    """The training rows then the held-out rows, as one Data (for drawing both)."""

    def both(first: np.ndarray | None, second: np.ndarray | None) -> np.ndarray | None:
        return None if first is None or second is None else np.concatenate([np.asarray(first), np.asarray(second)])

    return Data(X=both(train.X, held.X), color=both(train.color, held.color), labels=both(train.labels, held.labels),
                images=train.images, row_numbers=both(train.row_numbers, held.row_numbers),
                color_name=train.color_name)  # fmt: skip


def _xy(codes: np.ndarray, suffix: str) -> dict[str, np.ndarray]:
    """The first two components of the codes (a zero second one for 1-D codes)."""
    codes = np.asarray(codes, dtype=np.float64)
    second = codes[:, 1] if codes.shape[1] > 1 else np.zeros(len(codes))
    return {f"x{suffix}": codes[:, 0], f"y{suffix}": second}


def _images(X: np.ndarray, rows: np.ndarray, shape: tuple[int, int]) -> list[str]:
    """Each row as a small greyscale PNG data URI, dark ink on white, on one scale for the whole data set."""
    low, high = float(np.nanmin(X)), float(np.nanmax(X))
    scaled = (X[rows] - low) / (high - low if high > low else 1.0)
    pixels = (255 - np.clip(np.nan_to_num(scaled), 0, 1) * 255).round().astype(np.uint8)
    return [_png(row.reshape(shape)) for row in pixels]


def _png(pixels: np.ndarray) -> str:
    """A greyscale PNG of a 2-D uint8 array, as a data URI (PNG's own format: a few chunks and zlib)."""
    height, width = pixels.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 before each row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _colour_name(data: Data) -> str:
    """What the colour values are, as the data set names them."""
    return data.color_name or "colour value"


def _tooltip(columns: dict[str, Any], colour_name: str) -> str:
    lines = ['<div style="font: 12px sans-serif">row <b>@index</b>' + (" (@split)" if "split" in columns else "")]
    if "label" in columns:
        lines.append(", label <b>@label</b>")
    if "value" in columns:
        # escaped, and @ and $ too: Bokeh reads them as the names of columns and special variables
        named = html.escape(colour_name).replace("@", "&#64;").replace("$", "&#36;")
        lines.append(f", {named} <b>@value{{0.000}}</b>")
    lines.append("</div>")
    if "image" in columns:
        size = f'width="{IMAGE_PIXELS}" height="{IMAGE_PIXELS}"'
        style = "image-rendering: pixelated; border: 1px solid #ccc"
        lines.append(f'<img class="explorer-image" src="@image" {size} style="{style}" alt="the row as an image">')
    return "".join(lines)


def _class_count(data: Data) -> int:
    """How many classes colour the points, those of every row (as the plots count them, whichever rows are
    shown); 0 where the points are coloured otherwise."""
    return len(legend_classes(np.asarray(data.labels))) if colours_by_class(data.color, data.labels) else 0


def _figure(columns: dict[str, Any], methods: list[tuple[str, str, int]], options: ExplorerOptions, classes: int,
            colour_name: str):  # fmt: skip
    """One row of plots, one per method, all drawing from one data source (so selections are shared)."""
    from bokeh.layouts import gridplot
    from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper
    from bokeh.palettes import Turbo256
    from bokeh.transform import factor_mark

    source = ColumnDataSource(columns, name="explorer-source")
    size = 320 if len(methods) > 2 else 420 if len(methods) == 2 else 640
    mapper = None
    if "value" in columns and len(columns["value"]):
        values = columns["value"]
        mapper = LinearColorMapper(palette=Turbo256, low=float(np.nanmin(values)), high=float(np.nanmax(values)))
    plots = []
    for suffix, title, width in methods:
        plot = _plot(title, size, width)
        style: dict[str, Any] = {"size": options.point_size, "line_color": None, "fill_alpha": 0.8}
        if "split" in columns:  # held-out rows as triangles
            style["marker"] = factor_mark("split", ["circle", "triangle"], ["training", "held out"])
        if "fill" in columns:
            style["fill_color"] = "fill"
        elif mapper is not None:
            style["fill_color"] = {"field": "value", "transform": mapper}
        else:
            style["fill_color"] = "#1f77b4"
        points = plot.scatter(f"x{suffix}", f"y{suffix}", source=source, name=f"points{suffix}",
                              nonselection_fill_alpha=0.08, selection_fill_alpha=1.0, **style)  # fmt: skip
        plot.add_tools(HoverTool(renderers=[points], tooltips=_tooltip(columns, colour_name)))
        if 0 < classes <= LEGEND_CLASSES and not plots:  # beside the first plot
            plot.add_layout(_legend(columns["label"], points), "right")
        if mapper is not None and not plots:
            plot.add_layout(ColorBar(color_mapper=mapper, title=colour_name, width=10), "right")
        plots.append(plot)
    return gridplot([plots], toolbar_location="above", merge_tools=True)


def _legend(labels: list[str], points: Any) -> Any:
    """One entry per class in the classes' order (numbers by value), each drawn from its first point."""
    from bokeh.models import Legend, LegendItem

    first_rows: dict[str, int] = {}
    for row, label in enumerate(labels):
        first_rows.setdefault(label, row)
    items = [LegendItem(label=legend_name(label), renderers=[points], index=first_rows[label])
             for label in sorted(first_rows, key=class_sort_key)]  # fmt: skip
    return Legend(items=items, title="label", label_text_font_size="9pt")


def _plot(title: str, size: int, width: int):
    """A method's plot of codes ``width`` components wide: 1-D codes along the x axis, with no y axis."""
    from bokeh.plotting import figure

    # the plotting area's size: a legend or colour bar beside it widens the page, never narrows the points' frame
    plot = figure(title=title, frame_width=size, frame_height=size, output_backend="canvas",
                  tools="pan,wheel_zoom,box_zoom,box_select,lasso_select,tap,reset,save",
                  active_scroll="wheel_zoom", active_drag="pan")  # fmt: skip
    plot.xaxis.axis_label, plot.yaxis.axis_label = "code 1", "code 2"
    plot.yaxis.visible = width > 1
    return plot


def _page(layouts: list, columns: dict[str, Any], title: str, rows: int, classes: int) -> str:
    """The whole page, Bokeh's JavaScript and CSS inlined (no network needed to open it); its header says how many
    of the ``rows`` it shows, and how many classes where there are too many for a legend."""
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import Div
    from bokeh.resources import INLINE

    count = len(columns["index"])
    shown = f"{count} points" if count == rows else f"{count} of {rows} points (a random sample: max_points)"
    shown += f", {classes} classes (too many for a legend: hover for a point's)" if classes > LEGEND_CLASSES else ""
    hint = "scroll to zoom, drag to pan, box or lasso to select (the toolbar), hover for the row"
    header = Div(text=f"<h3 style='margin: 4px 0'>{_escape(title)}</h3><p style='margin: 0'>{shown}; {hint}</p>")
    return file_html(column(header, *layouts), INLINE, title=title)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@hookimpl
def register_reporters(register):
    register(Explorer)
