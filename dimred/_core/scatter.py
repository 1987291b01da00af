"""Points on matplotlib axes, coloured by class with a legend or by value with a colour bar, and R_NX curves: the
one way the run's plots and ``dimred compare``'s figures show data. Matplotlib is imported only when a figure is
drawn."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dimred._core.labels import class_sort_key

LEGEND_CLASSES = 30  # beyond this many classes a legend would cover the plot: the title gives their count


def rnx_curves(axes: Any, metrics: Mapping[str, Mapping[str, Any]], title: str) -> None:
    """Draw R_NX(K) on a log-K axis for each run's ``metrics`` (by the name its curve is labelled with) that hold
    the curve (``rnx_curve``, with its area ``rnx_auc``)."""
    lowest = 0.0  # R_NX falls below 0 where a map keeps fewer neighbours than chance would
    for name, values in metrics.items():
        curve = values.get("rnx_curve")
        if curve:
            axes.plot(curve["K"], curve["R_NX"], label=f"{name} (area {values['rnx_auc']:.3f})")
            lowest = min(lowest, *curve["R_NX"])
    axes.set(xscale="log", xlabel="neighbourhood size K", ylabel="R_NX(K)", ylim=(lowest, 1), title=title)
    axes.legend()


def shown_rows(n: int, limit: int) -> np.ndarray:
    """The row numbers a figure shows of ``n`` rows: all of them, or a sorted sample of ``limit`` drawn with a
    fixed seed, the same in every figure and run of that many rows."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def scatter_points(figure: Any, position: int | tuple[int, int, int], points: np.ndarray, title: str, *,
                   color: np.ndarray | None = None, labels: np.ndarray | None = None) -> Any:  # fmt: skip
    """Add axes at ``position`` (as ``figure.add_subplot`` takes it) showing ``points``: in 3-D when they have 3
    or more columns (the first three), else in 2-D or along a line. Coloured by label with a legend where
    ``labels`` are given, else by the ``color`` values with a colour bar; ``color`` values that are not the labels
    themselves (a column the user chose to colour by) take precedence. Returns the axes."""
    three = points.shape[1] >= 3
    spec = position if isinstance(position, tuple) else (position,)
    axes = figure.add_subplot(*spec, projection="3d") if three else figure.add_subplot(*spec)
    columns = [points[:, 0], points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))]
    columns += [points[:, 2]] if three else []
    if colours_by_class(color, labels):
        classes = legend_classes(labels)
        shown = [axes.scatter(*(column[labels == value] for column in columns), s=4, linewidths=0, color=shade)
                 for value, shade in zip(classes, distinct_colors(len(classes)), strict=True)]  # fmt: skip
        if len(classes) <= LEGEND_CLASSES:  # names given as they are: matplotlib would hide '_x' and typeset '$x$'
            names = [plain_text(str(value)) for value in classes]
            axes.legend(shown, names, markerscale=3, fontsize="small", loc="best", ncols=2 if len(classes) > 10 else 1)
        else:
            title = f"{title} ({len(classes)} classes)"
    elif color is not None:
        shown = axes.scatter(*columns, s=4, linewidths=0, c=color, cmap="turbo")
        figure.colorbar(shown, ax=axes, shrink=0.8)
    else:
        axes.scatter(*columns, s=4, linewidths=0)
    axes.set_title(title)
    return axes


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


def distinct_colors(count: int) -> list:
    """``count`` distinguishable colours: tab10 or tab20 where they suffice, else samples of turbo."""
    from matplotlib import colormaps

    name = "tab10" if count <= 10 else "tab20" if count <= 20 else "turbo"
    colormap = colormaps[name]
    return [colormap(index) for index in range(count)] if count <= 20 else list(colormap(np.linspace(0, 1, count)))
