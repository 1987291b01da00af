"""Matplotlib reporters: PNG files in the run directory, drawn headless (no window is ever opened)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dimred.plugin import (
    Data,
    Reporter,
    RunRecord,
    colours_by_class,
    components_shown,
    hookimpl,
    legend_classes,
    option,
    plain_text,
    rnx_curves,
    scatter_points,
    shown_rows,
)

MIN_DPI, MAX_DPI = 10, 1200  # beyond print quality a figure of a few inches takes gigabytes to draw


@dataclass(frozen=True)
class FigureOptions:
    dpi: int = option(100, "resolution of the PNG file in dots per inch")

    def __post_init__(self) -> None:
        if not MIN_DPI <= self.dpi <= MAX_DPI:
            raise ValueError(f"dpi must be from {MIN_DPI} to {MAX_DPI}, got {self.dpi}")


@dataclass(frozen=True)
class CurveOptions(FigureOptions):
    """The options of a figure of curves, which draws no rows."""

    # loss-curve and rnx-plot took max_points once, and ignored it: runs recorded then still resume and repeat
    retired: ClassVar[tuple[str, ...]] = ("max_points",)


@dataclass(frozen=True)
class PlotOptions(FigureOptions):
    """The options of a figure that draws the data's rows."""

    max_points: int = option(20000, "plot at most this many points (a seeded random subsample beyond it)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_points < 1:
            raise ValueError(f"max_points must be at least 1, got {self.max_points}")


def _figure(width: float, height: float):
    # A bare Figure draws with the Agg canvas and never touches pyplot's global state or a display.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


class _PlotReporter(Reporter):
    enabled_by_default = True
    Options = PlotOptions
    filename = ""

    def report(self, run: RunRecord) -> None:
        if run.directory is None:
            return
        figure = self.draw(run)
        if figure is None:
            return
        with run.artifact(self.filename) as path:
            figure.savefig(path, dpi=self.options.dpi, format="png")

    def draw(self, run: RunRecord):
        """The figure to write, or None when there is nothing to show."""
        raise NotImplementedError

    def files(self) -> tuple[str, ...]:
        return (self.filename,)

    def shown(self, n: int) -> np.ndarray:
        """Which of ``n`` rows a figure of points draws (``max_points`` of them at most)."""
        return shown_rows(n, self.options.max_points)


def _colors(data: Data, rows: np.ndarray) -> np.ndarray | None:
    return None if data.color is None else np.asarray(data.color)[rows]


def _labels(data: Data, rows: np.ndarray) -> np.ndarray | None:
    return None if data.labels is None else np.asarray(data.labels)[rows]


def _classes(run: RunRecord) -> list | None:
    """Every class of the run's rows, the held-out ones too: a class keeps its colour whichever rows a figure
    shows, and the explorer's (which shows both)."""
    if run.data.labels is None:
        return None
    held = [] if run.held_out is None or run.held_out.data.labels is None else [run.held_out.data.labels]
    return legend_classes(np.concatenate([np.asarray(run.data.labels), *map(np.asarray, held)]))


def _scatter(figure, position, run: RunRecord, points: np.ndarray, rows: np.ndarray, title: str,
             legend: bool = True, data: Data | None = None):  # fmt: skip
    """``points`` (the ``rows`` shown of ``data``, the run's training rows unless given) coloured as the data
    says; returns the axes."""
    data = run.data if data is None else data
    return scatter_points(figure, position, points, title, color=_colors(data, rows), labels=_labels(data, rows),
                          classes=_classes(run), legend=legend, color_name=data.color_name,
                          color_limits=_color_limits(run))  # fmt: skip


def _color_limits(run: RunRecord) -> tuple[float, float] | None:
    """The least and greatest finite colour value of the run's rows, the held-out ones too: one colour scale for
    every figure of the run. None where the rows are coloured otherwise or have no finite value."""
    colours = [data.color for data in (run.data, run.held_out and run.held_out.data) if data and data.color is not None]
    if not colours or colours_by_class(run.data.color, run.data.labels):
        return None
    values = np.concatenate([np.asarray(colour, dtype=np.float64).ravel() for colour in colours])
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if len(finite) else None


def _rows_shown(run: RunRecord) -> str:
    """What a title adds where the run held rows out, which its figures of codes and metrics leave out."""
    return "" if run.held_out is None else " (training rows)"


def _drawn(rows: np.ndarray, n: int) -> str:
    """What a title adds where a figure of points draws a sample of its ``n`` rows (``max_points``)."""
    return "" if len(rows) >= n else f" ({len(rows)} of {n} rows drawn)"


def _counted(rows: np.ndarray, n: int) -> str:
    """A panel's count of its ``n`` rows, saying where it draws a sample of them."""
    return str(n) if len(rows) >= n else f"{len(rows)} of {n} drawn"


IMAGES_SHOWN = 10  # per row of an image grid


def _are_images(run: RunRecord) -> bool:
    """Whether the rows are images of the shape the data set says (a row of other width is drawn as points)."""
    images = run.data.images
    return images is not None and int(np.prod(images)) == run.X.shape[1]


def _image_grid(run: RunRecord, rows: np.ndarray, blocks: dict[str, np.ndarray], title: str):
    """Rows of the data that are images (``run.data.images``) drawn as pictures, one grid row per block (the
    originals, their reconstructions), all on the originals' grey scale; where the data has labels, each
    column is titled with its row's label."""
    shown = _grid_rows(run, rows)
    low, high = float(np.min(blocks["original"][shown])), float(np.max(blocks["original"][shown]))
    labels = _labels(run.data, shown)
    figure = _figure(1.2 * len(shown), 1.3 * len(blocks) + 0.5)
    figure.suptitle(plain_text(title))
    for line, (name, block) in enumerate(blocks.items()):
        for column, row in enumerate(shown):
            axes = figure.add_subplot(len(blocks), len(shown), line * len(shown) + column + 1)
            axes.imshow(block[row].reshape(run.data.images), cmap="gray_r", vmin=low, vmax=high)
            axes.set_xticks([])
            axes.set_yticks([])
            if column == 0:
                axes.set_ylabel(name)
            if line == 0 and labels is not None:
                axes.set_title(plain_text(str(labels[column])), fontsize=9)
    return figure


def _grid_rows(run: RunRecord, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` an image grid shows, IMAGES_SHOWN at most: the first of each class where the data has
    labels (in the legend's order), then rows spread over the rest, in the data's order (the first rows of a data
    set sorted by class, as MNIST-5k is, would all be zeros)."""
    labels = _labels(run.data, rows)
    chosen: list[int] = []
    if labels is not None:
        first = {}
        for position, label in enumerate(labels):
            first.setdefault(label, position)
        chosen = [first[label] for label in legend_classes(labels)][:IMAGES_SHOWN]
    spread = np.linspace(0, len(rows) - 1, min(IMAGES_SHOWN, len(rows))).round().astype(int)
    chosen += [int(position) for position in spread if position not in chosen][: IMAGES_SHOWN - len(chosen)]
    return rows[chosen]


class InputPlot(_PlotReporter):
    name = "input-plot"
    description = ("input.png: the (scaled) input data, coloured by label where the data has labels; rows that are "
                   "images as pictures")  # fmt: skip
    filename = "input.png"

    def draw(self, run: RunRecord):
        rows = self.shown(len(run.X))
        if _are_images(run):
            return _image_grid(run, rows, {"original": run.X}, f"{run.data_title}: input (scaled){_rows_shown(run)}")
        figure = _figure(6, 5)
        _scatter(
            figure, 111, run, run.X[rows], rows, f"{run.data_title}: input{_rows_shown(run)}{_drawn(rows, len(run.X))}"
        )
        return figure


class CodesPlot(_PlotReporter):
    name = "codes-plot"
    description = ("codes.png: the codes (embedding) in 2-D, coloured like the input; the held-out rows beside the "
                   "training rows")  # fmt: skip
    filename = "codes.png"

    def draw(self, run: RunRecord):
        title = f"{run.model}: codes of {run.data_title}{components_shown(run.codes.shape[1])}"
        held = run.held_out
        if held is None:
            figure = _figure(6, 5)
            rows = self.shown(len(run.codes))
            self._panel(figure, 111, run, run.data, run.codes[rows], rows, title + _drawn(rows, len(run.codes)))
            return figure
        # the held-out rows beside the training rows, on one scale: where new rows land is what a user of the
        # trained model's transform gets
        figure = _figure(12, 5)
        figure.suptitle(plain_text(title))
        rows, held_rows = self.shown(len(run.codes)), self.shown(len(held.codes))
        training = self._panel(figure, 121, run, run.data, run.codes[rows], rows,
                               f"training rows ({_counted(rows, len(run.codes))})", legend=False)  # fmt: skip
        mapped = self._panel(
            figure,
            122,
            run,
            held.data,
            held.codes[held_rows],
            held_rows,
            f"held-out rows ({_counted(held_rows, len(held.codes))}), mapped by the trained model",
        )
        _same_scales(training, mapped)
        return figure

    def _panel(self, figure, position: int, run: RunRecord, data: Data, codes: np.ndarray, rows: np.ndarray,
               title: str, legend: bool = True):  # fmt: skip
        """The ``codes`` of ``data``'s ``rows`` drawn on one panel."""
        points = codes[:, :2]  # the first two components of a wider code
        axes = _scatter(figure, position, run, points, rows, title, legend=legend, data=data)
        axes.set(xlabel="code 1", ylabel="code 2" if points.shape[1] > 1 else "")
        return axes


class ReconstructionPlot(_PlotReporter):
    name = "reconstruction-plot"
    description = "reconstruction.png: the input beside its reconstruction (images above theirs)"
    filename = "reconstruction.png"

    def draw(self, run: RunRecord):
        if run.reconstruction is None:  # the method cannot reconstruct
            return None
        rows = self.shown(len(run.X))
        rmse = run.metrics.get("rmse", float("nan"))
        if _are_images(run):
            title = f"{run.model} on {run.data_title}: reconstruction (RMSE {rmse:.4g}, eval mode){_rows_shown(run)}"
            return _image_grid(run, rows, {"original": run.X, "reconstruction": run.reconstruction}, title)
        figure = _figure(12, 5)
        original = _scatter(
            figure, 121, run, run.X[rows], rows, f"original{_drawn(rows, len(run.X))}", legend=False
        )  # one legend, for both
        title = f"reconstruction (RMSE {rmse:.4g}, eval mode)"
        _same_scales(original, _scatter(figure, 122, run, run.reconstruction[rows], rows, title))
        return figure


def _same_scales(*panels) -> None:
    """One scale on every panel, spanning all their points (each fitted to its own, a reconstruction shrunk to a
    point would fill its panel as the original does)."""
    for axis in "xyz" if hasattr(panels[0], "get_zlim") else "xy":
        limits = [getattr(panel, f"get_{axis}lim")() for panel in panels]
        low, high = min(low for low, _ in limits), max(high for _, high in limits)
        for panel in panels:
            getattr(panel, f"set_{axis}lim")(low, high)


class LossCurve(_PlotReporter):
    name = "loss-curve"
    description = "loss.png: the training loss against the step, on a log scale (linear where a loss reaches 0)"
    filename = "loss.png"
    Options = CurveOptions

    def draw(self, run: RunRecord):
        if not run.history:  # an evaluation trains nothing
            return None
        figure = _figure(7, 4)
        axes = figure.add_subplot(111)
        steps = [row["step"] for row in run.history]
        several = any(key.startswith("loss.") for key in run.history[0])
        columns = [key for key in run.history[0] if key == "loss" or key.startswith("loss.")]
        for column in columns:
            total = column == "loss" and several  # drawn over the terms, dashed: it lies on the largest one
            style = {"color": "black", "linestyle": "--", "zorder": 3} if total else {}
            axes.plot(steps, [row[column] for row in run.history], label="total (weighted)" if total else column,
                      **style)  # fmt: skip
        # a loss of a plugin's may reach 0 or below, which a log scale would leave out
        positive = all(row[column] > 0 for row in run.history for column in columns)
        axes.set(xlabel="step", ylabel="loss (train mode)", yscale="log" if positive else "linear",
                 title=plain_text(f"{run.model} on {run.data_title}"))  # fmt: skip
        axes.legend()
        return figure


class RnxPlot(_PlotReporter):
    name = "rnx-plot"
    description = "rnx.png: R_NX(K), the neighbourhood preservation at every size K, on a log-K axis"
    filename = "rnx.png"
    Options = CurveOptions
    enabled_by_default = False

    def draw(self, run: RunRecord):
        if not run.metrics.get("rnx_curve"):
            return None
        figure = _figure(7, 4)
        title = f"{run.model} on {run.data_title}: neighbourhood preservation{_rows_shown(run)}"
        rnx_curves(figure.add_subplot(111), {run.model: run.metrics}, title)
        return figure


class TrustMap(_PlotReporter):
    name = "trust-map"
    description = "trust-map.png: the codes coloured by each point's trustworthiness, to show where the map tears"
    filename = "trust-map.png"
    enabled_by_default = False

    def draw(self, run: RunRecord):
        if run.metric_context is None:
            return None
        context = run.metric_context
        figure = _figure(6, 5)
        axes = figure.add_subplot(111)
        shown = self.shown(len(context.codes))  # of the rows the metrics scored
        codes = context.codes.numpy()[shown]
        second = codes[:, 1] if codes.shape[1] > 1 else np.zeros(len(codes))
        trust = context.neighbourhoods.pointwise_trustworthiness().numpy()[shown]
        # viridis: the trusted points (its yellow end) show on white, where magma's end is near white
        points = axes.scatter(codes[:, 0], second, c=trust, cmap="viridis", s=5, linewidths=0)
        figure.colorbar(points, ax=axes, label=f"trustworthiness of the point (k={context.neighbours})")
        title = f"{run.model} on {run.data_title}: where neighbourhoods break{_rows_shown(run)}"
        axes.set(title=plain_text(title), xlabel="code 1", ylabel="code 2" if codes.shape[1] > 1 else "")
        return figure


@hookimpl
def register_reporters(register):
    for reporter in (InputPlot, CodesPlot, ReconstructionPlot, LossCurve, RnxPlot, TrustMap):
        register(reporter)
