"""Experiment files for ``dimred run --config``: TOML written by hand, or the ``config.json`` a run wrote.

Both have the same shape, so a run can be repeated from its own record:

    seed = 3
    [dataset]
    name = "swissroll"
    options = { n_samples = 2500, noise = 0.1 }
    [model]
    name = "mlp-ae"
    options = { dropout = 0.1 }
    [training]
    steps = 2000

Plugin options are checked exactly as ``--set`` values are; flags given on the command line override the file.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dimred._core import options as plugin_options
from dimred._core.contracts import EstimatorModel, Model
from dimred._core.errors import DimredError, UsageError, blame, first_line
from dimred._core.kinds import KINDS
from dimred._core.settings import LOOP_SETTINGS, TrainingSettings, check_holdout
from dimred._host.objective import parse_spec, spec_text
from dimred._host.registry import get_registry
from dimred._host.resolve import chosen_names, defaults_of, group_settings, recorded_options
from dimred._io.csvlayout import csv_layout, header_given
from dimred._io.datafiles import TEXT
from dimred._io.validation import DataError

PLUGIN_SECTIONS = (*(kind.section for kind in KINDS if not kind.several), "loss")
LIST_SECTIONS = {kind.section: kind.name for kind in KINDS if kind.several and kind.name != "loss"}
TOP_LEVEL_SETTINGS = ("dtype", "scaler", "device", "seed")
TOP_LEVEL_KEYS = (*TOP_LEVEL_SETTINGS, "holdout")
TRAINING_KEYS = tuple(name for name in TrainingSettings.names() if name not in TOP_LEVEL_SETTINGS)
RECORD_ONLY_KEYS = ("device_used", "processes", "threads", "versions")  # written by runs for the record, not settings
SECTION_KINDS = {kind.section: kind.name for kind in KINDS}


def _parse(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise UsageError(f"config file {path} is a folder; give a .toml or .json file")
    if not path.is_file():
        raise UsageError(f"config file {path} {'is not a file' if path.exists() else 'does not exist'}")
    if path.suffix.lower() not in (".json", ".toml"):
        raise UsageError(f"config file {path} must be .toml or .json")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, as Windows Notepad may save it, is no setting
    except UnicodeDecodeError as error:
        raise UsageError(f"config file {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except PermissionError:  # as for a data file: the file is right, the system refuses it (exit 1)
        raise DimredError(f"config file {path} is not readable (permission denied)") from None
    except OSError as error:
        raise DimredError(f"config file {path} cannot be read: {error.strerror or error}") from None
    document = _parse_json(path, text) if path.suffix.lower() == ".json" else _parse_toml(path, text)
    if not isinstance(document, dict):
        raise UsageError(f"config file {path} must hold a table of settings (a JSON object), got "
                         f"{json.dumps(document)[:40]}")  # fmt: skip
    return document


def _parse_json(path: Path, text: str) -> Any:
    def once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:  # json keeps the last of a key given twice
        keys = [key for key, _value in pairs]
        twice = next((key for key in keys if keys.count(key) > 1), None)
        if twice is not None:
            raise UsageError(f"config file {path}: the key {json.dumps(twice)} is given twice in one object; give it "
                             "once")  # fmt: skip
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=once_each)
    except UsageError:
        raise
    except (ValueError, RecursionError) as error:  # nested too deeply, a whole number of 4 300+ digits
        raise UsageError(f"config file {path} is not valid JSON: {_said(error)}") from None


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: its backport, a dependency there
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except (ValueError, RecursionError) as error:  # TOMLDecodeError is a ValueError
        raise UsageError(f"config file {path} is not valid TOML: {_said(error)}") from None


def _said(error: Exception) -> str:
    """A parser's complaint in one line: Python's own for too deep a nesting, or too long a number, is long."""
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if "integer string conversion" in str(error):
        return f"a whole number of more than {sys.get_int_max_str_digits()} digits"
    return first_line(error)


def _plugin(section: Any, kind: str, path: Path) -> tuple[str, dict[str, Any]]:
    """A plugin section: a bare name, or a table with ``name`` and optional ``options``."""
    if isinstance(section, str):
        return section, {}
    if not isinstance(section, dict) or not isinstance(section.get("name"), str):
        raise UsageError(f'config file {path}: [{kind}] needs a name, e.g. name = "..."')
    allowed = {"name", "options", "weight"} if kind == "loss" else {"name", "options"}
    unknown = set(section) - allowed
    if unknown:
        raise UsageError(
            f"config file {path}: [{kind}] has unknown keys {_quoted(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    options = section.get("options") or {}
    if not isinstance(options, dict):
        raise UsageError(f"config file {path}: [{kind}] options must be a table")
    return section["name"], options


def _check_options(kind: str, name: str, options: dict[str, Any], prefix: str, path: Path) -> None:
    """A plugin's options in the file, each checked for its name and type as a run checks it, so that an error
    names the file (an unknown plugin is left to the run, which lists the installed ones; the options together
    are checked there, with those given on the command line)."""
    registry = get_registry()
    if name not in registry.names(kind):
        return
    try:
        plugin_options.converted_values(registry.get(kind, name).cls.Options, options, prefix=prefix)
    except UsageError as error:
        raise UsageError(f"config file {path}: {error}") from None


def _check_listed_once(chosen: list[tuple[str, dict[str, Any]]], section: str, path: Path) -> None:
    """Refuse a plugin listed twice with different options (as --set refuses an option set twice): only one of
    them could run."""
    for number, (name, options) in enumerate(chosen):
        differing = [others for again, others in chosen[number + 1 :] if again == name and others != options]
        if differing:
            raise UsageError(f"config file {path}: {section} lists '{name}' twice, with different options "
                             f"({json.dumps(options)} and {json.dumps(differing[0])}); list it once")  # fmt: skip


def read_config(path: str | Path) -> dict[str, Any]:
    """The keyword arguments of ``dimred.run`` that the file sets (``settings`` holds the plugin options)."""
    path = Path(path)
    document = _parse(path)
    recorded = [key for key in RECORD_ONLY_KEYS if key in document]
    if recorded and (path.suffix.lower() == ".toml" or not _is_run_record(document)):  # they set nothing
        threads = "; the environment variable OMP_NUM_THREADS sets torch's threads" if "threads" in recorded else ""
        one = len(recorded) == 1
        raise UsageError(f"config file {path}: {_quoted(recorded)} {'is' if one else 'are'} what a run records in its "
                         f"config.json, not {'a setting' if one else 'settings'}{threads}")  # fmt: skip
    if _is_run_record(document):
        document = with_recorded_options(document)
    allowed = (*PLUGIN_SECTIONS, *LIST_SECTIONS, "training", *TOP_LEVEL_KEYS, *RECORD_ONLY_KEYS)
    unknown = sorted(set(document) - set(allowed))
    if unknown:
        raise UsageError(f"config file {path}: unknown keys {_quoted(unknown)}; allowed: {', '.join(allowed)}")
    arguments: dict[str, Any] = {key: document[key] for key in TOP_LEVEL_KEYS if key in document}
    if arguments.get("holdout") is not None:  # null: the default share, as --holdout left out
        try:
            check_holdout(arguments["holdout"])
        except UsageError as error:
            raise UsageError(f"config file {path}: {error}") from None
    settings: dict[str, Any] = {}
    if isinstance(document.get("loss"), dict):  # one [loss] table: a sum of one, its weight checked and kept
        document = {**document, "loss": [document["loss"]]}
    if isinstance(document.get("loss"), list):  # a weighted sum, as runs record it
        arguments["loss"], settings = _loss_sum(document["loss"], path)
    for kind in PLUGIN_SECTIONS:
        if kind in document and not (kind == "loss" and isinstance(document[kind], list)):
            arguments[kind], options = _plugin(document[kind], kind, path)
            _check_options(kind, arguments[kind], options, kind, path)
            settings |= {f"{kind}.{option}": value for option, value in options.items()}
    for section, kind in LIST_SECTIONS.items():
        if section in document:
            names, options_set = _plugin_list(document, section, kind, path)
            settings |= options_set
            if section != "metrics":  # every metric runs; the file only sets their options
                arguments[section] = names
    training = _training_section(document, path)
    arguments |= training
    if _is_run_record(document) and _fitted_in_one_call(_name_in(document, "model")):
        for name in LOOP_SETTINGS:  # what the run recorded of a loop it never ran, not settings chosen for it
            arguments.pop(name, None)
    elif _is_run_record(document):
        _warn_of_other_threads(document, path)
    for name in (*TOP_LEVEL_SETTINGS, *training):  # each value on its own, so that its error names the file
        if name in arguments:
            try:
                TrainingSettings.from_mapping({name: arguments[name]})
            except UsageError as error:
                raise UsageError(f"config file {path}: {error}") from None
    if arguments.get("epochs") is not None and arguments.get("steps") is not None:
        if not _is_run_record(document):
            raise UsageError(f"config file {path}: [training] sets both steps and epochs; give one of them")
        arguments["steps"] = None  # a run's record holds the steps its epochs came to
    arguments["settings"] = settings
    return arguments


def _loss_sum(entries: list[Any], path: Path) -> tuple[str, dict[str, Any]]:
    """A [[loss]] list as the loss spec ``run`` takes (``mse+ne-umap:0.5``) and its terms' options."""
    if not entries:
        raise UsageError(f"config file {path}: loss is an empty list; name a loss, or leave loss out for the model's")
    terms = [_plugin(entry, "loss", path) for entry in entries]
    weights = [entry.get("weight", 1.0) if isinstance(entry, dict) else 1.0 for entry in entries]
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise UsageError(f"config file {path}: a [loss] weight must be a positive number, got "
                             f"{json.dumps(weight)}")  # fmt: skip
    spec = spec_text([(name, weight) for (name, _options), weight in zip(terms, weights, strict=True)])
    try:  # an infinite weight, or one beyond the largest a loss takes
        parse_spec(spec)
    except UsageError as error:
        raise UsageError(f"config file {path}: {error}") from None
    settings: dict[str, Any] = {}
    for name, options in terms:
        _check_options("loss", name, options, f"loss.{name}", path)
        settings |= {f"loss.{name}.{option}": value for option, value in options.items()}
    return spec, settings


