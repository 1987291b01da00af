"""Points on matplotlib axes, coloured by class with a legend or by value with a colour bar, and R_NX curves: the
one way the run's plots and ``dimred compare``'s figures show data. Matplotlib is imported only when a figure is
drawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dimred._core.labels import class_sort_key

LEGEND_CLASSES = 30  # beyond this many classes a legend would cover the plot: the title gives their count
LEGEND_NAME = 30  # characters of a class name a legend shows
NOT_FINITE_COLOUR = "lightgrey"  # of a point whose colour value is NaN or infinite
LEGEND_MARKER_INCHES, LEGEND_CHARACTER_INCHES = 0.45, 0.07  # a legend column's width (small font), to widen by


def rnx_curves(axes: Any, metrics: Mapping[str, Mapping[str, Any]], title: str) -> None:
    """Draw R_NX(K) on a log-K axis for each run's ``metrics`` (by the name its curve is labelled with) that hold
    the curve (``rnx_curve``, with its area ``rnx_auc``)."""
    lowest = 0.0  # R_NX falls below 0 where a map keeps fewer neighbours than chance would
    for name, values in metrics.items():
        curve = values.get("rnx_curve")
        if curve:
            axes.plot(curve["K"], curve["R_NX"], label=f"{name} (area {values['rnx_auc']:.3f})")
            lowest = min(lowest, *curve["R_NX"])
    axes.set(xscale="log", xlabel="neighbourhood size K", ylabel="R_NX(K)", ylim=(lowest, 1), title=plain_text(title))
    axes.legend()


def shown_rows(n: int, limit: int) -> np.ndarray:
    """The row numbers a figure shows of ``n`` rows: all of them, or a sorted sample of ``limit`` drawn with a
    fixed seed, the same in every figure and run of that many rows."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def components_shown(width: int) -> str:
    """What a title adds where a plane shows the first two of ``width`` components of the codes, or one along a
    line."""
    if width == 1:
        return " (one component, along a line)"
    return f" (components 1 and 2 of {width})" if width > 2 else ""


def scatter_points(figure: Any, position: int | tuple[int, int, int], points: np.ndarray, title: str, *,
                   color: np.ndarray | None = None, labels: np.ndarray | None = None, classes: list | None = None,
                   legend: bool = True, color_name: str | None = None,
                   color_limits: tuple[float, float] | None = None) -> Any:  # fmt: skip
    """Add axes at ``position`` (as ``figure.add_subplot`` takes it) showing ``points``: in 3-D when they have 3
    or more columns (the first three), else in 2-D or along a line. Coloured by label where ``labels`` are given,
    with a legend beside the axes unless ``legend`` is false (one for a figure of panels of the same classes),
    else by the ``color`` values with a colour bar (values that are NaN or infinite grey, as in the explorer);
    ``color`` values that are not the labels themselves (a column the user chose to colour by) take precedence.
    ``classes``: every class of the data (``legend_classes``) where ``labels`` are a sample of its rows, so that a
    class keeps its colour whichever rows are shown; ``color_limits``: the values at the colour bar's ends (by
    default the shown values' least and greatest), so that panels of other rows of one data set share a scale.
    Returns the axes."""
    three = points.shape[1] >= 3
    spec = position if isinstance(position, tuple) else (position,)
    axes = figure.add_subplot(*spec, projection="3d") if three else figure.add_subplot(*spec)
    columns = np.column_stack([points[:, 0], points[:, 1] if points.shape[1] > 1 else np.zeros(len(points)),
                               *([points[:, 2]] if three else [])])  # fmt: skip

    def draw(rows: np.ndarray, **style: Any) -> Any:
        return axes.scatter(*columns[rows].T, s=4, linewidths=0, **style)

    if colours_by_class(color, labels):
        classes = legend_classes(labels) if classes is None else classes
        shown = [draw(labels == value, color=shade) for value, shade in class_colours(classes).items()]
        if len(classes) > LEGEND_CLASSES:
            title = f"{title} ({len(classes)} classes)"
        elif legend:
            add_legend(axes, shown, classes)
    elif color is not None:
        values = np.asarray(color, dtype=np.float64)
        finite = np.isfinite(values)
        if finite.any():  # matplotlib would leave out the others (and a 3-D scatter their points whatever is asked)
            figure.colorbar(
                draw(finite, c=values[finite], cmap="turbo", **_limits(color_limits)),
                ax=axes,
                shrink=0.8,
                label=None if color_name is None else plain_text(color_name),
            )
        draw(~finite, color=NOT_FINITE_COLOUR)
    else:
        draw(slice(None))
    if points.shape[1] == 1:  # along a line: a y axis would scale nothing
        axes.set_yticks([])
    axes.set_title(plain_text(title) + (f" (columns 1 to 3 of {points.shape[1]})" if points.shape[1] > 3 else ""))
    return axes


