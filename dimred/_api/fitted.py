"""A trained network with everything needed to use, save and describe it: the one place a model file is written,
the one place one is read back into a network, and the one place a fitted ``Reducer`` is built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dimred._core.atomic import write_bytes
from dimred._core.contracts import EstimatorModel, Model
from dimred._core.errors import DimredError, UsageError, first_line
from dimred._core.options import to_dict
from dimred._core.settings import LOOP_SETTINGS, TrainingSettings, device_name
from dimred._engine import evaluation, modelfile
from dimred._engine.device import as_tensor, resolve_device, seeded, torch_default_dtype
from dimred._engine.modelfile import ModelFile
from dimred._engine.scaling import Scaler
from dimred._host.objective import parse_spec
from dimred._host.registry import get_registry
from dimred._host.resolve import instantiate, recorded_options

if TYPE_CHECKING:
    from dimred._api.reducer import Reducer


@dataclass(frozen=True)
class AsGiven:
    """A fit's model and loss options and training settings as they were given, before dimred chose for the
    data (widths for its columns, steps and a full batch for its rows): a loaded ``Reducer`` takes them as its
    parameters, so that it refits other data as the estimator that was trained would."""

    model_options: dict[str, Any]
    loss_options: dict[str, dict[str, Any]]
    training: dict[str, Any]

    def record(self) -> dict[str, Any]:
        return {"model_options": self.model_options, "loss_options": self.loss_options, "training": self.training}


@dataclass(eq=False)
class FittedModel:
    """A trained torch network, its scaler, and what it was trained with."""

    model: str
    model_options: dict[str, Any]
    loss: str
    loss_options: dict[str, dict[str, Any]]
    settings: TrainingSettings
    module: torch.nn.Module
    scaler: Scaler
    feature_names: Sequence[str] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float | None = None  # None, as history is empty: read from a model file, which keeps no log
    as_given: AsGiven | None = None  # None: a model file written before dimred recorded it
    trained_on: tuple[str, dict[str, Any]] | None = None  # a run's data set and its options (None: arrays)

    @property
    def n_features(self) -> int:
        return int(self.scaler.offset.shape[0])

    @property
    def n_components(self) -> int:
        return int(evaluation.encode(self.module, self.scaler.offset.unsqueeze(0)).shape[1])

    def save(self, path: Path, /, **provenance: Any) -> None:
        """Write the model file (safetensors plus JSON metadata); ``provenance`` adds fields such as the dataset."""
        write_bytes(path, self.to_bytes(path, **provenance))

    def to_bytes(self, name: str | Path = "(in memory)", /, **provenance: Any) -> bytes:
        """The model file's bytes, as ``save`` writes them (``name`` is where they go, for messages)."""
        training = self.settings.record() | {"random_state": self.settings.seed}  # random_state: files before 0.2
        requested = None if self.as_given is None else self.as_given.record()
        if self.trained_on is not None:
            dataset, options = self.trained_on
            provenance = {"dataset": dataset, "dataset_options": options} | provenance
        package = get_registry().get("model", self.model).source
        description = modelfile.describe_model(
            self.model, self.model_options, self.loss, self.loss_options, self.n_features, self.n_components,
            self.feature_names, self.settings.dtype, training, requested, package,
            **modelfile.check_provenance(provenance),
        )  # fmt: skip
        return modelfile.model_bytes(self.module, self.scaler, description, name)

    def reducer(self, **parameters: Any) -> Reducer:
        """This model as a fitted ``dimred.Reducer`` (``parameters`` override the estimator's parameters)."""
        from dimred._api.reducer import Reducer  # scikit-learn takes most of a second to import

        given = self.as_given or AsGiven(self.model_options, self.loss_options, self.settings.record())
        model_class = get_registry().get("model", self.model).cls
        # the size of the codes as the estimator's own parameter only, so that set_params(n_components=5) is heard
        options = _set_apart(given.model_options, model_class, leave_out="n_components")
        # options and a loss left at their defaults come back unset, as given: set_params(model=...) then trains
        # the other model with its own defaults, not with this one's options and loss (a loss whose options are
        # set stays named with them)
        loss_options = {name: changed for name, values in given.loss_options.items()
                        if (changed := _loss_options_set(name, values))}  # fmt: skip
        default_loss = parse_spec(self.loss or model_class.default_loss) == parse_spec(model_class.default_loss)
        loss = None if default_loss and not loss_options else self.loss or None
        reducer = Reducer(model=self.model, n_components=self.model_options.get("n_components"),
                          model_options=options or None, loss=loss, loss_options=loss_options or None)  # fmt: skip
        # every training setting the estimator takes as a parameter, under its own name (the seed: random_state);
        # a model fitted in one call ran no training loop, so it keeps the loop's defaults
        settings = given.training | {"random_state": given.training.get("seed", self.settings.seed)}
        one_call = issubclass(model_class, EstimatorModel)
        taken = {name for name in reducer.get_params() if not (one_call and name in LOOP_SETTINGS)}
        reducer.set_params(**{name: value for name, value in settings.items() if name in taken})
        reducer.set_params(**parameters)
        reducer.adopt(self)
        return reducer

    def apply(self, X_raw: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """New raw rows scaled with the training scaler, their codes and reconstructions (eval mode)."""
        X = self.scaler.transform(as_tensor(X_raw, self.scaler.offset.device, self.scaler.offset.dtype))
        codes = evaluation.encode(self.module, X)
        return X, codes, evaluation.decode(self.module, codes)

    def feature_names_array(self) -> np.ndarray | None:
        return None if not self.feature_names else np.asarray(self.feature_names, dtype=object)


def _loss_options_set(loss: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options of ``loss`` set otherwise than its defaults; all of them for a loss not installed here (a third
    party's, where the model file was made): mapping rows needs no loss, and a refit names the missing one."""
    registry = get_registry()
    return _set_apart(options, registry.get("loss", loss).cls) if loss in registry.names("loss") else dict(options)


def read_fitted(source: str | Path | bytes, device: str | torch.device, name: str = "(in memory)") -> FittedModel:
    """A trained network from a model file, the run directory holding one, or a model file's bytes (``name``
    stands for them in messages). Only tensors and JSON metadata are read, and everything is checked before it
    is used: the metadata (``modelfile.check_model_file``), then the network it describes against the tensors,
    before that network is built for real."""
    torch_device = resolve_device(device)  # a bad device is the caller's, not the file's
    device = device_name(device)
    if isinstance(source, bytes):
        model_file = modelfile.read_model_bytes(source, name)
    else:
        model_file = modelfile.read_model_file(source)
    metadata = model_file.metadata
    settings, plugin = _settings_and_plugin(model_file, device)
    with torch_default_dtype(), seeded(0, torch_device):  # its first weights, replaced, draw from torch's generator
        module = modelfile.restore_module(model_file, _build_network(model_file, plugin), torch_device)
    dtype = next(iter(module.state_dict().values())).dtype  # a fitted PCA's module has buffers only
    _check_code_width(model_file, module, torch_device, dtype)
    scaler = modelfile.restore_scaler(model_file, torch_device, dtype)
    loss = metadata.get("loss") or ""
    try:
        parse_spec(loss or "mse")  # a refit, and the estimator's loss parameter, read it back
    except UsageError as error:
        raise model_file.fail(f"metadata field 'loss': {error}") from None
    try:
        loss_options = _loss_options(metadata.get("loss_options") or {})
    except ValueError as error:
        raise model_file.fail(f"metadata field 'loss_options': {error}") from None
    return FittedModel(metadata["model"], _model_options(metadata), loss, loss_options,
                       settings, module, scaler, metadata.get("feature_names") or None,
                       as_given=_as_given(model_file), trained_on=_trained_on(metadata))  # fmt: skip


def _check_code_width(model_file: ModelFile, module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """The network must give the codes the metadata says it gives (n_components)."""
    expected = model_file.metadata.get("n_components")
    if expected is None:
        return
    with torch.no_grad():
        width = module.encode(torch.zeros(1, model_file.n_features, device=device, dtype=dtype)).shape[-1]
    if str(width) != str(expected):
        raise model_file.fail(f"its network gives {width} codes, but its metadata says n_components {expected}")


def _model_options(metadata: dict[str, Any]) -> dict[str, Any]:
    """The model's options as the file records them, with those it gained since as it was then."""
    return recorded_options("model", metadata["model"], metadata.get("model_options") or {})


def _loss_options(recorded: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The options of each loss as the file records them, with those it gained since as it was then."""
    if not all(map(_is_object, recorded.values())):
        raise ValueError("it must map each loss to an object of its options")
    return {name: recorded_options("loss", name, options) for name, options in recorded.items()}


def _set_apart(options: dict[str, Any], plugin_class: type, leave_out: str = "") -> dict[str, Any]:
    """The ``options`` of a plugin that differ from its defaults (``leave_out`` left out); all of them where its
    options have no defaults to build alone (a required one)."""
    try:
        defaults = to_dict(plugin_class.Options())
    except (ValueError, TypeError):
        defaults = {}
    return {name: value for name, value in options.items() if name != leave_out and value != defaults.get(name)}


def _as_given(model_file: ModelFile) -> AsGiven | None:
    """What the fit was given (the ``requested`` metadata), checked as a user's values would be."""
    given = model_file.metadata.get("requested")
    if given is None:
        return None
    if set(given) != {"model_options", "loss_options", "training"} or not all(map(_is_object, given.values())):
        raise model_file.fail("metadata field 'requested' must hold the objects model_options, loss_options and "
                              "training")  # fmt: skip
    model = model_file.metadata["model"]
    try:
        model_options = _model_options({"model": model, "model_options": given["model_options"]})
        loss_options = _loss_options(given["loss_options"])
        instantiate("model", model, model_options)
        for name, options in loss_options.items():
            instantiate("loss", name, options)
        # seed None: the estimator's random_state was None, a seed drawn for each fit
        training = {name: value for name, value in given["training"].items() if (name, value) != ("seed", None)}
        TrainingSettings.from_mapping(training, "the model file's requested training")
    except (ValueError, TypeError, DimredError) as error:
        raise model_file.fail(f"metadata field 'requested': {error}") from None
    return AsGiven(model_options, loss_options, given["training"])


def _trained_on(metadata: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The data set a run's model file says it trained on, with its options; None for a Reducer fitted on
    arrays."""
    dataset = metadata.get("dataset")
    return (dataset, metadata.get("dataset_options") or {}) if isinstance(dataset, str) else None


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _settings_and_plugin(model_file: ModelFile, device: str) -> tuple[TrainingSettings, Model]:
    """The training settings and the model plugin the metadata names; a problem with either names the file."""
    metadata = model_file.metadata
    training = dict(metadata.get("training") or {})
    if "seed" not in training and "random_state" in training:  # files written before the settings object
        training["seed"] = training["random_state"]
    known = {key: training[key] for key in TrainingSettings.names() if key in training and key != "device"}
    installed = get_registry().names("model")
    if metadata["model"] not in installed:
        versions = metadata.get("versions") or {}
        packages = [f"{name} {version}" for name, version in versions.items() if name not in modelfile.BASE_PACKAGES]
        provider = f" ({packages[0]}, as the file records)" if packages else ""
        raise model_file.fail(f"it was written by model plugin '{metadata['model']}', which is not installed here "
                              f"(installed: {', '.join(installed)}); install the package that provides it"
                              f"{provider}{get_registry().why_missing()}")  # fmt: skip
    try:
        settings = TrainingSettings.from_mapping(known | {"dtype": metadata["dtype"], "scaler": metadata["scaler"],
                                                          "device": device}, "the model file")  # fmt: skip
        plugin = instantiate("model", metadata["model"], _model_options(metadata))
    except (ValueError, TypeError, DimredError) as error:
        raise model_file.fail(str(error)) from None
    return settings, plugin


def _since_written(model_file: ModelFile, plugin: Model) -> str:
    """Where the model plugin's package has changed since the file was written, what that suggests: an option
    added since changes the network unless declared with ``before_added``."""
    source = get_registry().get("model", plugin.name).source
    written = (model_file.metadata.get("versions") or {}).get(source)
    installed = modelfile.package_versions(source)[source]
    if written in (None, installed):
        return ""
    return (f"; it was written with {source} {written} and {source} {installed} is installed: read it with "
            f"{source} {written}; where the plugin has added an option since, its author declares it with "
            "option(DEFAULT, HELP, before_added=VALUE)")  # fmt: skip


def _build_network(model_file: ModelFile, plugin: Model) -> torch.nn.Module:
    """The network the metadata describes, built only after a copy on the meta device (no memory, no time)
    shows that its tensors are the file's: forged widths cannot make dimred allocate more than the file holds.
    A plugin whose network cannot be built on the meta device gets its options bounded by the file's size."""
    try:
        with torch.device("meta"):
            slots = modelfile.network_slots(plugin.build(model_file.n_features))
    except Exception:
        modelfile.check_option_sizes(model_file)
    else:
        try:
            modelfile.check_network(model_file, slots)
        except modelfile.ModelFileError as error:
            raise modelfile.ModelFileError(f"{error}{_since_written(model_file, plugin)}") from None
    try:
        return plugin.build(model_file.n_features)
    except Exception as error:
        problem = f"model '{plugin.name}' cannot build the network its metadata describes: {first_line(error)}"
        raise model_file.fail(problem) from error
