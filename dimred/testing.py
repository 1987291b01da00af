"""Contract checks for plugin authors, in the spirit of scikit-learn's ``check_estimator``.

Call them from your plugin package's tests; each raises AssertionError naming what is wrong:

    from dimred.testing import check_dataset_plugin
    from my_plugin import Circle

    def test_circle_honours_the_dataset_contract():
        check_dataset_plugin(Circle)

The built-in plugins are tested with the same checks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import typing
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dimred._api.pipeline import fit_estimator, load_data, settled_for, suggested_training
from dimred._api.reducer import Reducer, load
from dimred._api.rows import MIN_ROWS
from dimred._api.run import run
from dimred._core.contracts import (
    Batch,
    Callback,
    ComparisonRecord,
    Data,
    Dataset,
    EstimatorModel,
    Loss,
    Metric,
    Model,
    Plugin,
    Reporter,
    RunRecord,
    TrainingData,
)
from dimred._core.errors import DimredError, PluginError, PluginExit, UsageError
from dimred._core.jsonable import json_ready, through_json
from dimred._core.options import build, describe, parse_value, to_dict
from dimred._core.runfiles import CHECKPOINT_NAME, RUN_RESULTS
from dimred._core.settings import TrainingSettings
from dimred._engine.checkpoint import read_checkpoint
from dimred._engine.device import seeded
from dimred._engine.evaluation import FAILED_METRICS, score
from dimred._host.registry import get_registry, validate_plugin_class
from dimred._host.resolve import describe as configuration_of
from dimred._host.resolve import made
from dimred._io.written import check_results_kept, results_state

__all__ = [
    "check_callback_plugin",
    "check_dataset_plugin",
    "check_loss_plugin",
    "check_metric_plugin",
    "check_model_plugin",
    "check_reporter_plugin",
]


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _instance(cls: type[Plugin], kind: str, options: dict[str, Any] | None) -> Plugin:
    """Check the class's declaration (name, description, options with help) and instantiate it."""
    try:
        validate_plugin_class(kind, cls)  # what registering it checks
    except PluginError as error:
        raise AssertionError(str(error)) from None
    _expect_not_shadowed(cls, kind)
    hints = typing.get_type_hints(cls.Options)
    for info in describe(cls.Options):
        if isinstance(info.default, bool | int | float | str) and info.default != "":
            try:
                parsed = parse_value(str(info.default), hints[info.name])
            except ValueError as error:
                raise AssertionError(f"{kind} '{cls.name}': option '{info.name}' cannot be --set: {error}") from None
            _expect(parsed == info.default, f"{kind} '{cls.name}': option '{info.name}' does not survive --set")
    try:
        plugin = made(cls, options or {}, kind)
    except UsageError as error:  # options the check was given, or defaults the plugin's own checks refuse
        raise AssertionError(f"{kind} '{cls.name}' cannot be made with options {options or {}}: {error}") from None
    except (PluginError, PluginExit) as error:  # its options or its __init__ raised, or called sys.exit
        raise AssertionError(str(error)) from error
    _expect(plugin.options == build(cls.Options, options or {}, prefix=kind), f"{kind} '{cls.name}' lost its options")
    return plugin


def _expect_not_shadowed(cls: type[Plugin], kind: str) -> None:
    """A plugin under the name of one of dimred's own is left out when it registers: the checks would pass for a
    plugin no run uses."""
    registry = get_registry()
    if cls.name in registry.names(kind):
        info = registry.get(kind, cls.name)
        _expect(
            info.cls is cls or not info.builtin,
            f"{kind} '{cls.name}' has the name of dimred's built-in {kind}, "
            "which a run uses instead (yours is left out when it registers): give your plugin a name of its own",
        )


def _expect_registered(cls: type[Plugin], kind: str) -> None:
    """The checks that train go through the registry, as a run does: the class must be the one registered."""
    try:
        registered = get_registry().get(kind, cls.name).cls
    except UsageError:
        registered = None
    _expect(registered is cls, f"{kind} '{cls.name}' is not registered: install your package (its entry point) or "
            "register it before this check, as a run finds it")  # fmt: skip


