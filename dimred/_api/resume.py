"""Resuming a run: its checkpoint and config.json must describe the run a resume would continue, bar the settings
a resume may change; and what the continued run's config.json then says."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dimred._api.config import RECORD_ONLY_KEYS, with_recorded_options
from dimred._core.errors import DimredError, UsageError
from dimred._core.runfiles import CHECKPOINT_NAME, CONFIG_FILE
from dimred._engine import fitting
from dimred._engine.checkpoint import read_checkpoint

# may differ from the run continued (metrics are computed after training)
RESUMABLE_CHANGES = ("device", "reporters", "metrics", "training.checkpoint_every")
_NOT_SETTINGS = (*RESUMABLE_CHANGES, *RECORD_ONLY_KEYS)  # how the run went is never compared on resume
# Settings added since a run may have been saved, with the value every run had before they existed: a run killed
# under an older dimred resumes where nothing else differs.
SETTINGS_BEFORE_THEY_EXISTED = {"training.optimizer": "adam", "training.precision": "float32"}


def as_going_on(recorded: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """config.json with this run's values of the settings a resume may change (RESUMABLE_CHANGES) and of the
    device, processes and threads it goes on in."""
    going_on = {**recorded, "training": dict(recorded["training"]), "device_used": config["device_used"],
                "processes": config["processes"], "threads": config["threads"]}  # fmt: skip
    for key in RESUMABLE_CHANGES:
        section, _, name = key.rpartition(".")
        (going_on[section] if section else going_on)[name] = (config[section] if section else config)[name]
    return going_on


def check_resumable(
    directory: Path, config: dict[str, Any], unsettled: Mapping[str, Any] | None = None, data: np.ndarray | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's config.json as written and its callbacks' states at the checkpoint, once the checkpoint is
    readable and ``config`` is the run's own (bar
    RESUMABLE_CHANGES): resuming with another seed or step count would make a run that its config.json does not
    describe. ``unsettled`` holds the model and loss as described before their choices for the data were written
    into their options (``options_for``), which is how a run saved before dimred recorded those choices describes
    them. ``data`` are the training rows, whose fingerprint (``fitting.data_fingerprint``) the checkpoint's must
    match where it has one."""
    _tensors, facts = read_checkpoint(directory / CHECKPOINT_NAME)
    try:
        written = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DimredError(f"cannot resume {directory}: its config.json is not readable ({error})") from None
    saved = with_recorded_options(written)
    trained = facts.get("config")  # none in a checkpoint saved before it was kept
    if trained is not None and (edited := _changes(with_recorded_options(trained), saved)):
        raise UsageError(f"the checkpoint of {directory} was saved by a run of other settings than its config.json "
                         f"holds now (config.json -> checkpoint): {'; '.join(edited)}; put config.json back as the "
                         "run wrote it, or start the run again with overwrite=True (--overwrite)")  # fmt: skip
    changed = _changes(config, saved)
    if changed and not (unsettled and not _changes(config | dict(unsettled), saved)):
        raise UsageError(f"resume continues {directory} with its own settings, but these differ: {'; '.join(changed)}"
                         f" (only {', '.join(RESUMABLE_CHANGES)} may change on resume)")  # fmt: skip
    saved_on = facts.get("data")
    if data is not None and saved_on is not None and fitting.data_fingerprint(data, like=saved_on) != saved_on:
        raise UsageError(f"the data differ from those the checkpoint of {directory} was saved on (other rows or "
                         "values): resume on its own data (a relative dataset.path is read from the folder you run "
                         "in), or start it again with overwrite=True (--overwrite)")  # fmt: skip
    return written, facts.get("callbacks", {})


def _changes(config: dict[str, Any], saved: dict[str, Any]) -> list[str]:
    """What ``config`` sets otherwise than the ``saved`` config.json of a run, as "key saved -> given"."""
    given, kept = _flat(json.loads(json.dumps(config))), SETTINGS_BEFORE_THEY_EXISTED | _flat(saved)
    return [f"{key} {kept.get(key)!r} -> {given.get(key)!r}" for key in sorted(given.keys() | kept.keys())
            if given.get(key) != kept.get(key) and not _is_under(key, _NOT_SETTINGS)]  # fmt: skip


def _is_under(key: str, names: Sequence[str]) -> bool:
    """Whether the flat ``key`` is one of ``names`` or inside one (``versions.torch`` inside ``versions``)."""
    return any(key == name or key.startswith(name + ".") for name in names)


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"training": {"lr": 0.01}}`` as ``{"training.lr": 0.01}``; a list of plugins (the loss's terms,
    callbacks) as their names, and each one's settings under ``loss.NAME.``, so that a difference names the one
    option that differs."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and all(isinstance(entry, dict) and "name" in entry for entry in value):
            flat[prefix + key] = [entry["name"] for entry in value]
            for entry in value:
                settings = {name: setting for name, setting in entry.items() if name != "name"}
                flat |= _flat(settings, f"{prefix}{key}.{entry['name']}.")
        else:
            flat[prefix + key] = value
    return flat
