"""Update rules: how a gradient moves the parameters.

An optimizer updates the parameter arrays in place, on their device, from
gradients of the same shapes; it never reads a value back to the host.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["Optimizer", "SGD"]


class Optimizer:
    """Base class: ``step(params, grads, learning_rate)`` updates ``params`` in place."""

    def step(self, params: Sequence[Any], grads: Sequence[Any], learning_rate: float) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: ``W <- W - learning_rate * dC/dW`` (seed 01: weight -= LR * gradient)."""

    def step(self, params, grads, learning_rate):
        for p, g in zip(params, grads):
            p -= learning_rate * g  # W <- W - LR * grad_W