def check_dataset_plugin(cls: type[Dataset], options: dict[str, Any] | None = None, seed: int = 0) -> Data:
    """The dataset returns a finite 2-D matrix of real numbers (colour and intrinsic coordinates row-aligned),
    which a run takes, the same one for the same seed; returns the data for further checks of your own."""
    plugin = _instance(cls, "dataset", options)
    data, X = _loaded(plugin, seed)
    _expect(X.shape[0] >= MIN_ROWS, f"dataset '{cls.name}': X has shape {X.shape}, not at least the {MIN_ROWS} rows "
            "a run takes")  # fmt: skip
    again = _loaded(plugin, seed)[0]
    _expect(np.array_equal(np.asarray(again.X), np.asarray(data.X)),
            f"dataset '{cls.name}' gives different data for the same seed")  # fmt: skip
    return data


def _loaded(plugin: Dataset, seed: int) -> tuple[Data, np.ndarray]:
    """The data and its matrix as a run loads and checks them (a matrix of finite real numbers); what the run
    refuses as an AssertionError with the run's message."""
    try:
        return load_data(plugin, seed)
    except DimredError as error:
        raise AssertionError(str(error)) from error
    except SystemExit as error:
        raise AssertionError(_exited(f"dataset '{plugin.name}'", "load", error)) from error


def check_model_plugin(cls: type[Model], options: dict[str, Any] | None = None, n_features: int = 3) -> None:
    """The network encodes and decodes with the right shapes in float32 and float64, learns (gradients reach
    every parameter), is deterministic in eval mode, honours ``n_components``, and survives a save/load
    round trip through safetensors bit for bit. For an ``EstimatorModel``: fitted as a run fits it (codes of
    the right shape, working ``transform`` / ``inverse_transform`` where it claims them, a ``fitted_module``
    that ``build`` rebuilds to compute the same), the same codes for the same seed, ``n_components`` honoured,
    and a model file that loads back to the same codes."""
    if issubclass(cls, EstimatorModel):
        _check_estimator_model(cls, options, n_features)
        return
    plugin = _instance(cls, "model", options)
    with seeded(0, torch.device("cpu")):  # the caller's global RNG stays as it was
        _check_network(cls, plugin, n_features)
    _expect_registered(cls, "model")
    reducer = Reducer(model=cls.name, n_components=None, model_options=options, steps=5, batch_size=8,
                      random_state=0, device="cpu")  # fmt: skip
    with _beside_builtins(cls):
        _called(f"model '{cls.name}'", "fit through dimred.Reducer", reducer.fit,
                np.random.default_rng(0).random((32, n_features)))  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        loaded = load(reducer.save(Path(folder) / "model.safetensors"), device="cpu")
    sample = np.random.default_rng(1).random((10, n_features))
    _expect(np.array_equal(loaded.transform(sample), reducer.transform(sample)),
            f"model '{cls.name}' gives different codes after a save/load round trip")  # fmt: skip


