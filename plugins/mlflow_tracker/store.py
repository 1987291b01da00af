"""The MLflow store a dimred run logs to: checked before the run trains (MLflow itself finds a store it cannot log
to only when it logs, after the training), and its runs made, reopened and ended through a client of that store,
never through MLflow's fluent state, so the caller's tracking URI and active run stay as they were."""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import getproxies, proxy_bypass

from dimred.plugin import DimredError, UsageError, import_extra, installed, option, require_extra, unwritable

SQLITE_PREFIX = "sqlite:///"  # then the database's path: relative, or absolute with a fourth slash
SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of every SQLite database file
ANSWER_SECONDS = 5.0  # how long a tracking server has to accept a connection (MLflow itself retries for minutes)
MAX_EXPERIMENT_NAME_LENGTH = 500  # and on an experiment's


@dataclass(frozen=True)
class MLflowOptions:
    tracking_uri: str | None = option(
        None, "where to log, e.g. sqlite:///mlflow.db or http://host:5000 [default: MLFLOW_TRACKING_URI or MLflow's]"
    )
    experiment: str | None = option(None, "experiment name [default: MLFLOW_EXPERIMENT_NAME or MLflow's default]")
    run_name: str | None = option(None, "MLflow run name [default: the run directory's name, else DATASET-MODEL-seedN]")

    def __post_init__(self) -> None:
        """A store given here is checked as it is given (``check_store``); the one a run logs to without it
        (MLFLOW_TRACKING_URI, a notebook's, MLflow's default) before training, by ``check_run``."""
        if self.tracking_uri and installed("mlflow"):  # else the plugin refuses, with the install command
            check_store(self.tracking_uri, self.tracking_uri)
        if self.experiment is not None and len(self.experiment) > MAX_EXPERIMENT_NAME_LENGTH:
            raise ValueError(f"experiment is {len(self.experiment)} characters long; MLflow takes names of up to "
                             f"{MAX_EXPERIMENT_NAME_LENGTH}")  # fmt: skip


def check_store(uri: str, named: str) -> None:
    """Refuse a store MLflow cannot log to, ``named`` as the user gave it: an SQLite database it cannot open or
    write, or another program's; a tracking server that does not answer; another store MLflow will not open.
    MLflow itself finds these only when it logs, after the training, some after minutes of retries."""
    if problem := silence(uri):
        raise ValueError(f"{problem}; start it, or log to a database file with tracking_uri=sqlite:///mlflow.db")
    if uri in ("sqlite://", f"{SQLITE_PREFIX}:memory:"):
        raise ValueError(f"{named} is a database in memory, which nothing can read after the run; name a file, "
                         "e.g. sqlite:///mlflow.db")  # fmt: skip
    if uri.startswith(SQLITE_PREFIX):
        database = database_file(uri) or Path()
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
    elif urlparse(uri).scheme not in ("http", "https") and installed("mlflow"):
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


def silence(uri: str) -> str | None:
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


def client_of(mlflow: Any, uri: str) -> Any:
    """A client of the store at ``uri``, once a tracking server there answers or a new database is whole."""
    _check_answers(uri)
    _build_whole(mlflow, uri)
    return mlflow.MlflowClient(uri)


def _build_whole(mlflow: Any, uri: str) -> None:
    """Make a new SQLite store in a folder of its own beside it and link it into place once MLflow has made all its
    tables: it makes and migrates them one by one for about a second, and a run stopped meanwhile had left a
    database every later client refused ("table experiment_tags already exists")."""
    database = database_file(uri)
    if database is None or database.exists():
        return
    place, _, query = uri.partition("?")  # the folder as the URI writes it (quoted, say), and SQLite's options
    with tempfile.TemporaryDirectory(prefix=".mlflow-store-", dir=database.parent) as folder:
        mlflow.MlflowClient(f"{place.rpartition('/')[0]}/{Path(folder).name}/store.db{'?' * bool(query)}{query}")
        # FileExistsError: another run made it meanwhile, and that one is kept; another OSError: the file system
        # links no files (vfat, SMB), and MLflow makes it in place, as it always did
        with contextlib.suppress(OSError):
            os.link(Path(folder, "store.db"), database)


def _check_answers(uri: str) -> None:
    if problem := silence(uri):
        raise DimredError(f"{problem}; start it, or log to a database file with tracking_uri=sqlite:///mlflow.db")


def require_mlflow(who: str) -> None:
    """Fail early, with the install command, when MLflow is missing (checked without importing it)."""
    require_extra("mlflow", needed_by=f"the {who}", extra="mlflow", distribution="MLflow")


