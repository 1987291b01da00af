"""MLflow tracking: a callback that logs the losses while a model trains and a reporter that logs the results.

``--reporter mlflow`` alone makes one MLflow run per dimred run at the end: the resolved configuration as
parameters, the loss history (one step per logging interval), the final metrics, and the run directory's files
(model, config, metrics, history, plots) as artifacts. Adding ``--callback mlflow`` opens that MLflow run when
training starts and streams the losses as they come, so a tracking server shows a run in progress; the reporter
then finishes the same run. When an MLflow run is already active in the same store and experiment (a notebook's
``with mlflow.start_run():`` around ``dimred.run`` or ``dimred.compare``), each dimred run becomes a nested run
inside it. Runs are made and logged through an ``MlflowClient`` of their store, never through MLflow's fluent
state, so the caller's tracking URI and active run stay as they were.

MLflow is optional (``pip install 'dimred[mlflow]'``) and imported only when a run uses these plugins.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import posixpath
import queue
import re
import socket
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import getproxies, proxy_bypass

from dimred.plugin import (
    Callback,
    ComparisonRecord,
    DimredError,
    Reporter,
    RunRecord,
    Training,
    TrainingStatus,
    UsageError,
    hookimpl,
    option,
    unwritable,
)

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter's value
DIRECTORY_TAG = "dimred.directory"
FAILED_TAG = "dimred.failed"  # a comparison's models that failed, with their errors
MAX_TAG_LENGTH = 5000  # a tag's value, within MLflow's limit (8000 in MLflow 3, lower in older releases)
SQLITE_PREFIX = "sqlite:///"  # then the database's path: relative, or absolute with a fourth slash
SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of every SQLite database file
ANSWER_SECONDS = 5.0  # how long a tracking server has to accept a connection (MLflow itself retries for minutes)
MLFLOW_NAME = re.compile(r"[/\w.\- ]*" if os.name == "nt" else r"[/\w.\- :]*")  # what MLflow takes in a name
MAX_NAME_LENGTH = 250  # MLflow's limit on a metric's name
MAX_EXPERIMENT_NAME_LENGTH = 500  # and on an experiment's
STREAM_WAIT_SECONDS = 30.0  # how long the end of training waits for MLflow to take the losses still queued


@dataclass(frozen=True)
class MLflowOptions:
    tracking_uri: str | None = option(
        None, "where to log, e.g. sqlite:///mlflow.db or http://host:5000 [default: MLFLOW_TRACKING_URI or MLflow's]"
    )
    experiment: str | None = option(None, "experiment name [default: MLFLOW_EXPERIMENT_NAME or MLflow's default]")
    run_name: str | None = option(None, "MLflow run name [default: the run directory's name, else DATASET-MODEL-seedN]")

    def __post_init__(self) -> None:
        """A store given here is checked as it is given (``_check_store``); the one a run logs to without it
        (MLFLOW_TRACKING_URI, a notebook's, MLflow's default) before training, by ``check_run``."""
        if self.tracking_uri:
            _check_store(self.tracking_uri, self.tracking_uri)
        if self.experiment is not None and len(self.experiment) > MAX_EXPERIMENT_NAME_LENGTH:
            raise ValueError(f"experiment is {len(self.experiment)} characters long; MLflow takes names of up to "
                             f"{MAX_EXPERIMENT_NAME_LENGTH}")  # fmt: skip


def _check_store(uri: str, named: str) -> None:
    """Refuse a store MLflow cannot log to, ``named`` as the user gave it: an SQLite database it cannot open or
    write, or another program's; a tracking server that does not answer; another store MLflow will not open.
    MLflow itself finds these only when it logs, after the training, some after minutes of retries."""
    if problem := _silence(uri):
        raise ValueError(f"{problem}; start it, or log to a database file with tracking_uri=sqlite:///mlflow.db")
    if uri in ("sqlite://", f"{SQLITE_PREFIX}:memory:"):
        raise ValueError(f"{named} is a database in memory, which nothing can read after the run; name a file, "
                         "e.g. sqlite:///mlflow.db")  # fmt: skip
    if uri.startswith(SQLITE_PREFIX):
        database = _database_file(uri) or Path()
        if database.is_dir():
            raise ValueError(f"{named} names the folder {database}, not a database file")
        if not database.parent.is_dir():
            raise ValueError(f"{named}: the folder {database.parent} does not exist")
        if database.is_file() and not _is_sqlite(database):
            raise ValueError(f"{named} names {database}, which is not an SQLite database; name a new file or "
                             "an MLflow database")  # fmt: skip
        if database.is_file() and not _is_mlflow_database(database):
            raise ValueError(f"{named} names {database}, an SQLite database without MLflow's tables (another "
                             "program's?), which MLflow would add its tables to; name a new file or an MLflow "
                             "database")  # fmt: skip
        # SQLite writes a journal beside the database as it logs
        if problem := unwritable(database) or (database.is_file() and unwritable(database.parent)):
            raise ValueError(f"{named}: {problem}")
    elif urlparse(uri).scheme not in ("http", "https") and importlib.util.find_spec("mlflow"):
        _check_opens(named, uri)


def _is_mlflow_database(path: Path) -> bool:
    """Whether the SQLite database at ``path`` is MLflow's, or holds no table yet (MLflow makes its own in it)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as database:
            tables = {name for (name,) in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as error:
        raise ValueError(f"{path} cannot be read as an SQLite database ({error})") from None
    return not tables or "experiments" in tables


def _is_sqlite(path: Path) -> bool:
    """Whether ``path`` is an SQLite database (its header), or an empty file, which SQLite makes one of; a file
    that cannot be read is refused as such."""
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise ValueError(f"{path} cannot be read ({error.strerror or error})") from None
    return head in (b"", SQLITE_HEADER)


def _check_opens(named: str, uri: str) -> None:
    """Refuse a store MLflow will not open (a folder store without MLFLOW_ALLOW_FILE_STORE, an unknown scheme)
    before training, where MLflow itself would refuse it when the run is logged."""
    import mlflow

    try:
        mlflow.MlflowClient(uri)
    except Exception as error:  # MLflow's refusals come as several kinds of exception
        raise ValueError(f"MLflow cannot log to {named}: {str(error).strip().splitlines()[0]}") from None


@dataclass(frozen=True)
class _Handover:
    """An MLflow run the callback opened and closed, for the reporter of the same dimred run to finish."""

    run_id: str
    tracking_uri: str
    experiment: str
    streamed_all: bool  # every loss reached MLflow (else the reporter logs the history again)


# The callback's runs waiting for their reporter, by the dimred run's run_key (a run without the reporter leaves
# its entry, which no later run's key matches).
_PENDING: dict[str, _Handover] = {}
# The MLflow runs the callback has open while a model trains, with a client of their store.
_OPEN: dict[str, Any] = {}
# The MLflow runs the reporter finished, (tracking URI, experiment id, run id, the dimred run's own name) by the
# dimred run's run_key, for the parent run of a comparison to gather (taken then; a run outside a comparison leaves
# its entry).
_REPORTED: dict[str, tuple[str, str, str, str]] = {}


def _silence(uri: str) -> str | None:
    """Why the tracking server at ``uri`` does not answer, or None: one over HTTP must accept a connection within
    seconds, where MLflow itself retries for minutes while the user waits. Other stores are files."""
    address = urlparse(uri)
    if address.scheme not in ("http", "https") or not address.hostname:
        return None
    if address.scheme in getproxies() and not proxy_bypass(address.hostname):
        return None  # reached through a proxy, as MLflow's requests are: a direct connection says nothing
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        socket.create_connection((address.hostname, port), timeout=ANSWER_SECONDS).close()
    except OSError as error:
        return f"the MLflow tracking server at {uri} does not answer ({error.strerror or error})"
    return None


def _client(mlflow: Any, uri: str) -> Any:
    """A client of the store at ``uri``, once a tracking server there answers."""
    _check_answers(uri)
    return mlflow.MlflowClient(uri)


def _check_answers(uri: str) -> None:
    if problem := _silence(uri):
        raise DimredError(f"{problem}; start it, or log to a database file with tracking_uri=sqlite:///mlflow.db")


class _Streamer:
    """Sends the callback's losses to MLflow from a thread of its own, so that training never waits for the
    tracking store, and the end of training waits for it only so long: a daemon thread, so a store that stopped
    answering holds up neither the run nor the end of the process."""

    def __init__(self, client: Any, run_id: str) -> None:
        self._client, self._run_id = client, run_id
        self._batches: queue.Queue[list[Any] | None] = queue.Queue()
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._send, name="dimred-mlflow", daemon=True)
        self._thread.start()

    def put(self, metrics: list[Any]) -> None:
        if self.error is None:
            self._batches.put(metrics)

    def _send(self) -> None:
        while (metrics := self._batches.get()) is not None:
            if self.error is None:
                try:
                    self._client.log_batch(self._run_id, metrics=metrics)
                except Exception as error:  # the store failed: the losses after this are dropped, and said so
                    self.error = error

    def close(self, seconds: float = STREAM_WAIT_SECONDS) -> bool:
        """True when every queued batch reached MLflow within ``seconds``."""
        self._batches.put(None)
        self._thread.join(seconds)
        return self.error is None and not self._thread.is_alive()


