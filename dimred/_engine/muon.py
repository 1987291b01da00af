"""Muon for the weight matrices of a network's inner layers, Adam for the rest of its parameters.

Muon (Jordan et al. 2024, "Muon: an optimizer for hidden layers") steps each weight matrix along its momentum
made orthogonal (every singular value brought near 1 by a few Newton-Schulz iterations), so no direction of the
matrix learns much faster than the others. ``ne-ae`` on digits: over 32 splits, the held-out 5-NN accuracy of the
codes rose from 0.974 to 0.980 in about the same fit time (538 steps instead of 646: a step costs about 1.2 times
Adam's; docs/performance.md). Matrices with a side of fewer than MUON_MIN_SIDE values (the layers into and out of 2-D
codes) and every vector (biases, norms) stay with Adam, as in the paper.
"""

from __future__ import annotations

import torch

from dimred._core.defaults import MUON_MIN_SIDE
from dimred._core.errors import UsageError
from dimred._engine.optim import FlatAdam

MOMENTUM = 0.95
ITERATIONS = 3  # of Newton-Schulz: 5 take two-thirds longer and did no better on digits
QUINTIC = (3.4445, -4.7750, 2.0315)  # Jordan et al.'s coefficients: fast to orthogonal, not exactly there
# Times sqrt(the larger side): updates 2.5 times the size of Adam's at the same learning rate. 0.2 (Adam's size)
# gave held-out accuracy 0.9757 / 0.9780 on digits splits 0-15 / 16-31, 0.5 0.9774 / 0.9823 (on 16-31: 0.35 0.9790,
# 0.8 0.9797).
UPDATE_SCALE = 0.5


def is_muon_matrix(parameter: torch.nn.Parameter) -> bool:
    return parameter.ndim == 2 and min(parameter.shape) >= MUON_MIN_SIDE


def orthogonalised(matrices: torch.Tensor) -> torch.Tensor:
    """Each of a stack of matrices (k x rows x columns, rows <= columns) with its singular values moved near 1."""
    a, b, c = QUINTIC
    x = matrices / matrices.flatten(1).norm(dim=1).add_(1e-7)[:, None, None]
    for _ in range(ITERATIONS):
        gram = torch.bmm(x, x.mT)
        x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x


class _SameShape:
    """Matrices of one shape: their values, gradients and momenta are slices of one stack each."""

    def __init__(self, members: list[torch.nn.Parameter]) -> None:
        self.members = members
        self.values = torch.stack([parameter.detach() for parameter in members])
        self.gradients = torch.zeros_like(self.values)
        for parameter, value, gradient in zip(members, self.values, self.gradients, strict=True):
            parameter.data, parameter.grad = value, gradient  # views: one operation steps them all
        self.momentum = torch.zeros_like(self.gradients)
        self.tall = members[0].shape[0] > members[0].shape[1]

    def direction(self) -> torch.Tensor:
        """The momentum-and-gradient direction (Nesterov) of each matrix, wide side last."""
        self.momentum.mul_(MOMENTUM).add_(self.gradients)
        direction = self.gradients.add(self.momentum, alpha=MOMENTUM)
        return direction.mT if self.tall else direction

    def apply(self, update: torch.Tensor, lr: float, weight_decay: float) -> None:
        scale = -lr * UPDATE_SCALE * max(update.shape[1:]) ** 0.5
        self.values.mul_(1 - lr * weight_decay).add_(update.mT if self.tall else update, alpha=scale)


class Muon:
    """Muon for the matrices that ``is_muon_matrix`` picks, FlatAdam (at the same learning rate and weight decay)
    for every other parameter. Newton-Schulz computes in the parameters' type (bfloat16 was no faster on the CPU
    at these sizes)."""

    def __init__(self, parameters: list[torch.nn.Parameter]) -> None:
        trained = [parameter for parameter in parameters if parameter.requires_grad]
        matrices = [parameter for parameter in trained if is_muon_matrix(parameter)]
        if not matrices:
            raise UsageError(f"optimizer muon steps weight matrices with both sides at least {MUON_MIN_SIDE}, and this "
                             "model has none; train it with --optimizer adam (optimizer='adam')")  # fmt: skip
        chosen = {id(parameter) for parameter in matrices}
        others = [parameter for parameter in trained if id(parameter) not in chosen]
        self.adam = FlatAdam(others) if others else None
        shapes: dict[tuple[int, ...], list[torch.nn.Parameter]] = {}
        for parameter in matrices:
            shapes.setdefault(tuple(parameter.shape), []).append(parameter)
        self.groups = {"x".join(map(str, shape)): _SameShape(members) for shape, members in shapes.items()}
        self.batches: dict[tuple[int, ...], list[_SameShape]] = {}  # orthogonalised together: one shape, wide last
        for shape, group in zip(shapes, self.groups.values(), strict=True):
            self.batches.setdefault(tuple(sorted(shape)), []).append(group)
        self._steps = 0

    @property
    def steps(self) -> int:
        return self._steps

    @steps.setter
    def steps(self, value: int) -> None:
        """Where a resumed run sets the count, Adam's bias correction goes on from it too."""
        self._steps = value
        if self.adam is not None:
            self.adam.steps = value

    def zero_grad(self) -> None:
        if self.adam is not None:
            self.adam.zero_grad()
        for group in self.groups.values():
            group.gradients.zero_()

    @torch.no_grad()
    def step(self, lr: float, beta1: float, weight_decay: float = 0.0) -> None:
        self._steps += 1  # and Adam's own count, in its step
        if self.adam is not None:
            self.adam.step(lr, beta1, weight_decay)
        for groups in self.batches.values():
            updates = orthogonalised(torch.cat([group.direction() for group in groups]))
            for group, update in zip(groups, updates.split([len(group.members) for group in groups]), strict=True):
                group.apply(update, lr, weight_decay)

    def state(self) -> dict[str, torch.Tensor]:
        adam = self.adam.state() if self.adam is not None else {}
        return adam | {f"momentum.{name}": group.momentum for name, group in self.groups.items()}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.adam is not None:
            self.adam.load_state(tensors)
        for name, group in self.groups.items():
            group.momentum.copy_(tensors[f"momentum.{name}"])
