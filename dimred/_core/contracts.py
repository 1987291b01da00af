"""The small contracts that plugins implement, one base class per kind.

A plugin is a class with a unique ``name``, a one-line ``description`` and a nested ``Options`` dataclass
(see :func:`dimred._core.options.option`). The host instantiates it with validated options. Nothing here imports torch,
so listing plugins stays fast; plugins import their heavy dependencies inside the methods that need them.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dimred._core.atomic import atomic_path, guarded_files
from dimred._core.labels import check_labels, mixes_names_and_numbers
from dimred._core.runfiles import COMPARISONS_OWN_FILES, DIMREDS_OWN_FILES, UNFINISHED_RUN_FILES

if TYPE_CHECKING:
    import torch

    from dimred._core.settings import TrainingSettings


def silent(_text: str) -> None:
    """Where lines go when nobody listens."""


@dataclass(frozen=True)
class NoOptions:
    """The options of a plugin that takes none."""


class Plugin:
    """What every plugin kind shares: a name, a description, typed options."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None) -> None:
        self.options = self.Options() if options is None else options

    def check_run(self, config: Mapping[str, Any]) -> None:
        """Refuse, with a ``UsageError``, a run this plugin cannot take part in as configured (``config``: the
        run's configuration as config.json records it; a comparison's holds its ``reporters`` and ``callbacks``),
        before anything trains or is written. Called for a run's callbacks and reporters; nothing, by default."""


@dataclass(frozen=True, eq=False)
class Data:
    """A data set as a dataset plugin returns it.

    ``X`` holds one sample per row. ``color`` is an optional value per sample used to colour plots (the roll
    position for the swiss roll); ``intrinsic`` optional true low-dimensional coordinates, where the data set
    knows them; ``labels`` an optional class per row (integers or strings: the digit of an image, a cell type),
    which the held-out split is stratified by, the plots colour by and the label metrics score. ``images`` is the
    shape of one row as an image ((8, 8) for digits), where rows are images. ``row_numbers`` are the rows'
    numbers in the data set the plugin gave, once ``rows`` has picked some of them (None: 0, 1, 2...).
    ``color_name`` says what ``color`` holds ("position along the roll"), for the plots' colour bars.
    """

    X: np.ndarray
    color: np.ndarray | None = None
    intrinsic: np.ndarray | None = None
    feature_names: tuple[str, ...] | None = None
    labels: np.ndarray | None = None
    images: tuple[int, int] | None = None
    row_numbers: np.ndarray | None = None
    color_name: str | None = None

    def __post_init__(self) -> None:
        for name in ("X", "color", "intrinsic", "labels", "row_numbers"):  # lists from a plugin become arrays
            values = getattr(self, name)
            if values is not None and not isinstance(values, np.ndarray):
                # a list of names and numbers stays a mix, refused below (numpy would turn the numbers into text)
                mixed = name == "labels" and mixes_names_and_numbers(values)
                object.__setattr__(self, name, np.array(values, dtype=object) if mixed else np.asarray(values))
        if self.X is None or self.X.ndim != 2:
            got = "None" if self.X is None else f"shape {self.X.shape}"
            raise ValueError(f"X must be a 2-D array of numbers (samples x features), got {got}")
        for label, values in (("color", self.color), ("intrinsic", self.intrinsic), ("labels", self.labels),
                              ("row_numbers", self.row_numbers)):  # fmt: skip
            if values is not None and len(values) != len(self.X):
                raise ValueError(f"{label} has {len(values)} rows but X has {len(self.X)}")
        if self.color is not None and (self.color.ndim != 1 or self.color.dtype.kind not in "biuf"):
            raise ValueError(f"color must be one number per row (class names go in labels), got "
                             f"{_describe_array(self.color)}")  # fmt: skip
        if self.intrinsic is not None and self.intrinsic.ndim == 1:  # a curve's one true coordinate per row
            object.__setattr__(self, "intrinsic", self.intrinsic.reshape(-1, 1))
        if self.intrinsic is not None and self.intrinsic.ndim != 2:
            raise ValueError(f"intrinsic must be 2-D (samples x true coordinates), got shape {self.intrinsic.shape}")
        if self.intrinsic is not None and not (
            self.intrinsic.dtype.kind in "biuf" and np.isfinite(self.intrinsic).all()
        ):
            raise ValueError(f"intrinsic must be finite numbers, got {_describe_array(self.intrinsic)} with values "
                             "that are not")  # fmt: skip
        if self.row_numbers is not None and (self.row_numbers.ndim != 1 or self.row_numbers.dtype.kind not in "iu"):
            raise ValueError(f"row_numbers must be one whole number per row, got {_describe_array(self.row_numbers)}")
        if self.images is not None and not _is_image_shape(self.images, self.X.shape[1]):
            raise ValueError(f"images must be the (height, width) of one row as an image, height x width = "
                             f"{self.X.shape[1]} columns, got {self.images!r}")  # fmt: skip
        if self.labels is not None:
            check_labels(np.asarray(self.labels))
        if self.color_name is not None and not isinstance(self.color_name, str):
            raise ValueError(f"color_name must be text, got {self.color_name!r}")
        if self.feature_names is not None:
            names = tuple(self.feature_names)
            if len(names) != self.X.shape[1] or not all(isinstance(name, str) for name in names):
                raise ValueError(f"feature_names must be {self.X.shape[1]} names, one per column of X, got "
                                 f"{len(names)}: {names[:5]!r}")  # fmt: skip
            object.__setattr__(self, "feature_names", names)

    def rows(self, index: np.ndarray) -> Data:
        """The same data for some rows only."""

        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else np.asarray(values[index])

        numbers = np.arange(len(self.X)) if self.row_numbers is None else self.row_numbers
        return Data(pick(self.X), pick(self.color), pick(self.intrinsic), self.feature_names, pick(self.labels),
                    self.images, pick(numbers), self.color_name)  # fmt: skip


