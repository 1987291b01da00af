"""The training settings of a run: one frozen, self-validating object.

The CLI, config files, ``dimred.run`` and ``Reducer`` each map their own spelling onto it; the engine reads it;
``config.json`` and the model file's metadata record its fields. Adding a setting means adding a field here (with
its help text and check), a CLI flag and a line of documentation.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dimred._core import defaults
from dimred._core.errors import UsageError, did_you_mean
from dimred._core.options import plain_number

MAX_SEED = 2**32 - 1  # of new work: torch's CPU generator keeps a seed's low 32 bits (s and s + 2**32 drew alike)
MAX_INTEGER = 2**63 - 1  # torch and numpy count in 64 bits (a run recorded before seeds stopped at MAX_SEED)
FULL_BATCH = "full"
AUTO = "auto"  # a setting the model plugin chooses for the data (Model.training_defaults), else dimred's default
# what only the training loop reads (a model fitted in one call takes none of them)
LOOP_SETTINGS = ("steps", "epochs", "batch_size", "lr", "weight_decay", "schedule", "precision", "optimizer",
                 "checkpoint_every")  # fmt: skip
_GLOBAL_DEFAULTS = {"batch_size": defaults.BATCH_SIZE, "lr": defaults.LR, "weight_decay": 0.0}


def check_holdout(requested: Any) -> None:
    """A held-out share of the rows must be a fraction from 0 (none) to below 1."""
    if isinstance(requested, bool | np.bool_) or not isinstance(requested, numbers.Real) or not 0 <= requested < 1:
        raise UsageError(f"bad holdout {requested!r}: give a fraction of the rows from 0 (none) to below 1, e.g. 0.2")


def device_name(requested: Any) -> Any:
    """The name dimred knows a device by: torch's names for the first GPU, "cuda:0" and ``torch.device("cuda",
    0)``, are dimred's "cuda" (so "cpu:0" is "cpu"); another GPU is refused with how to pick it, and anything
    else is left for the checks to refuse."""
    if not isinstance(requested, str) and type(requested).__name__ != "device":  # torch is not imported here
        return requested
    text = str(requested)
    name, colon, index = text.partition(":")
    if name == "cuda" and colon and index != "0":
        raise UsageError(f"device '{text}': dimred takes the first GPU it sees (cuda, cuda:0); pick another with "
                         "CUDA_VISIBLE_DEVICES (CUDA_VISIBLE_DEVICES=1 and device cuda uses GPU 1)")  # fmt: skip
    return name if index == "0" and name in ("cpu", "cuda", "mps") else text


def _setting(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class TrainingSettings:
    """How a model is trained. ``steps`` None with ``epochs`` None, and ``"auto"`` for ``batch_size``, ``lr`` and
    ``weight_decay``, leave the choice to the model plugin (for the data's size and width), else dimred's defaults:
    ``resolved`` makes the choice. ``batch_size`` None (or ``"full"``) means the full batch."""

    steps: int | None = _setting(None, f"optimizer steps [default: {defaults.STEPS} unless epochs is given]")
    epochs: int | None = _setting(None, "passes over the data, instead of steps")
    batch_size: int | str | None = _setting(AUTO, 'samples per step; None or "full" for the full batch')
    lr: float | str = _setting(AUTO, "peak learning rate (Adam's; Muon's steps scale with it)")
    weight_decay: float | str = _setting(AUTO, "decoupled weight decay (AdamW) per step, relative to the lr")
    schedule: str = _setting(defaults.SCHEDULE, "learning-rate schedule", defaults.SCHEDULES)
    dtype: str = _setting(defaults.DTYPE, "floating-point type of training", defaults.DTYPES)
    precision: str = _setting(defaults.PRECISION, "arithmetic of the layers in training: bf16 computes them in "
                              "bfloat16 (mixed precision: weights, losses and optimizer stay in dtype float32); auto "
                              "does where the model suggests it and the device computes bfloat16 natively",
                              defaults.PRECISIONS)  # fmt: skip
    optimizer: str = _setting(defaults.OPTIMIZER, "adam, or muon: Muon for the weight matrices of inner layers "
                              "(Adam for the rest); auto: the model's choice, else adam",
                              defaults.OPTIMIZERS)  # fmt: skip
    scaler: str = _setting(defaults.SCALER, "feature scaling, fitted on the training rows", defaults.SCALERS)
    device: str = _setting(defaults.DEVICE, "where to train: auto picks cuda, then mps, then cpu", defaults.DEVICES)
    seed: int = _setting(
        defaults.SEED, "seed of data, split, initialisation, batches and dropout: 0 to 2**32 - 1 for a new run"
    )
    checkpoint_every: int | None = _setting(None, "save the training state every this many steps (for resume)")

    def __post_init__(self) -> None:
        for name in _GLOBAL_DEFAULTS:  # auto and full in any case, as the CLI reads them
            object.__setattr__(self, name, _keyword(name, getattr(self, name)))
        object.__setattr__(self, "device", device_name(self.device))
        for setting in dataclasses.fields(self):
            object.__setattr__(self, setting.name, plain_number(getattr(self, setting.name)))
            _check(setting, getattr(self, setting.name))
        if self.steps is not None and self.epochs is not None:
            raise UsageError(
                "give either --steps (steps) or --epochs (epochs), not both: each sets how long training runs"
            )
        if self.precision == "bf16" and self.dtype != "float32":
            raise UsageError(f"precision bf16 computes the layers of a float32 model; it cannot train in {self.dtype}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(setting.name for setting in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "training settings") -> TrainingSettings:
        """Settings from a mapping of field names (a config file's section, keyword arguments); unknown keys are
        an error naming ``where``."""
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            hint = did_you_mean(unknown[0], cls.names())
            raise UsageError(f"{where}: unknown setting '{unknown[0]}'{hint}; allowed: {', '.join(cls.names())}")
        return cls(**values)

    def replace(self, **changes: Any) -> TrainingSettings:
        return dataclasses.replace(self, **changes)

    def resolved(self, suggested: Mapping[str, Any], *, bf16_native: bool = False) -> TrainingSettings:
        """The settings with every automatic choice made: the model's ``suggested`` values, else dimred's; bf16
        precision only on a device that computes it natively (``bf16_native``) and for float32 models."""
        changes = {name: suggested.get(name, default) for name, default in _GLOBAL_DEFAULTS.items()
                   if getattr(self, name) == AUTO}  # fmt: skip
        if self.steps is None and self.epochs is None:
            changes["steps"] = suggested.get("steps", defaults.STEPS)
        if self.precision == AUTO:
            bf16 = suggested.get("precision") == "bf16" and bf16_native and self.dtype == "float32"
            changes["precision"] = "bf16" if bf16 else "float32"
        if self.optimizer == AUTO:
            changes["optimizer"] = suggested.get("optimizer", "adam")
        return self.replace(**changes) if changes else self

    @property
    def planned_steps(self) -> int | None:
        """``steps`` with the default filled in when neither steps nor epochs were given."""
        return defaults.STEPS if self.steps is None and self.epochs is None else self.steps

    def batch_for(self, n_samples: int) -> int:
        return n_samples if self.batch_size is None else min(self.batch_size, n_samples)

    def for_rows(self, n_samples: int) -> TrainingSettings:
        """The settings as the loop takes them for ``n_samples`` rows: a batch of at most the rows."""
        return self.replace(batch_size=self.batch_for(n_samples))

    def total_steps(self, n_samples: int) -> int:
        per_epoch = n_samples // self.batch_for(n_samples)
        return self.planned_steps if self.planned_steps is not None else (self.epochs or 1) * per_epoch

    def record(self) -> dict[str, Any]:
        """The fields as JSON-ready values."""
        return dataclasses.asdict(self)


def checked_seed(seed: Any) -> int:
    """A seed checked as a run checks its own (a whole number from 0 to MAX_SEED), for calls that take one
    without training settings."""
    seed = TrainingSettings(seed=seed).seed
    check_new_seed(seed)
    return seed


def check_new_seed(seed: int) -> None:
    """Refuse a seed beyond MAX_SEED for new work: torch's CPU generator keeps its low 32 bits, so s and s + 2**32
    had initialised and ordered batches alike. A run recorded with one before seeds stopped there still resumes."""
    if seed > MAX_SEED:
        kept = "" if seed > MAX_INTEGER else f"; of {seed} torch's kept the low 32 bits, {seed & MAX_SEED}"
        raise UsageError(f"bad seed {seed}: must be at most {MAX_SEED} (torch's and scikit-learn's random generators "
                         f"take 32-bit seeds{kept})")  # fmt: skip


SUGGESTIBLE = ("steps", "batch_size", "lr", "weight_decay", "precision", "optimizer")  # Model.training_defaults


def checked_suggestions(suggested: Any) -> dict[str, Any]:
    """What a model's ``training_defaults`` returned, read as a user's values are (numpy numbers, ``full`` in any
    case) and checked as they are: a dict of settings it may suggest (auto aside: a suggestion is the choice
    itself)."""
    if not isinstance(suggested, Mapping):
        raise UsageError(f"training_defaults must return a dict, not a {type(suggested).__name__}")
    unknown = sorted(str(name) for name in suggested if name not in SUGGESTIBLE)
    if unknown:
        raise UsageError(f"unknown training setting {', '.join(map(repr, unknown))} (a model suggests "
                         f"{', '.join(SUGGESTIBLE)})")  # fmt: skip
    checked = {}
    for setting in dataclasses.fields(TrainingSettings):
        if setting.name in suggested:
            value = plain_number(_keyword(setting.name, suggested[setting.name]))
            if value == AUTO or (value is None and setting.name != "batch_size"):
                raise UsageError(f"bad {setting.name} {value!r}: suggest a value, or leave the setting out")
            _check(setting, value)
            checked[setting.name] = value
    return checked


def _keyword(name: str, value: Any) -> Any:
    """``value`` with the words auto and (for the batch size) full in their canonical form: the full batch is
    None, as ``--batch-size full`` gives (config files cannot write None)."""
    word = value.strip().lower() if isinstance(value, str) else None
    if word == AUTO:
        return AUTO
    return None if word == FULL_BATCH and name == "batch_size" else value


def _unquoted(value: Any, whole: bool) -> str:
    """Advice for a number written as text, as a config file's "0.01" is: the quotes make it a string (given only
    where the number itself would do: not for "nan", nor "1e3" as a whole number)."""
    if not isinstance(value, str):
        return ""
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        return ""
    return " (a number, not text: write it without quotes)" if math.isfinite(number) else ""


def _check(setting: dataclasses.Field, value: Any) -> None:
    """Type and range of one field; the message names the setting and what is allowed."""
    name, choices = setting.name, setting.metadata["choices"]
    if choices is not None:
        if value not in choices:
            raise UsageError(
                f"bad {name} {value!r}{did_you_mean(str(value), choices)}; choose from: {', '.join(choices)}"
            )
        return
    if value == AUTO and name in _GLOBAL_DEFAULTS:
        return
    if name in ("lr", "weight_decay"):
        number = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
        if not number or value < 0 or (name == "lr" and value == 0):
            what = "the learning rate must be a positive number" if name == "lr" else "it must be a number from 0"
            raise UsageError(
                f"bad {name.replace('_', ' ')} {value!r}: {what}, e.g. 0.01, or auto{_unquoted(value, whole=False)}"
            )
        return
    optional = name != "seed"
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        allowed = (
            "a whole number, full or auto"
            if name == "batch_size"
            else "a whole number" + (" or none" if optional else "")
        )
        raise UsageError(f"bad {name.replace('_', ' ')} {value!r}: must be {allowed}{_unquoted(value, whole=True)}")
    low = 0 if name == "seed" else 1
    if value < low:
        other = ", full or auto" if name == "batch_size" else ""
        raise UsageError(f"bad {name.replace('_', ' ')} {value}: must be at least {low}{other}")
    if value > MAX_INTEGER:
        if name == "seed":  # no run ever recorded one so large: said as a new run's limit
            check_new_seed(value)
        raise UsageError(f"bad {name.replace('_', ' ')} {value}: must be at most {MAX_INTEGER}")