def _require_mlflow(who: str) -> None:
    """Fail early, with the install command, when MLflow is missing (checked without importing it)."""
    if importlib.util.find_spec("mlflow") is None:
        raise UsageError(f"the {who} needs MLflow: pip install 'dimred[mlflow]'")


def _mlflow(who: str) -> Any:
    try:
        import mlflow
    except ImportError as error:
        raise UsageError(f"the {who} needs MLflow: pip install 'dimred[mlflow]' ({error})") from None
    return mlflow


def _same_store(uri: str | None, other: str | None) -> bool:
    """Whether two tracking URIs name one store: an SQLite database however its path is written (relative to
    the folder dimred runs in, as SQLAlchemy reads it, or absolute), other stores as the same text."""
    return _store_key(uri) == _store_key(other)


def _same_option(name: str, value: Any, other: Any) -> bool:
    """Whether two values of an mlflow option agree: tracking URIs as the stores they name, the others as given."""
    return _same_store(value, other) if name == "tracking_uri" else value == other


def _store_key(uri: str | None) -> str | None:
    """What tells stores apart (never opened): an SQLite database's resolved path, else the URI itself."""
    database = _database_file(uri)
    return uri if database is None else f"sqlite:{database.resolve()}"


def _database_file(uri: str | None) -> Path | None:
    """The file of an SQLite store's URI, as SQLAlchemy reads it (its path unquoted, a query string left out);
    None for other stores and a database in memory."""
    if uri is None or not uri.startswith(SQLITE_PREFIX):
        return None
    path = unquote(uri.removeprefix(SQLITE_PREFIX).partition("?")[0])
    return None if path in ("", ":memory:") else Path(path)


