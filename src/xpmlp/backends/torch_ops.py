"""PyTorch fast paths: fused ATen operations where the generic code needs several calls.

Each is registered (:mod:`.fastpaths`) under the generic function it replaces and
held to it by a parity test.  ``torch`` is imported when a fast path first runs.
"""

from __future__ import annotations

from typing import Any, Sequence

from .arrays import matmul
from .fastpaths import register

__all__: list[str] = []


@register("relu.f", "torch")
def _relu_f(xp: Any, z: Any) -> Any:
    import torch

    return torch.relu(z)  # array-api-compat's maximum(z, 0.0) builds a tensor from the scalar each call


@register("relu.forward", "torch")
def _relu_forward(xp: Any, z: Any, out: Any = None) -> tuple[Any, Any]:
    import torch

    return (torch.relu(z) if out is None else torch.clamp_min(z, 0.0, out=out)), None


@register("relu.delta", "torch")
def _relu_delta(xp: Any, g: Any, z: Any, a: Any, scratch: Any = None) -> Any:
    import torch

    if scratch is None:
        return torch.ops.aten.threshold_backward(g, a, 0.0)  # g where a > 0 else 0, one fused pass
    return torch.ops.aten.threshold_backward.grad_input(g, a, 0.0, grad_input=g)  # the same, into g


@register("sgd.update", "torch")
def _sgd_update(params: Sequence[Any], grads: Sequence[Any], learning_rate: float) -> None:
    import torch

    torch._foreach_add_(list(params), list(grads), alpha=-learning_rate)  # p <- p - eta g, one call for all


@register("arrays.matmul", "torch")
def _matmul(xp: Any, a: Any, b: Any, out: Any = None) -> Any:
    import torch

    if out is None or a.layout != torch.strided:
        return matmul(xp, a, b, out)  # no buffer, or a sparse input layer: torch's product, then copied
    return torch.matmul(a, b, out=out)


@register("arrays.affine", "torch")
def _affine(xp: Any, a: Any, W: Any, b: Any, out: Any = None) -> Any:
    import torch

    if a.layout != torch.strided:  # a sparse input layer: the product, then the bias
        z = _matmul(xp, a, W, out)
        return z.add_(b)
    return torch.addmm(b, a, W) if out is None else torch.addmm(b, a, W, out=out)  # one GEMM with beta = 1


@register("softmax.forward", "torch")
def _softmax_forward(xp: Any, z: Any, out: Any = None) -> tuple[Any, Any]:
    import torch

    log_a = torch.log_softmax(z, dim=1) if out is None else torch.ops.aten._log_softmax.out(z, 1, False, out=out)
    lse = z[:, :1] - log_a[:, :1]  # log sum_k exp(z_k) = z_j - log softmax(z)_j, any j
    return log_a.exp_(), lse  # a = exp(log softmax(z)): one fused stable pass, then one exp


@register("arrays.add_scaled", "torch")
def _add_scaled(xp: Any, y: Any, x: Any, alpha: float) -> Any:
    return y.add_(x, alpha=alpha)  # one pass, no alpha * x temporary


@register("arrays.sum_rows", "torch")
def _sum_rows(xp: Any, a: Any, out: Any = None) -> Any:
    import torch

    return torch.sum(a, dim=0) if out is None else torch.sum(a, dim=0, out=out)


@register("arrays.take_rows", "torch")
def _take_rows(xp: Any, a: Any, rows: Any, out: Any = None) -> Any:
    import torch

    return torch.index_select(a, 0, rows) if out is None else torch.index_select(a, 0, rows, out=out)


@register("arrays.cos", "torch")
def _cos(xp: Any, x: Any, out: Any = None) -> Any:
    import torch

    return torch.cos(x, out=out)  # into out's own strides (a permuted view too): no copy_


@register("arrays.sin", "torch")
def _sin(xp: Any, x: Any, out: Any = None) -> Any:
    import torch

    return torch.sin(x, out=out)


@register("momentum.update", "torch")
def _momentum_update(p: Any, g: Any, v: Any, learning_rate: float, momentum: float, nesterov: bool) -> None:
    v.mul_(momentum).add_(g, alpha=-learning_rate)  # v <- mu v - eta g
    if nesterov:
        p.add_(g, alpha=-learning_rate).add_(v, alpha=momentum)  # p <- p - eta g + mu v
    else:
        p.add_(v)  # p <- p + v


@register("adam.update", "torch")
def _adam_update(xp, p, g, m, v, learning_rate, beta_1, beta_2, epsilon, c1, c2) -> None:
    import torch

    m.lerp_(g, 1.0 - beta_1)  # m <- b1 m + (1 - b1) g
    v.mul_(beta_2).addcmul_(g, g, value=1.0 - beta_2)  # v <- b2 v + (1 - b2) g^2
    torch.div(v, c2, out=g).sqrt_().add_(epsilon)  # sqrt(v_hat) + eps, in g's buffer (consumed)
    p.addcdiv_(m, g, value=-learning_rate / c1)  # p <- p - eta m_hat / (sqrt(v_hat) + eps)