def _limits(color_limits: tuple[float, float] | None) -> dict[str, float]:
    return {} if color_limits is None else {"vmin": color_limits[0], "vmax": color_limits[1]}


def add_legend(axes: Any, handles: list, classes: list) -> None:
    """A legend of ``classes`` (one handle each) beside ``axes``, in two columns beyond 15 classes, the figure made
    wider by about the legend's width so that the axes keep theirs; names given as they are (matplotlib would hide
    '_x' and typeset '$x$'), long ones cut in the middle (``legend_name``). Beside 3-D axes constrained layout
    leaves no room for an axes' legend: there the figure's, where it has none yet, stands beside them all."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    names = [plain_text(legend_name(str(value))) for value in classes]
    columns = 2 if len(classes) > 15 else 1
    style = {"markerscale": 3, "fontsize": "small", "ncols": columns}
    figure = axes.get_figure()
    if axes.name == "3d" and isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine) and not figure.legends:
        figure.legend(handles, names, loc="outside right upper", **style)
    else:
        axes.legend(handles, names, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **style)
    figure.set_figwidth(figure.get_figwidth() + columns * (LEGEND_MARKER_INCHES + LEGEND_CHARACTER_INCHES *
                                                           max(map(len, names))))  # fmt: skip


def legend_name(name: str) -> str:
    """A class name as a legend shows it: beyond LEGEND_NAME characters its start and end around an ellipsis, as
    names of one kind tell each other apart at either end ("CD4+ T helper…donor batch 3"); cut at the end, such
    names had all read the same. A name with spaces at either end is shown in quotes: ' a' beside 'a' (two
    classes of an .npz file's labels) had read alike."""
    start = (LEGEND_NAME - 1) // 2
    shown = name if len(name) <= LEGEND_NAME else f"{name[:start].rstrip()}…{name[start - LEGEND_NAME + 1 :].lstrip()}"
    return f"'{shown}'" if name != name.strip() else shown


def plain_text(text: str) -> str:
    """``text`` as matplotlib shows it literally: its dollar signs would start mathematical typesetting."""
    return text.replace("$", r"\$")


def colours_by_class(color: np.ndarray | None, labels: np.ndarray | None) -> bool:
    """Whether points are coloured by class (with a legend) rather than by ``color`` values (with a colour bar):
    where there are labels and no colour values besides them (a dataset may give its class numbers as both)."""
    if labels is None:
        return False
    if color is None:
        return True
    labels = np.asarray(labels)
    return labels.dtype.kind in "iub" and np.array_equal(np.asarray(color, dtype=np.float64), labels.astype(np.float64))


def legend_classes(labels: np.ndarray) -> list:
    """The distinct labels in the order legends list them and colours are handed out (numbers by value: "2" before
    "10")."""
    return sorted(np.unique(labels), key=lambda value: class_sort_key(str(value)))


def class_colours(classes: Sequence[Any]) -> dict[Any, str]:
    """Each of ``classes`` (``legend_classes``' order) with the colour the plots give it, as #rrggbb: for a
    reporter that draws otherwise, so that a class has one colour in every figure of a run."""
    from matplotlib.colors import to_hex

    return {value: to_hex(shade) for value, shade in zip(classes, distinct_colors(len(classes)), strict=True)}


def distinct_colors(count: int) -> list:
    """``count`` distinguishable colours: tab10, tab20, or tab20 and tab20b (40) where they suffice, else samples
    of turbo (whose neighbouring samples, and so neighbouring classes, look alike)."""
    from matplotlib import colormaps

    if count > 2 * 20:  # tab20c would repeat tab20's light shades
        return list(colormaps["turbo"](np.linspace(0, 1, count)))
    names = ("tab10",) if count <= 10 else ("tab20", "tab20b")
    return [colormaps[name](index) for name in names for index in range(colormaps[name].N)][:count]
