"""``dimred.evaluate``: score a trained model on a dataset, as ``dimred evaluate`` does, without touching its
training results."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dimred._api import pipeline, reporting, rows
from dimred._api.arguments import AUTO, check_callables, check_flags, check_out
from dimred._api.config import (
    read_as_the_run_said,
    trained_anndata_option,
    trained_header,
    trained_ignored_columns,
    trained_set_aside_columns,
)
from dimred._api.run import figures_of
from dimred._core import defaults
from dimred._core.contracts import silent
from dimred._core.errors import DimredError, UsageError, resolved
from dimred._core.options import parse_value
from dimred._core.runfiles import CONFIG_FILE, EVALUATIONS_FOLDER, METRICS_FILE, MODEL_FILE
from dimred._core.settings import checked_seed
from dimred._engine import evaluation
from dimred._engine.fitting import STREAM_ROWS, streamed_sample
from dimred._engine.scaling import Scaler
from dimred._host.registry import get_registry
from dimred._host.resolve import describe, group_settings, instantiate
from dimred._io.csvlayout import csv_layout, header_given, header_naming
from dimred._io.datafiles import TEXT, column_count, header_of
from dimred._io.rundir import (
    check_claimable,
    claimed_directory,
    run_directory_of,
    timestamped_directory,
    write_json,
)
from dimred._io.validation import DataError, check_matrix, columns_by_name
from dimred._io.written import listed_files

if TYPE_CHECKING:
    from dimred._api.reducer import Reducer
    from dimred._core.contracts import Data


@dataclass(eq=False)
class EvaluationResult:
    """A trained model's metrics on a dataset. ``path`` is the folder written, or None."""

    metrics: dict[str, Any]
    path: Path | None
    codes: np.ndarray
    failures: list[str] = field(default_factory=list)  # metrics and reporters that failed and were skipped

    def __repr__(self) -> str:  # the curves among the metrics run to thousands of numbers
        return (f"EvaluationResult(path={str(self.path) if self.path else None!r}, codes={self.codes.shape}, "
                f"metrics={figures_of(self.metrics)!r})")  # fmt: skip


def _evaluation_directory(model: Reducer | str | Path, dataset: str, out: str | Path | None) -> Path | None:
    if out != AUTO:
        return None if out is None else Path(out)
    if not isinstance(model, str | Path):  # a Reducer in memory has no run directory
        return None
    return timestamped_directory(run_directory_of(model) / EVALUATIONS_FOLDER, dataset)


def _check_not_the_run(directory: Path, model: Reducer | str | Path) -> None:
    """An evaluation never writes over the training results, nor over the model file it scores where the folder
    lists it among the files its results replace (a comparison's saved models/), even with ``overwrite``."""
    if not isinstance(model, str | Path):
        return
    if resolved(directory) == resolved(run_directory_of(model)):
        raise UsageError(f"--out {directory} is the model's run directory; an evaluation never writes over the "
                         "training results: choose another folder")  # fmt: skip
    model_file = resolved(Path(model) / MODEL_FILE if Path(model).is_dir() else Path(model))
    if any(resolved(directory / name) == model_file for name in listed_files(directory)):
        raise UsageError(f"--out {directory} holds the model file being evaluated ({model_file.name}) among the "
                         "results that new ones replace; an evaluation never removes its model: choose another "
                         "folder")  # fmt: skip


def _features_of_rows(
    X: np.ndarray, names: Sequence[str] | None, reducer: Reducer, where: str
) -> tuple[np.ndarray, Sequence[str] | None]:
    """The columns of ``X`` the model was trained on, in its order, and their names: picked by name where both the
    data and the model name them (as ``dimred encode`` picks an AnnData file's genes), else by position."""
    trained = getattr(reducer, "feature_names_in_", None)
    if trained is not None and names is not None:
        return X[:, columns_by_name(names, trained, where)], trained
    if X.shape[1] != reducer.n_features_in_:
        raise DataError(f"{where} has {X.shape[1]} columns, but the model expects {reducer.n_features_in_} features")
    return X, names


