"""A run as ``dimred run`` asks for it: the arguments given on the command line over those of a config file, or
those of a run folder to resume (its own config.json)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dimred._api.arguments import AUTO
from dimred._api.config import (
    check_file_options,
    check_named_plugins,
    read_config,
    warn_of_replaced_choices,
    with_config_file,
)
from dimred._api.run import RunResult, run
from dimred._core.errors import UsageError
from dimred._core.runfiles import CONFIG_FILE
from dimred._core.settings import TrainingSettings


def run_command(
    arguments: dict[str, Any],
    given: set[str],
    *,
    config_file: str | None = None,
    resume_directory: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> RunResult:
    """``dimred.run`` with ``arguments`` (its keywords and the training settings, None where not given, the loss
    as ``losses``, the terms ``--loss`` gave; ``given`` names those the command line gave), the rest from
    ``config_file``; or the run in ``resume_directory`` resumed with the settings of its config.json."""
    arguments = dict(arguments)
    losses = arguments.pop("losses")
    if any(not loss.strip() for loss in losses):  # an unset shell variable, say: not the same as leaving it out
        raise UsageError("--loss is empty; name a loss, e.g. --loss mse (`dimred plugins` lists them)")
    arguments["loss"] = "+".join(losses) or None
    given = {"loss" if name == "losses" else name for name in given}
    for option, value in (("--config", config_file), ("--resume", resume_directory)):
        if value == "":  # an unset shell variable, say: not the same as leaving the option out
            raise UsageError(f"{option} is empty; name a {'file' if option == '--config' else 'folder'}")
    if resume_directory is not None:
        if config_file is not None:
            raise UsageError("--resume reads the run's own config.json; leave out --config")
        if arguments["out"] is not None:
            raise UsageError("--resume continues the run in its own folder; leave out --out")
        if not (Path(resume_directory) / CONFIG_FILE).is_file():
            held = (f"it holds no {CONFIG_FILE}" if Path(resume_directory).is_dir() else "it is a file"
                    if Path(resume_directory).exists() else "it does not exist")  # fmt: skip
            raise UsageError(f"{resume_directory} is not a run's folder ({held}): --resume takes the folder of a run "
                             "started with --checkpoint-every")  # fmt: skip
        config_file = str(Path(resume_directory) / CONFIG_FILE)
        arguments |= {"out": resume_directory, "resume": True}
    arguments["out"] = AUTO if arguments["out"] is None else arguments["out"]
    if config_file is not None:
        command_line = arguments["settings"]
        arguments = with_config_file(arguments, given, read_config(config_file))
        check_named_plugins(arguments, given, config_file)
        check_file_options(arguments, command_line, config_file)
        if resume_directory is None:
            replaced = {kind: arguments[kind] if kind in given else None for kind in ("dataset", "model")}
            warn_of_replaced_choices(config_file, **replaced)
    for required in ("dataset", "model"):
        if not arguments[required]:
            raise UsageError(f"Missing option '--{required}' (or a [{required}] section in --config).")
    where = f"config file {config_file}" if config_file else "the command line"
    training = TrainingSettings.from_mapping({name: arguments.pop(name) for name in TrainingSettings.names()}, where)
    return run(**arguments, training=training, echo=echo)