def _store(mlflow: Any, options: MLflowOptions) -> str:
    """The tracking store a run logs to: the option's, else MLflow's current one (MLFLOW_TRACKING_URI, or what a
    notebook set with ``mlflow.set_tracking_uri``)."""
    return options.tracking_uri or mlflow.get_tracking_uri()


def _start(mlflow: Any, options: MLflowOptions, run_name: str | None, tags: dict[str, str]) -> tuple[Any, Any]:
    """A new MLflow run where ``options`` say (``_store``, ``_experiment_id``), and a client of its store. It is
    made through that client, so the caller's MLflow state (tracking URI, active run, experiment) stays as it
    was."""
    uri = _store(mlflow, options)
    client = _client(mlflow, uri)
    experiment_id = _experiment_id(client, options, *_nesting(mlflow, uri))
    return client, _create(mlflow, client, experiment_id, options.run_name or run_name, tags)


def _nesting(mlflow: Any, uri: str) -> tuple[Any, bool]:
    """The caller's active run a new run in the store at ``uri`` may nest in (None where there is none or it is
    in another store), and whether that store is MLflow's current one."""
    same_store = _same_store(uri, mlflow.get_tracking_uri())
    return (mlflow.active_run() if same_store else None), same_store


def _create(mlflow: Any, client: Any, experiment_id: str, run_name: str | None, tags: dict[str, str]) -> Any:
    """A new run of ``client``'s store in ``experiment_id``, nested in the caller's active run where that run is
    in the same store and experiment (else said, where there is one)."""
    from mlflow.tracking.context.registry import resolve_tags

    parent = mlflow.active_run()
    if parent is not None:
        if _same_store(client.tracking_uri, mlflow.get_tracking_uri()) and experiment_id == parent.info.experiment_id:
            tags = tags | {"mlflow.parentRunId": parent.info.run_id}
        else:
            warnings.warn(f"the dimred run logs to experiment {experiment_id} of {client.tracking_uri}, not where "
                          f"the active MLflow run {parent.info.run_id} is: it is not nested in that run",
                          stacklevel=4)  # fmt: skip
    return client.create_run(experiment_id, run_name=run_name, tags=resolve_tags(tags))