def import_mlflow(who: str) -> Any:
    return import_extra("mlflow", needed_by=f"the {who}", extra="mlflow", distribution="MLflow")


def same_store(uri: str | None, other: str | None) -> bool:
    """Whether two tracking URIs name one store: an SQLite database however its path is written (relative to
    the folder dimred runs in, as SQLAlchemy reads it, or absolute), other stores as the same text."""
    return _store_key(uri) == _store_key(other)


def same_option(name: str, value: Any, other: Any) -> bool:
    """Whether two values of an mlflow option agree: tracking URIs as the stores they name, the others as given."""
    return same_store(value, other) if name == "tracking_uri" else value == other


def _store_key(uri: str | None) -> str | None:
    """What tells stores apart (never opened): an SQLite database's resolved path, else the URI itself."""
    database = database_file(uri)
    return uri if database is None else f"sqlite:{database.resolve()}"


def database_file(uri: str | None) -> Path | None:
    """The file of an SQLite store's URI, as SQLAlchemy reads it (its path unquoted, a query string left out);
    None for other stores and a database in memory."""
    if uri is None or not uri.startswith(SQLITE_PREFIX):
        return None
    path = unquote(uri.removeprefix(SQLITE_PREFIX).partition("?")[0])
    return None if path in ("", ":memory:") else Path(path)


def existing_store(uri: str) -> bool:
    """Whether the store at ``uri`` exists already: an SQLite database is made by opening it."""
    database = database_file(uri)
    return database is None or database.exists()


def store_of(mlflow: Any, options: MLflowOptions) -> str:
    """The tracking store a run logs to: the option's, else MLflow's current one (MLFLOW_TRACKING_URI, or what a
    notebook set with ``mlflow.set_tracking_uri``)."""
    return options.tracking_uri or mlflow.get_tracking_uri()


def start_run(mlflow: Any, options: MLflowOptions, run_name: str | None, tags: dict[str, str]) -> tuple[Any, Any]:
    """A new MLflow run where ``options`` say (``store_of``, ``_experiment_id``), and a client of its store. It is
    made through that client, so the caller's MLflow state (tracking URI, active run, experiment) stays as it
    was."""
    uri = store_of(mlflow, options)
    client = client_of(mlflow, uri)
    experiment_id = _experiment_id(client, options, *_nesting(mlflow, uri))
    return client, create_run(mlflow, client, experiment_id, options.run_name or run_name, tags)


def _nesting(mlflow: Any, uri: str) -> tuple[Any, bool]:
    """The caller's active run a new run in the store at ``uri`` may nest in (None where there is none or it is
    in another store), and whether that store is MLflow's current one."""
    current = same_store(uri, mlflow.get_tracking_uri())
    return (mlflow.active_run() if current else None), current


def create_run(mlflow: Any, client: Any, experiment_id: str, run_name: str | None, tags: dict[str, str]) -> Any:
    """A new run of ``client``'s store in ``experiment_id``, nested in the caller's active run where that run is
    in the same store and experiment (else said, where there is one)."""
    from mlflow.tracking.context.registry import resolve_tags

    parent = mlflow.active_run()
    if parent is not None:
        if same_store(client.tracking_uri, mlflow.get_tracking_uri()) and experiment_id == parent.info.experiment_id:
            tags = tags | {"mlflow.parentRunId": parent.info.run_id}
        else:
            warnings.warn(f"the dimred run logs to experiment {experiment_id} of {client.tracking_uri}, not where "
                          f"the active MLflow run {parent.info.run_id} is: it is not nested in that run",
                          stacklevel=4)  # fmt: skip
    return client.create_run(experiment_id, run_name=run_name, tags=resolve_tags(tags))


def _experiment_id(client: Any, options: MLflowOptions, parent: Any, in_current_store: bool) -> str:
    """The experiment a new run goes to: the option's, else the one of the active run it nests in, else (in
    MLflow's current store) the one a notebook set with ``mlflow.set_experiment`` or MLFLOW_EXPERIMENT_ID names,
    else the one MLFLOW_EXPERIMENT_NAME names, else MLflow's default experiment."""
    from mlflow.tracking.default_experiment import DEFAULT_EXPERIMENT_ID

    name = _experiment_name(options, parent, in_current_store)
    if name is not None:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            return client.create_experiment(name)
        _refuse_deleted(client, experiment)
        return experiment.experiment_id
    if parent is not None:
        return parent.info.experiment_id
    return _environment_experiment_id(in_current_store) or DEFAULT_EXPERIMENT_ID


