"""Adam over one flat buffer, and the one-cycle learning-rate schedule.

``torch.optim`` imports ``torch._dynamo`` when its first optimizer is made: 0.7 s of a 5-second run. This Adam
does the same arithmetic as ``torch.optim.Adam`` (its single-tensor path, element by element), on all of a
module's parameters at once: they are moved into one contiguous buffer, and their gradients into another, so a
step is a handful of tensor operations whatever the number of layers. The tests check it against torch's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

# torch.optim.lr_scheduler.OneCycleLR's defaults.
WARMUP_FRACTION = 0.3
START_DIVISOR = 25.0
END_DIVISOR = 1e4
MOMENTUM_RANGE = (0.85, 0.95)


class FlatAdam:
    """Adam (Kingma & Ba) whose parameters and gradients are views into two flat buffers."""

    def __init__(self, parameters: Iterable[torch.nn.Parameter], beta2: float = 0.999, eps: float = 1e-8) -> None:
        trained = [parameter for parameter in parameters if parameter.requires_grad]
        if not trained:
            raise ValueError("the model has no trainable parameters")
        if len({(parameter.dtype, parameter.device) for parameter in trained}) > 1:
            raise ValueError("all trainable parameters must share one dtype and device")
        first = trained[0]
        size = sum(parameter.numel() for parameter in trained)
        self.values = torch.empty(size, dtype=first.dtype, device=first.device)
        self.gradients = torch.zeros_like(self.values)
        offset = 0
        for parameter in trained:
            span = slice(offset, offset + parameter.numel())
            self.values[span].copy_(parameter.detach().reshape(-1))
            parameter.data = self.values[span].view_as(parameter)
            parameter.grad = self.gradients[span].view_as(parameter)  # backward accumulates into these views
            offset += parameter.numel()
        self.exp_avg = torch.zeros_like(self.values)
        self.exp_avg_sq = torch.zeros_like(self.values)
        self.beta2 = beta2
        self.eps = eps
        self.steps = 0

    def zero_grad(self) -> None:
        self.gradients.zero_()

    @torch.no_grad()
    def step(self, lr: float, beta1: float, weight_decay: float = 0.0) -> None:
        """One Adam step; ``weight_decay`` shrinks the weights first, decoupled from the gradient (AdamW)."""
        self.steps += 1
        if weight_decay:
            self.values.mul_(1 - lr * weight_decay)
        self.exp_avg.lerp_(self.gradients, 1 - beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(self.gradients, self.gradients, value=1 - self.beta2)
        bias_correction1 = 1 - beta1**self.steps
        bias_correction2_sqrt = math.sqrt(1 - self.beta2**self.steps)
        denominator = (self.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
        self.values.addcdiv_(self.exp_avg, denominator, value=-lr / bias_correction1)


def _cosine(start: float, end: float, fraction: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)


def one_cycle(step: int, total: int, peak_lr: float) -> tuple[float, float]:
    """Learning rate and Adam's beta1 for ``step`` (0-based) of ``total``, as torch's ``OneCycleLR`` gives them.

    The rate warms up from peak/25 to the peak over the first 30 % of the steps, then anneals to peak/25e4,
    both along a cosine; beta1 moves the opposite way between 0.95 and 0.85.
    """
    low_momentum, high_momentum = MOMENTUM_RANGE
    start_lr = peak_lr / START_DIVISOR
    warmup_end = WARMUP_FRACTION * total - 1
    if step <= warmup_end:
        fraction = step / warmup_end
        return _cosine(start_lr, peak_lr, fraction), _cosine(high_momentum, low_momentum, fraction)
    fraction = (step - warmup_end) / (total - 1 - warmup_end)
    return _cosine(peak_lr, start_lr / END_DIVISOR, fraction), _cosine(low_momentum, high_momentum, fraction)