def _experiment_id(client: Any, options: MLflowOptions, parent: Any, same_store: bool) -> str:
    """The experiment a new run goes to: the option's, else the one of the active run it nests in, else (in
    MLflow's current store) the one a notebook set with ``mlflow.set_experiment`` or MLFLOW_EXPERIMENT_ID names,
    else the one MLFLOW_EXPERIMENT_NAME names, else MLflow's default experiment."""
    from mlflow.tracking.default_experiment import DEFAULT_EXPERIMENT_ID

    name = _experiment_name(options, parent, same_store)
    if name is not None:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            return client.create_experiment(name)
        _refuse_deleted(client, experiment)
        return experiment.experiment_id
    if parent is not None:
        return parent.info.experiment_id
    return _environment_experiment_id(same_store) or DEFAULT_EXPERIMENT_ID


def _experiment_name(options: MLflowOptions, parent: Any, same_store: bool) -> str | None:
    """The name that chooses a new run's experiment, where a name does: the option's, else MLFLOW_EXPERIMENT_NAME
    where neither the active run it nests in nor MLFLOW_EXPERIMENT_ID chooses it."""
    if options.experiment:
        return options.experiment
    if parent is not None or _environment_experiment_id(same_store):
        return None
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or None


def _environment_experiment_id(same_store: bool) -> str | None:
    """MLFLOW_EXPERIMENT_ID (``mlflow.set_experiment`` sets it), which holds in MLflow's current store only."""
    return (os.environ.get("MLFLOW_EXPERIMENT_ID") or None) if same_store else None


def _refuse_deleted(client: Any, experiment: Any) -> None:
    """MLflow keeps a deleted experiment's name, and takes no run in it."""
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        raise UsageError(f"MLflow experiment {experiment.name!r} is deleted in {client.tracking_uri}: restore it "
                         f"(mlflow experiments restore --experiment-id {experiment.experiment_id}) or name another "
                         "experiment")  # fmt: skip


def _existing_store(uri: str) -> bool:
    """Whether the store at ``uri`` exists already: an SQLite database is made by opening it."""
    database = _database_file(uri)
    return database is None or database.exists()


def _end_stale() -> None:
    """End an MLflow run the callback left open (its process was killed before on_fit_failed could end it)."""
    while _OPEN:
        run_id, client = _OPEN.popitem()
        with contextlib.suppress(Exception):  # a store gone since: the new run goes on all the same
            _terminate(client, run_id, "FAILED")


def _check_before_training(kind: str, options: MLflowOptions, resumed_run: str | None = None) -> None:
    """Refuse what MLflow would refuse only when the run is logged, after training, or as training starts in a
    run folder already taken: the store a run logs to without ``tracking_uri`` (that one was checked as it was
    given), a deleted experiment, and on resume (``resumed_run``: the MLflow run it logged to) a run no longer in
    the store or in another experiment than ``options`` name. ``kind``: the plugin's, callback or reporter."""
    mlflow = _mlflow(f"mlflow {kind}")
    uri = _store(mlflow, options)
    if not options.tracking_uri:
        from_environment = " (MLFLOW_TRACKING_URI)" if os.environ.get("MLFLOW_TRACKING_URI") == uri else ""
        try:
            _check_store(uri, f"MLflow's tracking store {uri}{from_environment}")
        except ValueError as error:
            raise UsageError(f"the mlflow {kind} cannot log: {error}; or set {kind}.mlflow.tracking_uri") from None
    if resumed_run is not None:
        _resumed_run_client(mlflow, options, resumed_run)
        return
    name = _experiment_name(options, *_nesting(mlflow, uri))
    if name is not None and _existing_store(uri):  # else chosen by id: the notebook's, the active run's
        client = _client(mlflow, uri)
        _refuse_deleted(client, client.get_experiment_by_name(name))


