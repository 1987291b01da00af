"""TensorBoard logging: a callback that writes the losses as scalars while a model trains and a reporter that adds
the final metrics, the run's settings as hyperparameters, the plots and the codes for the embedding projector.

Both write event files to the run directory's ``tensorboard/`` folder, or to a subfolder of ``log_dir`` named
after the run (one per run, so runs sharing a ``log_dir`` are told apart); ``tensorboard --logdir runs`` then
shows every run. ``--reporter tensorboard`` alone writes the loss curves from the history at the end;
with ``--callback tensorboard`` they appear while training. The projector gets the codes with the data set's
labels and colour values as metadata, and image rows (digits) as its sprite.

TensorBoard is optional (``pip install 'dimred[tensorboard]'``) and imported only when a run uses these plugins.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dimred.plugin import (
    Callback,
    Reporter,
    RunRecord,
    Training,
    TrainingStatus,
    UsageError,
    hookimpl,
    import_extra,
    option,
    require_extra,
    shown_rows,
    unwritable,
)

FOLDER = "tensorboard"
EVENT_FILE_PREFIX = "events.out.tfevents."  # the writer names each of its files so, never the same twice

# The dimred runs (their run_key) whose loss curves the callback wrote, so that their reporter does not write them
# again: {run_key: the log folder}.
_STREAMED: dict[str, str] = {}


@dataclass(frozen=True)
class TensorBoardOptions:
    log_dir: str | None = option(
        None,
        "folder for the event files of many runs, each in a subfolder named after it "
        f"(its folder's name, else DATASET-MODEL-seedN) [default: the run directory's "
        f"{FOLDER}/]",
    )

    def __post_init__(self) -> None:
        """A log folder that cannot be made (a file on its way) or written is refused before training, not after
        it."""
        if self.log_dir:
            log_dir = Path(self.log_dir)  # a file there is writable, but no folder; unwritable names one on its way
            if problem := f"{log_dir} is a file, not a folder" if log_dir.is_file() else unwritable(log_dir):
                raise ValueError(f"log_dir {self.log_dir}: {problem}")


@dataclass(frozen=True)
class TensorBoardReporterOptions(TensorBoardOptions):
    max_points: int = option(10000, "the most codes sent to the embedding projector (a seeded random sample beyond)")
    plots: bool = option(True, "add the run directory's PNG plots as images")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_points < 1:
            raise ValueError(f"max_points must be at least 1, got {self.max_points}")


def _require_tensorboard(who: str) -> None:
    """Fail early, with the install command, when TensorBoard is missing (checked without importing it)."""
    require_extra("tensorboard", needed_by=f"the {who}", extra="tensorboard", distribution="TensorBoard")


def _writer(who: str, log_dir: Path, purge_step: int | None = None) -> Any:
    """An event writer; ``purge_step``: TensorBoard drops what earlier files hold from that step on (the steps a
    resumed run trains again)."""
    import_extra("tensorboard", needed_by=f"the {who}", extra="tensorboard", distribution="TensorBoard")
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def _log_dir(options: TensorBoardOptions, directory: Path | None, run_name: str, kind: str) -> Path | None:
    """Where a run's event files go: the run directory's FOLDER, or a subfolder of ``log_dir`` of the run's name
    that no earlier run wrote into (``-2``, ``-3``... added); None for a run without either, said in a warning."""
    if not options.log_dir and directory is None:
        reducers = (
            " (a Reducer's callback_options={'tensorboard': {'log_dir': FOLDER}})" if kind == "callback" else ""
        )  # a Reducer's fit runs callbacks, not reporters
        warnings.warn(f"the tensorboard {kind} writes nothing for run {run_name}: it has no folder (dimred compare's "
                      f"runs, out=None{', a Reducer' if reducers else ''}) and no log_dir; set "
                      f"{kind}.tensorboard.log_dir=FOLDER{reducers}", stacklevel=2)  # fmt: skip
        return None
    if not options.log_dir:
        return Path(directory) / FOLDER
    root, counter = Path(options.log_dir), 1
    while (root / (name := run_name if counter == 1 else f"{run_name}-{counter}")).exists():
        counter += 1
    return root / name


def _check_nothing_there(folder: Path, kind: str) -> None:
    """The run folder's TensorBoard folder, before this run writes into it, holds no file the projector's would
    replace: one there is the user's (an earlier run's went with it). Event files are left as they are: each
    writer makes a new one, and a killed run's stay unlisted, so a rerun finds them."""
    found = None
    if folder.exists() and not folder.is_dir():
        found = f"{folder} is a file, not a folder"
    elif folder.is_dir() and (file := next((path for path in folder.rglob("*") if _replaceable(path)), None)):
        found = f"{folder} holds {file.relative_to(folder)}, which this run did not write"
    if found:
        raise UsageError(f"{found}; move it, or set {kind}.tensorboard.log_dir=FOLDER for the event files")