def _plugin_list(document: dict[str, Any], section: str, kind: str,
                 path: Path) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """The plugins a list section (reporters, callbacks, metrics) names, and their options as settings."""
    if not isinstance(document[section], list):
        raise UsageError(f"config file {path}: {section} must be a list of names or tables")
    chosen = [_plugin(entry, section, path) for entry in document[section]]
    _check_listed_once(chosen, section, path)
    for name, options in chosen:
        if section == "callbacks" and name.startswith("no-") and options:
            raise UsageError(f"config file {path}: [[callbacks]] '{name}' turns the callback '{name[3:]}' "
                             "off, so it takes no options; leave them out")  # fmt: skip
    if section == "metrics":
        installed = get_registry().names("metric")
        if _is_run_record(document):  # a metric since uninstalled just does not run
            chosen = [(name, options) for name, options in chosen if name in installed]
        elif unknown_metrics := [name for name, _options in chosen if name not in installed]:
            raise UsageError(f"config file {path}: unknown metric '{unknown_metrics[0]}'; choose from: "
                             f"{', '.join(installed)}")  # fmt: skip
    names = [name for name, _options in chosen]
    # A hand-written list adds to the default callbacks as --callback does (no-NAME leaves one out); a run's
    # record lists its whole set, so the defaults it left out stay out.
    if section == "callbacks" and _is_run_record(document):
        listed = set(names)
        names += [f"no-{name}" for name in defaults_of("callback") if name not in listed]
    settings: dict[str, Any] = {}
    for name, options in chosen:
        _check_options(kind, name, options, f"{kind}.{name}", path)
        settings |= {f"{kind}.{name}.{option}": value for option, value in options.items()}
    return names, settings


