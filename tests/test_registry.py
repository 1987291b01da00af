from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import FakeDistribution, FakeEntryPoint, plugin_module
from dimred import Callback, Data, Dataset, Loss
from dimred._core.errors import PluginError, UsageError
from dimred._host.registry import PluginWarning, get_registry, reset_registry
from dimred.cli import cli
from dimred.plugin import option


class Circle(Dataset):
    name = "circle"
    description = "points on a circle"

    def load(self, seed):
        angles = np.linspace(0, 2 * np.pi, 100, endpoint=False)
        return Data(X=np.column_stack([np.cos(angles), np.sin(angles)]))


class AnotherSwissRoll(Circle):
    name = "swissroll"
    description = "an impostor"


class Summing(Loss):
    """A loss whose subclasses here test what registering checks."""

    def __call__(self, batch):
        return batch.x_hat.sum()


def _broken_import():
    raise ImportError("No module named 'missing_dependency'")


def test_builtins_arrive_through_the_entry_point_group():
    registry = get_registry()
    for kind, name in [("dataset", "swissroll"), ("model", "mlp-ae"), ("loss", "mse"), ("reporter", "loss-curve")]:
        assert registry.get(kind, name).source == "dimred"
    assert registry.failures == []


def test_unknown_name_lists_the_valid_ones_and_suggests_the_closest():
    with pytest.raises(UsageError, match=r"unknown model 'mlp-a' \(did you mean 'mlp-ae'\?\); choose from: .*mlp-ae"):
        get_registry().get("model", "mlp-a")
    with pytest.raises(UsageError, match=r"unknown model 'PCA' \(did you mean 'pca'\?\)"):  # names in any case
        get_registry().get("model", "PCA")


def test_a_broken_entry_point_warns_naming_it_and_its_distribution(fake_entry_points):
    fake_entry_points(FakeEntryPoint("broken", _broken_import, FakeDistribution("dimred-broken")))
    with pytest.warns(PluginWarning, match=r"plugin 'broken' from dimred-broken: failed to load: .*missing_dependency"):
        registry = get_registry()
    assert [(failure.plugin, failure.source) for failure in registry.failures] == [("broken", "dimred-broken")]
    assert registry.get("dataset", "swissroll").source == "dimred"


def test_strict_mode_makes_a_broken_plugin_an_error(fake_entry_points, monkeypatch):
    monkeypatch.setenv("DIMRED_STRICT_PLUGINS", "1")
    fake_entry_points(FakeEntryPoint("broken", _broken_import, FakeDistribution("dimred-broken")))
    with pytest.raises(PluginError, match="plugin 'broken' from dimred-broken"):
        get_registry()


def test_a_third_party_plugin_is_found_and_attributed(fake_entry_points):
    module = plugin_module("circle_plugin", register_datasets=lambda register: register(Circle))
    fake_entry_points(FakeEntryPoint("circle", lambda: module, FakeDistribution("dimred-circle")))
    assert get_registry().get("dataset", "circle").source == "dimred-circle"


def test_load_plugins_variable_selects_third_party_plugins(fake_entry_points, monkeypatch):
    module = plugin_module("circle_plugin", register_datasets=lambda register: register(Circle))
    fake_entry_points(FakeEntryPoint("circle", lambda: module, FakeDistribution("dimred-circle")))
    monkeypatch.setenv("DIMRED_LOAD_PLUGINS", "")
    assert "circle" not in [info.name for info in get_registry().plugins("dataset")]
    assert get_registry().get("dataset", "swissroll").source == "dimred"


def test_a_name_no_plugin_has_says_which_installed_plugins_were_left_out_or_failed(fake_entry_points, monkeypatch):
    module = plugin_module("circle_plugin", register_datasets=lambda register: register(Circle))

    def broken():
        raise ImportError("no module named circle_helpers")

    fake_entry_points(FakeEntryPoint("circle", lambda: module, FakeDistribution("dimred-circle")),
                      FakeEntryPoint("broken", broken, FakeDistribution("dimred-broken")))  # fmt: skip
    monkeypatch.setenv("DIMRED_LOAD_PLUGINS", "broken,circel")
    with pytest.warns(PluginWarning) as warned:
        registry = get_registry()
    with pytest.raises(UsageError) as raised:
        registry.get("dataset", "circle")
    assert (
        "; plugins that failed to load: broken (dimred plugins says why); DIMRED_LOAD_PLUGINS='broken,circel' "
        "leaves out the installed plugin packages circle"
    ) in str(raised.value)
    messages = [str(warning.message) for warning in warned]
    assert "DIMRED_LOAD_PLUGINS names 'circel', which no installed package provides as a plugin" in messages[0]
    assert "plugin 'broken' from dimred-broken: failed to load" in messages[1]


