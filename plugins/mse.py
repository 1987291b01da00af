"""Mean squared reconstruction error, the reference tutorial's loss."""

from __future__ import annotations

from dimred.plugin import Batch, Loss, hookimpl


class MeanSquaredLoss(Loss):
    name = "mse"
    description = "mean squared error between the input and its reconstruction"

    def __call__(self, batch: Batch):
        return (batch.x_hat - batch.x).square().mean()


@hookimpl
def register_losses(register):
    register(MeanSquaredLoss)