def _training_section(document: dict[str, Any], path: Path) -> dict[str, Any]:
    """The [training] table, its keys checked by name (their values are checked with the top-level ones)."""
    training = document.get("training", {})
    if not isinstance(training, dict):
        raise UsageError(f"config file {path}: [training] must be a table")
    unknown = sorted(set(training) - set(TRAINING_KEYS))
    if unknown:
        raise UsageError(
            f"config file {path}: unknown [training] keys {_quoted(unknown)}; allowed: {', '.join(TRAINING_KEYS)}"
        )
    return training


def with_config_file(arguments: Mapping[str, Any], given: set[str], from_file: dict[str, Any]) -> dict[str, Any]:
    """The run's arguments: those ``given`` on the command line, the rest from the file (``read_config``). The
    file's options of reporters, losses or callbacks that the command line replaces or leaves out go with them."""
    if "reporters" in given:
        from_file["settings"] = replaced_plugin_options(from_file, "reporter", arguments["reporters"] or ())
    if "loss" in given and arguments["loss"]:
        from_file["settings"] = replaced_plugin_options(from_file, "loss", loss_names(arguments["loss"]))
    if "callbacks" in given:
        running = chosen_names("callback", arguments["callbacks"], adds_to_defaults=True)
        from_file["settings"] = replaced_plugin_options(from_file, "callback", running)
    for kind in ("dataset", "model"):  # another one named: the file's options were for the one it replaces
        if kind in given and arguments[kind] != from_file.get(kind):
            from_file["settings"] = {key: value for key, value in from_file["settings"].items()
                                     if not key.startswith(f"{kind}.")}  # fmt: skip
    if "model" in given and arguments["model"] != from_file.get("model") and "loss" not in given:
        if from_file.get("model") is not None:  # a file of no model has a loss for whichever model is named
            from_file.pop("loss", None)  # the replaced model's loss (a run's record names its own): the new one's
            from_file["settings"] = replaced_plugin_options(from_file, "loss", ())
        if _fitted_in_one_call(arguments["model"]):
            for name in LOOP_SETTINGS:  # the replaced network's training loop: a one-call model runs none
                from_file.pop(name, None)
    for length, other in (("steps", "epochs"), ("epochs", "steps")):  # the run's length, given one way or the other
        if length in given and arguments[length] is not None:
            from_file.pop(other, None)
    settings = {**from_file.pop("settings"), **arguments["settings"]}
    return {**arguments, **{key: value for key, value in from_file.items() if key not in given}, "settings": settings}