def _describe_array(values: np.ndarray) -> str:
    return f"an array of shape {values.shape} and dtype {values.dtype}"


def _is_image_shape(images: Any, width: int) -> bool:
    sides = tuple(images) if isinstance(images, tuple | list) else ()
    whole = all(isinstance(side, numbers.Integral) and side > 0 for side in sides)
    return len(sides) == 2 and whole and sides[0] * sides[1] == width


class Dataset(Plugin):
    """Provides the data to reduce."""

    kind = "dataset"

    def load(self, seed: int) -> Data:
        """Return the data. ``seed`` is the run's seed; a dataset with its own ``seed`` option prefers that."""
        raise NotImplementedError


class Model(Plugin):
    """Builds the encoder/decoder pair that maps samples to codes and back.

    ``build`` returns a ``torch.nn.Module`` with ``encode(x) -> z`` and ``decode(z) -> x_hat``. ``default_loss``
    names the loss plugin a run uses when the user names none.

    A module that hands the losses more than codes (a variational autoencoder's mean and log-variance) also
    defines ``encode_for_training(x) -> (z, extras)``: training decodes that ``z`` and every loss finds the named
    tensors ``extras`` in ``batch.extras``; ``encode`` stays what ``transform`` returns.
    """

    kind = "model"
    default_loss: ClassVar[str] = "mse"

    def build(self, n_features: int) -> torch.nn.Module:
        raise NotImplementedError

    def options_for(self, n_features: int) -> Any:
        """These options with the choices the model makes from the data's width written in (default widths,
        say): what config.json and the model file record, so that a model file rebuilds the network it was
        trained as whatever later versions choose by default. The options themselves unless overridden."""
        return self.options

    def training_defaults(self, n_samples: int, n_features: int) -> dict[str, Any]:
        """Training settings this model prefers for data of this size and width (``steps``, ``batch_size``,
        ``lr``, ``weight_decay``, ``precision="bf16"`` where its layers are wide enough to gain from bfloat16
        arithmetic, ``optimizer="muon"`` where it learns more per unit of time); used where the user left them
        automatic. An empty dict (the default) or None: dimred's defaults. Another key, or a value the command
        line would refuse, is an error naming the model."""
        return {}


