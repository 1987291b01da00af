"""The library API: ``dimred.run`` trains, evaluates and saves a model, exactly as ``dimred run`` does."""

from __future__ import annotations

import contextlib
import importlib.metadata
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dimred import defaults
from dimred import options as plugin_options
from dimred.contracts import Plugin, RunRecord
from dimred.engine import evaluation
from dimred.engine.device import resolve_device, resolve_dtype
from dimred.engine.modelfile import save_model
from dimred.engine.rundir import default_run_directory, prepare_run_directory, write_history, write_json
from dimred.engine.scaling import Scaler
from dimred.engine.training import Progress, TrainingPlan, train
from dimred.errors import DimredError, PluginError, UsageError
from dimred.registry import Registry, get_registry
from dimred.validation import check_matrix

AUTO = "auto"
SETTING_KINDS = ("dataset", "model", "loss", "reporter")


@dataclass(eq=False)
class RunResult:
    """What a run produced. ``path`` is the run directory, or None when nothing was written."""

    metrics: dict[str, Any]
    history: list[dict[str, float]]
    path: Path | None
    config: dict[str, Any]
    module: torch.nn.Module
    scaler: Scaler
    codes: np.ndarray


def _group_settings(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"dataset.noise": 0.1, "reporter.codes.dpi": 200}`` -> ``{"dataset": {...}, "reporter.codes": {...}}``."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        kind, _, rest = key.partition(".")
        target, _, option = rest.rpartition(".") if kind == "reporter" else ("", "", rest)
        if kind not in SETTING_KINDS or not option or (kind == "reporter" and not target):
            raise UsageError(
                f"bad setting '{key}': use dataset.OPTION, model.OPTION, loss.OPTION or reporter.NAME.OPTION"
            )
        groups.setdefault(f"{kind}.{target}" if target else kind, {})[option] = value
    return groups


def _instantiate(registry: Registry, kind: str, name: str, values: Mapping[str, Any], prefix: str) -> Plugin:
    cls = registry.get(kind, name).cls
    return cls(plugin_options.build(cls.Options, values, prefix=prefix))


@contextlib.contextmanager
def _blame(plugin: Plugin, action: str) -> Iterator[None]:
    """Turn an unexpected exception inside a plugin into one message that names the plugin."""
    try:
        yield
    except DimredError:
        raise
    except Exception as error:
        raise PluginError(f"{plugin.kind} '{plugin.name}' failed to {action}: {error}") from error


def _describe(plugin: Plugin) -> dict[str, Any]:
    return {"name": plugin.name, "options": plugin_options.to_dict(plugin.options)}


def _versions() -> dict[str, str]:
    def version(distribution: str) -> str:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    return {name: version(name) for name in ("dimred", "torch", "numpy", "safetensors")}


def run(
    dataset: str,
    model: str,
    *,
    loss: str | None = None,
    reporters: Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = defaults.BATCH_SIZE,
    lr: float = defaults.LR,
    schedule: str = defaults.SCHEDULE,
    dtype: str = defaults.DTYPE,
    scaler: str = defaults.SCALER,
    device: str = defaults.DEVICE,
    seed: int = defaults.SEED,
    out: str | Path | None = AUTO,
    overwrite: bool = False,
    progress: Progress | None = None,
    echo: Callable[[str], None] | None = None,
) -> RunResult:
    """Train ``model`` on ``dataset``, evaluate it in eval mode, run the reporters and save everything.

    ``settings`` maps ``"kind.option"`` to a value (``{"dataset.n_samples": 2500}``), as ``--set`` does.
    Without ``steps`` or ``epochs`` the run takes ``defaults.STEPS`` optimizer steps; ``batch_size=None`` trains on
    the full batch. ``out`` is the run directory: ``"auto"`` picks ``runs/<dataset>-<model>-<time>``, None
    writes nothing. ``echo`` receives the lines reporters print (the metrics table).
    """
    registry = get_registry()
    groups = _group_settings(settings or {})
    data_source = _instantiate(registry, "dataset", dataset, groups.pop("dataset", {}), "dataset")
    network_plugin = _instantiate(registry, "model", model, groups.pop("model", {}), "model")
    loss_name = loss or network_plugin.default_loss
    objective = _instantiate(registry, "loss", loss_name, groups.pop("loss", {}), "loss")
    if reporters is None:
        reporters = [info.name for info in registry.plugins("reporter") if info.cls.enabled_by_default]
    chosen_reporters = [
        _instantiate(registry, "reporter", name, groups.pop(f"reporter.{name}", {}), f"reporter.{name}")
        for name in dict.fromkeys(reporters)
    ]
    if groups:
        raise UsageError(f"settings for a reporter that is not in this run: {', '.join(sorted(groups))}")
    if steps is None and epochs is None:
        steps = defaults.STEPS
    plan = TrainingPlan(steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    directory = None
    if out is not None:
        directory = default_run_directory(dataset, model) if out == AUTO else Path(out)
        prepare_run_directory(directory, overwrite=overwrite)

    with _blame(data_source, "load its data"):
        data = data_source.load(seed)
    X_raw = torch.as_tensor(check_matrix(data.X, f"data of dataset '{dataset}'"), device=torch_device)
    X_raw = X_raw.to(torch_dtype)
    config = {
        "dataset": _describe(data_source),
        "model": _describe(network_plugin),
        "loss": _describe(objective),
        "reporters": [_describe(reporter) for reporter in chosen_reporters],
        "training": {
            "steps": plan.total_steps(len(X_raw)),
            "epochs": epochs,
            "batch_size": plan.batch_for(len(X_raw)),
            "lr": lr,
            "schedule": schedule,
        },
        "dtype": dtype,
        "scaler": scaler,
        "device": device,
        "device_used": str(torch_device),
        "seed": seed,
        "versions": _versions(),
    }
    if directory is not None:
        write_json(directory / "config.json", config)

    torch.manual_seed(seed)
    fitted_scaler = Scaler.fit(scaler, X_raw)
    X = fitted_scaler.transform(X_raw)
    with _blame(network_plugin, "build its network"):
        module = network_plugin.build(X.shape[1]).to(device=torch_device, dtype=torch_dtype)
    generator = torch.Generator(device=torch_device).manual_seed(seed)
    started = time.perf_counter()
    history = train(module, objective, X, plan, generator, progress)
    train_seconds = time.perf_counter() - started

    codes = evaluation.encode(module, X)
    reconstruction = evaluation.decode(module, codes)
    metrics = evaluation.score(module, X, codes, reconstruction, seed) | {"train_seconds": train_seconds}
    if directory is not None:
        save_model(
            directory / "model.safetensors",
            module,
            fitted_scaler,
            {
                "model": model,
                "model_options": config["model"]["options"],
                "n_features": str(X.shape[1]),
                "dataset": dataset,
                "dataset_options": config["dataset"]["options"],
                "feature_names": list(data.feature_names) if data.feature_names else None,
                "dtype": dtype,
                "versions": config["versions"],
            },
        )
        write_json(directory / "metrics.json", metrics)
        write_history(directory / "history.csv", history)

    record = RunRecord(
        dataset=dataset,
        model=model,
        data=data,
        X=X.cpu().numpy(),
        codes=codes.cpu().numpy(),
        reconstruction=reconstruction.cpu().numpy(),
        history=history,
        metrics=metrics,
        directory=directory,
        echo=echo or (lambda _text: None),
    )
    for reporter in chosen_reporters:
        with _blame(reporter, "report"):
            reporter.report(record)
    return RunResult(metrics, history, directory, config, module, fitted_scaler, record.codes)