def check_named_plugins(arguments: Mapping[str, Any], given: set[str], path: str | Path) -> None:
    """The plugins the file names that the command line keeps must be installed, the error naming the file (the
    options of an unknown one are not checked by ``read_config``, since the command line may replace it)."""
    registry = get_registry()
    named = [(kind, arguments.get(kind)) for kind in ("dataset", "model") if kind not in given]
    if "loss" not in given and isinstance(arguments.get("loss"), str):
        named += [("loss", name) for name in loss_names(arguments["loss"])]
    if "reporters" not in given:
        named += [("reporter", name) for name in arguments.get("reporters") or ()]
    if "callbacks" not in given:  # no-NAME turns a default one off
        named += [("callback", str(name).removeprefix("no-")) for name in arguments.get("callbacks") or ()]
    for kind, name in named:
        if isinstance(name, str) and name and name not in registry.names(kind):
            raise UsageError(f"config file {path}: {registry.unknown(kind, name)}")


def check_file_options(arguments: Mapping[str, Any], command_line: Mapping[str, Any], path: str | Path) -> None:
    """The options the file alone gives a plugin, built as the run builds them, so that one the plugin refuses
    (``n_components = 0``) names the file. A plugin given options on the command line (``command_line``: the
    ``--set`` settings) too is left to the run, which checks them together."""
    registry = get_registry()
    losses = loss_names(arguments["loss"]) if isinstance(arguments.get("loss"), str) else []

    def plugin_of(group: str) -> tuple[str, Any]:  # loss.OPTION is the single loss's, as loss.NAME.OPTION is
        kind, _, name = group.partition(".")
        return kind, name or (losses[0] if kind == "loss" and len(losses) == 1 else arguments.get(kind))

    from_command_line = {plugin_of(group) for group in group_settings(command_line)}
    for group, options in group_settings(arguments["settings"]).items():
        kind, name = plugin_of(group)
        if (kind, name) in from_command_line or not isinstance(name, str) or name not in registry.names(kind):
            continue  # an unknown plugin is named by the run, with the installed ones
        cls = registry.get(kind, name).cls
        try:
            with blame(cls, "build its options"):  # as the run does: a fault of the plugin's own names it
                plugin_options.build(cls.Options, options, prefix=group)
        except UsageError as error:
            raise UsageError(f"config file {path}: {error}") from None


