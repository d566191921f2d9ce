"""PyTorch fast paths: fused ATen operations where the generic code needs several calls.

Each is registered (:mod:`.fastpaths`) under the generic function it replaces and
held to it by a parity test.  ``torch`` is imported when a fast path first runs.
"""

from __future__ import annotations

from typing import Any, Sequence

from .fastpaths import register

__all__: list[str] = []


@register("relu.f", "torch")
def _relu_f(xp: Any, z: Any) -> Any:
    import torch

    return torch.relu(z)  # array-api-compat's maximum(z, 0.0) builds a tensor from the scalar each call


@register("relu.delta", "torch")
def _relu_delta(xp: Any, g: Any, z: Any, a: Any) -> Any:
    import torch

    return torch.ops.aten.threshold_backward(g, a, 0.0)  # g where a > 0 else 0, one fused pass


@register("sgd.update", "torch")
def _sgd_update(params: Sequence[Any], grads: Sequence[Any], learning_rate: float) -> None:
    import torch

    torch._foreach_add_(list(params), list(grads), alpha=-learning_rate)  # p <- p - eta g, one call for all