def _reopen(mlflow: Any, options: MLflowOptions, run_id: str) -> tuple[Any, Any]:
    """The MLflow run a resumed dimred run logged to, running again (under ``options``' run name, where set)."""
    client = _resumed_run_client(mlflow, options, run_id)
    client.update_run(run_id, status="RUNNING", name=options.run_name)
    return client, client.get_run(run_id)


def _resumed_run_client(mlflow: Any, options: MLflowOptions, run_id: str) -> Any:
    """A client of the store the MLflow run ``run_id`` of a resumed dimred run is in; a run the store does not
    hold, or in another experiment than ``options`` name, is refused."""
    from mlflow.exceptions import MlflowException

    uri = _store(mlflow, options)
    if not _existing_store(uri):
        raise _not_in_store(run_id, uri, "no database file is there")
    client = _client(mlflow, uri)
    try:
        experiment = client.get_experiment(client.get_run(run_id).info.experiment_id).name
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise _not_in_store(run_id, uri, str(error).splitlines()[0]) from None
    if options.experiment not in (None, experiment):  # checked before training, not when the reporter finishes
        raise UsageError(f"mlflow's experiment is {options.experiment!r}, but the MLflow run {run_id} this run "
                         f"logged to is in {experiment!r} (a resumed run goes on where it started): leave the "
                         f"experiment out, or name {experiment!r}")  # fmt: skip
    return client


def _not_in_store(run_id: str, uri: str, why: str) -> DimredError:
    return DimredError(f"the MLflow run {run_id} this run logged to is not in the store at {uri} ({why}); resume "
                       "with the store it started with, as it was (tracking_uri, MLFLOW_TRACKING_URI), or start "
                       "the run again with --overwrite")  # fmt: skip


def _terminate(client: Any, run_id: str, status: str) -> None:
    """End an MLflow run. MLflow writes links to it on stdout, where a tracking server serves it: they go to stderr,
    with dimred's other messages, not among a command's results."""
    with contextlib.redirect_stdout(sys.stderr):
        client.set_terminated(run_id, status)


def _let_go(client: Any, run_id: str) -> None:
    """Mark the run failed without waiting on a server that does not answer: one try, with no retries and a short
    timeout (MLflow itself retries for minutes)."""
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(ANSWER_SECONDS))}
    before = {name: os.environ.get(name) for name in quick}
    os.environ.update(quick)
    try:  # the call failing is expected
        with contextlib.suppress(Exception):
            _terminate(client, run_id, "FAILED")
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _last_step(client: Any, run_id: str) -> int:
    """The last training step the run has losses of (0: none), so that a resumed run logs each step once."""
    return max((point.step for point in client.get_metric_history(run_id, "loss")), default=0)


def _numbers(row: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, float]:
    """The finite numbers of a row (metrics.json's lists, strings and nulls are left out)."""
    values = {}
    for key, value in row.items():
        if key in skip or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            values[key] = float(value)
    return values