def test_a_package_failing_in_several_ways_is_named_once_among_those_that_failed(fake_entry_points):
    def register_broken(register):
        for name in ("first", "second"):
            register(type(name.title(), (Callback,), {"name": name}))  # no description
        register(type("Off", (Callback,), {"name": "no-checkpoint", "description": "never turned on"}))

    module = plugin_module("broken_callbacks", register_callbacks=register_broken)
    fake_entry_points(FakeEntryPoint("broken", lambda: module, FakeDistribution("dimred-broken")))
    with pytest.warns(PluginWarning) as warned, pytest.raises(UsageError) as raised:
        get_registry().get("dataset", "circle")
    assert str(raised.value).endswith("; plugins that failed to load: broken (dimred plugins says why)")
    assert len(warned) == 3
    assert "callback 'no-checkpoint': a callback's name may not begin with 'no-'" in str(warned[2].message)


@pytest.mark.parametrize("variable", ["DIMRED_STRICT_PLUGINS", "DIMRED_DEBUG"])
def test_a_switch_in_the_environment_that_is_neither_on_nor_off_is_one_error(monkeypatch, variable):
    """DIMRED_STRICT_PLUGINS=banana was read as off; DIMRED_DEBUG=banana named an option '--debug' not given."""
    monkeypatch.setenv(variable, "banana")
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 2
    assert result.output == (f"Error: {variable}='banana' is neither on (1, true, t, yes, y, on) nor off (0, false, "
                             "f, no, n, off, or unset)\n")  # fmt: skip
    for value in ("Off", "n", "y"):  # y as click had read DIMRED_DEBUG
        monkeypatch.setenv(variable, value)
        assert CliRunner().invoke(cli, ["plugins"]).exit_code == 0


def test_a_duplicate_name_is_refused_naming_both_sources(fake_entry_points):
    module = plugin_module("impostor", register_datasets=lambda register: register(AnotherSwissRoll))
    fake_entry_points(FakeEntryPoint("impostor", lambda: module, FakeDistribution("dimred-impostor")))
    registry = get_registry()
    with pytest.warns(
        PluginWarning, match=r"from dimred-impostor: dataset name 'swissroll' is already registered by dimred"
    ):
        found = registry.get("dataset", "swissroll")
    assert found.cls is not AnotherSwissRoll


def test_strict_mode_makes_a_duplicate_an_error(fake_entry_points, monkeypatch):
    monkeypatch.setenv("DIMRED_STRICT_PLUGINS", "1")
    module = plugin_module("impostor", register_datasets=lambda register: register(AnotherSwissRoll))
    fake_entry_points(FakeEntryPoint("impostor", lambda: module, FakeDistribution("dimred-impostor")))
    with pytest.raises(PluginError, match="already registered by dimred") as raised:
        get_registry().plugins("dataset")
    assert "ignored" not in str(raised.value)  # nothing goes on without it: the run stops


def test_strict_mode_makes_a_plugin_breaking_its_contract_an_error_that_does_not_say_it_is_left_out(
    fake_entry_points, monkeypatch
):
    monkeypatch.setenv("DIMRED_STRICT_PLUGINS", "1")
    undescribed = type("Undescribed", (AnotherSwissRoll,), {"name": "undescribed", "description": ""})
    module = plugin_module("undescribed", register_datasets=lambda register: register(undescribed))
    fake_entry_points(FakeEntryPoint("undescribed", lambda: module, FakeDistribution("dimred-undescribed")))
    with pytest.raises(PluginError, match="registered a dataset: dataset 'undescribed' has no description"):
        get_registry().plugins("dataset")


def test_two_packages_may_give_an_entry_point_the_same_name(fake_entry_points):
    """An entry point's name is the package's own business: one named like a built-in's, or like another
    package's, loads (only the plugin classes' names must differ)."""
    circles = plugin_module("acme_circles", register_datasets=lambda register: register(Circle))
    losses = plugin_module("other_losses", register_losses=lambda register: register(
        type("L1", (Summing,), {"name": "l1", "description": "x"})))  # fmt: skip
    fake_entry_points(FakeEntryPoint("metrics", lambda: circles, FakeDistribution("acme")),
                      FakeEntryPoint("metrics", lambda: losses, FakeDistribution("other")))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry = get_registry()
        assert registry.get("dataset", "circle").source == "acme"
        assert registry.get("loss", "l1").source == "other"
        assert registry.get("metric", "trustworthiness").source == "dimred"
        assert registry.failures == []


