"""MLflow tracking: a callback that logs the losses while a model trains and a reporter that logs the results.

``--reporter mlflow`` alone makes one MLflow run per dimred run at the end: the resolved configuration as
parameters, the loss history (one step per logging interval), the final metrics, and the run directory's files
(model, config, metrics, history, plots) as artifacts. Adding ``--callback mlflow`` opens that MLflow run when
training starts and streams the losses as they come, so a tracking server shows a run in progress; the reporter
then finishes the same run. When an MLflow run is already active (a notebook's ``with mlflow.start_run():``
around ``dimred.run`` or ``dimred.compare``), each dimred run becomes a nested run inside it.

MLflow is optional (``pip install 'dimred[mlflow]'``) and imported only when a run uses these plugins.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import queue
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import getproxies, proxy_bypass

from dimred.plugin import (
    Callback,
    DimredError,
    Reporter,
    RunRecord,
    Training,
    TrainingStatus,
    UsageError,
    hookimpl,
    option,
)

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter's value
DIRECTORY_TAG = "dimred.directory"
SQLITE_PREFIX = "sqlite:///"  # then the database's path: relative, or absolute with a fourth slash
ANSWER_SECONDS = 5.0  # how long a tracking server has to accept a connection (MLflow itself retries for minutes)
STREAM_WAIT_SECONDS = 30.0  # how long the end of training waits for MLflow to take the losses still queued


@dataclass(frozen=True)
class MLflowOptions:
    tracking_uri: str | None = option(
        None, "where to log, e.g. sqlite:///mlflow.db or http://host:5000 [default: MLFLOW_TRACKING_URI or MLflow's]"
    )
    experiment: str | None = option(None, "experiment name [default: MLFLOW_EXPERIMENT_NAME or MLflow's default]")
    run_name: str | None = option(None, "MLflow run name [default: the run directory's name]")

    def __post_init__(self) -> None:
        """An SQLite store MLflow cannot open, or a tracking server that does not answer, given here or in
        MLFLOW_TRACKING_URI, is refused before training (MLflow itself retries for minutes)."""
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if problem := _silence(uri):
            raise ValueError(f"{problem}; start it, or log to a database file with tracking_uri=sqlite:///mlflow.db")
        if uri.startswith(SQLITE_PREFIX):
            named = uri if self.tracking_uri else f"MLFLOW_TRACKING_URI={uri}"
            database = Path(unquote(uri.removeprefix(SQLITE_PREFIX)))  # as SQLAlchemy reads it
            if database.is_dir():
                raise ValueError(f"{named} names the folder {database}, not a database file")
            if not database.parent.is_dir():
                raise ValueError(f"{named}: the folder {database.parent} does not exist")


@dataclass(frozen=True)
class _Handover:
    """An MLflow run the callback opened and closed, for the reporter of the same dimred run to finish."""

    run_id: str
    tracking_uri: str
    experiment: str
    run_name: str
    named_by_user: bool  # else the reporter names the run after the dataset and model where it has no folder
    streamed_all: bool  # every loss reached MLflow (else the reporter logs the history again)


# The callback's runs waiting for their reporter, by the dimred run's run_key (a run without the reporter leaves
# its entry, which no later run's key matches).
_PENDING: dict[str, _Handover] = {}
# The MLflow runs the callback has open while a model trains.
_OPEN: list[str] = []


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


def _start(mlflow: Any, options: MLflowOptions, run_name: str | None, directory: Path | None) -> Any:
    """A new MLflow run, nested when another one (not dimred's) is active."""
    if options.tracking_uri:
        mlflow.set_tracking_uri(options.tracking_uri)
    _check_answers(mlflow.get_tracking_uri())
    experiment_id = None
    if options.experiment:
        experiment = mlflow.get_experiment_by_name(options.experiment)
        experiment_id = experiment.experiment_id if experiment else mlflow.create_experiment(options.experiment)
    tags = {} if directory is None else {DIRECTORY_TAG: str(Path(directory).resolve())}
    return mlflow.start_run(experiment_id=experiment_id, run_name=options.run_name or run_name, tags=tags,
                            nested=mlflow.active_run() is not None)  # fmt: skip


def _end_stale(mlflow: Any) -> None:
    """End an MLflow run the callback left open (its process was killed before on_fit_failed could end it)."""
    while _OPEN:
        _terminate(mlflow, _OPEN.pop(), "FAILED")


def _terminate(mlflow: Any, run_id: str, status: str) -> None:
    """End the MLflow run: as the active run where it is (so that the run around it is active again)."""
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status)
    else:
        mlflow.MlflowClient().set_terminated(run_id, status)


