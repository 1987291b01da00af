"""dimred's flat Adam and one-cycle schedule against torch's own, and the fast dropout's distribution."""

from __future__ import annotations

import copy

import pytest
import torch

from dimred._core.networks import FastDropout, MLPNetwork
from dimred._engine.optim import FlatAdam, one_cycle


@pytest.mark.parametrize("total", [7, 100])
def test_one_cycle_matches_torchs_one_cycle_lr(total):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=0.05)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=total)
    for step in range(total):
        group = optimizer.param_groups[0]
        assert one_cycle(step, total, 0.05) == pytest.approx((group["lr"], group["betas"][0]), rel=1e-12)
        optimizer.step()
        scheduler.step()


def test_flat_adam_takes_the_same_steps_as_torchs_adam_without_the_fused_kernel():
    torch.manual_seed(0)
    ours = MLPNetwork(3, 2, (32, 16), 0.0, True).double()
    reference = copy.deepcopy(ours)
    X = torch.rand(200, 3, dtype=torch.float64)
    optimizer = FlatAdam(ours.parameters(), fused=False)
    torch_optimizer = torch.optim.Adam(reference.parameters(), lr=0.05, foreach=False)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(torch_optimizer, max_lr=0.05, total_steps=60)
    for step in range(60):
        optimizer.zero_grad()
        (ours(X) - X).square().mean().backward()
        optimizer.step(*one_cycle(step, 60, 0.05))
        torch_optimizer.zero_grad()
        (reference(X) - X).square().mean().backward()
        torch_optimizer.step()
        scheduler.step()
    for name, value in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[name], value), name


def test_flat_adam_with_the_fused_kernel_takes_the_steps_of_torchs_fused_adamw():
    """Both over the same flat buffer (the kernel rounds by its vector layout) with the same gradients."""
    torch.manual_seed(0)
    network = MLPNetwork(3, 2, (32, 16), 0.0, True).double()
    X = torch.rand(200, 3, dtype=torch.float64)
    optimizer = FlatAdam(network.parameters(), fused=True)
    flat = torch.nn.Parameter(optimizer.values.clone())
    torch_optimizer = torch.optim.AdamW([flat], lr=0.05, weight_decay=0.1, fused=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(torch_optimizer, max_lr=0.05, total_steps=60)
    for step in range(60):
        optimizer.zero_grad()
        (network(X) - X).square().mean().backward()
        flat.grad = optimizer.gradients.clone()
        optimizer.step(*one_cycle(step, 60, 0.05), weight_decay=0.1)
        torch_optimizer.step()
        scheduler.step()
        assert torch.equal(optimizer.values, flat.detach()), step


def test_flat_adam_uses_the_fused_kernel_where_torch_has_one_for_the_cpu():
    assert FlatAdam(torch.nn.Linear(2, 2).parameters()).fused


def test_flat_adam_keeps_parameters_and_gradients_in_its_buffers():
    module = torch.nn.Linear(4, 3)
    optimizer = FlatAdam(module.parameters())
    module(torch.rand(5, 4)).sum().backward()
    assert optimizer.gradients.abs().sum() > 0
    assert module.weight.grad.data_ptr() == optimizer.gradients.data_ptr()
    optimizer.zero_grad()
    assert module.weight.grad.abs().sum() == 0


def test_fast_dropout_drops_p_and_scales_the_rest():
    torch.manual_seed(0)
    dropout = FastDropout(0.2).train()
    out = dropout(torch.ones(400, 1001))  # odd width: the mask is cut from a longer random draw
    dropped = (out == 0).double()
    assert dropped.mean().item() == pytest.approx(0.2, abs=0.002)
    for offset in range(4):  # every 16-bit quarter of a 64-bit draw is uniform
        assert dropped.view(-1)[offset::4].mean().item() == pytest.approx(0.2, abs=0.004)
    assert set(out.unique().tolist()) == {0.0, 1.25}
    assert torch.equal(dropout.eval()(torch.ones(3, 3)), torch.ones(3, 3))