def _loggable(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics under names MLflow takes (a metric plugin may name its values otherwise, "precision@10"): one
    refused name would lose the whole batch, and the artifacts logged after it."""
    refused = [name for name in metrics if not _takes_name(name)]
    if refused:
        warnings.warn(f"MLflow: not logged: {', '.join(refused)}; MLflow takes metric names of up to "
                      f"{MAX_NAME_LENGTH} letters, digits, spaces and _ - . : / only, and no path parts such as "
                      "'..'", stacklevel=3)  # fmt: skip
    return {name: value for name, value in metrics.items() if name not in refused}


def _takes_name(name: str) -> bool:
    """Whether MLflow takes ``name`` for a metric (as its own validation rules are written)."""
    path = posixpath.normpath(name)
    return (len(name) <= MAX_NAME_LENGTH and bool(MLFLOW_NAME.fullmatch(name)) and path == name and path != "."
            and not path.startswith(("..", "/")))  # fmt: skip


def _flatten(config: Any, prefix: str = "") -> dict[str, str]:
    """config.json as MLflow parameters: nested keys joined with dots, lists as JSON, unset values left out."""
    if config is None:
        return {}
    if isinstance(config, dict):
        flat: dict[str, str] = {}
        for key, value in config.items():
            flat |= _flatten(value, f"{prefix}{key}.")
        return flat
    text = json.dumps(config) if isinstance(config, list | tuple) else str(config)
    return {prefix.rstrip("."): text[:MAX_PARAM_LENGTH]}


class MLflowCallback(Callback):
    """Opens the MLflow run when training starts, logs the run's configuration as parameters and the losses at
    every logging interval, and closes it when training ends (the ``mlflow`` reporter reopens it to add the
    results)."""

    name = "mlflow"
    description = "logs the losses to MLflow while training (with --reporter mlflow: the results too)"
    Options = MLflowOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        _require_mlflow("mlflow callback")
        self.run_id: str | None = None

    def check_run(self, config: Mapping[str, Any]) -> None:
        """The mlflow reporter of the same run must not name another store, experiment or run name; the
        store and experiment must take the run (``_check_before_training``) before its folder is taken."""
        options = _with_partners_options(self.options, config, "callback")
        _check_before_training("callback", options, self.run_id)

    def on_fit_start(self, training: Training) -> None:
        if not training.is_main:
            return
        mlflow = _mlflow("mlflow callback")
        _end_stale()
        options = _with_partners_options(self.options, training.config, "callback")
        directory = training.directory
        if self.run_id is not None:  # a resumed dimred run continues its MLflow run
            self._client, active = _reopen(mlflow, options, self.run_id)
        else:
            name = training.run_name
            names = (training.config.get(part, {}).get("name") for part in ("dataset", "model"))
            self._client, active = _start(mlflow, options, name, _tags(*names, directory))
        self.run_id = active.info.run_id
        self._logged_up_to = _last_step(self._client, self.run_id)
        experiment = self._client.get_experiment(active.info.experiment_id).name
        self._place = (self._client.tracking_uri, experiment)
        self._streamer = _Streamer(self._client, self.run_id)
        _OPEN[self.run_id] = self._client
        settings = {f"training.{key}": value for key, value in training.settings.record().items() if value is not None}
        settings |= {"training.total_steps": training.total_steps, "training.n_samples": training.n_samples}
        _log_params(self._client, self.run_id, _flatten(dict(training.config)) | _flatten(settings))

    def on_interval(self, training: Training, status: TrainingStatus) -> None:
        if self.run_id is None or not training.is_main or status.step <= self._logged_up_to:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        row = _numbers(status.history_row(), ("step",))
        self._streamer.put([Metric(key, value, now, status.step) for key, value in row.items()])

    def on_fit_end(self, training: Training) -> None:
        if self.run_id is None or not training.is_main:
            return
        _OPEN.pop(self.run_id, None)
        problem = _silence(self._client.tracking_uri)
        wait = ANSWER_SECONDS if problem else STREAM_WAIT_SECONDS
        streamed_all = self._streamer.close(wait)
        if not streamed_all:
            why = self._streamer.error or f"still sending after {wait:g} s"
            warnings.warn(f"MLflow did not take all of the losses of run {self.run_id} ({why}); the dimred run "
                          "goes on, and its own history (history.csv) holds them", stacklevel=2)  # fmt: skip
        if problem:  # the model is saved all the same; the reporter fails, by name
            warnings.warn(f"{problem}: MLflow run {self.run_id} is left unfinished", stacklevel=2)
            _let_go(self._client, self.run_id)
            return
        try:
            _terminate(self._client, self.run_id, "FINISHED")
        except Exception as error:  # a store that answers but fails: never at the cost of the trained model
            warnings.warn(f"MLflow could not end run {self.run_id}: {str(error).splitlines()[0]}", stacklevel=2)
            return
        _PENDING[training.run_key] = _Handover(self.run_id, *self._place, streamed_all)

    def on_fit_failed(self, training: Training, error: BaseException) -> None:
        """The MLflow run ends as FAILED (KILLED when interrupted), so that it never shows as finished."""
        if self.run_id not in _OPEN or not training.is_main:  # never opened in this process (a resume's restored id)
            return
        client = _OPEN.pop(self.run_id)
        self._streamer.close(ANSWER_SECONDS)  # the losses so far, if MLflow takes them at once
        if _silence(client.tracking_uri):  # the run failed anyway: not a minute more on its MLflow run
            _let_go(client, self.run_id)
            return
        _terminate(client, self.run_id, "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state.get("run_id")


def _with_partners_options(options: MLflowOptions, config: Mapping[str, Any], mine: str) -> MLflowOptions:
    """The options of the mlflow plugin of kind ``mine`` (callback or reporter), with those its partner of the
    other kind in the same run sets where it leaves them unset: the two log one MLflow run. Where they set one
    otherwise, it is refused (by the callback's ``check_run``, before the run starts)."""
    partner = "reporter" if mine == "callback" else "callback"
    theirs = next((dict(plugin.get("options", {})) for plugin in config.get(f"{partner}s", [])
                   if plugin.get("name") == MLflowCallback.name), {})  # fmt: skip
    merged = {}
    for name in ("tracking_uri", "experiment", "run_name"):
        own, other = getattr(options, name), theirs.get(name)
        if None not in (own, other) and not _same_option(name, own, other):
            callback, reporter = (own, other) if mine == "callback" else (other, own)
            raise UsageError(f"callback.mlflow.{name} is {callback!r} and reporter.mlflow.{name} {reporter!r}: the "
                             f"two log one MLflow run, so set {name} once")  # fmt: skip
        merged[name] = other if own is None else own
    return options if merged == dataclasses.asdict(options) else MLflowOptions(**merged)


def _tags(dataset: str | None, model: str | None, directory: Path | None) -> dict[str, str]:
    """What a run is tagged with: its data set, model and folder, where known."""
    named = {"dimred.dataset": dataset, "dimred.model": model}
    return {tag: name for tag, name in named.items() if name} | _folder_tag(directory)


def _folder_tag(directory: Path | None) -> dict[str, str]:
    return {} if directory is None else {DIRECTORY_TAG: str(Path(directory).resolve())}


def _check_same_place(options: MLflowOptions, pending: _Handover) -> None:
    """The reporter finishes the callback's MLflow run where the callback opened it: the reporter's store and
    experiment, where set, must be the ones that run is in."""
    for name in ("tracking_uri", "experiment"):
        mine, callbacks = getattr(options, name), getattr(pending, name)
        if mine is not None and not _same_option(name, mine, callbacks):
            raise UsageError(f"reporter.mlflow.{name} is {mine!r}, but the mlflow callback opened this run with "
                             f"{callbacks!r} (a resumed run goes on where it started): the reporter finishes the "
                             "callback's run")  # fmt: skip


def _log_params(client: Any, run_id: str, params: dict[str, str]) -> None:
    """Log the parameters the run does not have yet (MLflow refuses to change a logged parameter)."""
    from mlflow.entities import Param

    logged = client.get_run(run_id).data.params
    new = [Param(key, value) for key, value in params.items() if key not in logged]
    for start in range(0, len(new), 100):  # MLflow takes at most 100 parameters per batch
        client.log_batch(run_id, params=new[start : start + 100])


class MLflowReporter(Reporter):
    """Logs a finished run to MLflow and ends the MLflow run: the resolved configuration as parameters, the loss
    history (unless the ``mlflow`` callback streamed it), the final metrics, and the run directory's files as
    artifacts. Name it after the reporters whose files it should upload."""

    name = "mlflow"
    description = "logs the run to MLflow: configuration, loss history, metrics, model and plots as artifacts"
    Options = MLflowOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        _require_mlflow("mlflow reporter")

    def check_run(self, config: Mapping[str, Any]) -> None:
        """The store and experiment must take the run before it trains (``_check_before_training``); with the
        callback, which logs to the same MLflow run, the callback checks them."""
        if not any(plugin.get("name") == MLflowCallback.name for plugin in config.get("callbacks", [])):
            _check_before_training("reporter", _with_partners_options(self.options, config, "reporter"))

    def report(self, run: RunRecord) -> None:
        mlflow = _mlflow("mlflow reporter")
        pending = _PENDING.pop(run.run_key, None)
        if pending is not None:  # the callback's run: reopened where the callback logged it
            _check_same_place(self.options, pending)
            client, run_id = _client(mlflow, pending.tracking_uri), pending.run_id
            client.update_run(run_id, status="RUNNING")
            experiment_id = client.get_run(run_id).info.experiment_id
        else:
            options = _with_partners_options(self.options, run.config, "reporter")  # a one-call model's run
            client, active = _start(mlflow, options, run.run_name, _tags(run.dataset, run.model, run.directory))
            run_id, experiment_id = active.info.run_id, active.info.experiment_id
        try:
            self._log(client, run, run_id, history=pending is None or not pending.streamed_all)
        except BaseException:
            _terminate(client, run_id, "FAILED")
            raise
        _terminate(client, run_id, "FINISHED")
        _REPORTED[run.run_key] = (client.tracking_uri, experiment_id, run_id, run.run_name)
        experiment = client.get_experiment(experiment_id)
        run.echo(f"MLflow: run {run_id} in experiment '{experiment.name}' ({client.tracking_uri})")

    def report_comparison(self, comparison: ComparisonRecord) -> None:
        """One MLflow run for the comparison, where its runs were logged (the store and experiment most of them
        are in), with those runs nested inside (MLflow nests by a tag, set once they exist) and the comparison's
        files (table, figures, explorer) as artifacts."""
        mlflow = _mlflow("mlflow reporter")
        logged = [_REPORTED.pop(key) for key in comparison.run_keys if key in _REPORTED]
        if not logged:
            return
        tracking_uri, experiment_id = collections.Counter(place[:2] for place in logged).most_common(1)[0][0]
        client = _client(mlflow, tracking_uri)
        default = f"compare-{comparison.dataset}" if comparison.directory is None else Path(comparison.directory).name
        tags = {"dimred.dataset": comparison.dataset, "dimred.comparison": ", ".join(comparison.codes)}
        if comparison.failed:  # their runs logged nothing: the comparison's run says they failed, and why
            failures = "; ".join(f"{model}: {error}" for model, error in comparison.failed.items())
            tags[FAILED_TAG] = failures[:MAX_TAG_LENGTH]
        # run_name names the comparison; its runs, which took it too, keep their own names to be told apart
        name = self.options.run_name or default
        run_id = _create(mlflow, client, experiment_id, name, tags | _folder_tag(comparison.directory)).info.run_id
        place = (tracking_uri, experiment_id)
        children = [(child, own) for uri, experiment, child, own in logged if (uri, experiment) == place]
        try:
            for child, own in children:
                client.set_tag(child, "mlflow.parentRunId", run_id)
                if self.options.run_name:
                    client.set_tag(child, "mlflow.runName", own)
            models = json.dumps(list(comparison.codes))
            _log_params(client, run_id, {"dataset.name": comparison.dataset, "models": models,
                                         "runs": str(len(children))})  # fmt: skip
            for path in comparison.kept_files():
                client.log_artifact(run_id, os.fspath(path))
        except BaseException:
            _terminate(client, run_id, "FAILED")
            raise
        _terminate(client, run_id, "FINISHED")
        elsewhere = (
            f"; {len(logged) - len(children)} logged elsewhere stay apart" if len(children) < len(logged) else ""
        )
        comparison.echo(f"MLflow: comparison run {run_id} with {len(children)} runs nested ({tracking_uri}){elsewhere}")

    def _log(self, client: Any, run: RunRecord, run_id: str, *, history: bool) -> None:
        from mlflow.entities import Metric

        _log_params(client, run_id, _flatten(dict(run.config) or _minimal(run)))
        client.set_tag(run_id, "dimred.dataset", run.dataset)
        client.set_tag(run_id, "dimred.model", run.model)
        last_step = int(run.history[-1]["step"]) if run.history else 0
        now = int(time.time() * 1000)
        if history and run.history:
            logged_up_to = _last_step(client, run_id)  # a resumed run's MLflow run has the steps before
            metrics = [Metric(key, value, now, int(row["step"])) for row in run.history if row["step"] > logged_up_to
                       for key, value in _numbers(row, skip=("step",)).items()]  # fmt: skip
            for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
                client.log_batch(run_id, metrics=metrics[start : start + 1000])
        final = [Metric(key, value, now, last_step) for key, value in _loggable(_numbers(run.metrics)).items()]
        if final:
            client.log_batch(run_id, metrics=final)
        for path in run.kept_files():
            client.log_artifact(run_id, os.fspath(path))


def _minimal(run: RunRecord) -> dict[str, Any]:
    """What a run made without a recorded configuration (a plugin's own RunRecord) is known by."""
    return {"dataset": {"name": run.dataset}, "model": {"name": run.model}}


@hookimpl
def register_callbacks(register):
    register(MLflowCallback)


@hookimpl
def register_reporters(register):
    register(MLflowReporter)
