"""Muon for inner weight matrices (Adam for the rest): its orthogonalisation, its choice of parameters, its
steps, resuming it exactly, and the setting that asks for it."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import dimred
from dimred._core.contracts import Term
from dimred._core.settings import TrainingSettings
from dimred._engine.muon import UPDATE_SCALE, Muon, orthogonalised
from dimred._engine.training import Trainer
from dimred.cli import cli
from dimred.plugin import MUON_MIN_SIDE
from dimred.plugins.mse import MeanSquaredLoss


def network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.LayerNorm(32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 48), torch.nn.ReLU(), torch.nn.Linear(48, 2),
                               torch.nn.Linear(2, 20))  # fmt: skip


@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 16, 64)])
def test_orthogonalised_moves_every_singular_value_of_a_well_conditioned_matrix_near_one(shape):
    generator = torch.Generator().manual_seed(0)
    rows = torch.linalg.qr(torch.randn(shape[0], shape[2], shape[1], generator=generator)).Q.mT
    spread = torch.linspace(1.0, 5.0, shape[1])  # singular values 1 to 5
    matrices = spread[None, :, None] * rows
    values = torch.linalg.svdvals(orthogonalised(matrices))
    assert values.min() > 0.6, values
    assert values.max() < 1.25, values
    assert torch.linalg.svdvals(matrices).max() / torch.linalg.svdvals(matrices).min() > 4.9


def test_muon_steps_inner_matrices_and_leaves_vectors_and_code_layers_to_adam():
    module = network()
    optimizer = Muon(list(module.parameters()))
    chosen = [tuple(group.values.shape) for group in optimizer.groups.values()]
    assert sorted(chosen) == [(1, 32, 20), (1, 48, 32)]  # not 2 x 48 nor 20 x 2: a side below MUON_MIN_SIDE
    assert optimizer.adam.values.numel() == sum(
        parameter.numel()
        for parameter in module.parameters()
        if parameter.ndim == 1 or min(parameter.shape) < MUON_MIN_SIDE
    )


def test_a_muon_step_moves_a_matrix_along_its_orthogonalised_gradient_by_the_scaled_rate():
    module = network()
    optimizer = Muon(list(module.parameters()))
    before = module[3].weight.detach().clone()
    module(torch.randn(64, 20)).square().mean().backward()
    gradient = module[3].weight.grad.clone()
    optimizer.step(lr=0.01, beta1=0.9, weight_decay=0.0)
    change = (module[3].weight.detach() - before) / (-0.01 * UPDATE_SCALE * 48**0.5)
    # the first step's Nesterov direction is the gradient times 1 + momentum, orthogonalised
    assert torch.allclose(change, orthogonalised((gradient * 1.95)[None])[0], atol=1e-6)
    assert torch.linalg.svdvals(change).max() < 1.25
    assert torch.cosine_similarity(change.flatten(), gradient.flatten(), dim=0) > 0.3


def test_a_muon_training_resumed_from_its_state_ends_bitwise_where_an_uninterrupted_one_does():
    X = torch.rand(200, 20, generator=torch.Generator().manual_seed(1))
    settings = TrainingSettings(steps=40, batch_size=50, lr=0.01, weight_decay=0.1, optimizer="muon")
    terms = [Term(MeanSquaredLoss(), 1.0)]

    def trainer(steps: int) -> Trainer:
        module = network()
        module.encode, module.decode = module[:6], module[6:]
        torch.manual_seed(2)
        return Trainer(module, terms, X, settings.replace(steps=steps), torch.Generator().manual_seed(3))

    whole = trainer(40)
    whole.run()
    first = trainer(40)
    first.total = 25
    first.run()
    tensors, facts = first.state()
    assert any(name.startswith("optimizer.momentum.") for name in tensors)
    resumed = trainer(40)
    resumed.restore({name: tensor.clone() for name, tensor in tensors.items()}, facts)
    resumed.run()
    for name, value in whole.module.state_dict().items():
        assert torch.equal(value, resumed.module.state_dict()[name]), name


def test_the_optimizer_setting_is_checked_and_recorded():
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--optimizer", "sgd"])
    assert result.exit_code == 2
    assert result.output.count("Error:") == 1
    assert "'sgd' is not one of 'auto', 'adam', 'muon'" in result.output
    run = dimred.run(dataset="swissroll", model="mlp-ae", steps=20, optimizer="muon", out=None, reporters=[],
                     settings={"dataset.n_samples": 200})  # fmt: skip
    assert run.config["training"]["optimizer"] == "muon"
    assert dimred.run(dataset="swissroll", model="mlp-ae", steps=5, out=None, reporters=[],
                      settings={"dataset.n_samples": 200}).config["training"]["optimizer"] == "adam"  # fmt: skip


def test_muon_on_a_model_without_a_matrix_it_steps_is_one_clear_error(tmp_path):
    arguments = ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--set", "model.hidden=8,8", "--optimizer",
                 "muon", "--steps", "2", "--out", str(tmp_path / "run")]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2, result.output
    assert result.output.count("Error:") == 1
    assert "at least 16, and this model has none; train it with --optimizer adam" in result.output
    assert not (tmp_path / "run").exists()