def _replaceable(path: Path) -> bool:
    return not path.is_dir() and not path.name.startswith(EVENT_FILE_PREFIX)


def _same_place(options: TensorBoardOptions, directory: Path | None, folder: Path) -> bool:
    """Whether the callback's log ``folder`` is where these options put the run's event files."""
    if options.log_dir:
        return folder.parent == Path(options.log_dir).resolve()
    return directory is not None and folder == (Path(directory) / FOLDER).resolve()


def _scalars(writer: Any, row: dict[str, Any], step: int) -> None:
    """One history row as ``train/...`` scalars (``loss``, ``loss.NAME`` per term, ``lr``, ``epoch``)."""
    for key, value in row.items():
        if key not in ("step", "seconds") and isinstance(value, int | float) and not isinstance(value, bool):
            writer.add_scalar(f"train/{key}", value, step)


class TensorBoardCallback(Callback):
    """Writes the losses and the learning rate as TensorBoard scalars at every logging interval."""

    name = "tensorboard"
    description = "writes the losses to TensorBoard while training (tensorboard --logdir RUN; dimred[tensorboard])"
    Options = TensorBoardOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        _require_tensorboard("tensorboard callback")
        self.writer: Any = None
        self.log_dir: str | None = None  # a resumed run's, from its checkpoint

    def on_fit_start(self, training: Training) -> None:
        if not training.is_main:  # process 0 alone writes
            return
        if self.log_dir is not None and self.options.log_dir:  # a resumed run goes on in its own subfolder
            log_dir: Path | None = Path(self.log_dir)
        else:
            log_dir = _log_dir(self.options, training.directory, training.run_name, "callback")
        if log_dir is None:  # nothing is written for a run without a folder
            return
        if not training.history and not self.options.log_dir:  # a resumed run's folder holds its own files
            _check_nothing_there(log_dir, "callback")
        self.log_dir = str(log_dir.resolve())  # a resume from another working folder finds it
        resumed_at = int(training.history[-1]["step"]) if training.history else None
        self.writer = _writer("tensorboard callback", log_dir, None if resumed_at is None else resumed_at + 1)
        self.writer.add_text("settings", f"```\n{json.dumps(training.settings.record(), indent=2)}\n```")
        _STREAMED[training.run_key] = self.log_dir

    def on_interval(self, training: Training, status: TrainingStatus) -> None:
        if self.writer is None:
            return
        _scalars(self.writer, status.history_row(), status.step)

    def on_fit_end(self, training: Training) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def on_fit_failed(self, training: Training, error: BaseException) -> None:
        self.on_fit_end(training)  # the losses logged so far are written out

    def state_dict(self) -> dict[str, Any]:
        return {"log_dir": self.log_dir}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.log_dir = state.get("log_dir")