def _carried_columns(dataset_settings: Mapping[str, Any], reducer: Reducer) -> dict[str, str]:
    """The label and colour columns a ``file`` run set aside, where the evaluated file holds them as its training
    file did (as ``dimred encode`` skips them): by name where its header has the name, by index where it has
    as many columns as the training file (the features, these and the ones the run ignored) and, in a file whose
    header names the trained features, that index is not one of them (the one column left over in a file of
    another order); {} where it does not. A column the evaluation's settings name themselves is left to them."""
    trained = trained_set_aside_columns(reducer)
    recorded = {option: spec for option, spec in trained.items() if option not in dataset_settings}
    path = Path(str(dataset_settings.get("path", "")))
    layout = _file_layout(path) if recorded else None
    if layout is None:
        return {}
    names, width = layout
    ignored_specs = trained_ignored_columns(reducer)
    trained_width = _training_file_width(reducer)
    features = _feature_names(reducer)
    left_over = [name for name in names if name not in features] if features and names else None
    only_one = left_over is not None and len(left_over) == len(trained) == 1
    carried = {
        option: _carried_column(spec, names, _index_here(spec, width, trained_width), left_over, only_one)
        for option, spec in recorded.items()
    }
    if None in carried.values():
        # columns besides the features and the ones the run left out (an id): one of them may be it, which is unsaid
        places = [_place(spec, names) for spec in ignored_specs]
        ignored = [place for place in places if place is not None and place < width]
        besides = width - reducer.n_features_in_ - len(ignored)
        if besides > 0:
            lost = [option for option in recorded if carried[option] is None]
            given = ", ".join(f"dataset.{option}={recorded[option]}" for option in lost)
            warnings.warn(f"{path} has {besides} columns besides the model's features, but the run's {given} "
                          "cannot be told among them (by name or place), so it is not set aside; name it with "
                          f"--set dataset.{lost[0]}=NAME", stacklevel=3)  # fmt: skip
        return {}
    return carried


def _warn_if_unlabelled(data: Data, reducer: Reducer, name: str) -> None:
    """Say where the run was labelled and the evaluated data is not: the label metrics are then left out (they had
    disappeared from the table without a word)."""
    trained = trained_set_aside_columns(reducer).get("label_column") or trained_anndata_option(reducer, "label_key")
    if trained and data.labels is None:
        warnings.warn(f"{name} has no labels (the run's label column '{trained}' is not in it): the metrics of "
                      "labels (knn-accuracy, silhouette) are left out", stacklevel=3)  # fmt: skip


def _carried_ignored(dataset_settings: Mapping[str, Any], reducer: Reducer) -> dict[str, str]:
    """The columns a ``file`` run left out (``ignore_columns``), where the evaluated file has as many columns as
    its training file had (as ``dimred encode`` leaves them out); {} where the settings name their own, or where
    the file lacks one of them but its header names every trained feature (its other columns are then left out
    by ``_untrained_columns``)."""
    ignored = trained_ignored_columns(reducer)
    path = Path(str(dataset_settings.get("path", "")))
    layout = _file_layout(path) if ignored and "ignore_columns" not in dataset_settings else None
    if layout is None:
        return {}
    names, width = layout
    held = all(spec in names or (spec.isdecimal() and int(spec) < width) for spec in ignored)
    features = _feature_names(reducer)
    elsewhere = not held and bool(features) and features <= set(names)
    return {"ignore_columns": ",".join(ignored)} if width == _training_file_width(reducer) and not elsewhere else {}


def _file_layout(path: Path) -> tuple[list[str], int] | None:
    """The header names of a data file (none for a file without a header, or not of text) and its number of
    columns; None where it is no file or cannot be read (the data set names what is wrong with it)."""
    if not path.is_file():
        return None
    try:
        header = header_of(path)
        return [str(name) for name in header or ()], column_count(path)
    except DimredError:
        return None


def _feature_names(reducer: Reducer) -> set[str]:
    """The names of the features the model was trained on; none where its data did not name them."""
    return {str(name) for name in getattr(reducer, "feature_names_in_", ())}


def _training_file_width(reducer: Reducer) -> int:
    """How many columns the training file had: the features, those set aside (labels, colours) and those left out."""
    return reducer.n_features_in_ + len(trained_set_aside_columns(reducer)) + len(trained_ignored_columns(reducer))