@dataclass(frozen=True)
class Batch:
    """One training step's tensors: the input rows, their codes and reconstructions, their row numbers (None
    when the batch is every row, in order), and the extra tensors the model's ``encode_for_training`` returned.

    Rows a loss adds (``Loss.extra_rows``) are encoded, not decoded: ``z``, ``index`` and ``extras`` hold the
    ``drawn`` rows and then the added ones, ``x`` and ``x_hat`` the drawn rows only."""

    x: torch.Tensor
    z: torch.Tensor
    x_hat: torch.Tensor
    index: torch.Tensor | None = None
    extras: Mapping[str, torch.Tensor] = field(default_factory=dict)
    drawn: int | None = None  # rows the loop drew; those after them were added by a loss's extra_rows


def _call(build: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Alone, computing once is just computing."""
    return build()


@dataclass(frozen=True)
class TrainingData:
    """What a loss may precompute from, once, before training: the scaled data (all rows), the run's seed, the
    code size the model was asked for (None if it has no such option) and the device training runs on.

    ``once(build)`` runs ``build`` (which returns named tensors) in one process and hands the same tensors to
    every process training under torchrun: precompute something costly through it (a neighbour graph) and it is
    computed once per run, not once per process. Alone, it simply calls ``build``.
    """

    X: np.ndarray
    seed: int
    n_components: int | None
    device: Any
    once: Callable[[Callable[[], dict[str, torch.Tensor]]], dict[str, torch.Tensor]] = _call


class Loss(Plugin):
    """Scores a batch; training minimises it. ``__call__`` returns a scalar tensor.

    ``prepare`` runs once before training, for losses that need something computed from the whole data set
    (a neighbour graph, a target embedding); keep what it computes on the plugin instance.
    """

    kind = "loss"

    def prepare(self, data: TrainingData) -> None:
        """Nothing to precompute, by default."""

    def options_for(self, n_samples: int, n_features: int) -> Any:
        """These options with the choices the loss makes from the training data's size written in (as
        ``Model.options_for``): what config.json and the model file record. The options themselves unless
        overridden."""
        return self.options

    def extra_rows(self, index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Row numbers to train on beside the drawn rows ``index`` in this step (a neighbour of each, say): one
        per drawn row, a long tensor of ``index``'s shape, each from 0 to the number of rows less one. They are
        appended after the drawn rows, so ``batch.drawn`` tells them apart, and only encoded (a step does
        not decode them, see ``Batch``). Draw randomness from ``generator`` only (it is saved in checkpoints).
        At most one loss of a run may add rows."""
        raise NotImplementedError

    def __call__(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class Term:
    """One loss plugin and its weight in the sum that training minimises."""

    loss: Loss
    weight: float

    @property
    def name(self) -> str:
        return self.loss.name


@dataclass(eq=False)
class HeldOut:
    """The rows a run held out of training, and their codes from the trained model's transform."""

    data: Data
    codes: np.ndarray


def new_run_key() -> str:
    """A key no other dimred run has."""
    return uuid.uuid4().hex


@dataclass(eq=False)
class RunRecord:
    """Everything a reporter sees of a finished run.

    ``X`` is the data as the model saw it (after scaling); ``codes`` and ``reconstruction`` are the model's output
    in eval mode. ``directory`` is None when the run writes nothing to disk. ``metric_context`` is what the
    metrics saw (the sampled points and their neighbourhood statistics). ``held_out`` holds the rows the run held
    out of training and their codes (None without a held-out split, or for a model that cannot map new rows).
    ``run_key`` is unique to the dimred run, and its callbacks saw the same one (``Training.run_key``).
    ``config`` is the run's resolved configuration, as its config.json records it (also where nothing is written).
    """

    dataset: str
    model: str
    data: Data
    X: np.ndarray
    codes: np.ndarray
    reconstruction: np.ndarray | None
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    directory: Path | None
    echo: Callable[[str], None] = field(default=silent)
    metric_context: MetricContext | None = None
    held_out: HeldOut | None = None
    run_key: str = field(default_factory=new_run_key)
    config: Mapping[str, Any] = field(default_factory=dict)
    # the user's files in the folder, kept from being overwritten while the record was made: never handed on
    _users_files: frozenset[Path] = field(default_factory=guarded_files, init=False, repr=False)

    @contextlib.contextmanager
    def artifact(self, filename: str | os.PathLike[str]) -> Iterator[Path]:
        """A path to write ``filename`` into the run directory; it appears there only once complete. dimred's own
        files (model.safetensors, config.json, metrics.json, ...) are not the reporter's to replace."""
        # the results the run saved before reporting, and its bookkeeping
        with atomic_path(_artifact_path(self.directory, filename, DIMREDS_OWN_FILES, "run")) as temporary:
            yield temporary

    @property
    def data_title(self) -> str:
        """How figures name the data: the dataset plugin's name, with the file it read where it read one
        ("file (cells.csv)")."""
        dataset = self.config.get("dataset")
        path = dataset.get("options", {}).get("path") if isinstance(dataset, Mapping) else None
        return f"{self.dataset} ({Path(path).name or path})" if isinstance(path, str) and path else self.dataset

    @property
    def run_name(self) -> str:
        """What trackers call the run: its folder's name, else DATASET-MODEL-seedN (compare's runs)."""
        return _run_name(self.dataset, self.model, self.config.get("seed"), self.directory)

    def kept_files(self) -> list[Path]:
        """The files in the run directory that are the run's to hand on (model file, config.json, metrics,
        history, the reporters' files so far), sorted: not the user's files there, nor hidden ones, nor an
        unfinished run's checkpoint and failure note; none where the run writes nothing."""
        return _kept_files(self.directory, self._users_files)


def _artifact_path(directory: Path | None, filename: str | os.PathLike[str], own: frozenset[str], what: str) -> Path:
    """Where a reporter's artifact ``filename`` goes in a run's or comparison's folder (``what``), whose ``own``
    files are dimred's."""
    if directory is None:
        raise RuntimeError(f"this {what} writes no files: check {what}.directory before writing")
    path = _inside(directory, filename)
    if path.name in own:
        raise ValueError(f"{path.name} is dimred's own file in a {what} folder, which a reporter may not replace; "
                         "name the artifact otherwise")  # fmt: skip
    return path


def _inside(directory: Path, filename: str | os.PathLike[str]) -> Path:
    """``directory / filename`` where ``filename`` is a file's plain name: never a path out of the folder."""
    filename = os.fspath(filename) if isinstance(filename, os.PathLike) else filename
    plain = isinstance(filename, str) and filename not in ("", ".", "..") and "\\" not in filename
    if not plain or Path(filename).name != filename:
        raise ValueError(f"an artifact is named by a plain file name (e.g. 'codes.csv'), written into {directory}; "
                         f"got {filename!r}")  # fmt: skip
    return directory / filename


def _run_name(dataset: str | None, model: str | None, seed: Any, directory: Path | None) -> str:
    if directory is not None:
        return Path(directory).name
    named = [part for part in (dataset, model) if part]
    return "-".join(named + ([f"seed{seed}"] if seed is not None else [])) or "dimred"


def _kept_files(directory: Path | None, users: frozenset[Path]) -> list[Path]:
    """The folder's files but for the ``users`` (their data, say, kept there by --overwrite), hidden ones and an
    unfinished run's own."""
    if directory is None:
        return []
    hidden = lambda path: path.name.startswith(".") or path.name in UNFINISHED_RUN_FILES  # noqa: E731
    return [path for path in sorted(Path(directory).iterdir())
            if path.is_file() and not hidden(path) and path.resolve() not in users]  # fmt: skip


class EstimatorModel(Model):
    """A model fitted in one call (a scikit-learn estimator, say) instead of trained by dimred's loop.

    It works on the scaled data as numpy arrays. Methods that cannot map new points (t-SNE) or codes back to
    data (Isomap) set ``can_transform`` / ``can_inverse_transform`` to False, and the metrics that need them
    are reported as not available. A run keeps a model file only where ``fitted_module`` returns one (see
    ``keeps_no_model_file``). ``fit_transform`` gets the run's
    seed as a 32-bit number (0 to 2**32 - 1), the range scikit-learn's ``random_state`` accepts.
    """

    can_transform: ClassVar[bool] = True
    can_inverse_transform: ClassVar[bool] = True

    def fit_transform(self, X: np.ndarray, seed: int) -> np.ndarray:
        raise NotImplementedError

    def transform(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fitted_module(self) -> torch.nn.Module | None:
        """After fitting: a torch module whose ``encode``/``decode`` compute ``transform``/``inverse_transform``
        (its state in tensors), so the run saves a model file and ``dimred.load`` rebuilds it through ``build``;
        None (the default) for methods whose state is the training set itself (Isomap, t-SNE)."""
        return None


def adds_rows(loss_class: type) -> bool:
    """Whether a loss plugin adds rows to each step (``extra_rows``, as ne-tsne and ne-umap do): one per run."""
    return loss_class.extra_rows is not Loss.extra_rows


def keeps_no_model_file(model_class: type) -> bool:
    """Whether a model plugin's runs keep no model file: a one-call model with the default ``fitted_module``,
    whose state is its training rows (Isomap, t-SNE, UMAP), so there is nothing to load, encode with or export."""
    return issubclass(model_class, EstimatorModel) and model_class.fitted_module is EstimatorModel.fitted_module


@dataclass(eq=False)
class MetricContext:
    """What metric plugins see: the data as the model saw it and its codes, on a sample of the points.

    ``X`` and ``codes`` hold at most a few thousand rows (a seeded subsample of bigger data); ``X_all`` and
    ``reconstruction_all`` hold every row (``reconstruction_all`` is None when the model cannot reconstruct).
    ``intrinsic`` are the true coordinates of the sampled rows, where the dataset knows them; ``labels`` their
    classes, where the dataset has them. For held-out rows, ``reference_codes`` and ``reference_labels`` are the
    training rows' codes and classes (a classifier trained on those is scored on these); None for the training
    rows themselves. ``neighbourhoods`` computes the rank statistics once for all the neighbourhood metrics.
    The tensors are the run's own, not copies: a metric reads them and never changes them in place.
    """

    X: torch.Tensor
    codes: torch.Tensor
    intrinsic: torch.Tensor | None
    X_all: torch.Tensor
    reconstruction_all: torch.Tensor | None
    neighbours: int
    seed: int
    labels: np.ndarray | None = None
    reference_codes: torch.Tensor | None = None
    reference_labels: np.ndarray | None = None
    _neighbourhoods: Any = field(default=None, repr=False)

    @property
    def neighbourhoods(self):
        if self._neighbourhoods is None:
            from dimred._core.measures import neighbourhoods

            self._neighbourhoods = neighbourhoods(self.X, self.codes, self.neighbours)
        return self._neighbourhoods

    @property
    def reconstruction_rmse(self) -> float | None:
        """Root mean squared error of ``reconstruction_all`` against ``X_all`` in float64 (None where the model
        cannot reconstruct); errors whose squares overflow float64 still give a finite figure."""
        from dimred._core.measures import rmse

        return None if self.reconstruction_all is None else rmse(self.X_all, self.reconstruction_all)

    def intrinsic_spearman(self, pairs: int) -> float | None:
        """Spearman correlation of code distances with true-coordinate distances over ``pairs`` random pairs (tied
        distances share their mean rank); None where it is undefined, as for codes all in one place."""
        from dimred._core.measures import distance_spearman

        if self.intrinsic is None:
            raise ValueError("this data set has no intrinsic coordinates")
        return distance_spearman(self.codes, self.intrinsic, pairs, self.seed)


class Metric(Plugin):
    """Scores an embedding. ``compute`` returns named values (None where the metric does not apply)."""

    kind = "metric"

    def compute(self, context: MetricContext) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(eq=False)
class ComparisonRecord:
    """What a reporter sees of a finished comparison (``dimred compare``): the first seed's codes of each method
    that ran, in the order compared, row for row on ``data`` (the rows every run of that seed trained on, as the
    dataset gave them: labels, colour values, images). ``directory`` is the comparison's folder (None: nothing is
    written). ``run_keys`` are the ``RunRecord.run_key`` of every run compared (all seeds), for a reporter that
    gathers what it logged of them (MLflow's parent run); ``failed`` names each model that failed, with its error
    (it has no codes)."""

    dataset: str
    data: Data
    codes: dict[str, np.ndarray]
    directory: Path | None
    echo: Callable[[str], None] = field(default=silent)
    run_keys: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    _users_files: frozenset[Path] = field(default_factory=guarded_files, init=False, repr=False)

    def kept_files(self) -> list[Path]:
        """The files in the comparison's folder (table, figures, the reporters' files so far), sorted: not the
        user's files there, nor hidden ones, nor the saved models' folder; none where the comparison writes
        nothing."""
        return _kept_files(self.directory, self._users_files)

    @contextlib.contextmanager
    def artifact(self, filename: str | os.PathLike[str]) -> Iterator[Path]:
        """A path to write ``filename`` into the comparison's folder; it appears there only once complete. dimred's
        own files (comparison.md, .csv and .json, embeddings.png, rnx.png) are not the reporter's to replace."""
        with atomic_path(_artifact_path(self.directory, filename, COMPARISONS_OWN_FILES, "comparison")) as temporary:
            yield temporary


class Reporter(Plugin):
    """Shows or writes the results of a run. Reporters with ``enabled_by_default`` run when none is named.

    A reporter may also show comparisons: ``dimred compare`` hands its default reporters that override
    ``report_comparison`` the methods' codes side by side (where the comparison writes a folder), and so too the
    reporters named for its runs (``--reporter``).
    """

    kind = "reporter"
    enabled_by_default: ClassVar[bool] = False

    def report(self, run: RunRecord) -> None:
        raise NotImplementedError

    def report_comparison(self, comparison: ComparisonRecord) -> None:
        """Show or write a comparison of several methods on one data set; nothing, by default."""

    def files(self) -> tuple[str, ...]:
        """The names of the files it writes into a run's (or a comparison's) folder: where a file of the user's
        holds such a name there, the run is refused before it starts, as for dimred's own results, instead of
        this reporter failing once the work is done. None, by default."""
        return ()


@dataclass(frozen=True)
class TrainingStatus:
    """What a callback sees of training at a step or a logging interval.

    ``loss`` is the weighted total and ``losses`` each term unweighted (by loss name), as means over the steps
    since the previous interval (for ``on_step``: this step's values).
    """

    step: int
    total_steps: int
    epoch: float
    loss: float
    losses: Mapping[str, float]
    lr: float
    seconds: float

    def history_row(self) -> dict[str, float]:
        """The row history.csv gets at an interval: step, epoch, the loss, each term's as ``loss.NAME`` where
        there are several (unweighted, so the curves compare with single-loss runs), lr and seconds."""
        several = {f"loss.{name}": mean for name, mean in self.losses.items()} if len(self.losses) > 1 else {}
        return {"step": self.step, "epoch": self.epoch, "loss": self.loss, **several, "lr": self.lr,
                "seconds": self.seconds}  # fmt: skip


class Training:
    """The handle a callback gets on the training in progress; the engine provides it.

    ``settings`` are the run's training settings as the loop takes them (a batch of at most the training rows,
    as config.json records it); ``directory`` the run folder (None when nothing is written);
    ``is_main`` is False on the other processes under torchrun, which must neither print nor write. ``run_key``
    is unique to this dimred run and is its reporters' ``RunRecord.run_key`` too: a callback that leaves work
    for a reporter (MLflow's) hands it over by it. ``config`` is the run's resolved configuration as its
    config.json records it (a ``Reducer``'s: its model, loss and training settings).
    """

    settings: TrainingSettings
    total_steps: int
    n_samples: int
    directory: Path | None
    is_main: bool
    history: list[dict[str, float]]  # a copy of the rows history.csv gets, so far
    run_key: str
    config: Mapping[str, Any]

    @property
    def run_name(self) -> str:
        """What trackers call the run: its folder's name, else DATASET-MODEL-seedN (compare's runs)."""
        dataset, model = (self.config.get(part, {}).get("name") for part in ("dataset", "model"))
        seed = self.config.get("seed", self.config.get("training", {}).get("seed"))  # a Reducer's: in its training
        return _run_name(dataset, model, seed, self.directory)

    def echo(self, text: str) -> None:
        """Print a line for the user among the run's messages (stdout on the command line; a ``Reducer`` prints
        none), on process 0 only."""
        raise NotImplementedError

    def sample_codes(self) -> torch.Tensor:
        """Eval-mode codes of a fixed, seeded sample of at most 1 024 training rows (training mode is restored)."""
        raise NotImplementedError

    def sample_rows(self) -> torch.Tensor:
        """The (scaled) training rows whose codes ``sample_codes`` gives."""
        raise NotImplementedError

    def stop(self, reason: str) -> None:
        """End training after this step; ``reason`` reaches the console and ``metrics.json``."""
        raise NotImplementedError

    def save_checkpoint(self) -> None:
        """Write the whole training state to the run folder's checkpoint, so ``--resume`` can continue from here:
        once every callback has acted on this step (or started), so that theirs is in it as an uninterrupted run has
        it. A step that fails writes none, and neither does ``on_fit_failed``: the last checkpoint stays."""
        raise NotImplementedError


class Callback(Plugin):
    """Acts while a model trains, in the spirit of Lightning's and Keras's callbacks.

    ``on_interval`` is called at every logging interval (about 200 per run, whatever the epochs) with the
    running losses; the step itself stays free of host synchronisation unless ``every_step`` is True (on the
    class, or set by ``on_fit_start``), which makes the engine call ``on_step`` after every step. A callback may
    call ``training.stop(reason)`` to end training early, or raise ``dimred.DimredError`` to fail the run with a
    message. Callbacks with ``enabled_by_default`` run unless the user turns them off (``--callback no-NAME``);
    others run when named (``--callback NAME``).
    ``state_dict``/``load_state_dict`` carry a callback's JSON-ready state across ``--resume``.
    """

    kind = "callback"
    enabled_by_default: ClassVar[bool] = False
    every_step: bool = False

    def on_fit_start(self, training: Training) -> None:
        """Before the first step (or the first step after a resume)."""

    def on_step(self, training: Training, status: TrainingStatus) -> None:
        """After every step, for callbacks with ``every_step``."""

    def on_interval(self, training: Training, status: TrainingStatus) -> None:
        """At every logging interval."""

    def on_fit_end(self, training: Training) -> None:
        """After the last step, also when training stopped early; not after a failure."""

    def on_fit_failed(self, training: Training, error: BaseException) -> None:
        """Instead of ``on_fit_end`` where training failed or was interrupted after this callback's
        ``on_fit_start`` began (``error`` is raised on afterwards): the place to close what it opened. Called in
        the process that saw the error (under torchrun the others may be ended by it); an error raised here is
        a warning, the run's own error is the one reported."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore, by default."""
