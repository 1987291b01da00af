from __future__ import annotations

import importlib.metadata
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from dimred._core.runfiles import MANIFEST_NAME
from dimred._host.registry import ENTRY_POINT_GROUP, get_registry, reset_registry


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch) -> Iterator[None]:
    """Every test runs in its own folder with a freshly loaded registry holding the built-ins only (installed
    third-party plugins, such as examples/dimred-extras, are left out unless a test asks for them)."""
    monkeypatch.chdir(tmp_path)
    for variable in ("DIMRED_STRICT_PLUGINS", "DIMRED_DEBUG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DIMRED_LOAD_PLUGINS", "")
    reset_registry()
    yield
    reset_registry()


@pytest.fixture(autouse=True)
def _torch_threads_unchanged() -> Iterator[None]:
    """A test leaves torch's thread count as it found it: on another count one seed trains other weights, so a
    test that changed it made later tests depend on the order they ran in (umap-learn's numba had changed it)."""
    threads = torch.get_num_threads()
    yield
    left = torch.get_num_threads()
    torch.set_num_threads(threads)
    assert left == threads, f"the test left torch computing on {left} threads, not {threads}"


@dataclass
class FakeDistribution:
    name: str


@dataclass
class FakeEntryPoint:
    """Stands in for an installed package's entry point."""

    name: str
    loader: Callable[[], Any]
    dist: FakeDistribution
    group: str = ENTRY_POINT_GROUP
    value: str = "fake.module"

    def load(self) -> Any:
        return self.loader()


@pytest.fixture
def fake_entry_points(monkeypatch) -> Callable[..., None]:
    """Add fake entry points to the ``dimred`` group, beside the real (built-in) ones."""
    real = importlib.metadata.entry_points

    def install(*fakes: FakeEntryPoint) -> None:
        monkeypatch.delenv("DIMRED_LOAD_PLUGINS")

        def entry_points(**selection: Any):
            found = list(real(**selection))
            if selection.get("group") == ENTRY_POINT_GROUP:
                found += list(fakes)
            return found

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
        reset_registry()

    return install


def hidden_leftovers(paths: Iterable[Path]) -> list[Path]:
    """Hidden files among ``paths`` other than a run's list of its files: temporary files left behind."""
    return [path for path in paths if path.name.startswith(".") and path.name != MANIFEST_NAME]


def plugin_module(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """A module object carrying the given hook implementations, as an installed plugin's module would."""
    from dimred._core.hookspecs import hookimpl

    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


class LinearNetwork(torch.nn.Module):
    """The smallest autoencoder network: one linear layer each way (for test plugins)."""

    def __init__(self, n_features: int, n_components: int) -> None:
        super().__init__()
        self.down = torch.nn.Linear(n_features, n_components)
        self.up = torch.nn.Linear(n_components, n_features)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(z)


@pytest.fixture
def register_in_process() -> Iterator[Callable[[types.ModuleType], None]]:
    """Register plugin modules straight into the process's registry (no install), removed afterwards."""
    registered: list[str] = []

    def register(module: types.ModuleType) -> None:
        get_registry().register(module, name=module.__name__)
        registered.append(module.__name__)

    yield register
    for name in registered:
        get_registry().unregister(name)


@pytest.fixture
def interrupt_once(register_in_process) -> str:
    """A callback, registered in process, that presses Ctrl-C at step 35 of the first run that names it (resumed
    runs name it too and go on); returns its name."""
    from dimred.plugin import Callback

    class InterruptOnce(Callback):
        name = "interrupt-once"
        description = "Ctrl-C at step 35, once"
        done = False

        def on_interval(self, training, status):
            if status.step == 35 and not InterruptOnce.done:
                InterruptOnce.done = True
                raise KeyboardInterrupt

    register_in_process(plugin_module("interrupting", register_callbacks=lambda register: register(InterruptOnce)))
    return InterruptOnce.name


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """`dimred run --dataset swissroll --model mlp-ae` with every default, trained once for the whole session."""
    from click.testing import CliRunner

    from dimred.cli import cli

    out = tmp_path_factory.mktemp("default") / "roll"
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out
