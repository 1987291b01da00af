"""One test per hook: a plugin that implements only that hook is found and used. And the hook reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import dimred
from conftest import LinearNetwork, plugin_module
from dimred._core import defaults
from dimred._core import hookspecs as hookspecs
from dimred._host.registry import get_registry
from dimred.plugin import Callback, Data, Dataset, Loss, Metric, Model, Reporter, option

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"steps": 3, "settings": {"dataset.n_samples": 64}, "out": None}


class Plane(Dataset):
    name = "plane"
    description = "a tilted plane in 3-D"

    def load(self, seed):
        uv = np.random.default_rng(seed).random((64, 2))
        return Data(X=np.column_stack([uv, uv.sum(axis=1)]), color=uv[:, 0])


class AffineModel(Model):
    name = "affine"
    description = "one linear layer each way"

    @dataclass(frozen=True)
    class Options:
        n_components: int = option(2, "code size")

    def build(self, n_features):
        return LinearNetwork(n_features, self.options.n_components)


class SuggestingModel(AffineModel):
    """Suggests the training settings its class attribute holds."""

    name = "suggesting"
    description = "an affine model with its own training defaults"
    suggestion: object = {}

    def training_defaults(self, n_samples, n_features):
        return SuggestingModel.suggestion


class CountingLoss(Loss):
    name = "counting-mse"
    description = "mse that counts its calls"
    calls = 0

    def __call__(self, batch):
        CountingLoss.calls += 1
        return (batch.x_hat - batch.x).square().mean()


class NextRowLoss(Loss):
    """Adds the next row to each drawn row and pulls their codes together; records what each step gave it."""

    name = "next-row"
    description = "pulls each drawn row's code towards the next row's"
    seen: list[tuple[int, int, int, int, int]] = []
    orders: list[list[int]] = []

    def extra_rows(self, index, generator):
        return (index + 1) % 64

    def __call__(self, batch):
        NextRowLoss.seen.append((batch.drawn, len(batch.index), len(batch.z), len(batch.x), len(batch.x_hat)))
        NextRowLoss.orders.append(batch.index[: batch.drawn].tolist())
        assert batch.x.shape == batch.x_hat.shape
        return (batch.z[: batch.drawn] - batch.z[batch.drawn :]).square().mean()


class BadRowsLoss(NextRowLoss):
    """Adds rows that break the contract of extra_rows in the way its ``kind`` option says."""

    name = "bad-rows"
    description = "adds rows badly"

    @dataclass(frozen=True)
    class Options:
        kind: str = option("past-the-end", "how the rows are wrong")

    def extra_rows(self, index, generator):
        if self.options.kind == "raises":
            raise ValueError("boom")
        if self.options.kind == "floats":
            return index.double()
        return index + 1000 if self.options.kind == "past-the-end" else index[:3]


class Collector(Reporter):
    name = "collector"
    description = "keeps the last run it saw"
    last = None

    def report(self, run):
        Collector.last = run


def test_register_datasets(register_in_process):
    register_in_process(plugin_module("plane_only", register_datasets=lambda register: register(Plane)))
    result = dimred.run(dataset="plane", model="mlp-ae", reporters=[], steps=3, out=None)
    assert result.codes.shape == (64, 2)
    assert get_registry().get("dataset", "plane").source == "module plane_only"


def test_register_models(register_in_process):
    register_in_process(plugin_module("affine_only", register_models=lambda register: register(AffineModel)))
    result = dimred.run(dataset="swissroll", model="affine", reporters=[], **QUICK)
    assert isinstance(result.reducer.module_, LinearNetwork)


def test_register_losses(register_in_process):
    register_in_process(plugin_module("loss_only", register_losses=lambda register: register(CountingLoss)))
    CountingLoss.calls = 0
    dimred.run(dataset="swissroll", model="mlp-ae", loss="counting-mse", reporters=[], **QUICK)
    assert CountingLoss.calls == 3


def test_rows_a_loss_adds_are_encoded_but_not_decoded(register_in_process):
    register_in_process(plugin_module("next_row", register_losses=lambda register: register(NextRowLoss)))
    NextRowLoss.seen.clear()  # other tests' runs append to it too
    dimred.run(dataset="swissroll", model="mlp-ae", loss="mse+next-row", batch_size=16, reporters=[], **QUICK)
    assert NextRowLoss.seen == [(16, 32, 32, 16, 16)] * 3


def test_a_full_batch_comes_in_a_new_order_each_step_to_a_loss_that_adds_rows(register_in_process):
    # a loss may pick rows by their place in the step (ne-tsne's pool of negatives): the same order every step
    # would pick the same rows
    register_in_process(plugin_module("next_row", register_losses=lambda register: register(NextRowLoss)))
    NextRowLoss.orders.clear()
    dimred.run(dataset="swissroll", model="mlp-ae", loss="mse+next-row", batch_size="full", reporters=[],
               settings={"dataset.n_samples": 64}, steps=3, out=None)  # fmt: skip
    assert [sorted(order) for order in NextRowLoss.orders] == [list(range(64))] * 3
    assert len({tuple(order) for order in NextRowLoss.orders}) == 3


@pytest.mark.parametrize(
    ("suggestion", "message"),
    [
        ([("steps", 5)], "training_defaults must return a dict, not a list"),
        ({"step": 5}, "unknown training setting 'step' (a model suggests steps, batch_size, lr,"),
        ({"steps": 0}, "bad steps 0: must be at least 1"),
        ({"lr": float("nan")}, "bad lr nan: the learning rate must be a positive number"),
        ({"precision": "fp8"}, "bad precision 'fp8'"),
        ({"batch_size": "auto"}, "bad batch_size 'auto': suggest a value, or leave the setting out"),
    ],
)
def test_a_model_that_suggests_bad_training_settings_is_named(register_in_process, monkeypatch, suggestion, message):
    register_in_process(plugin_module("suggesting", register_models=lambda register: register(SuggestingModel)))
    monkeypatch.setattr(SuggestingModel, "suggestion", suggestion)
    with pytest.raises(dimred.PluginError, match="model 'suggesting' suggests training settings dimred refuses: " +
                       re.escape(message)):  # fmt: skip
        dimred.run(dataset="swissroll", model="suggesting", reporters=[], settings={"dataset.n_samples": 64}, out=None)


def test_a_model_suggesting_none_trains_with_dimreds_defaults(register_in_process, monkeypatch):
    register_in_process(plugin_module("suggesting", register_models=lambda register: register(SuggestingModel)))
    monkeypatch.setattr(SuggestingModel, "suggestion", None)
    result = dimred.run(dataset="swissroll", model="suggesting", reporters=[], settings={"dataset.n_samples": 64},
                        out=None, steps=3)  # fmt: skip
    assert result.config["training"]["lr"] == defaults.LR


def test_a_models_suggested_settings_are_used_where_the_user_left_them_automatic(register_in_process, monkeypatch):
    register_in_process(plugin_module("suggesting", register_models=lambda register: register(SuggestingModel)))
    suggestion = {"steps": np.int64(4), "batch_size": 16, "lr": np.float32(0.002), "weight_decay": 0.5}
    monkeypatch.setattr(SuggestingModel, "suggestion", suggestion)
    result = dimred.run(dataset="swissroll", model="suggesting", reporters=[], settings={"dataset.n_samples": 64},
                        out=None, lr=0.003)  # fmt: skip
    assert (result.config["training"]["steps"], result.config["training"]["batch_size"]) == (4, 16)
    assert (result.config["training"]["lr"], result.config["training"]["weight_decay"]) == (0.003, 0.5)
    monkeypatch.setattr(SuggestingModel, "suggestion", {"steps": 3, "batch_size": "Full"})  # as the CLI reads it
    result = dimred.run(dataset="swissroll", model="suggesting", reporters=[], settings={"dataset.n_samples": 64},
                        out=None)  # fmt: skip
    assert result.config["training"]["batch_size"] == 64


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("raises", "loss 'bad-rows' failed to add rows to a step (extra_rows): boom"),
        ("floats", "for 16 drawn rows it returned a torch.float64 tensor of shape (16,)"),
        ("past-the-end", "from 0 to 63; for 16 drawn rows it returned a torch.int64 tensor of shape (16,) holding"),
        ("too-few", "for 16 drawn rows it returned a torch.int64 tensor of shape (3,)"),
    ],
)
def test_a_loss_whose_extra_rows_break_their_contract_is_named(register_in_process, kind, message):
    register_in_process(plugin_module("bad_rows", register_losses=lambda register: register(BadRowsLoss)))
    with pytest.raises(dimred.PluginError, match=re.escape(message)):
        dimred.run(dataset="swissroll", model="mlp-ae", loss="mse+bad-rows", batch_size=16, reporters=[],
                   **QUICK | {"settings": QUICK["settings"] | {"loss.bad-rows.kind": kind}})  # fmt: skip


def test_register_reporters(register_in_process):
    register_in_process(plugin_module("reporter_only", register_reporters=lambda register: register(Collector)))
    dimred.run(dataset="swissroll", model="mlp-ae", reporters=["collector"], **QUICK)
    assert Collector.last.metrics["n_samples"] == 64


class CodeNorm(Metric):
    name = "code-norm"
    description = "average length of a code"

    def compute(self, context):
        return {"code_norm": context.codes.norm(dim=1).mean().item()}


def test_register_metrics(register_in_process):
    register_in_process(plugin_module("metric_only", register_metrics=lambda register: register(CodeNorm)))
    result = dimred.run(dataset="swissroll", model="mlp-ae", reporters=[], **QUICK)
    assert result.metrics["code_norm"] == pytest.approx(float(np.linalg.norm(result.codes, axis=1).mean()))


class IntervalCounter(Callback):
    name = "interval-counter"
    description = "counts the logging intervals it sees"
    intervals = 0

    def on_interval(self, training, status):
        IntervalCounter.intervals += 1


def test_register_callbacks(register_in_process):
    register_in_process(plugin_module("callback_only", register_callbacks=lambda register: register(IntervalCounter)))
    IntervalCounter.intervals = 0
    result = dimred.run(dataset="swissroll", model="mlp-ae", reporters=[], callbacks=["interval-counter"], **QUICK)
    assert IntervalCounter.intervals == len(result.history) == 3


def test_every_hook_has_a_reference_section_and_a_test_of_its_own():
    reference = (ROOT / "docs" / "hooks.md").read_text()
    headings = re.findall(r"^#+ `(\w+)\(([^)]*)\)`$", reference, re.MULTILINE)
    tests = (ROOT / "tests" / "test_hooks.py").read_text()
    for hook in hookspecs.HOOK_FOR_KIND.values():
        signature = ", ".join(getattr(hookspecs, hook).__code__.co_varnames)
        assert (hook, signature) in headings, f"docs/hooks.md has no '## `{hook}({signature})`' section"
        assert f"def test_{hook}(" in tests, f"tests/test_hooks.py has no test_{hook}"
    assert {name for name, _signature in headings} == set(hookspecs.HOOK_FOR_KIND.values())