class TensorBoardReporter(Reporter):
    """Adds the final metrics and settings (the HPARAMS tab), the plots, the loss curves (unless the callback wrote
    them) and the codes for the embedding projector, with the labels and colour values as metadata. Name it after
    the plot reporters."""

    name = "tensorboard"
    description = (
        "writes metrics, plots and the codes (embedding projector) to TensorBoard event files (dimred[tensorboard])"
    )
    Options = TensorBoardReporterOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        _require_tensorboard("tensorboard reporter")

    def report(self, run: RunRecord) -> None:
        streamed = _STREAMED.pop(run.run_key, None)
        streamed_here = streamed is not None and _same_place(self.options, run.directory, Path(streamed))
        log_dir = Path(streamed) if streamed_here else _log_dir(self.options, run.directory, run.run_name, "reporter")
        if log_dir is None:  # a run without a folder, and no log_dir given
            return
        if not streamed_here and not self.options.log_dir:
            _check_nothing_there(log_dir, "reporter")
        writer = _writer("tensorboard reporter", log_dir)
        try:
            last_step = int(run.history[-1]["step"]) if run.history else 0
            if not streamed_here:  # the callback wrote no loss curves here
                for row in run.history:
                    _scalars(writer, row, int(row["step"]))
            metrics = {f"metrics/{key}": value for key, value in run.metrics.items() if _figure(value)}
            for tag, value in metrics.items():
                writer.add_scalar(tag, value, last_step)
            _hparams(writer, run.config, metrics)
            if self.options.plots:
                self._plots(writer, run, last_step)
            self._embedding(writer, run, last_step)
        finally:
            writer.close()
        run.echo(f"TensorBoard: tensorboard --logdir {log_dir}")

    def _plots(self, writer: Any, run: RunRecord, step: int) -> None:
        """The run's own PNG plots (never a user's pictures in its folder), as RGB images."""
        import matplotlib.image

        for png in (path for path in run.kept_files() if path.suffix.lower() == ".png"):
            image = np.atleast_3d(matplotlib.image.imread(png))
            rgb = image[..., :3] if image.shape[2] >= 3 else np.repeat(image[..., :1], 3, axis=2)  # grey (and alpha)
            writer.add_image(f"plots/{png.stem}", rgb, step, dataformats="HWC")

    def _embedding(self, writer: Any, run: RunRecord, step: int) -> None:
        codes = np.asarray(run.codes)
        if codes.ndim != 2 or len(codes) == 0:
            return
        rows = shown_rows(len(codes), self.options.max_points)
        given = run.data.row_numbers
        numbers = np.asarray(given)[rows] if given is not None and len(given) == len(codes) else rows
        columns = {"index": [str(number) for number in numbers]}  # the row's number in the data set, as elsewhere
        for name in ("labels", "color"):
            values = getattr(run.data, name, None)
            if values is not None and len(values) == len(codes):
                columns["label" if name == "labels" else name] = [_label(value) for value in np.asarray(values)[rows]]
        metadata: list[Any] = list(zip(*columns.values(), strict=True)) if len(columns) > 1 else columns["index"]
        import torch

        writer.add_embedding(torch.as_tensor(codes[rows], dtype=torch.float32), metadata=metadata,
                             metadata_header=list(columns) if len(columns) > 1 else None,  # one column: no header
                             label_img=self._images(run, rows), tag="codes", global_step=step)  # fmt: skip

    @staticmethod
    def _images(run: RunRecord, rows: np.ndarray) -> Any:
        """The rows as greyscale images (N x 1 x H x W in [0, 1]) for the projector's sprite, where rows are images."""
        shape = getattr(run.data, "images", None)
        X = np.asarray(run.data.X)
        if shape is None or len(X) != len(run.codes) or X.shape[1] != shape[0] * shape[1]:
            return None
        import torch

        images = X[rows].reshape(len(rows), 1, *shape).astype(np.float32)
        low, high = images.min(), images.max()
        return torch.from_numpy((images - low) / (high - low if high > low else 1.0))


HPARAM_SECTIONS = ("dataset", "model", "training")  # each a name and options, or settings, as config.json has them


def _hparams(writer: Any, config: Any, metrics: dict[str, float]) -> None:
    """The run's settings as TensorBoard's hyperparameters, each run one row of its HPARAMS table beside its final
    ``metrics/`` figures, written into the run's own event file (``SummaryWriter.add_hparams`` would write a
    second run into a timestamped subfolder)."""
    if not config:  # a record built by hand
        return
    from torch.utils.tensorboard.summary import hparams

    values: dict[str, Any] = {key: config[key] for key in ("seed", "scaler", "holdout", "dtype") if key in config}
    for section in HPARAM_SECTIONS:
        entry = config.get(section)
        if not isinstance(entry, dict):  # an evaluation's config names its model by its path
            values[section] = entry
            continue
        if "name" in entry:
            values[section] = entry["name"]
        for key, value in (entry.get("options", entry) if "name" in entry else entry).items():
            values[f"{section}.{key}"] = value
    losses = [loss for loss in config.get("loss") or [] if isinstance(loss, dict)]
    values["loss"] = "+".join(loss["name"] if loss.get("weight", 1) == 1 else f"{loss['name']}:{loss['weight']:g}"
                              for loss in losses)  # fmt: skip
    values |= {f"loss.{loss['name']}.{key}": value for loss in losses for key, value in loss.get("options", {}).items()}
    typed = {key: _hparam(value) for key, value in values.items() if value is not None}
    for summary in hparams(typed, metrics):
        writer.file_writer.add_summary(summary)


def _figure(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and bool(np.isfinite(value))


def _hparam(value: Any) -> bool | int | float | str:
    """A setting as TensorBoard takes it: lists and tables as JSON text, and True or False as words (torch would
    make them the numbers 1 and 0)."""
    if isinstance(value, bool):
        return str(value)
    return value if isinstance(value, int | float | str) else json.dumps(value)


def _label(value: Any) -> str:
    """A label or colour value as a cell of the projector's tab-separated metadata: whole numbers (class labels)
    without a decimal point; tabs and line breaks in a name as spaces, since they would split its row."""
    text = f"{value:.6g}" if isinstance(value, float | np.floating) else str(value)
    return " ".join(text.replace("\t", " ").splitlines())


@hookimpl
def register_callbacks(register):
    register(TensorBoardCallback)


@hookimpl
def register_reporters(register):
    register(TensorBoardReporter)