def _check_network(cls: type[Model], plugin: Model, n_features: int) -> None:
    """Shapes, dtypes, gradients and eval-mode determinism of the plugin's network."""
    module = _built(cls.name, plugin, n_features)
    x = torch.rand(16, n_features)
    module.train()
    z = _called(f"model '{cls.name}'", "encode", module.encode, x)
    _expect(isinstance(z, torch.Tensor), f"model '{cls.name}': encode must return a tensor, not {type(z).__name__}")
    _expect(z.ndim == 2 and z.shape[0] == 16, f"model '{cls.name}': encode gave shape {tuple(z.shape)} for 16 rows")
    _expect(z.dtype == torch.float32, f"model '{cls.name}': encode turned float32 rows into {z.dtype} codes")
    _expect(bool(torch.isfinite(z).all()), f"model '{cls.name}': encode gave NaN or infinite codes")
    x_hat = _called(f"model '{cls.name}'", "decode", module.decode, z)
    _expect(isinstance(x_hat, torch.Tensor) and tuple(x_hat.shape) == (16, n_features),
            f"model '{cls.name}': decode gave {_shape(x_hat)} for 16 codes, not (16, {n_features})")  # fmt: skip
    _expect(x_hat.dtype == torch.float32, f"model '{cls.name}': decode turned float32 codes into {x_hat.dtype} rows")
    _expect(bool(torch.isfinite(x_hat).all()), f"model '{cls.name}': decode gave NaN or infinite rows")
    loss = (x_hat - x).square().mean()
    if hasattr(module, "encode_for_training"):
        loss = loss + _check_training_extras(cls.name, module, x)
    _expect(any(value.requires_grad for value in module.parameters()), f"model '{cls.name}': its network has "
            "no trainable parameters, so there is nothing to train (a model fitted in one call is an "
            "EstimatorModel)")  # fmt: skip
    if loss.requires_grad:  # else no parameter is reached, named below
        loss.backward()
    frozen = [name for name, value in module.named_parameters() if value.requires_grad and value.grad is None]
    _expect(not frozen, f"model '{cls.name}': no gradient reaches {frozen}")
    module.eval()
    with torch.no_grad():
        codes = _called(f"model '{cls.name}'", "encode (eval mode)", module.encode, x)
        _expect(isinstance(codes, torch.Tensor) and codes.shape == z.shape and codes.dtype == torch.float32,
                f"model '{cls.name}': eval-mode encode gave {_shape(codes)} {getattr(codes, 'dtype', '')} for 16 "
                f"rows, not train mode's {tuple(z.shape)} float32")  # fmt: skip
        _expect(bool(torch.isfinite(codes).all()), f"model '{cls.name}': eval-mode codes are NaN or infinite")
        _expect(torch.equal(codes, module.encode(x)), f"model '{cls.name}' is not deterministic in eval mode")
        rows = _called(f"model '{cls.name}'", "decode (eval mode)", module.decode, codes)
        _expect(isinstance(rows, torch.Tensor) and tuple(rows.shape) == (16, n_features) and rows.dtype == x.dtype,
                f"model '{cls.name}': eval-mode decode gave {_shape(rows)} {getattr(rows, 'dtype', '')} for 16 "
                f"codes, not (16, {n_features}) float32")  # fmt: skip
        _expect(bool(torch.isfinite(rows).all()), f"model '{cls.name}': eval-mode decode gave NaN or infinite rows")
        double = _built(cls.name, plugin, n_features).double().eval()
        codes64 = _called(f"model '{cls.name}'", "encode (float64)", double.encode, x.double())
        rows64 = _called(f"model '{cls.name}'", "decode (float64)", double.decode, codes64)
        _expect(getattr(rows64, "dtype", None) == torch.float64, f"model '{cls.name}': float64 fails")
    if "n_components" in {field.name for field in dataclasses.fields(cls.Options)}:
        _check_code_size(cls, plugin, x, z)


def _check_code_size(cls: type[Model], plugin: Model, x: torch.Tensor, z: torch.Tensor) -> None:
    """The codes ``z`` of the rows ``x`` are as wide as ``n_components`` asks, and one wider where it asks for one
    more: a network that fixes its own width would pass at the default alone."""
    _expect(z.shape[1] == plugin.options.n_components, f"model '{cls.name}' ignores its n_components option")
    width = plugin.options.n_components + 1
    wider = _instance(cls, "model", to_dict(plugin.options) | {"n_components": width})
    module = _built(cls.name, wider, x.shape[1])
    codes = _called(f"model '{cls.name}'", f"encode (n_components={width})", module.encode, x)
    _expect(isinstance(codes, torch.Tensor) and tuple(codes.shape) == (len(x), width),
            f"model '{cls.name}' ignores its n_components option: with n_components={width} encode gave "
            f"{_shape(codes)} for {len(x)} rows")  # fmt: skip


