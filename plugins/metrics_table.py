"""Prints the metrics of a run as a small table."""

from __future__ import annotations

from dimred.plugin import Reporter, RunRecord, hookimpl

_ROWS = (
    ("rmse", "reconstruction RMSE (eval mode)", "{:.4f}"),
    ("rmse_train_mode", "reconstruction RMSE (train mode, as the tutorial measures)", "{:.4f}"),
    ("trustworthiness", "trustworthiness (k={neighbours})", "{:.4f}"),
    ("continuity", "continuity (k={neighbours})", "{:.4f}"),
    ("knn_preservation", "kNN preservation (k={neighbours})", "{:.4f}"),
    ("rnx_auc", "R_NX area (log K)", "{:.4f}"),
    ("spearman_intrinsic", "Spearman vs true coordinates", "{:.4f}"),
    ("train_seconds", "training time", "{:.2f} s"),
    ("transform_seconds", "encoding time, all points", "{:.3f} s"),
)


class MetricsTable(Reporter):
    name = "metrics-table"
    description = "prints the run's metrics as a table"
    enabled_by_default = True

    def report(self, run: RunRecord) -> None:
        metrics = run.metrics
        rows = [
            (label.format(**metrics), "not available" if metrics[key] is None else template.format(metrics[key]))
            for key, label, template in _ROWS
            if key in metrics
        ]
        if metrics.get("metric_sample_size", 0) < metrics.get("n_samples", 0):
            rows.append(("neighbourhood metrics computed on", f"{metrics['metric_sample_size']} points"))
        width = max(len(label) for label, _value in rows)
        run.echo(f"{'metric':<{width}}  value")
        for label, value in rows:
            run.echo(f"{label:<{width}}  {value}")


@hookimpl
def register_reporters(register):
    register(MetricsTable)
