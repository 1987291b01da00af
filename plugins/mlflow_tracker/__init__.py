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

from dimred.plugin import hookimpl

from .tracking import MLflowCallback, MLflowReporter

__all__ = ["MLflowCallback", "MLflowReporter"]


@hookimpl
def register_callbacks(register):
    register(MLflowCallback)


@hookimpl
def register_reporters(register):
    register(MLflowReporter)