def _reopen(mlflow: Any, run_id: str) -> Any:
    """The MLflow run a resumed dimred run logged to, active again; one the store does not hold is named."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise DimredError(f"the MLflow run {run_id} this run logged to is not in the store at "
                          f"{mlflow.get_tracking_uri()} ({str(error).splitlines()[0]}); resume with the store it "
                          "started with (tracking_uri, MLFLOW_TRACKING_URI), or leave MLflow out: --callback "
                          "no-mlflow") from None  # fmt: skip


def _let_go(mlflow: Any, run_id: str) -> None:
    """Stop treating the run as active without waiting on a server that does not answer: MLflow would otherwise
    end it when the process exits, retrying for minutes. One try, with no retries and a short timeout."""
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(ANSWER_SECONDS))}
    before = {name: os.environ.get(name) for name in quick}
    os.environ.update(quick)
    try:  # the fluent end_run forgets the active run before it calls out; the call failing is expected
        with contextlib.suppress(Exception):
            _terminate(mlflow, run_id, "FAILED")
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _numbers(row: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, float]:
    """The finite numbers of a row (metrics.json's lists, strings and nulls are left out)."""
    values = {}
    for key, value in row.items():
        if key in skip or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            values[key] = float(value)
    return values


def _flatten(config: Any, prefix: str = "") -> dict[str, str]:
    """config.json as MLflow parameters: nested keys joined with dots, lists as JSON."""
    if isinstance(config, dict):
        flat: dict[str, str] = {}
        for key, value in config.items():
            flat |= _flatten(value, f"{prefix}{key}.")
        return flat
    text = json.dumps(config) if isinstance(config, list | tuple) else str(config)
    return {prefix.rstrip("."): text[:MAX_PARAM_LENGTH]}


class MLflowCallback(Callback):
    """Opens the MLflow run when training starts, logs the training settings as parameters and the losses at every
    logging interval, and closes it when training ends (the ``mlflow`` reporter reopens it to add the results)."""

    name = "mlflow"
    description = "logs the losses to MLflow while training (with --reporter mlflow: the results too)"
    Options = MLflowOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        _require_mlflow("mlflow callback")
        self.run_id: str | None = None
        self.tracking_uri: str | None = None

    def on_fit_start(self, training: Training) -> None:
        if not training.is_main:
            return
        mlflow = _mlflow("mlflow callback")
        _end_stale(mlflow)
        directory = training.directory
        if self.run_id is not None:  # a resumed dimred run continues its MLflow run
            if self.options.tracking_uri:
                mlflow.set_tracking_uri(self.options.tracking_uri)
            _check_answers(mlflow.get_tracking_uri())
            active = _reopen(mlflow, self.run_id)
        else:
            active = _start(mlflow, self.options, None if directory is None else Path(directory).name, directory)
        self.run_id, self.tracking_uri = active.info.run_id, mlflow.get_tracking_uri()
        self._place = (mlflow.get_experiment(active.info.experiment_id).name, active.info.run_name)
        self._streamer = _Streamer(mlflow.MlflowClient(), self.run_id)
        _OPEN.append(self.run_id)
        settings = {f"training.{key}": value for key, value in training.settings.record().items() if value is not None}
        settings |= {"training.total_steps": training.total_steps, "training.n_samples": training.n_samples}
        _log_params(mlflow, self.run_id, _flatten(settings))

    def on_interval(self, training: Training, status: TrainingStatus) -> None:
        if self.run_id is None or not training.is_main:
            return
        from mlflow.entities import Metric

        row = training.history[-1] if training.history and training.history[-1]["step"] == status.step else None
        if row is None:
            row = {"epoch": status.epoch, "loss": status.loss, "lr": status.lr, "seconds": status.seconds}
            if len(status.losses) > 1:
                row |= {f"loss.{name}": value for name, value in status.losses.items()}
        now = int(time.time() * 1000)
        self._streamer.put([Metric(key, value, now, status.step) for key, value in _numbers(row, ("step",)).items()])

    def on_fit_end(self, training: Training) -> None:
        if self.run_id is None or not training.is_main:
            return
        import mlflow

        if self.run_id in _OPEN:
            _OPEN.remove(self.run_id)
        problem = _silence(mlflow.get_tracking_uri())
        wait = ANSWER_SECONDS if problem else STREAM_WAIT_SECONDS
        streamed_all = self._streamer.close(wait)
        if not streamed_all:
            why = self._streamer.error or f"still sending after {wait:g} s"
            warnings.warn(f"MLflow did not take all of the losses of run {self.run_id} ({why}); the dimred run "
                          "goes on, and its own history (history.csv) holds them", stacklevel=2)  # fmt: skip
        if problem:  # the model is saved all the same; the reporter fails, by name
            warnings.warn(f"{problem}: MLflow run {self.run_id} is left unfinished", stacklevel=2)
            _let_go(mlflow, self.run_id)
            return
        try:
            _terminate(mlflow, self.run_id, "FINISHED")
        except Exception as error:  # a store that answers but fails: never at the cost of the trained model
            warnings.warn(f"MLflow could not end run {self.run_id}: {str(error).splitlines()[0]}", stacklevel=2)
            return
        named = self.options.run_name is not None
        _PENDING[training.run_key] = _Handover(self.run_id, self.tracking_uri or mlflow.get_tracking_uri(),
                                               *self._place, named, streamed_all)  # fmt: skip

    def on_fit_failed(self, training: Training, error: BaseException) -> None:
        """The MLflow run ends as FAILED (KILLED when interrupted), so that it neither shows as finished nor stays
        the active run of a notebook's ``with mlflow.start_run():``."""
        if self.run_id not in _OPEN or not training.is_main:  # never opened in this process (a resume's restored id)
            return
        import mlflow

        _OPEN.remove(self.run_id)
        self._streamer.close(ANSWER_SECONDS)  # the losses so far, if MLflow takes them at once
        if _silence(mlflow.get_tracking_uri()):  # the run failed anyway: not a minute more on its MLflow run
            _let_go(mlflow, self.run_id)
            return
        _terminate(mlflow, self.run_id, "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state.get("run_id")


def _check_same_place(options: MLflowOptions, pending: _Handover) -> None:
    """The reporter finishes the callback's MLflow run where the callback opened it: the reporter's options, where
    set, must name the store, experiment and run name that run has."""
    for name in ("tracking_uri", "experiment", "run_name"):
        mine, callbacks = getattr(options, name), getattr(pending, name)
        if mine is not None and mine != callbacks:
            raise UsageError(f"reporter.mlflow.{name} is {mine!r}, but the mlflow callback opened this run with "
                             f"{callbacks!r}: the reporter finishes the callback's run, so set {name} on the "
                             f"callback (callback.mlflow.{name}) only")  # fmt: skip


def _log_params(mlflow: Any, run_id: str, params: dict[str, str]) -> None:
    """Log the parameters the run does not have yet (MLflow refuses to change a logged parameter)."""
    from mlflow.entities import Param

    client = mlflow.MlflowClient()
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

    def report(self, run: RunRecord) -> None:
        mlflow = _mlflow("mlflow reporter")
        pending = _PENDING.pop(run.run_key, None)
        nested = mlflow.active_run() is not None
        default_name = f"{run.dataset}-{run.model}" if run.directory is None else Path(run.directory).name
        if pending is not None:  # the callback's run: reopen it where the callback logged it
            _check_same_place(self.options, pending)
            mlflow.set_tracking_uri(pending.tracking_uri)
            _check_answers(pending.tracking_uri)
            active = mlflow.start_run(run_id=pending.run_id, nested=nested)
            if run.directory is None and not pending.named_by_user:  # the callback knew no name to give
                mlflow.MlflowClient().update_run(pending.run_id, name=default_name)
        else:
            active = _start(mlflow, self.options, default_name, run.directory)
        run_id = active.info.run_id
        try:
            self._log(mlflow, run, run_id, history=pending is None or not pending.streamed_all)
        except BaseException:
            mlflow.end_run("FAILED")
            raise
        mlflow.end_run()
        experiment = mlflow.get_experiment(active.info.experiment_id)
        run.echo(f"MLflow: run {run_id} in experiment '{experiment.name}' ({mlflow.get_tracking_uri()})")

    def _log(self, mlflow: Any, run: RunRecord, run_id: str, *, history: bool) -> None:
        from mlflow.entities import Metric

        config: dict[str, Any] = {"dataset": {"name": run.dataset}, "model": {"name": run.model}}
        config_file = None if run.directory is None else Path(run.directory) / "config.json"
        if config_file is not None and config_file.is_file():
            config = json.loads(config_file.read_text(encoding="utf-8"))
        client = mlflow.MlflowClient()
        _log_params(mlflow, run_id, _flatten(config))
        client.set_tag(run_id, "dimred.dataset", run.dataset)
        client.set_tag(run_id, "dimred.model", run.model)
        last_step = int(run.history[-1]["step"]) if run.history else 0
        now = int(time.time() * 1000)
        if history and run.history:
            metrics = [Metric(key, value, now, int(row["step"]))
                       for row in run.history for key, value in _numbers(row, skip=("step",)).items()]  # fmt: skip
            for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
                client.log_batch(run_id, metrics=metrics[start : start + 1000])
        final = [Metric(key, value, now, last_step) for key, value in _numbers(run.metrics).items()]
        if final:
            client.log_batch(run_id, metrics=final)
        if run.directory is not None:
            for path in sorted(Path(run.directory).iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    client.log_artifact(run_id, os.fspath(path))


@hookimpl
def register_callbacks(register):
    register(MLflowCallback)


@hookimpl
def register_reporters(register):
    register(MLflowReporter)