def _built(name: str, plugin: Model, n_features: int) -> torch.nn.Module:
    """The plugin's network, a torch module with encode and decode methods, as a run requires it."""
    module = _called(f"model '{name}'", "build", plugin.build, n_features)
    _expect(isinstance(module, torch.nn.Module), f"model '{name}'.build must return a torch.nn.Module, not a "
            f"{type(module).__name__}")  # fmt: skip
    for method in ("encode", "decode"):
        _expect(callable(getattr(module, method, None)), f"model '{name}' must build a network with encode(x) and "
                f"decode(z) methods; its {type(module).__name__} has no {method}()")  # fmt: skip
    return module


def _called(plugin: str, method: str, function: Any, *arguments: Any) -> Any:
    """``function(*arguments)``; an exception inside it, or a ``sys.exit``, as an AssertionError naming the plugin
    and the method."""
    try:
        return function(*arguments)
    except SystemExit as error:
        raise AssertionError(_exited(plugin, method, error)) from error
    except Exception as error:
        raise AssertionError(f"{plugin}: {method} failed: {type(error).__name__}: {error}") from error


def _exited(plugin: str, method: str, error: SystemExit) -> str:
    return f"{plugin}: {method} called sys.exit({error.code!r}); a plugin raises an exception instead"


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def _check_training_extras(name: str, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``encode_for_training`` returns codes shaped like ``encode``'s and a mapping of named tensors, one row per
    input row; returns a term of the extras, so that the gradient check covers the parameters behind them."""
    result = module.encode_for_training(x)
    _expect(isinstance(result, tuple) and len(result) == 2, f"model '{name}': encode_for_training must return "
            "(z, extras)")  # fmt: skip
    z, extras = result
    _expect(isinstance(z, torch.Tensor) and z.shape == module.encode(x).shape,
            f"model '{name}': encode_for_training's codes must have encode's shape")  # fmt: skip
    _expect(isinstance(extras, dict) and all(isinstance(key, str) for key in extras),
            f"model '{name}': encode_for_training's extras must be a dict of named tensors")  # fmt: skip
    for key, value in extras.items():
        _expect(isinstance(value, torch.Tensor) and value.shape[0] == len(x),
                f"model '{name}': extra '{key}' must be a tensor with one row per input row")  # fmt: skip
    return sum((value.square().mean() for value in extras.values()), torch.zeros(()))


def _check_estimator_model(cls: type[EstimatorModel], options: dict[str, Any] | None, n_features: int) -> None:
    """A one-call model as a run fits it (dimred's checks of its codes, its inverse and its saved state, which
    ``build`` rebuilds from ``fitted_module`` and must compute what ``transform`` and ``inverse_transform`` did),
    the same codes for the same seed, ``n_components`` honoured at that value and one more, and a model file that
    loads back to the same codes."""
    X = np.random.default_rng(0).random((80, n_features))
    plugin = _instance(cls, "model", options)
    fitted = _fitted_as_a_run(plugin, X)
    again = _fitted_as_a_run(_instance(cls, "model", options), X)
    _expect(torch.allclose(again.codes, fitted.codes), f"model '{cls.name}' ignores its seed")
    fields = {field.name for field in dataclasses.fields(cls.Options)}
    if "n_components" in fields and plugin.options.n_components < n_features:  # a run refuses more columns
        wider = to_dict(plugin.options) | {"n_components": plugin.options.n_components + 1}
        if _takes_options(cls, wider):  # t-SNE's refuse more than 3
            _fitted_as_a_run(_instance(cls, "model", wider), X)  # a run refuses codes of another width
    if fitted.model is None or fitted.apply is None:  # nothing saved, or no new rows to compare it on
        return
    _expect_registered(cls, "model")
    sample = np.random.default_rng(1).random((10, n_features))
    with tempfile.TemporaryDirectory() as folder, _beside_builtins(cls):
        path = Path(folder) / "model.safetensors"
        fitted.model.save(path)
        loaded = _called(f"model '{cls.name}'", "load from its model file (dimred.load)", load, path, "cpu")
        codes = loaded.transform(sample)
    _expect(np.allclose(codes, fitted.apply(sample)[1].numpy(), rtol=1e-4, atol=1e-6),
            f"model '{cls.name}' gives other codes after a save/load round trip")  # fmt: skip


def _takes_options(cls: type[Plugin], values: dict[str, Any]) -> bool:
    """Whether the plugin's options take ``values``; an exception other than its refusal (a ValueError in its
    ``__post_init__``) is its fault, as a run reports it."""
    try:
        build(cls.Options, values, prefix=cls.kind)
    except UsageError:
        return False
    except Exception as error:
        raise AssertionError(f"{cls.kind} '{cls.name}': its Options failed on {values}: "
                             f"{type(error).__name__}: {error}") from None  # fmt: skip
    return True


def _fitted_as_a_run(plugin: EstimatorModel, X: np.ndarray) -> Any:
    """``plugin`` fitted on ``X`` as a run fits a one-call model; what the run refuses, as an AssertionError."""
    try:
        return fit_estimator(plugin, X, TrainingSettings(seed=0).resolved(suggested_training(plugin, X.shape)))
    except (DimredError, PluginExit) as error:  # a sys.exit in the plugin, as blame turns it
        raise AssertionError(str(error)) from error


def check_loss_plugin(
    cls: type[Loss], options: dict[str, Any] | None = None, extras: dict[str, tuple[int, ...]] | None = None
) -> None:
    """After ``options_for`` and ``prepare`` on a small data set, the loss is a finite scalar tensor, deterministic, and
    differentiable with respect to the model's output. ``extras`` names the extra model outputs the loss reads
    (``{"mu": (2,), "logvar": (2,)}``: their shapes per row); the batch then carries random ones."""
    plugin = _instance(cls, "loss", options)
    plugin = _called(f"loss '{cls.name}'", "options_for", settled_for, plugin, 32, 3)  # as a run of 32 x 3 rows
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, generator=generator)
    prepared_from = TrainingData(X=x.numpy().astype(np.float64), seed=0, n_components=2, device=torch.device("cpu"))
    _called(f"loss '{cls.name}'", "prepare", plugin.prepare, prepared_from)
    index, drawn = _rows_of_a_step(plugin, generator)
    z = torch.rand(32, 2, generator=generator, requires_grad=True)
    x_hat = torch.rand(drawn, 3, generator=generator, requires_grad=True)  # added rows are not decoded
    extra_tensors = {name: torch.randn(32, *shape, generator=generator, requires_grad=True)
                     for name, shape in (extras or {}).items()}  # fmt: skip
    batch = Batch(x=x[index[:drawn]], z=z, x_hat=x_hat, index=index, extras=extra_tensors, drawn=drawn)
    value = _called(f"loss '{cls.name}'", "__call__ (name the model outputs it reads with extras=)", plugin, batch)
    _expect(isinstance(value, torch.Tensor) and value.ndim == 0, f"loss '{cls.name}' must return a scalar tensor")
    _expect(bool(torch.isfinite(value)), f"loss '{cls.name}' is not finite on ordinary data")
    _expect(torch.equal(value, plugin(batch)), f"loss '{cls.name}' is not deterministic")
    _expect(value.requires_grad, f"loss '{cls.name}' does not depend on the model's output (no gradient)")
    value.backward()
    gradients = [tensor.grad for tensor in (x_hat, z, *extra_tensors.values()) if tensor.grad is not None]
    _expect(bool(gradients), f"loss '{cls.name}' does not depend on the model's output (no gradient)")
    _expect(all(bool(torch.isfinite(grad).all()) for grad in gradients), f"loss '{cls.name}' has non-finite gradients")
    if drawn == len(z):  # a loss that adds no rows also sees steps of every row in order, with no row numbers
        _check_whole_batch(plugin, dataclasses.replace(batch, index=None))


def _check_whole_batch(plugin: Loss, batch: Batch) -> None:
    """The loss on a step of every row, as the engine hands it when the batch is the data (``batch.index`` None)."""
    try:
        value = plugin(batch)
    except Exception as error:
        raise AssertionError(f"loss '{plugin.name}' fails on a step of every row, where batch.index is None: "
                             f"{type(error).__name__}: {error}") from error  # fmt: skip
    _expect(isinstance(value, torch.Tensor) and value.ndim == 0 and bool(torch.isfinite(value)),
            f"loss '{plugin.name}' is not a finite scalar on a step of every row (batch.index None)")  # fmt: skip


def _rows_of_a_step(plugin: Loss, generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """The rows of one step as the engine builds them: 32 drawn, or 16 drawn and as many a loss adds."""
    if type(plugin).extra_rows is Loss.extra_rows:
        return torch.arange(32), 32
    drawn = torch.arange(16)
    extra = _called(f"loss '{plugin.name}'", "extra_rows", plugin.extra_rows, drawn, generator)
    _expect(isinstance(extra, torch.Tensor) and extra.dtype == torch.long and extra.shape == (16,),
            f"loss '{plugin.name}': extra_rows must return one row number (long) per drawn row")  # fmt: skip
    _expect(bool(((extra >= 0) & (extra < 32)).all()), f"loss '{plugin.name}': extra_rows gave rows out of range")
    return torch.cat([drawn, extra]), 16


def check_metric_plugin(cls: type[Metric], options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Beside the built-in metrics, the metric gives a dict of named values JSON can hold (numbers finite as
    floats, text, lists of them; None where it does not apply) under names of their own (not empty, none another
    metric reports), the same for the same rows: on the training rows of a small run and on held-out rows, both
    labelled; on the unlabelled rows of a model without an inverse (t-SNE's: no reconstruction); and on rows with
    intrinsic coordinates (the swiss roll's). Returns its values on the training rows, for further checks of your
    own."""
    plugin = _instance(cls, "metric", options)
    others = [info.cls() for info in get_registry().plugins("metric") if info.builtin and info.name != cls.name]
    X = torch.from_numpy(np.random.default_rng(0).random((60, 3)))
    codes, labels = X[:, :2] * 2, (X[:, 0] > 0.5).numpy().astype(np.int64)
    labelled = {"reconstruction": X * 0.9, "labels": labels}
    cases = {
        "training rows": labelled,
        "held-out rows": labelled | {"reference": (codes[:40], labels[:40])},
        "rows of a model without an inverse, unlabelled": {"reconstruction": None},
        "rows with intrinsic coordinates": {"reconstruction": X * 0.9, "intrinsic": X[:, :2].numpy() * 3},
    }
    found: dict[str, dict[str, Any]] = {}
    for where, case in cases.items():

        def scored(metrics: list[Metric], case=case) -> dict[str, Any]:
            given = {key: value for key, value in case.items() if key != "reconstruction"}
            try:
                return score(X, codes, case["reconstruction"], 0, metrics, **given)[0]
            except PluginExit as error:  # an exit is never skipped as a failing metric is
                raise AssertionError(error.message) from error

        without, first, second = scored(others), scored([*others, plugin]), scored([*others, plugin])
        failure = first.get(FAILED_METRICS, {}).get(cls.name)
        _expect(failure is None, f"{failure} (on {where})")
        _expect(first == second, f"metric '{cls.name}' gives different values for the same rows ({where})")
        found[where] = {name: value for name, value in first.items() if name not in without}
    return found["training rows"]