def _untrained_columns(dataset_settings: Mapping[str, Any], reducer: Reducer) -> dict[str, str]:
    """The columns of a CSV file whose header names every trained feature that are neither those features nor
    set aside (an id, a batch name), left out by index as ``dimred encode`` leaves them; {} where its settings
    name the columns to ignore themselves, or the header does not name the features."""
    path = Path(str(dataset_settings.get("path", "")))
    features = _feature_names(reducer)
    if "ignore_columns" in dataset_settings or not features or path.suffix.lower() not in TEXT or not path.is_file():
        return {}
    try:
        header = [str(name) for name in csv_layout(path).header or ()]
    except DimredError:
        return {}  # the data set names what is wrong with the file
    if not features <= set(header):
        return {}
    set_aside = {_place(str(dataset_settings.get(f"{role}_column", "")), header) for role in ("label", "color")}
    others = [
        _spec(index, header) for index, name in enumerate(header) if name not in features and index not in set_aside
    ]
    return {"ignore_columns": ",".join(others)} if others and None not in others else {}


def _spec(index: int, header: Sequence[str]) -> str | None:
    """How ``ignore_columns`` names the column at ``index``: by its name where that names it alone (a name is
    looked up before an index), else by its index where no column is named so; None where neither can."""
    name = header[index]
    if name and header.count(name) == 1 and "," not in name and name.strip() == name:
        return name
    return None if str(index) in header else str(index)


def _place(spec: str, header: Sequence[str]) -> int | None:
    """The index of the column ``spec`` (a header name or a 0-based index) names, None where it names none."""
    if spec in header:
        return header.index(spec)
    return int(spec) if spec.isdecimal() else None


def _carried_anndata_options(reducer: Reducer, dataset_settings: Mapping[str, Any]) -> dict[str, str]:
    """The layer an AnnData run trained on, and its label column where the evaluated file's obs holds it."""
    carried = {option: trained_anndata_option(reducer, option) for option in ("layer", "label_key")
               if option not in dataset_settings}  # fmt: skip
    label_key = carried.pop("label_key", "")
    if label_key and label_key in _obs_columns(Path(str(dataset_settings.get("path", "")))):
        carried["label_key"] = label_key
    return {option: value for option, value in carried.items() if value}


