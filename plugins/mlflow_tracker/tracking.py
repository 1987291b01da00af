"""The mlflow callback, which logs the losses while a model trains, and the mlflow reporter, which logs the
results; with both, one MLflow run: the callback opens it and hands it over to the reporter to finish."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import math
import os
import posixpath
import queue
import re
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dimred.plugin import Callback, ComparisonRecord, Reporter, RunRecord, Training, TrainingStatus, UsageError

from .store import (
    ANSWER_SECONDS,
    MLflowOptions,
    check_before_training,
    client_of,
    create_run,
    import_mlflow,
    last_logged_step,
    let_go,
    reopen_run,
    require_mlflow,
    same_option,
    silence,
    start_run,
    terminate,
)

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter's value
DIRECTORY_TAG = "dimred.directory"
FAILED_TAG = "dimred.failed"  # a comparison's models that failed, with their errors
MAX_TAG_LENGTH = 5000  # a tag's value, within MLflow's limit (8000 in MLflow 3, lower in older releases)
MLFLOW_NAME = re.compile(r"[/\w.\- ]*" if os.name == "nt" else r"[/\w.\- :]*")  # what MLflow takes in a name
MAX_NAME_LENGTH = 250  # MLflow's limit on a metric's name
STREAM_WAIT_SECONDS = 30.0  # how long the end of training waits for MLflow to take the losses still queued


@dataclass(frozen=True)
class _Handover:
    """An MLflow run the callback opened and closed, for the reporter of the same dimred run to finish."""

    run_id: str
    tracking_uri: str
    experiment: str
    streamed_all: bool  # every loss reached MLflow (else the reporter logs the history again)
    queued_up_to: int  # the last step the callback queued: the reporter logs the history's after it
    unsent: tuple[Any, ...]  # the metrics it queued that MLflow had not taken: the reporter sends them again


# The callback's runs waiting for their reporter, by the dimred run's run_key (a run without the reporter leaves
# its entry, which no later run's key matches).
_PENDING: dict[str, _Handover] = {}


# The MLflow runs the callback has open while a model trains, with a client of their store.
_OPEN: dict[str, Any] = {}


# The MLflow runs the reporter finished, (tracking URI, experiment id, run id, the dimred run's own name) by the
# dimred run's run_key, for the parent run of a comparison to gather (taken then; a run outside a comparison leaves
# its entry).
_REPORTED: dict[str, tuple[str, str, str, str]] = {}


class _Streamer:
    """Sends the callback's losses to MLflow from a thread of its own, so that training never waits for the
    tracking store, and the end of training waits for it only so long: a daemon thread, so a store that stopped
    answering holds up neither the run nor the end of the process."""

    def __init__(self, client: Any, run_id: str, logged_up_to: int) -> None:
        self._client, self._run_id = client, run_id
        self._batches: queue.Queue[list[Any] | None] = queue.Queue()
        self.error: Exception | None = None
        self.queued_up_to = logged_up_to
        # batches queued and not yet taken by MLflow, oldest first: a batch stays here while it is sent
        self._unsent: collections.deque[list[Any]] = collections.deque()
        self._lock = threading.Lock()
        self._given_up = False
        self._thread = threading.Thread(target=self._send, name="dimred-mlflow", daemon=True)
        self._thread.start()

    def put(self, metrics: list[Any]) -> None:
        if self.error is None:
            with self._lock:
                self._unsent.append(metrics)
            self.queued_up_to = max(metric.step for metric in metrics)
            self._batches.put(metrics)

    def _send(self) -> None:
        while (metrics := self._batches.get()) is not None and not self._given_up:
            if self.error is None:
                try:
                    self._client.log_batch(self._run_id, metrics=metrics)
                except Exception as error:  # the store failed: the losses after this are dropped, and said so
                    self.error = error
                    continue
                with self._lock:
                    self._unsent.popleft()

    def unsent(self) -> tuple[Any, ...]:
        """The metrics queued that MLflow has not taken (a batch still being sent among them): sent again as they
        are, the same key, step, value and timestamp, an SQL store keeps one of each where both arrive."""
        with self._lock:
            return tuple(metric for batch in self._unsent for metric in batch)

    def close(self, seconds: float = STREAM_WAIT_SECONDS) -> bool:
        """True when every queued batch reached MLflow within ``seconds``; else the batches not yet sent are
        dropped, for the reporter to send (``unsent``): sent later as well, they had been logged twice."""
        self._batches.put(None)
        self._thread.join(seconds)
        self._given_up = self._thread.is_alive()
        return self.error is None and not self._given_up


def _said(error: BaseException) -> str:
    """The first line of an MLflow error (a store's SQL error goes on with its query), or its type without one."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _end_stale() -> None:
    """End an MLflow run the callback left open (its process was killed before on_fit_failed could end it)."""
    while _OPEN:
        run_id, client = _OPEN.popitem()
        with contextlib.suppress(Exception):  # a store gone since: the new run goes on all the same
            terminate(client, run_id, "FAILED")


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
    description = "logs the losses to MLflow while training (with --reporter mlflow: the results too; dimred[mlflow])"
    Options = MLflowOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        require_mlflow("mlflow callback")
        self.run_id: str | None = None

    def check_run(self, config: Mapping[str, Any]) -> None:
        """The mlflow reporter of the same run must not name another store, experiment or run name; the
        store and experiment must take the run (``check_before_training``) before its folder is taken."""
        options = _with_partners_options(self.options, config, "callback")
        check_before_training("callback", options, self.run_id)

    def on_fit_start(self, training: Training) -> None:
        if not training.is_main:
            return
        mlflow = import_mlflow("mlflow callback")
        _end_stale()
        options = _with_partners_options(self.options, training.config, "callback")
        directory = training.directory
        if self.run_id is not None:  # a resumed dimred run continues its MLflow run
            self._client, active = reopen_run(mlflow, options, self.run_id)
        else:
            name = training.run_name
            names = (training.config.get(part, {}).get("name") for part in ("dataset", "model"))
            self._client, active = start_run(mlflow, options, name, _tags(*names, directory))
        self.run_id = active.info.run_id
        self._logged_up_to = last_logged_step(self._client, self.run_id)
        experiment = self._client.get_experiment(active.info.experiment_id).name
        self._place = (self._client.tracking_uri, experiment)
        self._streamer = _Streamer(self._client, self.run_id, self._logged_up_to)
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
        problem = silence(self._client.tracking_uri)
        wait = ANSWER_SECONDS if problem else STREAM_WAIT_SECONDS
        streamed_all = self._streamer.close(wait)
        if not streamed_all:
            why = _said(self._streamer.error) if self._streamer.error else f"still sending after {wait:g} s"
            warnings.warn(f"MLflow did not take all of the losses of run {self.run_id} ({why}); the dimred run "
                          "goes on, and its own history (history.csv) holds them", stacklevel=2)  # fmt: skip
        if problem:  # the model is saved all the same; the reporter fails, by name
            warnings.warn(f"{problem}: MLflow run {self.run_id} is left unfinished", stacklevel=2)
            let_go(self._client, self.run_id)
            return
        try:
            terminate(self._client, self.run_id, "FINISHED")
        except Exception as error:  # a store that answers but fails: never at the cost of the trained model
            warnings.warn(f"MLflow could not end run {self.run_id}: {_said(error)}", stacklevel=2)
            return
        _PENDING[training.run_key] = _Handover(self.run_id, *self._place, streamed_all, self._streamer.queued_up_to,
                                               self._streamer.unsent())  # fmt: skip

    def on_fit_failed(self, training: Training, error: BaseException) -> None:
        """The MLflow run ends as FAILED (KILLED when interrupted), so that it never shows as finished."""
        if self.run_id not in _OPEN or not training.is_main:  # never opened in this process (a resume's restored id)
            return
        client = _OPEN.pop(self.run_id)
        self._streamer.close(ANSWER_SECONDS)  # the losses so far, if MLflow takes them at once
        if silence(client.tracking_uri):  # the run failed anyway: not a minute more on its MLflow run
            let_go(client, self.run_id)
            return
        terminate(client, self.run_id, "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")

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
        if None not in (own, other) and not same_option(name, own, other):
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
        if mine is not None and not same_option(name, mine, callbacks):
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
    description = (
        "logs the run to MLflow: configuration, loss history, metrics, model and plots as artifacts (dimred[mlflow])"
    )
    Options = MLflowOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        require_mlflow("mlflow reporter")

    def check_run(self, config: Mapping[str, Any]) -> None:
        """The store and experiment must take the run before it trains (``check_before_training``); with the
        callback, which logs to the same MLflow run, the callback checks them."""
        if not any(plugin.get("name") == MLflowCallback.name for plugin in config.get("callbacks", [])):
            check_before_training("reporter", _with_partners_options(self.options, config, "reporter"))

    def report(self, run: RunRecord) -> None:
        mlflow = import_mlflow("mlflow reporter")
        pending = _PENDING.pop(run.run_key, None)
        if pending is not None:  # the callback's run: reopened where the callback logged it
            _check_same_place(self.options, pending)
            client, run_id = client_of(mlflow, pending.tracking_uri), pending.run_id
            client.update_run(run_id, status="RUNNING")
            experiment_id = client.get_run(run_id).info.experiment_id
        else:
            options = _with_partners_options(self.options, run.config, "reporter")  # a one-call model's run
            client, active = start_run(mlflow, options, run.run_name, _tags(run.dataset, run.model, run.directory))
            run_id, experiment_id = active.info.run_id, active.info.experiment_id
        try:
            if pending is None or not pending.streamed_all:
                self._log_history(client, run, run_id, pending)
            self._log(client, run, run_id)
        except BaseException:
            terminate(client, run_id, "FAILED")
            raise
        terminate(client, run_id, "FINISHED")
        _REPORTED[run.run_key] = (client.tracking_uri, experiment_id, run_id, run.run_name)
        experiment = client.get_experiment(experiment_id)
        run.echo(f"MLflow: run {run_id} in experiment '{experiment.name}' ({client.tracking_uri})")

    def report_comparison(self, comparison: ComparisonRecord) -> None:
        """One MLflow run for the comparison, where its runs were logged (the store and experiment most of them
        are in), with those runs nested inside (MLflow nests by a tag, set once they exist) and the comparison's
        files (table, figures, explorer) as artifacts."""
        mlflow = import_mlflow("mlflow reporter")
        logged = [_REPORTED.pop(key) for key in comparison.run_keys if key in _REPORTED]
        if not logged:
            return
        tracking_uri, experiment_id = collections.Counter(place[:2] for place in logged).most_common(1)[0][0]
        client = client_of(mlflow, tracking_uri)
        default = f"compare-{comparison.dataset}" if comparison.directory is None else Path(comparison.directory).name
        tags = {"dimred.dataset": comparison.dataset, "dimred.comparison": ", ".join(comparison.codes)}
        if comparison.failed:  # their runs logged nothing: the comparison's run says they failed, and why
            failures = "; ".join(f"{model}: {error}" for model, error in comparison.failed.items())
            tags[FAILED_TAG] = failures[:MAX_TAG_LENGTH]
        # run_name names the comparison; its runs, which took it too, keep their own names to be told apart
        name = self.options.run_name or default
        run_id = create_run(mlflow, client, experiment_id, name, tags | _folder_tag(comparison.directory)).info.run_id
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
            terminate(client, run_id, "FAILED")
            raise
        terminate(client, run_id, "FINISHED")
        elsewhere = (
            f"; {len(logged) - len(children)} logged elsewhere stay apart" if len(children) < len(logged) else ""
        )
        comparison.echo(f"MLflow: comparison run {run_id} with {len(children)} runs nested ({tracking_uri}){elsewhere}")

    @staticmethod
    def _log_history(client: Any, run: RunRecord, run_id: str, pending: _Handover | None) -> None:
        """Log the losses of the run's history that the MLflow run does not hold: those the callback (where it
        logged the run: ``pending``) queued and MLflow had not taken, as the callback made them, then the steps
        after those it queued."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        queued_up_to, unsent = (0, ()) if pending is None else (pending.queued_up_to, pending.unsent)
        logged_up_to = max(last_logged_step(client, run_id), queued_up_to)  # a resumed run's has the steps before
        metrics = [
            *unsent,
            *(
                Metric(key, value, now, int(row["step"]))
                for row in run.history
                if row["step"] > logged_up_to
                for key, value in _numbers(row, skip=("step",)).items()
            ),
        ]
        for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
            client.log_batch(run_id, metrics=metrics[start : start + 1000])

    def _log(self, client: Any, run: RunRecord, run_id: str) -> None:
        """Log the run's settings, final metrics and files."""
        from mlflow.entities import Metric

        _log_params(client, run_id, _flatten(dict(run.config) or _minimal(run)))
        client.set_tag(run_id, "dimred.dataset", run.dataset)
        client.set_tag(run_id, "dimred.model", run.model)
        last_step = int(run.history[-1]["step"]) if run.history else 0
        now = int(time.time() * 1000)
        final = [Metric(key, value, now, last_step) for key, value in _loggable(_numbers(run.metrics)).items()]
        if final:
            client.log_batch(run_id, metrics=final)
        for path in run.kept_files():
            client.log_artifact(run_id, os.fspath(path))


def _minimal(run: RunRecord) -> dict[str, Any]:
    """What a run made without a recorded configuration (a plugin's own RunRecord) is known by."""
    return {"dataset": {"name": run.dataset}, "model": {"name": run.model}}