def test_load_plugins_picks_one_of_two_same_named_entry_points_by_its_package(fake_entry_points, monkeypatch):
    circles = plugin_module("acme_circles", register_datasets=lambda register: register(Circle))
    losses = plugin_module("other_losses", register_losses=lambda register: register(
        type("L1", (Summing,), {"name": "l1", "description": "x"})))  # fmt: skip
    fake_entry_points(FakeEntryPoint("metrics", lambda: circles, FakeDistribution("acme")),
                      FakeEntryPoint("metrics", lambda: losses, FakeDistribution("other")))  # fmt: skip
    monkeypatch.setenv("DIMRED_LOAD_PLUGINS", "acme:metrics")
    reset_registry()
    registry = get_registry()
    assert registry.get("dataset", "circle").source == "acme"
    assert "l1" not in {info.name for info in registry.plugins("loss")}
    monkeypatch.setenv("DIMRED_LOAD_PLUGINS", "metrics")  # the plain name: both
    reset_registry()
    assert get_registry().get("loss", "l1").source == "other"
    monkeypatch.setenv("DIMRED_LOAD_PLUGINS", "nobody:metrics")
    reset_registry()
    with pytest.warns(PluginWarning, match=r"names 'nobody:metrics', .* \(installed: acme:metrics, .*other:metrics"):
        get_registry().plugins("dataset")
    get_registry().unregister("metrics")  # an entry point's name removes every package's of that name
    assert {"acme", "other"}.isdisjoint(info.source for info in get_registry().plugins("metric"))


def test_two_packages_registering_the_same_plugin_name_warn_naming_both(fake_entry_points):
    first = plugin_module("first_circle", register_datasets=lambda register: register(Circle))
    second = plugin_module("second_circle", register_datasets=lambda register: register(Circle))
    fake_entry_points(FakeEntryPoint("circle", lambda: first, FakeDistribution("dimred-circle")),
                      FakeEntryPoint("circle", lambda: second, FakeDistribution("other-circle")))  # fmt: skip
    with pytest.warns(PluginWarning, match=r"plugin 'circle' from other-circle: dataset name 'circle' is already "
                      r"registered by dimred-circle; this one is ignored"):  # fmt: skip
        assert get_registry().get("dataset", "circle").source == "dimred-circle"


def test_registering_a_module_twice_warns_in_one_short_line_and_keeps_it(register_in_process):
    """A notebook cell that registers a module, run twice."""
    module = plugin_module("twice", register_datasets=lambda register: register(Circle))
    register_in_process(module)
    with pytest.warns(PluginWarning) as warned:
        get_registry().register(module)
    [message] = [str(warning.message) for warning in warned]
    assert message == (
        "module twice is already registered as plugin 'twice'; this second registration is ignored "
        "(unregister('twice') first to register it anew)"
    )
    assert get_registry().failures == []
    assert get_registry().get("dataset", "circle").source == "module twice"


def test_another_module_under_a_taken_name_is_ignored_saying_how_to_replace_it(register_in_process):
    register_in_process(plugin_module("mine", register_datasets=lambda register: register(Circle)))
    with pytest.warns(PluginWarning) as warned:
        get_registry().register(plugin_module("mine", register_datasets=lambda register: register(Circle)))
    [message] = [str(warning.message) for warning in warned]
    assert message == (
        "plugin 'mine' from module mine: the name 'mine' is already registered (module mine); this one is "
        "ignored: unregister('mine') first to replace it, or register it under another name"
    )


def test_a_misspelled_hook_is_an_error_with_a_suggestion(fake_entry_points):
    module = plugin_module("typo", register_dataset=lambda register: register(Circle))
    fake_entry_points(FakeEntryPoint("typo", lambda: module, FakeDistribution("dimred-typo")))
    with pytest.warns(PluginWarning, match=r"unknown hook 'register_dataset' \(did you mean 'register_datasets'\?\)"):
        registry = get_registry()
    assert registry.failures[0].plugin == "typo"
    with pytest.raises(UsageError):
        registry.get("dataset", "circle")


@dataclass(frozen=True)
class _RefusingItsOwnPast:
    weight: float = option(1.0, "a weight added in a later version", before_added=-1.0)

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"weight must be at least 0, got {self.weight}")


_LATER = {"name": "later", "description": "x", "Options": _RefusingItsOwnPast}


_SOME_FILE = Path("x.csv")


@dataclass(frozen=True)
class _PathOption:
    where: Path = option(_SOME_FILE, "a path, which no config file carries back")  # noqa: RUF009 (the point)


@dataclass(frozen=True)
class _PairOption:
    pair: tuple[int, int] = option((1, 2), "two counts, a tuple of fixed length")


@dataclass(frozen=True)
class _WrongDefault:
    count: int = option("sixty", "a count whose default is text")


@dataclass(frozen=True)
class _PastOfAnotherType:
    count: int = option(30, "a count", before_added="lots")


@dataclass(frozen=True)
class _RequiredPath:
    """A data file's path, required (its default refused), and an option added later: registered."""

    path: str = option("", "required")
    mode: str = option("new", "how", before_added="old")

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("path is required")