@contextlib.contextmanager
def _carried_named(settings: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[None]:
    """An error about a label, colour or ignored column or a layer the run's settings brought (the user set none)
    says where it came from and how to leave it out or name others."""
    try:
        yield
    except (DataError, UsageError) as error:
        text = str(error).replace(str(settings.get("path", "")), "")  # a folder called label/ says nothing
        for option, word in (("label_key", "label"), ("label_column", "label"), ("color_column", "colour"),
                             ("ignore_columns", "ignored"), ("layer", "layer")):  # fmt: skip
            value = settings.get(option)
            about_it = option in text or f"'{value}'" in text or re.search(rf"\b{word}\b", text)
            if option in given or not value or not about_it:
                continue
            instead = {"ignore_columns": "=COLUMNS names the ones to leave out here",
                       "layer": "=NAME reads another (empty: X)"}.get(option, "= leaves it out")  # fmt: skip
            # the error's own advice to name another, not said twice
            said = instead.startswith("=NAME") and f"--set dataset.{option}=NAME" in str(error)
            advice = "" if said else f"; --set dataset.{option}{instead}"
            raise type(error)(f"{error} (dataset.{option} '{value}' is the run's{advice})") from None
        raise


def _obs_columns(path: Path) -> list[str]:
    """The obs columns of an .h5ad file, read without its matrices; [] where it cannot be read (the data set then
    says why)."""
    try:
        import anndata

        cells = anndata.read_h5ad(path, backed="r")
    except Exception:  # anndata's own errors too (IORegistryError, of an encoding a newer anndata wrote)
        return []
    try:
        return [str(column) for column in cells.obs.columns]
    finally:
        cells.file.close()


def _index_here(spec: str, width: int, trained_width: int) -> int | None:
    """Where the column that ``spec`` numbers in the training file is in the evaluated file, ``width`` columns
    wide: at the same place where the file is as wide as the training file (the features, the set-aside columns
    and the ignored ones); None otherwise. A file as wide as the features and the set-aside columns alone may
    lack either the ignored columns or the set-aside ones (new rows with their ids but no labels): which one, its
    width cannot tell, so neither is taken."""
    if not spec.isdecimal() or width != trained_width:
        return None
    return int(spec) if int(spec) < width else None


def _carried_column(spec: str, names: list[str], index: int | None, left_over: list[str] | None,
                    only_one: bool) -> str | None:  # fmt: skip
    """Where the evaluated file holds one set-aside column: ``spec`` itself where it names a column of its
    header, else its place there (``index``) where the column there is not a trained feature, else the one
    column left over in a file of another order; None where it does not hold it."""
    if spec in names:
        return spec
    if index is None:
        return None
    if left_over is None or (index < len(names) and names[index] in left_over):
        return str(index)
    return left_over[0] if only_one else None


def _with_the_runs_choices(dataset: str, settings: dict[str, Any], reducer: Reducer) -> dict[str, Any]:
    """The data set's settings, with what the run chose for its data where these leave it unsaid: an AnnData
    file's layer and label key, a data file's header (whether its first row names the columns) and set-aside
    (label, colour, ignored) columns."""
    if dataset == "h5ad":
        return _carried_anndata_options(reducer, settings) | settings
    if dataset == "file":
        trained = trained_header(reducer)
        text = Path(str(settings.get("path", ""))).suffix.lower() in TEXT
        settings = ({"header": trained} if trained is not None and text else {}) | settings
        with header_given(_said_header(settings)):  # the columns are found in the file as it will be read
            settings = _carried_columns(settings, reducer) | settings
            settings = _carried_ignored(settings, reducer) | settings
            settings = _untrained_columns(settings, reducer) | settings
    return settings


def _said_header(settings: Mapping[str, Any]) -> bool | None:
    """What a data file's settings say of its first row (``header``: true, false or unsaid); None where unsaid or
    where the value is not one (the data set's options then refuse it by name)."""
    value = settings.get("header")
    if isinstance(value, str):
        try:
            value = parse_value(value, bool | None)
        except ValueError:
            return None
    return bool(value) if isinstance(value, bool | np.bool_) else None


def _outcome(reducer: Reducer, X_trained: np.ndarray, refit_scaler: bool) -> pipeline.Outcome:
    """The rows through the model in eval mode (scaled by the model's scaler, or one fitted on them)."""
    X_device = reducer.to_tensor(X_trained)
    scaler = Scaler.fit(reducer.scaler_.kind, X_device) if refit_scaler else reducer.scaler_
    X = scaler.transform(X_device)
    codes = evaluation.encode(reducer.module_, X)
    return pipeline.Outcome(X, codes, evaluation.decode(reducer.module_, codes), [], 0.0, None, reducer.fitted_)


def evaluate(
    model: Reducer | str | Path,
    dataset: str,
    *,
    settings: Mapping[str, Any] | None = None,
    refit_scaler: bool = False,
    reporters: Sequence[str] | None = None,
    seed: int = 1,
    device: str = defaults.DEVICE,
    out: str | Path | None = AUTO,
    overwrite: bool = False,
    echo: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Metrics and plots of a trained model (a Reducer, a run directory or a model file) on ``dataset``.

    New data goes through the scaler saved at training time; ``refit_scaler=True`` fits a new one on this data,
    as the reference tutorial does. ``seed`` (0 to 2**32 - 1) seeds the data; its default, 1, differs from the
    training default so that a default evaluation sees fresh data. With ``out="auto"`` results go to a new
    ``evaluations/<dataset>-<time>`` folder inside the model's run directory, never over the training results; an
    existing, non-empty ``out`` folder is written into only with ``overwrite``. An AnnData data set is read from the
    layer the model was trained on unless ``dataset.layer`` says otherwise, with the run's label column where the
    file holds it (unless ``dataset.label_key`` names another); a ``file`` data set reads a text file's first row
    as the run said of its own (``dataset.header``) and sets aside the label and colour columns the run set aside,
    where the file holds them (unless its settings say otherwise).
    """
    seed = checked_seed(seed)
    check_out(out)
    check_flags(refit_scaler=refit_scaler, overwrite=overwrite)
    check_callables(echo=echo)
    get_registry().get("dataset", dataset)  # rows given here (an array) fail as a name before any use of it
    groups = group_settings(settings)
    if set(groups) & {"model", "loss"} or any(key.startswith(("loss.", "callback.")) for key in groups):
        raise UsageError("evaluate takes dataset.* and reporter.* settings (and metric.*); the model's are in its file")
    dataset_settings = given = groups.pop("dataset", {})
    chosen_reporters = pipeline.resolve_reporters(reporters, groups)
    if out is not None:
        reporting.check_one_writer_each(chosen_reporters)
    writes = (CONFIG_FILE, METRICS_FILE, *reporting.files_of(chosen_reporters))
    metric_plugins = pipeline.resolve_metrics(groups)
    from dimred._api.reducer import as_fitted_reducer, computes_in  # scikit-learn comes with it: when needed

    reducer = as_fitted_reducer(model, device)
    with header_naming(getattr(reducer, "feature_names_in_", None)):  # a header of numbers alone is the model's
        dataset_settings = _with_the_runs_choices(dataset, dataset_settings, reducer)
        source = instantiate("dataset", dataset, dataset_settings)
        directory = _evaluation_directory(model, dataset, out)
        if directory is not None:
            _check_not_the_run(directory, model)
            check_claimable(directory, overwrite=overwrite, resume=False, writes=writes, work="evaluation")
        carried = None if "header" in given or dataset != "file" else _said_header(dataset_settings)
        otherwise = "--set dataset.header=true, false, or nothing to guess, reads it otherwise"
        with read_as_the_run_said(carried, str(dataset_settings.get("path", "")), otherwise):
            with _carried_named(dataset_settings, given):
                data, X_raw = pipeline.load_data(source, seed)
            sample = streamed_sample(X_raw, seed) if len(X_raw) > STREAM_ROWS else None
            if sample is not None:  # as a run scores data it streams: a seeded sample, never the whole file in memory
                data, X_raw = data.rows(sample.numpy()), X_raw[sample.numpy()]
            X_trained, names = _features_of_rows(X_raw, data.feature_names, reducer, pipeline.data_name(source))
    check_matrix(X_trained, pipeline.data_name(source), min_rows=1, computed_in=computes_in(reducer),
                 row_numbers=data.row_numbers, column_names=names)  # fmt: skip
    rows.check_scorable(X_trained, pipeline.data_name(source))
    if not {"label_column", "label_key"} & set(given):  # where the settings leave the labels out, they know
        _warn_if_unlabelled(data, reducer, pipeline.data_name(source))  # once the rows are the model's
    outcome = _outcome(reducer, X_trained, refit_scaler)
    pipeline.announce_scoring(echo or silent, len(outcome.X))
    metrics, context = pipeline.score(outcome, data, metric_plugins, seed)
    for timing in ("train_seconds", "transform_seconds") + (("evaluated_rows",) if sample is None else ()):
        metrics.pop(timing)
    metrics["scaler"] = "refitted on this data" if refit_scaler else "saved with the model"
    config = {"model": str(model) if isinstance(model, str | Path) else reducer.model,
              "dataset": describe(source), "refit_scaler": refit_scaler, "seed": seed}  # fmt: skip
    with claimed_directory(directory, overwrite=overwrite, writes=writes, automatic=out == AUTO,
                           work="evaluation") as directory:  # fmt: skip
        if directory is not None:
            write_json(directory / CONFIG_FILE, config)
            write_json(directory / METRICS_FILE, metrics)
        record = pipeline.record_of(dataset, reducer.model, data, outcome, metrics, context, directory,
                                    echo or silent, config=config)  # fmt: skip
        failures = reporting.failures_of(metrics) + reporting.report(
            chosen_reporters, record, named=pipeline.names_other_reporters(reporters)
        )
    reporting.warn_skipped(failures)
    return EvaluationResult(metrics, directory, record.codes, failures)
