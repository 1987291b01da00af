"""The training loop, written for speed on small models.

The data lives on the device once; each step draws its minibatch by index on the device; the loss is read back
to the host once per logging interval, never inside a step. Epochs drop their last partial batch so every step
has the same shape (and batch norm never sees a batch of one).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dimred.contracts import Batch
from dimred.defaults import SCHEDULES
from dimred.engine.optim import FlatAdam, one_cycle
from dimred.errors import DimredError, UsageError

HISTORY_ROWS = 200  # about how many rows history.csv gets, whatever the number of steps

Progress = Callable[[int, int, float], None]
LossFunction = Callable[[Batch], torch.Tensor]


class DivergenceError(DimredError):
    """The loss stopped being a finite number."""


@dataclass(frozen=True)
class TrainingPlan:
    """How long and how fast to train. ``batch_size`` None means full batch."""

    steps: int | None
    epochs: int | None
    batch_size: int | None
    lr: float
    schedule: str

    def __post_init__(self) -> None:
        if self.steps is not None and self.epochs is not None:
            raise UsageError("give either steps or epochs, not both")
        for label, value in (("steps", self.steps), ("epochs", self.epochs), ("batch size", self.batch_size)):
            if value is not None and value < 1:
                raise UsageError(f"{label} must be at least 1, got {value}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UsageError(f"learning rate must be a positive number, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise UsageError(f"unknown schedule '{self.schedule}'; choose from: {', '.join(SCHEDULES)}")

    def batch_for(self, n_samples: int) -> int:
        return n_samples if self.batch_size is None else min(self.batch_size, n_samples)

    def total_steps(self, n_samples: int) -> int:
        per_epoch = n_samples // self.batch_for(n_samples)
        return self.steps if self.steps is not None else (self.epochs or 1) * per_epoch


def _schedule(plan: TrainingPlan, total: int) -> Callable[[int], tuple[float, float]]:
    """Learning rate and Adam's beta1 for each step."""
    if plan.schedule == "constant":
        return lambda _step: (plan.lr, 0.9)
    return lambda step: one_cycle(step, total, plan.lr)


def train(
    module: torch.nn.Module,
    loss_function: LossFunction,
    X: torch.Tensor,
    plan: TrainingPlan,
    generator: torch.Generator,
    progress: Progress | None = None,
) -> list[dict[str, float]]:
    """Train ``module`` on the rows of ``X`` (already on the device); return the loss history."""
    n_samples = len(X)
    batch = plan.batch_for(n_samples)
    if batch < 2 and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        raise UsageError("batch norm needs at least 2 samples per batch; raise the batch size")
    per_epoch = n_samples // batch
    total = plan.total_steps(n_samples)
    log_every = max(1, min(per_epoch, total // HISTORY_ROWS))
    optimizer = FlatAdam(module.parameters())
    schedule = _schedule(plan, total)
    lr = plan.lr
    module.train()
    history: list[dict[str, float]] = []
    running = torch.zeros((), dtype=X.dtype, device=X.device)
    started = time.perf_counter()
    step = logged_step = 0
    while step < total:
        order = torch.randperm(n_samples, device=X.device, generator=generator) if batch < n_samples else None
        for start in range(0, per_epoch * batch, batch):
            index = None if order is None else order[start : start + batch]
            x = X if index is None else X[index]
            z = module.encode(x)
            loss = loss_function(Batch(x=x, z=z, x_hat=module.decode(z), index=index))
            optimizer.zero_grad()
            loss.backward()
            lr, beta1 = schedule(step)
            optimizer.step(lr, beta1)
            running += loss.detach()
            step += 1
            if step % log_every == 0 or step == total:
                mean_loss = (running / (step - logged_step)).item()
                if not math.isfinite(mean_loss):
                    raise DivergenceError(f"loss became {mean_loss} at epoch {step / per_epoch:.1f} (step {step})")
                history.append(
                    {
                        "step": step,
                        "epoch": step / per_epoch,
                        "loss": mean_loss,
                        "lr": lr,
                        "seconds": time.perf_counter() - started,
                    }
                )
                running.zero_()
                logged_step = step
                if progress is not None:
                    progress(step, total, mean_loss)
            if step == total:
                break
    module.eval()
    return history