def check_reporter_plugin(cls: type[Reporter], options: dict[str, Any] | None = None) -> None:
    """The reporter takes part in a plain run and comparison (its ``check_run`` neither crashes on their
    configurations nor refuses them: give the check the options such a run needs), works on a small run, writes
    only complete files into the run directory and leaves the run's own results there as they were, and writes
    nothing when the run has no directory; the same of a comparison where it shows comparisons."""
    plugin = _instance(cls, "reporter", options)
    config = _run_config(plugin)
    _check_run_taken(plugin, config, "a plain run (dataset 'swissroll', model 'pca')")
    _check_run_taken(plugin, {"reporters": config["reporters"], "callbacks": config["callbacks"]}, "a comparison")
    who = f"reporter '{cls.name}'"
    rng = np.random.default_rng(0)
    X = rng.random((50, 3))
    data = Data(X=X, color=X[:, 0])
    history = [
        {"step": step, "epoch": step / 2, "loss": 1 / step, "lr": 0.01, "seconds": step / 10} for step in (1, 2, 3)
    ]
    metrics = {"rmse": 0.1, "rmse_train_mode": 0.12, "trustworthiness": 0.9, "continuity": 0.9, "neighbours": 10,
               "metric_sample_size": 50, "n_samples": 50, "train_seconds": 0.3}  # fmt: skip

    def record(directory: Path | None) -> RunRecord:
        return RunRecord("check", "check", data, X, X[:, :2], X * 0.9, history, metrics, directory, config=config)

    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        for name in RUN_RESULTS:  # stand-ins for the results a run has written when its reporters start
            (directory / name).write_text("{}")
        before = results_state(directory, RUN_RESULTS)
        _called(who, "report", plugin.report, record(directory))
        try:
            check_results_kept(plugin, directory, before)
        except PluginError as error:
            raise AssertionError(str(error)) from None
        written = sorted(path.name for path in directory.iterdir())
        leftovers = [name for name in written if name.startswith(".")]
        _expect(not leftovers, f"reporter '{cls.name}' left temporary files {leftovers}")
        _called(who, "report (a run without a directory)", plugin.report, record(None))
        _expect(sorted(path.name for path in directory.iterdir()) == written,
                f"reporter '{cls.name}' wrote files for a run without a directory")  # fmt: skip
    if cls.report_comparison is not Reporter.report_comparison:  # it shows comparisons: the same of them
        codes = {"first": X[:, :2], "second": X[:, 1:]}
        with tempfile.TemporaryDirectory() as folder:
            _called(who, "report_comparison", plugin.report_comparison, ComparisonRecord("check", data, codes,
                                                                                          Path(folder)))  # fmt: skip
            leftovers = [path.name for path in Path(folder).iterdir() if path.name.startswith(".")]
            _expect(not leftovers, f"reporter '{cls.name}' left temporary files {leftovers} from a comparison")
        _called(who, "report_comparison (without a folder)", plugin.report_comparison,
                ComparisonRecord("check", data, codes, None))  # fmt: skip


