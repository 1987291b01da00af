"""Prints the metrics of a run as a small table."""

from __future__ import annotations

from dimred.plugin import Reporter, RunRecord, hookimpl

FOUR_DECIMALS = "{:.4f}"
_ROWS = (
    ("rmse", "reconstruction RMSE (eval mode)", FOUR_DECIMALS),
    ("rmse_train_mode", "reconstruction RMSE (train mode, as the tutorial measures)", FOUR_DECIMALS),
    ("trustworthiness", "trustworthiness (k={neighbours})", FOUR_DECIMALS),
    ("continuity", "continuity (k={neighbours})", FOUR_DECIMALS),
    ("knn_preservation", "kNN preservation (k={neighbours})", FOUR_DECIMALS),
    ("rnx_auc", "R_NX area (log K)", FOUR_DECIMALS),
    ("spearman_intrinsic", "Spearman vs true coordinates", FOUR_DECIMALS),
    ("knn_accuracy", "kNN-classifier accuracy (labels)", FOUR_DECIMALS),
    ("silhouette", "silhouette (labels)", FOUR_DECIMALS),
    ("train_seconds", "training time", "{:.2f} s"),
    ("transform_seconds", "encoding time, all points", "{:.3f} s"),
)


class MetricsTable(Reporter):
    name = "metrics-table"
    description = "prints the run's metrics as a table"
    enabled_by_default = True

    def report(self, run: RunRecord) -> None:
        metrics = run.metrics
        held_out = any(key.startswith("holdout.") for key in metrics)
        rows = [
            (
                label.format(**metrics),
                _value(metrics.get(key), template) + _fewer_votes(metrics, key),
                _held_out_value(metrics, key, label, template) if f"holdout.{key}" in metrics else "",
            )
            for key, label, template in _ROWS
            if key in metrics
        ]
        sampled = [_sampled(metrics, prefix) for prefix in ("", "holdout.")]
        if any(sampled):  # large data: the neighbourhood figures saw a seeded sample of the rows
            every = "every row" if held_out else ""
            rows.append(("neighbourhood metrics computed on", sampled[0] or "every row", sampled[1] or every))
        width = max(len(label) for label, _value, _held in rows)
        if not held_out:
            run.echo(f"{'metric':<{width}}  value")
            for label, value, _held in rows:
                run.echo(f"{label:<{width}}  {value}")
            return
        first = max(len("training rows"), *(len(value) for _label, value, _held in rows))
        unmapped = ": not mapped, the model has no transform" if "holdout.transform" in metrics else ""
        heading = f"held-out rows ({metrics.get('holdout.rows')}{unmapped})"
        run.echo(f"{'metric':<{width}}  {'training rows':<{first}}  {heading}")
        for label, value, held in rows:
            run.echo(f"{label:<{width}}  {value:<{first}}  {held}")


def _value(value: float | None, template: str) -> str:
    """The figure by its row's template, or in four significant digits where four decimals would not show it (an
    RMSE of 4e-5 had read 0.0000, of unscaled data of 1e150 a number of 150 digits)."""
    if value is None:
        return "not available"
    if template == FOUR_DECIMALS and value != 0 and not 1e-4 <= abs(value) < 1e6:
        return f"{value:.4g}"
    return template.format(value)


def _held_out_value(metrics: dict, key: str, label: str, template: str) -> str:
    """The held-out figure, with its own k where fewer held-out rows made it smaller than the training rows'."""
    value = _value(metrics[f"holdout.{key}"], template)
    k = metrics.get("holdout.neighbours")
    if "{neighbours}" in label and k is not None and k != metrics.get("neighbours"):
        return f"{value} (k={k})"
    return value + _fewer_votes(metrics, f"holdout.{key}")


def _sampled(metrics: dict, prefix: str) -> str:
    """How many points the neighbourhood metrics of the training (``prefix`` "") or held-out rows saw, where that
    was a sample of them; "" where they saw every row."""
    size = metrics.get(f"{prefix}metric_sample_size", 0)
    return f"{size} points" if size < metrics.get(f"{prefix}n_samples", 0) else ""


def _fewer_votes(metrics: dict, key: str) -> str:
    """The k a metric used where it had fewer rows than its option's k (reported as KEY_k)."""
    return f" (k={metrics[f'{key}_k']})" if f"{key}_k" in metrics else ""


@hookimpl
def register_reporters(register):
    register(MetricsTable)
