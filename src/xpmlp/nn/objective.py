"""The training objective and its gradient for one batch.

A step descends the batch objective (:class:`Objective`)

    ``C_B = (1/|B|) sum_{i in B} w_i C_i  +  (alpha_B / 2) sum_l ||W^l||_F^2``

``C_i`` is the per-sample loss, ``w_i`` the sample weights normalised to mean 1
over the training set (all 1 without ``sample_weight``), and the L2 penalty
covers the weights but not the biases.  By default ``alpha_B = alpha``, so the
gradient gains ``alpha * W^l`` whatever the batch size and ``alpha`` means the
same thing online, mini-batch and full batch; scikit-learn's SGD and Adam use
``alpha_B = alpha / |B|`` (``Objective(alpha, alpha_per_batch=True)``), its
L-BFGS ``alpha / n`` (the estimators convert).  ``|B|`` counts the batch's rows in
every process of a data-parallel fit.

:func:`batch_gradients` is the one implementation of a step's objective: the
training loop, L-BFGS and the tests call it.  Gradients are lists in
:attr:`MLP.params` order ``[dW^1, db^1, dW^2, ...]``, backend arrays of the
model's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

from ..backends.arrays import ArrayOps, ops_for, sum_of_squares
from ..backends.boundary import normalized_sample_weight
from .backprop import Trace, Workspace, backward, forward
from .network import MLP
from .parameters import Flat, update_order

__all__ = [
    "Objective",
    "BatchObjective",
    "batch_loss",
    "param_gradients",
    "data_gradients",
    "add_penalty",
    "add_l2_gradient",
    "l2_penalty",
    "batch_gradients",
    "objective",
]

REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class Objective:
    """What training descends (see the module docstring).

    alpha : the L2 coefficient, ``>= 0``
    alpha_per_batch : ``alpha_B = alpha / |B|`` (scikit-learn's SGD and Adam) rather than ``alpha``
    record_scale : factor on the data term of the loss *recorded* per epoch (and so monitored for
        convergence), not on the gradient; 1 records what is descended.  scikit-learn reports its
        multi-output squared error averaged over the outputs while descending their sum (its issue
        #8349); its estimators here pass ``1 / n_outputs``
    reduction : ``"mean"`` (gradients of ``C_B``) or ``"sum"`` (of ``|B| C_B``: seed 02's batch sums)
    """

    alpha: float = 0.0
    alpha_per_batch: bool = False
    record_scale: float = 1.0
    reduction: str = "mean"

    def __post_init__(self) -> None:
        if not self.alpha >= 0.0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be 'mean' or 'sum', got {self.reduction!r}")

    def delta_scale(self, rows: int) -> float:
        """The factor on delta^L for a batch of ``rows`` rows: ``1/|B|`` for the mean, 1 for the sum."""
        return 1.0 / rows if self.reduction == "mean" else 1.0

    def batch_alpha(self, rows: int) -> float:
        """``alpha_B`` of a batch of ``rows`` rows."""
        return self.alpha / rows if self.alpha_per_batch else self.alpha


class BatchObjective(NamedTuple):
    """One batch's objective at the weights before its update (0-d device arrays) and its gradient.

    ``loss`` is ``sum_i w_i C_i`` over the batch's rows in this process; ``penalty`` is
    ``|B| alpha_B sum_l ||W^l||^2`` (None without L2), so ``|B| C_B = loss + penalty / 2``
    summed over the processes' losses; ``grads`` the gradient of ``C_B`` (``"sum"``: of ``|B| C_B``).
    """

    loss: Any
    penalty: Any
    grads: list


def batch_loss(net: MLP, trace: Trace, Tb: Any, wb: Any = None) -> Any:
    """``sum_i w_i C_i`` over a batch whose forward pass is ``trace``: a 0-d device array."""
    if wb is None:
        return net.loss.total(net.xp, trace.z[-1], trace.a[-1], Tb, trace.aux[-1])  # sum_i C_i
    return net.xp.sum(net.loss.value(net.xp, trace.z[-1], trace.a[-1], Tb, trace.aux[-1]) * wb)  # C_i, (b,)


def param_gradients(net: MLP, trace: Trace, Tb: Any, wb: Any = None, scale: float | None = None,
                    reduction: str = "mean", grads: Flat | None = None, ws: Workspace | None = None,
                    loss_scale: Any = None) -> Any:
    """Backprop for a batch whose forward pass is ``trace``: ``[dC/dW^1, dC/db^1, ...]``, or, given a
    flat gradient buffer ``grads``, that buffer with the gradients written into it.

    ``scale`` is the factor on delta^L (default ``1/b`` for ``reduction="mean"``, 1 for ``"sum"``),
    so the result is ``scale`` times the gradient of ``sum_i w_i C_i``.  ``ws``: the workspace
    ``trace`` was made in (:class:`~xpmlp.nn.backprop.Workspace`; its arrays are reused);
    ``loss_scale`` multiplies delta^L (mixed precision's loss scaling, a 0-d device array).
    """
    g = backward(net.Ws, net.activations, net.loss, trace, Tb, net.xp, reduction, sample_weight=wb, scale=scale,
                 grads=grads, ops=net.ops, ws=ws, loss_scale=loss_scale, **net.front_args)
    return grads if grads is not None else update_order(g.grad_W, g.grad_b) + g.grad_front


def l2_penalty(xp: Any, Ws: Any) -> Any:
    """``sum_l ||W^l||_F^2``, a 0-d device array; ``Ws``: the weight matrices, or a flat buffer (one
    reduction over its weights' slice)."""
    return sum_of_squares(xp, [Ws.weights] if hasattr(Ws, "weights") else Ws)


def add_l2_gradient(grads: Any, Ws: Any, alpha: float, ops: ArrayOps | None = None) -> None:
    """``dC/dW^l += alpha W^l`` in place (biases untouched): ``grads`` in params order and the weight
    matrices ``Ws``, or two flat buffers (one axpy, ``ops.add_scaled``, on their weights' slices)."""
    if not alpha:
        return
    if hasattr(grads, "weights"):
        (ops or ops_for(Ws.xp)).add_scaled(grads.weights, Ws.weights, alpha)  # d/dW (alpha/2 ||W||^2) = alpha W, every layer at once
        return
    for g, W in zip(grads[0::2], Ws):
        g += alpha * W  # d/dW (alpha/2 ||W||^2) = alpha W


def batch_gradients(net: MLP, Xb: Any, Tb: Any, wb: Any = None, objective: Objective = Objective(),
                    rows: int | None = None, reduce: Callable[[list], None] | None = None,
                    grads: Flat | None = None, ws: Workspace | None = None, factor: float = 1.0,
                    masks: Sequence | None = None) -> BatchObjective:
    """Forward and backward for one batch: the objective's value and gradient (:class:`BatchObjective`).

    ``Xb`` ``(b, sizes[0])``, ``Tb`` ``(b, sizes[-1])``, ``wb`` ``(b,)`` or None: backend arrays.
    ``rows`` is ``|B|``, the batch's rows in every process (default ``b``); ``reduce``, if given,
    sums the data term's gradient over the processes in place before the penalty's gradient is
    added (once, not once per process).  ``grads`` (a flat buffer of the model's layout) and ``ws``
    (a :class:`~xpmlp.nn.backprop.Workspace` of ``b`` rows): where the gradient and the step's
    arrays go, reused from step to step (the training loop's); ``factor`` multiplies the gradient
    (plain SGD folds its learning rate in here, so its update is one subtraction).  ``masks``:
    dropout's, one per layer (see :func:`~xpmlp.nn.backprop.forward`).
    """
    rows = Xb.shape[0] if rows is None else rows
    loss, g = data_gradients(net, Xb, Tb, wb, objective, rows, grads, ws, factor, masks=masks)
    if reduce is not None:
        reduce([g.flat] if grads is not None else g)  # data-parallel: the data term summed over processes
    penalty = add_penalty(net, g, objective, rows, factor)
    return BatchObjective(loss, penalty, g)


def data_gradients(net: MLP, Xb: Any, Tb: Any, wb: Any, objective: Objective, rows: int, grads: Flat | None = None,
                   ws: Workspace | None = None, factor: Any = 1.0, out_dtype: Any = None,
                   loss_scale: Any = None, masks: Sequence | None = None) -> tuple[Any, Any]:
    """``(sum_i w_i C_i, its gradient)`` for one batch, the penalty left out (see :func:`batch_gradients`).

    ``out_dtype`` and ``loss_scale`` are mixed precision's (:mod:`xpmlp.training.precision`):
    the output layer and the loss in ``out_dtype``, delta^L times ``loss_scale``.
    """
    trace = forward(net.Ws, net.bs, net.activations, Xb, net.xp, net.ops, ws, out_dtype, masks,
                    **net.front_args)  # z^l, a^l
    loss = batch_loss(net, trace, Tb, wb)  # sum_i w_i C_i, stays on the device
    scale = factor * objective.delta_scale(rows)
    g = param_gradients(net, trace, Tb, wb, scale, objective.reduction, grads, ws, loss_scale)  # delta^l -> dC/dW^l
    return loss, g


def add_penalty(net: MLP, g: Any, objective: Objective, rows: int, factor: float = 1.0) -> Any:
    """Add the L2 penalty's gradient ``alpha_B W^l`` (times ``factor``) to ``g`` in place; return the
    penalty ``|B| alpha_B sum ||W^l||^2`` (a 0-d device array), or None without L2.  ``g``: a flat
    buffer of ``net``'s layout or a list in params order."""
    alpha = objective.batch_alpha(rows)
    if not alpha:
        return None
    params = net.parameters if hasattr(g, "flat") else net.Ws
    add_l2_gradient(g, params, factor * (alpha if objective.reduction == "mean" else alpha * rows), net.ops)
    return (alpha * rows) * l2_penalty(net.xp, params)  # |B| alpha_B sum ||W^l||^2


def objective(net: MLP, X: Any, T: Any, alpha: float = 0.0, sample_weight: Any = None) -> float:
    """The training objective at the current weights, as a host float.

    ``mean_i w_i C_i + (alpha/2) sum_l ||W^l||^2`` over all of ``X`` (weights normalised to mean 1).
    """
    with net.backend.activate():
        X = net.as_input(X)
        T = net.as_target(T, X.shape[0])
        w = normalized_sample_weight(net.backend, sample_weight, X.shape[0])
        xp = net.xp
        trace = forward(net.Ws, net.bs, net.activations, X, xp, net.ops, **net.front_args)
        per = net.loss.value(xp, trace.z[-1], trace.a[-1], T, trace.aux[-1])
        value = xp.mean(per if w is None else per * w)
        if alpha:
            value = value + (0.5 * alpha) * l2_penalty(xp, net.Ws)
        return float(net.backend.to_numpy(value))