def _loss_with(options: type, name: str) -> type:
    return type(name.title(), (Summing,), {"name": name, "description": "x", "Options": options})


@pytest.mark.parametrize(
    ("hook", "error"),
    [
        (lambda register: register(Circle), "not a subclass of dimred.Loss"),
        (
            lambda register: register(type("Later", (Summing,), _LATER)),
            "before_added value is refused: weight must be at",
        ),
        (lambda register: register("mse"), "not a subclass of dimred.Loss"),
        (lambda register: 1 / 0, "division by zero"),
        (lambda register: register(type("Nameless", (Summing,), {"description": "x"})), "name must be lower-case"),
        (lambda register: register(type("Mute", (Summing,), {"name": "mute"})), "has no description"),
        (lambda register: register(_loss_with(_PathOption, "pathy")), "option 'where' is of type Path; options are"),
        (lambda register: register(_loss_with(_WrongDefault, "wrong")), "option 'count' has a default its type refu"),
        (lambda register: register(_loss_with(_PairOption, "pair")), r"'pair' is of type tuple\[int, int\]; options"),
        (
            lambda register: register(_loss_with(_PastOfAnotherType, "past")),
            "before_added value is refused: option 'count': not a whole number",
        ),
        (lambda register: sys.exit(0), "register_losses failed: 0"),  # not the end of every dimred command
        (lambda register: [Circle], r"register_losses returned list instead of calling register\(cls\)"),
    ],
)
def test_a_plugin_breaking_its_contract_is_reported_and_ignored(register_in_process, hook, error):
    register_in_process(plugin_module("bad_losses", register_losses=hook))
    with pytest.warns(PluginWarning, match=error):
        names = [info.name for info in get_registry().plugins("loss")]
    assert names == ["geodesic", "kl", "mse", "ne-tsne", "ne-umap"]  # the built-ins only


def test_an_option_added_later_to_options_that_require_a_value_registers(register_in_process):
    register_in_process(plugin_module("required", register_losses=lambda register: register(
        _loss_with(_RequiredPath, "required"))))  # fmt: skip
    assert get_registry().get("loss", "required").cls.Options is _RequiredPath


def test_a_class_breaking_its_contract_leaves_the_others_of_its_hook_registered(register_in_process):
    good = type("Good", (Summing,), {"name": "good", "description": "x"})
    register_in_process(plugin_module("mixed", register_losses=lambda register: [
        register(good), register(_loss_with(_PathOption, "pathy"))]))  # fmt: skip
    with pytest.warns(PluginWarning, match="register_losses registered a loss that is left out: loss 'pathy'"):
        names = [info.name for info in get_registry().plugins("loss")]
    assert "good" in names
    assert "pathy" not in names


def test_plugins_command_lists_failed_plugins_beside_the_working_ones(fake_entry_points):
    fake_entry_points(FakeEntryPoint("broken", _broken_import, FakeDistribution("dimred-broken")))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert "Warning: plugin 'broken' from dimred-broken: failed to load" in result.output
    assert "failed plugins" in result.stdout
    assert "broken from dimred-broken: failed to load: ImportError" in result.stdout
    assert "swissroll" in result.stdout


def test_what_a_plugin_prints_as_it_loads_goes_to_stderr_so_the_json_listing_parses(fake_entry_points):
    def loud_import():
        print("loading circle helpers...")
        return plugin_module("loud", register_datasets=lambda register: print("registering") or register(Circle))

    fake_entry_points(FakeEntryPoint("loud", loud_import, FakeDistribution("dimred-loud")))
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    assert "circle" in [plugin["name"] for plugin in json.loads(result.stdout)["dataset"]]
    assert result.stderr == "loading circle helpers...\nregistering\n"


def test_strict_mode_on_the_command_line_is_one_error_line(fake_entry_points, monkeypatch):
    monkeypatch.setenv("DIMRED_STRICT_PLUGINS", "1")
    fake_entry_points(FakeEntryPoint("broken", _broken_import, FakeDistribution("dimred-broken")))
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "mlp-ae"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: plugin 'broken' from dimred-broken: failed to load")
    assert "Traceback" not in result.output


def test_a_hook_taking_a_misnamed_argument_is_named_in_one_line(register_in_process):
    def register_losses(reg):  # pluggy matches hook arguments by name
        reg(Circle)

    with pytest.warns(PluginWarning) as warned:
        register_in_process(plugin_module("misnamed", register_losses=register_losses))
    [message] = [str(warning.message) for warning in warned if "misnamed" in str(warning.message)]
    assert "\n" not in message
    assert "Argument(s) {'reg'} are declared in the hookimpl" in message
    assert message.endswith("each register_* hook takes one argument, named register")