def _run_config(reporter: Reporter) -> dict[str, Any]:
    """The configuration of a small run that names ``reporter``, as a run hands it to ``check_run`` and reporters
    (``RunRecord.config``): a real run's, with the reporter put in."""
    with warnings.catch_warnings(), _beside_builtins(type(reporter)):
        warnings.simplefilter("ignore")  # the run stands for one only: what it says is none of the reporter's
        config = run("swissroll", "pca", settings={"dataset.n_samples": 50}, reporters=[], out=None).config
    return config | {"reporters": [configuration_of(reporter)]}


def _check_run_taken(plugin: Reporter, config: dict[str, Any], what: str) -> None:
    """``check_run`` takes ``config``. A crash is a defect; so is a refusal: such a run is one the reporter's users
    make, and a reporter that needs an option set (a server's address) is checked with it set (``options``)."""
    try:
        plugin.check_run(config)
    except DimredError as error:  # a UsageError, as a refusal should be
        refused = f"reporter '{plugin.name}' refuses {what} in check_run: {error}"
        raise AssertionError(f"{refused}; refuse only runs it cannot take part in, and give the check the options "
                             "such a run needs") from error  # fmt: skip
    except SystemExit as error:
        raise AssertionError(_exited(f"reporter '{plugin.name}'", f"check_run on {what}", error)) from error
    except Exception as error:
        raise AssertionError(f"reporter '{plugin.name}': check_run failed on the configuration of {what}: "
                             f"{type(error).__name__}: {error}") from error  # fmt: skip