def _experiment_name(options: MLflowOptions, parent: Any, in_current_store: bool) -> str | None:
    """The name that chooses a new run's experiment, where a name does: the option's, else MLFLOW_EXPERIMENT_NAME
    where neither the active run it nests in nor MLFLOW_EXPERIMENT_ID chooses it."""
    if options.experiment:
        return options.experiment
    if parent is not None or _environment_experiment_id(in_current_store):
        return None
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or None


def _environment_experiment_id(in_current_store: bool) -> str | None:
    """MLFLOW_EXPERIMENT_ID (``mlflow.set_experiment`` sets it), which holds in MLflow's current store only."""
    return (os.environ.get("MLFLOW_EXPERIMENT_ID") or None) if in_current_store else None


def _refuse_deleted(client: Any, experiment: Any) -> None:
    """MLflow keeps a deleted experiment's name, and takes no run in it."""
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        raise UsageError(f"MLflow experiment {experiment.name!r} is deleted in {client.tracking_uri}: restore it "
                         f"(MLFLOW_TRACKING_URI={shlex.quote(client.tracking_uri)} mlflow experiments restore "
                         f"--experiment-id {experiment.experiment_id}) or name another experiment")  # fmt: skip


def check_before_training(kind: str, options: MLflowOptions, resumed_run: str | None = None) -> None:
    """Refuse what MLflow would refuse only when the run is logged, after training, or as training starts in a
    run folder already taken: the store a run logs to without ``tracking_uri`` (that one was checked as it was
    given), a deleted experiment, and on resume (``resumed_run``: the MLflow run it logged to) a run no longer in
    the store or in another experiment than ``options`` name. ``kind``: the plugin's, callback or reporter."""
    mlflow = import_mlflow(f"mlflow {kind}")
    uri = store_of(mlflow, options)
    if not options.tracking_uri:
        from_environment = " (MLFLOW_TRACKING_URI)" if os.environ.get("MLFLOW_TRACKING_URI") == uri else ""
        try:
            check_store(uri, f"MLflow's tracking store {uri}{from_environment}")
        except ValueError as error:
            raise UsageError(f"the mlflow {kind} cannot log: {error}; or set {kind}.mlflow.tracking_uri") from None
    if resumed_run is not None:
        _resumed_run_client(mlflow, options, resumed_run)
        return
    name = _experiment_name(options, *_nesting(mlflow, uri))
    if name is not None and existing_store(uri):  # else chosen by id: the notebook's, the active run's
        client = client_of(mlflow, uri)
        _refuse_deleted(client, client.get_experiment_by_name(name))


def reopen_run(mlflow: Any, options: MLflowOptions, run_id: str) -> tuple[Any, Any]:
    """The MLflow run a resumed dimred run logged to, running again (under ``options``' run name, where set)."""
    client = _resumed_run_client(mlflow, options, run_id)
    client.update_run(run_id, status="RUNNING", name=options.run_name)
    return client, client.get_run(run_id)


def _resumed_run_client(mlflow: Any, options: MLflowOptions, run_id: str) -> Any:
    """A client of the store the MLflow run ``run_id`` of a resumed dimred run is in; a run the store does not
    hold, or in another experiment than ``options`` name, is refused."""
    from mlflow.exceptions import MlflowException

    uri = store_of(mlflow, options)
    if not existing_store(uri):
        raise _not_in_store(run_id, uri, "no database file is there")
    client = client_of(mlflow, uri)
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


def terminate(client: Any, run_id: str, status: str) -> None:
    """End an MLflow run. MLflow writes links to it on stdout, where a tracking server serves it: they go to stderr,
    with dimred's other messages, not among a command's results."""
    with contextlib.redirect_stdout(sys.stderr):
        client.set_terminated(run_id, status)


def let_go(client: Any, run_id: str) -> None:
    """Mark the run failed without waiting on a server that does not answer: one try, with no retries and a short
    timeout (MLflow itself retries for minutes)."""
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(ANSWER_SECONDS))}
    before = {name: os.environ.get(name) for name in quick}
    os.environ.update(quick)
    try:  # the call failing is expected
        with contextlib.suppress(Exception):
            terminate(client, run_id, "FAILED")
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def last_logged_step(client: Any, run_id: str) -> int:
    """The last training step the run has losses of (0: none), so that a resumed run logs each step once."""
    return max((point.step for point in client.get_metric_history(run_id, "loss")), default=0)