def replaced_plugin_options(from_file: Mapping[str, Any], kind: str, names: Iterable[str]) -> dict[str, Any]:
    """The settings of ``read_config``'s ``from_file`` without the options of its plugins of ``kind`` (reporter,
    loss) that the command line replaced with ``names``: those options would be for plugins the run no longer
    has."""
    names = set(names)
    kept = tuple(f"{kind}.{name}." for name in names)
    only = from_file.get(kind)  # a file of one loss may name its options loss.OPTION
    settings = {}
    for key, value in from_file["settings"].items():
        if not key.startswith(f"{kind}.") or key.startswith(kept):
            settings[key] = value
        elif key.count(".") == 1 and only in names:  # named in full: the command line may add other losses
            settings[f"{kind}.{only}.{key.partition('.')[2]}"] = value
    return settings


def loss_names(spec: str) -> list[str]:
    """The loss plugins of a loss combination: ``"mse+geodesic:10"`` -> ``["mse", "geodesic"]``."""
    return [name for name, _weight in parse_spec(spec)]


def with_recorded_options(record: dict[str, Any]) -> dict[str, Any]:
    """A run's config.json with its plugins' options as they take them now (``recorded_options``): those gained
    since it was written set to the values that do what the plugins did then, those retired left out."""
    record = copy.deepcopy(record)
    for section, kind in SECTION_KINDS.items():
        entries = record.get(section)
        for entry in entries if isinstance(entries, list) else [entries]:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                options = entry.get("options") or {}
                if isinstance(options, dict):
                    entry["options"] = recorded_options(kind, entry["name"], options)
    return record


def warn_of_replaced_choices(path: str | Path, dataset: str | None, model: str | None) -> None:
    """Warn where a run's config.json reruns on another data set (``dataset``, None where not given), whose choices
    the run recorded as settings for its own data, or with another network (``model``), where the training
    settings it recorded are the ones its model chose (a one-call model, which trains in no loop, drops them)."""
    document = _parse(Path(path))
    if not _is_run_record(document):
        return  # written by hand: nothing in it was chosen for the user
    recorded = {kind: _name_in(document, kind) for kind in ("dataset", "model")}
    if dataset is not None and recorded["dataset"] not in (None, dataset):
        warnings.warn(f"{path} is a run's record of the choices it made for dataset '{recorded['dataset']}' (the "
                      f"model's options, precision, optimizer, holdout...), which are kept as settings; to have them "
                      f"chosen for dataset '{dataset}', give them on the command line or leave out --config",
                      stacklevel=2)  # fmt: skip
    old = recorded["model"]
    if model is None or old in (None, model) or _fitted_in_one_call(model):
        return
    if _fitted_in_one_call(old):  # its record's loop settings are not read back (read_config)
        return
    if any(_chooses_training(chosen) for chosen in (old, model)):  # else dimred's defaults, whichever trains
        warnings.warn(f"{path} is a run's record of the training settings model '{old}' chose (learning rate, batch "
                      f"size, precision, optimizer...), which are kept for model '{model}'; to have '{model}' choose "
                      "them, give them on the command line or leave out --config", stacklevel=2)  # fmt: skip


def _chooses_training(model: str) -> bool:
    """Whether the model plugin (where installed) suggests training settings for the data of its own."""
    registry = get_registry()
    if model not in registry.names("model"):
        return False
    return registry.get("model", model).cls.training_defaults is not Model.training_defaults


def _warn_of_other_threads(record: dict[str, Any], path: Path) -> None:
    """Say where a run's record trained on the CPU on another number of torch threads than this process computes
    on: its settings then train weights that differ by float rounding, not the recorded run's bit for bit."""
    import torch  # a run from this file imports it anyway

    recorded, here = record.get("threads"), torch.get_num_threads()
    if record.get("device_used") == "cpu" and isinstance(recorded, int) and recorded != here:
        warnings.warn(f"config file {path}: its run computed on {recorded} torch threads, this process on {here}, "
                      "so it trains weights that differ by float rounding; OMP_NUM_THREADS="
                      f"{recorded} repeats it bit for bit", stacklevel=3)  # fmt: skip