def check_callback_plugin(cls: type[Callback], options: dict[str, Any] | None = None) -> None:
    """The callback is registered, takes part in a short training run that checkpoints without failing, and the
    state it saved there (JSON of finite numbers, text, lists and dicts, as ``--resume`` keeps it) comes back from
    a fresh instance's ``load_state_dict`` and ``state_dict`` unchanged. A callback may stop the run as it starts
    (``training.stop`` in ``on_fit_start``: no step, no checkpoint); then a fresh instance's state is checked."""
    _instance(cls, "callback", options)
    _expect_registered(cls, "callback")
    with tempfile.TemporaryDirectory() as folder:
        state = _checkpointed_state(cls, options, Path(folder) / "run")
    fresh = _instance(cls, "callback", options)
    _called(f"callback '{cls.name}'", "load_state_dict", fresh.load_state_dict, state)
    again = _json_state(cls.name, _called(f"callback '{cls.name}'", "state_dict", fresh.state_dict))
    _expect(again == state, f"callback '{cls.name}': the state a checkpoint saved ({state!r}) does not come back "
                            f"from load_state_dict and state_dict ({again!r})")  # fmt: skip


def _checkpointed_state(cls: type[Callback], options: dict[str, Any] | None, directory: Path) -> Any:
    """The callback's state as a short run that checkpoints every step saved it into ``directory``; a fresh
    instance's where the callback stopped the run before its first step (which saves no checkpoint)."""
    settings = {"dataset.n_samples": 64} | {
        f"callback.{cls.name}.{key}": value for key, value in (options or {}).items()
    }
    try:
        with _beside_builtins(cls):
            result = run("swissroll", "mlp-ae", settings=settings, callbacks=[cls.name], reporters=[], out=directory,
                         steps=20, batch_size=16, checkpoint_every=1, holdout=0)  # fmt: skip
    except DimredError as error:
        raise AssertionError(f"callback '{cls.name}' fails in a run that checkpoints: {error}") from None
    except SystemExit as error:
        raise AssertionError(f"callback '{cls.name}' called sys.exit({error.code!r}) in a run that checkpoints; a "
                             "plugin raises an exception instead") from error  # fmt: skip
    if not result.history:  # stopped as it started, as a callback may
        fresh = _instance(cls, "callback", options)
        return _json_state(cls.name, _called(f"callback '{cls.name}'", "state_dict", fresh.state_dict))
    try:
        _tensors, facts = read_checkpoint(directory / CHECKPOINT_NAME)
    except DimredError as error:
        raise AssertionError(f"callback '{cls.name}': a run that checkpoints every step left none: {error}") from None
    return _json_state(cls.name, facts["callbacks"][cls.name])


@contextlib.contextmanager
def _beside_builtins(cls: type[Plugin]) -> Iterator[None]:
    """A run a check makes meets the built-in plugins and those of ``cls``'s own package only: another installed
    package's metric or default callback failing there is no fault of the plugin checked."""
    registry = get_registry()
    own = {info.source for info in registry.plugins(cls.kind) if info.cls is cls}
    with registry.restricted(lambda info: info.builtin or info.source in own):
        yield


def _json_state(name: str, state: Any) -> Any:
    """``state`` as the JSON of a checkpoint brings it back, where that JSON holds it: NaN and infinity, which
    Python writes there and other readers refuse, as an AssertionError too."""
    try:
        json_ready(state)
        return through_json(state)
    except (TypeError, ValueError) as error:
        raise AssertionError(f"callback '{name}': state_dict holds {error}; a checkpoint keeps finite numbers, text, "
                             "None, and lists and dicts of them") from None  # fmt: skip
