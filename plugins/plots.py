"""Matplotlib reporters: PNG files in the run directory, drawn headless (no window is ever opened)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dimred.plugin import Reporter, RunRecord, hookimpl, option


@dataclass(frozen=True)
class PlotOptions:
    dpi: int = option(100, "resolution of the PNG file in dots per inch")
    max_points: int = option(20000, "plot at most this many points (a seeded random subsample beyond it)")

    def __post_init__(self) -> None:
        if self.dpi < 10 or self.max_points < 1:
            raise ValueError("dpi must be at least 10 and max_points at least 1")


def _figure(width: float, height: float):
    # A bare Figure draws with the Agg canvas and never touches pyplot's global state or a display.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _sample(run: RunRecord, limit: int) -> np.ndarray:
    n = len(run.X)
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def _scatter(figure, position: int, points: np.ndarray, color: np.ndarray | None, title: str,
             labels: np.ndarray | None = None) -> None:  # fmt: skip
    """Points in 3-D when they have 3 or more columns (the first three), else in 2-D or along a line; coloured by
    label with a legend where the data has labels, else by the colour values."""
    three = points.shape[1] >= 3
    axes = figure.add_subplot(position, projection="3d") if three else figure.add_subplot(position)
    columns = [points[:, 0], points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))]
    columns += [points[:, 2]] if three else []
    if labels is None:
        axes.scatter(*columns, s=4, linewidths=0, **({} if color is None else {"c": color, "cmap": "turbo"}))
    else:
        classes = np.unique(labels)
        palette = matplotlib_colors(len(classes))
        for index, value in enumerate(classes):
            chosen = labels == value
            axes.scatter(*(column[chosen] for column in columns), s=4, linewidths=0, color=palette[index],
                         label=str(value))  # fmt: skip
        if len(classes) <= 30:
            axes.legend(markerscale=3, fontsize="small", loc="best", ncols=2 if len(classes) > 10 else 1)
    axes.set_title(title)


def matplotlib_colors(count: int) -> list:
    """``count`` distinguishable colours: tab10 or tab20 where they suffice, else samples of turbo."""
    from matplotlib import colormaps

    name = "tab10" if count <= 10 else "tab20" if count <= 20 else "turbo"
    colormap = colormaps[name]
    return [colormap(index) for index in range(count)] if count <= 20 else list(colormap(np.linspace(0, 1, count)))


class _PlotReporter(Reporter):
    enabled_by_default = True
    Options = PlotOptions
    filename = ""

    def report(self, run: RunRecord) -> None:
        if run.directory is None:
            return
        figure = self.draw(run, _sample(run, self.options.max_points))
        if figure is None:
            return
        with run.artifact(self.filename) as path:
            figure.savefig(path, dpi=self.options.dpi, format="png")

    def draw(self, run: RunRecord, rows: np.ndarray):
        """The figure to write, or None when there is nothing to show."""
        raise NotImplementedError


def _colors(run: RunRecord, rows: np.ndarray) -> np.ndarray | None:
    return None if run.data.color is None else np.asarray(run.data.color)[rows]


def _labels(run: RunRecord, rows: np.ndarray) -> np.ndarray | None:
    return None if run.data.labels is None else np.asarray(run.data.labels)[rows]


class InputPlot(_PlotReporter):
    name = "input-plot"
    description = "input.png: the (scaled) input data, coloured"
    filename = "input.png"

    def draw(self, run: RunRecord, rows: np.ndarray):
        figure = _figure(6, 5)
        _scatter(figure, 111, run.X[rows], _colors(run, rows), f"{run.dataset}: input")
        return figure


class CodesPlot(_PlotReporter):
    name = "codes-plot"
    description = "codes.png: the codes (embedding) in 2-D, coloured like the input"
    filename = "codes.png"

    def draw(self, run: RunRecord, rows: np.ndarray):
        figure = _figure(6, 5)
        codes = run.codes[rows][:, :2]  # the first two components of a wider code
        _scatter(figure, 111, codes, _colors(run, rows), f"{run.model}: codes of {run.dataset}", _labels(run, rows))
        return figure


class ReconstructionPlot(_PlotReporter):
    name = "reconstruction-plot"
    description = "reconstruction.png: the input beside its reconstruction"
    filename = "reconstruction.png"

    def draw(self, run: RunRecord, rows: np.ndarray):
        if run.reconstruction is None:  # the method cannot reconstruct
            return None
        figure = _figure(12, 5)
        colors = _colors(run, rows)
        _scatter(figure, 121, run.X[rows], colors, "original")
        rmse = run.metrics.get("rmse", float("nan"))
        _scatter(figure, 122, run.reconstruction[rows], colors, f"reconstruction (RMSE {rmse:.4g}, eval mode)")
        return figure


class LossCurve(_PlotReporter):
    name = "loss-curve"
    description = "loss.png: the training loss against the step, on a log scale"
    filename = "loss.png"

    def draw(self, run: RunRecord, rows: np.ndarray):
        if not run.history:  # an evaluation trains nothing
            return None
        figure = _figure(7, 4)
        axes = figure.add_subplot(111)
        steps = [row["step"] for row in run.history]
        for column in [key for key in run.history[0] if key == "loss" or key.startswith("loss.")]:
            label = "total (weighted)" if column == "loss" and len(run.history[0]) > 5 else column
            axes.plot(steps, [row[column] for row in run.history], label=label)
        axes.set(xlabel="step", ylabel="loss (train mode)", yscale="log", title=f"{run.model} on {run.dataset}")
        axes.legend()
        return figure


class RnxPlot(_PlotReporter):
    name = "rnx-plot"
    description = "rnx.png: R_NX(K), the neighbourhood preservation at every size K, on a log-K axis"
    filename = "rnx.png"
    enabled_by_default = False

    def draw(self, run: RunRecord, rows: np.ndarray):
        curve = run.metrics.get("rnx_curve")
        if not curve:
            return None
        figure = _figure(7, 4)
        axes = figure.add_subplot(111)
        axes.plot(curve["K"], curve["R_NX"], label=f"{run.model} (area {run.metrics['rnx_auc']:.3f})")
        axes.set(xscale="log", xlabel="neighbourhood size K", ylabel="R_NX(K)", ylim=(0, 1), title=run.dataset)
        axes.legend()
        return figure


class TrustMap(_PlotReporter):
    name = "trust-map"
    description = "trust-map.png: the codes coloured by each point's trustworthiness, to show where the map tears"
    filename = "trust-map.png"
    enabled_by_default = False

    def draw(self, run: RunRecord, rows: np.ndarray):
        if run.metric_context is None:
            return None
        context = run.metric_context
        figure = _figure(6, 5)
        axes = figure.add_subplot(111)
        codes = context.codes.numpy()
        second = codes[:, 1] if codes.shape[1] > 1 else np.zeros(len(codes))
        points = axes.scatter(codes[:, 0], second, c=context.neighbourhoods.pointwise_trustworthiness().numpy(),
                              cmap="magma", s=5, linewidths=0)  # fmt: skip
        figure.colorbar(points, ax=axes, label=f"trustworthiness of the point (k={context.neighbours})")
        axes.set_title(f"{run.model} on {run.dataset}: where neighbourhoods break")
        return figure


@hookimpl
def register_reporters(register):
    for reporter in (InputPlot, CodesPlot, ReconstructionPlot, LossCurve, RnxPlot, TrustMap):
        register(reporter)
