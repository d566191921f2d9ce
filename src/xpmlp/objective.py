"""The training objective and its gradient for one batch.

With ``reduction="mean"`` a step descends the batch cost

    ``C_B = (1/|B|) sum_{i in B} w_i C_i  +  (alpha / 2) sum_l ||W^l||_F^2``

``C_i`` is the per-sample loss, ``w_i`` the sample weights normalised to mean 1
over the training set (all 1 without ``sample_weight``), and the L2 penalty
covers the weights but not the biases.  Its gradient adds ``alpha * W^l`` to
``dC/dW^l`` whatever the batch size, so ``alpha`` means the same thing online,
mini-batch and full batch (scikit-learn divides it by the batch size for
SGD/Adam and by n for L-BFGS; its estimators here convert).

Gradients are lists in :attr:`MLP.params` order ``[dW^1, db^1, dW^2, ...]``,
backend arrays of the model's dtype.
"""

from __future__ import annotations

from typing import Any, Sequence

from .data import normalized_sample_weight
from .network import MLP, Trace, backward, forward

__all__ = [
    "batch_loss",
    "param_gradients",
    "data_gradients",
    "add_l2_gradient",
    "l2_penalty",
    "batch_gradients",
    "objective",
]


def batch_loss(net: MLP, trace: Trace, Tb: Any, wb: Any = None) -> Any:
    """``sum_i w_i C_i`` over a batch whose forward pass is ``trace``: a 0-d device array."""
    if wb is None:
        return net.loss.total(net.xp, trace.z[-1], trace.a[-1], Tb, trace.aux[-1])  # sum_i C_i
    return net.xp.sum(net.loss.value(net.xp, trace.z[-1], trace.a[-1], Tb, trace.aux[-1]) * wb)  # C_i, (b,)


def param_gradients(net: MLP, trace: Trace, Tb: Any, wb: Any = None, scale: float | None = None,
                    reduction: str = "mean") -> list:
    """Backprop for a batch whose forward pass is ``trace``: ``[dC/dW^1, dC/db^1, ...]``.

    ``scale`` is the factor on delta^L (default ``1/b`` for ``reduction="mean"``, 1 for ``"sum"``),
    so the result is ``scale`` times the gradient of ``sum_i w_i C_i``.
    """
    g = backward(net.Ws, net.activations, net.loss, trace, Tb, net.xp, reduction, sample_weight=wb, scale=scale)
    return [grad for pair in zip(g.grad_W, g.grad_b) for grad in pair]


def data_gradients(net: MLP, Xb: Any, Tb: Any, wb: Any = None, scale: float | None = None,
                   reduction: str = "mean") -> tuple[Any, list]:
    """Forward and backward for one batch: the data term of the objective (no penalty).

    ``Xb`` ``(b, sizes[0])``, ``Tb`` ``(b, sizes[-1])``, ``wb`` ``(b,)`` or None, backend arrays.
    Returns ``(total, grads)``: :func:`batch_loss` at the weights before any update, and
    :func:`param_gradients`.
    """
    trace = forward(net.Ws, net.bs, net.activations, Xb, net.xp)  # z^l = a^{l-1} W^l + b^l, a^l = f(z^l)
    return batch_loss(net, trace, Tb, wb), param_gradients(net, trace, Tb, wb, scale, reduction)


def l2_penalty(xp: Any, Ws: Sequence[Any]) -> Any:
    """``sum_l ||W^l||_F^2``, a 0-d device array."""
    sq = xp.sum(Ws[0] * Ws[0])
    for W in Ws[1:]:
        sq = sq + xp.sum(W * W)
    return sq


def add_l2_gradient(grads: Sequence[Any], Ws: Sequence[Any], alpha: float) -> None:
    """``dC/dW^l += alpha W^l`` in place (``grads`` in params order; biases untouched)."""
    if alpha:
        for g, W in zip(grads[0::2], Ws):
            g += alpha * W  # d/dW (alpha/2 ||W||^2) = alpha W


def batch_gradients(net: MLP, Xb: Any, Tb: Any, wb: Any = None, alpha: float = 0.0,
                    reduction: str = "mean") -> tuple[Any, list]:
    """The whole objective for one batch: data term plus L2 penalty.

    Returns ``(total, grads)``: ``total = b * C_B`` (a 0-d device array, before the update)
    and the gradients of ``C_B`` (``reduction="mean"``) or of ``b * C_B`` (``"sum"``).
    """
    total, grads = data_gradients(net, Xb, Tb, wb, reduction=reduction)
    if alpha:
        n_b = Xb.shape[0]
        total = total + (0.5 * alpha * n_b) * l2_penalty(net.xp, net.Ws)
        add_l2_gradient(grads, net.Ws, alpha if reduction == "mean" else alpha * n_b)
    return total, grads


def objective(net: MLP, X: Any, T: Any, alpha: float = 0.0, sample_weight: Any = None) -> float:
    """The training objective at the current weights, as a host float.

    ``mean_i w_i C_i + (alpha/2) sum_l ||W^l||^2`` over all of ``X`` (weights normalised to mean 1).
    """
    X = net.as_input(X)
    T = net.as_target(T, X.shape[0])
    w = normalized_sample_weight(net.backend, sample_weight, X.shape[0])
    xp = net.xp
    trace = forward(net.Ws, net.bs, net.activations, X, xp)
    per = net.loss.value(xp, trace.z[-1], trace.a[-1], T, trace.aux[-1])
    value = xp.mean(per if w is None else per * w)
    if alpha:
        value = value + (0.5 * alpha) * l2_penalty(xp, net.Ws)
    return float(net.backend.to_numpy(value))
