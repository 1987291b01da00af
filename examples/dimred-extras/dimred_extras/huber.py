"""Huber loss on the reconstruction."""

from __future__ import annotations

from dataclasses import dataclass

from dimred.plugin import Batch, Loss, hookimpl, option


class Huber(Loss):
    name = "huber"
    description = "Huber loss between input and reconstruction: quadratic below delta, linear above"

    @dataclass(frozen=True)
    class Options:
        delta: float = option(0.1, "where the loss turns from quadratic to linear (in scaled units)")

        def __post_init__(self) -> None:
            if self.delta <= 0:
                raise ValueError("delta must be positive")

    def __call__(self, batch: Batch):
        error = (batch.x_hat - batch.x).abs()
        quadratic = error.clamp(max=self.options.delta)
        return (0.5 * quadratic.square() + self.options.delta * (error - quadratic)).mean()


@hookimpl
def register_losses(register):
    register(Huber)