def _quoted(keys: Iterable[str]) -> str:
    """Keys as a file gave them, each quoted: an empty one shows."""
    return ", ".join(f"'{key}'" for key in keys)


def _fitted_in_one_call(model: str | None) -> bool:
    """Whether the model plugin (where installed) is fitted in one call, without a training loop."""
    registry = get_registry()
    return model in registry.names("model") and issubclass(registry.get("model", model).cls, EstimatorModel)


def _name_in(document: dict[str, Any], kind: str) -> str | None:
    """The name of the dataset or model a config file names."""
    section = document.get(kind, {})
    name = section.get("name") if isinstance(section, dict) else section
    return name if isinstance(name, str) else None


def _is_run_record(document: dict[str, Any]) -> bool:
    """Whether the file is a run's config.json (which lists what the run used, with the package versions every
    run has recorded), not a hand-written one."""
    return "versions" in document


def _recorded_dataset(model: object) -> tuple[str, dict[str, Any]]:
    """The data set a fitted Reducer was trained on and its options (``dataset.NAME`` keys), as its model file
    records them (``FittedModel.trained_on``); ("", {}) for one fitted on arrays."""
    trained_on = getattr(getattr(model, "fitted_", None), "trained_on", None)
    if trained_on is None:
        return "", {}
    dataset, options = trained_on
    return dataset, {f"dataset.{name}": value for name, value in options.items() if value is not None}


def trained_anndata_option(model: object, option: str) -> str:
    """An option of the AnnData data set that a fitted Reducer's run trained on (its ``layer``: '' for X; its
    ``label_key``); '' where it set none, and for other data sets."""
    dataset, settings = _recorded_dataset(model)
    return str(settings.get(f"dataset.{option}", "")) if dataset == "h5ad" else ""


def trained_set_aside_columns(model: object) -> dict[str, str]:
    """The columns of its file that a run on the ``file`` data set set aside, as its options name them (a header
    name or a 0-based index): {"label_column": "species"}, say; {} for other runs."""
    dataset, settings = _recorded_dataset(model)
    if dataset != "file":
        return {}
    specs = {f"{role}_column": str(settings.get(f"dataset.{role}_column", "")) for role in ("label", "color")}
    return {option: spec for option, spec in specs.items() if spec}


def trained_header(model: object) -> bool | None:
    """Whether a run on the ``file`` data set said its file's first row names the columns (``dataset.header``):
    True or False where it said, None where the header was guessed, and for other runs."""
    dataset, settings = _recorded_dataset(model)
    said = settings.get("dataset.header") if dataset == "file" else None
    return said if isinstance(said, bool) else None


@contextlib.contextmanager
def read_as_the_run_said(header: bool | None, path: str | Path, otherwise: str) -> Iterator[None]:
    """An error met reading the file at ``path`` as its run said of its first row (``dataset.header``; None: the
    run said nothing) says so where the file's first row looks otherwise (a row of names read as data, one of data
    read as names). ``otherwise``: how to read it otherwise."""
    try:
        yield
    except DataError as error:
        if header is None or not _looks_otherwise(path, header):
            raise
        said = "true: its first row names the columns" if header else "false: its first row is data"
        raise type(error)(f"{error} (read as the run said, dataset.header={said}; {otherwise})") from None


def _looks_otherwise(path: str | Path, header: bool) -> bool:
    """Whether the first row of the text file at ``path``, guessed, is a header where ``header`` says it is not,
    or the other way round."""
    if not isinstance(path, str | Path) or Path(path).suffix.lower() not in TEXT:
        return False
    try:
        with header_given(None), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the guess's own doubts: this is the question, not an answer
            return (csv_layout(Path(path)).header is not None) != header
    except DimredError:
        return False


def trained_ignored_columns(model: object) -> list[str]:
    """The columns of its file that a run on the ``file`` data set left out (``dataset.ignore_columns``: header
    names or 0-based indices); [] for other runs."""
    dataset, settings = _recorded_dataset(model)
    if dataset != "file":
        return []
    return [spec.strip() for spec in str(settings.get("dataset.ignore_columns", "")).split(",") if spec.strip()]
