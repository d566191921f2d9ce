"""The forward and backward passes, in the seeds' terms (Nielsen's matrix form), batched along axis 0.

Layer ``l = 1..L`` has weights ``W^l`` of shape ``(fan_in, fan_out)`` and bias ``b^l`` of shape
``(fan_out,)``; ``a^0 = X`` is the input batch ``(n, n_in)``.

==========================================  ==============================================
forward, layer l                            ``z^l = a^{l-1} W^l + b^l``,  ``a^l = f(z^l)``
output error signal                         ``delta^L = dC/da^L ⊙ f'(z^L)``
                                            (fused: ``delta^L = a^L - t`` for matching pairs)
propagated error signal                     ``delta^l = (delta^{l+1} (W^{l+1})^T) ⊙ f'(z^l)``
dropout (training), hidden layer l          ``a^l = f(z^l) ⊙ m^l / (1-p)``,
                                            ``delta^l = (delta^{l+1} (W^{l+1})^T) ⊙ m^l / (1-p) ⊙ f'(z^l)``
gradients                                   ``dC/dW^l = (a^{l-1})^T delta^l``,
                                            ``dC/db^l = sum over the batch of delta^l``
input layers of other kinds (:mod:`.front`)  ``a^0 = h(X; theta)``;  ``dC/da^0 = delta^1 (W^1)^T``,
                                            then each kind's ``grad_theta``
==========================================  ==============================================

Python lists are 0-based: ``Ws[i]`` is ``W^{i+1}``, ``trace.z[i]`` is ``z^{i+1}``,
``trace.a[i]`` is ``a^i`` (so ``trace.a[0]`` is the input).

The input ``a^0 = X`` may be a sparse matrix (:mod:`xpmlp.backends.sparse`): the input layer
touches it only in ``a^0 W^1`` and ``(a^0)^T delta^1``, which the sparse containers compute as
sparse times dense, giving dense arrays.

Where the arrays live is not the math's business: given a :class:`Workspace`, each ``z^l``,
``a^l``, ``dC/da^l`` goes into a buffer reused from step to step, and given a flat gradient
buffer (:class:`~xpmlp.nn.parameters.Flat`), each gradient goes into its view; the matrix
products and sums are the backend's :class:`~xpmlp.backends.arrays.ArrayOps`, which write in
place where the library can.  Without them, every array is a new one.

Batch reduction: with ``reduction="mean"`` (default) the batch cost is the mean of the
per-sample costs, so ``delta^L`` carries a factor ``1/n`` and every gradient is the batch
average (mini-batch SGD as in seed 04).  With ``reduction="sum"`` the deltas are the
per-sample error signals and the gradients are sums over the batch (seed 02's batch derivation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..backends.arrays import ArrayOps, ops_for
from ..backends.sparse import transpose
from .activations import Activation
from .losses import Loss

__all__ = ["Trace", "Gradients", "Workspace", "forward", "output_delta", "backward"]


@dataclass
class Trace:
    """What the forward pass records.

    ``z[i]`` is ``z^{i+1}``, shape ``(n, sizes[i+1])``; ``a[i]`` is ``a^i``
    (``a[0]`` is the input, ``a[-1]`` the output).  Backend arrays.
    """

    z: list
    a: list
    #: ``aux[i]``: what layer i+1's activation computed for free beside ``a`` (see
    #: :meth:`Activation.forward`; softmax: its log-normaliser), else None.
    aux: list = field(default_factory=list)
    #: Dropout: ``masks[i]`` the scaled mask ``m^i / (1 - p)`` applied to ``a^i`` (None: no dropout
    #: there), ``f[i]`` the activation ``f(z^i)`` before it (``f[0]`` is the input).  Empty: no dropout.
    masks: list = field(default_factory=list)
    f: list = field(default_factory=list)
    #: Input layers (:class:`~xpmlp.nn.front.Front`): each one's ``(x, cache)``; empty: ``a^0 = X``.
    front: list = field(default_factory=list)

    def undropped(self, i: int) -> Any:
        """``f(z^i)``, the activation before dropout (``a^i`` where none was applied)."""
        return self.f[i] if self.f else self.a[i]

    def mask(self, i: int) -> Any:
        """The scaled mask on ``a^i``, or None."""
        return self.masks[i] if self.masks else None


@dataclass
class Gradients:
    """What the backward pass returns (backend arrays, the model's dtype).

    ``delta[i]`` is ``delta^{i+1}`` ``(n, sizes[i+1])``; ``grad_W[i]`` is
    ``dC/dW^{i+1}`` ``(sizes[i], sizes[i+1])``; ``grad_b[i]`` is ``dC/db^{i+1}``
    ``(sizes[i+1],)``.
    """

    delta: list
    grad_W: list
    grad_b: list
    #: The input layers' ``grad_theta`` (:class:`~xpmlp.nn.front.Front`), in their layout order.
    grad_front: list = field(default_factory=list)


class Workspace:
    """The arrays a training step reuses, for batches of up to ``rows`` rows (backend arrays of
    ``dtype``; ``a^L`` of ``out_dtype`` if given, see :func:`forward`): per layer ``z^l`` and
    ``a^l``, and for ``l < L`` ``dC/da^l`` and a scratch array; with input layers (``front``: their
    :class:`~xpmlp.nn.input_layer.Scratch`, one per layer, kept) ``dC/da^0`` too.
    :meth:`rows` gives views for a batch of ``n <= rows`` rows (the short last batch)."""

    def __init__(self, sizes: Sequence[int], xp: Any, dtype: Any, device: Any, rows: int,
                 out_dtype: Any = None, front: Sequence | None = None) -> None:
        def buffers(units: Sequence[int], last: Any = dtype) -> list:
            return [xp.empty((rows, k), dtype=dtype if i < len(units) - 1 else last, device=device)
                    for i, k in enumerate(units)]

        self.capacity = rows
        self.z, self.a = buffers(sizes[1:]), buffers(sizes[1:], dtype if out_dtype is None else out_dtype)
        self.g, self.scratch = [None, *buffers(sizes[1:-1])], [None, *buffers(sizes[1:-1])]  # g[i]: dC/da^i
        self.front = list(front or [])  # each keeps an array per batch size: shared by the views
        if self.front:
            self.g[0] = buffers(sizes[:1])[0]  # dC/da^0, handed to the input layers
        self._views: dict[int, "Workspace"] = {}  # never itself: a cycle would wait for the garbage collector

    def rows(self, n: int) -> "Workspace":
        """This workspace's first ``n`` rows."""
        if n == self.capacity:
            return self
        if n not in self._views:
            if n > self.capacity:
                raise ValueError(f"a batch of {n} rows does not fit a workspace of {self.capacity}")
            view = object.__new__(Workspace)
            view.capacity, view._views, view.front = n, {}, self.front
            view.z, view.a = [b[:n, ...] for b in self.z], [b[:n, ...] for b in self.a]
            view.g, view.scratch = [None if b is None else b[:n, ...] for b in self.g], \
                [None if b is None else b[:n, ...] for b in self.scratch]
            self._views[n] = view
        return self._views[n]


def forward(Ws: Sequence, bs: Sequence, activations: Sequence[Activation], X: Any, xp: Any,
            ops: ArrayOps | None = None, ws: Workspace | None = None, out_dtype: Any = None,
            masks: Sequence | None = None, front: Any = None, theta: Sequence = ()) -> Trace:
    """Forward pass: record ``z^l`` and ``a^l`` for every layer.

    ``X`` is ``(n, n_in)`` on the weights' backend and dtype; ``ws``, if given, holds ``n`` rows.
    ``out_dtype``: the output layer's ``z^L`` (and so ``a^L`` and the loss) in this dtype, the
    layers before it in the weights' (mixed precision: float32 at the output, as autocast keeps
    softmax and the loss).  ``masks`` (dropout, training only): ``L`` arrays or Nones,
    ``masks[l]`` the scaled mask ``m^l / (1 - p)`` of ``a^l`` (``masks[0]`` the input's), each
    ``(n, sizes[l])``; the output layer is never dropped.  ``front`` (a
    :class:`~xpmlp.nn.front.Front`) and its parameters ``theta``: input layers making ``a^0``.
    """
    ops = ops or ops_for(xp)
    caches: list = []
    if front:
        X, caches = front.forward(xp, theta, X, ops, None if ws is None else ws.front)  # a^0 = h(X; theta)
    dropped = masks is not None and any(m is not None for m in masks)
    f = [X] if dropped else []
    z, a, aux = [], [X if not dropped or masks[0] is None else X * masks[0]], []  # a^0 = X ⊙ m^0 / (1-p)
    for l, (W, b, act) in enumerate(zip(Ws, bs, activations)):
        z_l = ops.affine(a[-1], W, b, None if ws is None else ws.z[l])  # z^l = a^{l-1} W^l + b^l
        if out_dtype is not None and l == len(Ws) - 1:
            z_l = xp.astype(z_l, out_dtype)  # z^L in the loss's precision
        a_l, aux_l = act.forward(xp, z_l, None if ws is None else ws.a[l])  # a^l = f(z^l)
        if dropped:
            f.append(a_l)
            if l + 1 < len(Ws) and masks[l + 1] is not None:
                a_l = a_l * masks[l + 1]  # a^l = f(z^l) ⊙ m^l / (1-p)
        z.append(z_l)
        a.append(a_l)
        aux.append(aux_l)
    return Trace(z, a, aux, list(masks) if dropped else [], f, caches)


def output_delta(loss: Loss, act: Activation, trace: Trace, T: Any, xp: Any, scale: float, fused: bool = True,
                 sample_weight: Any = None, consume: bool = False) -> Any:
    """delta^L, the error signal at the output, times ``scale`` (1/n for the batch mean).

    ``fused=True`` uses the loss's declared pairing ``delta^L = s (a^L - t)``
    where one exists; otherwise, or with ``fused=False``, the general route
    ``delta^L = dC/da ⊙ f'(z^L)``.  ``sample_weight`` ``(n,)``, if given,
    weights each sample's cost, so each row of delta^L is multiplied by it.
    ``consume=True`` lets the fused delta take ``a^L``'s array (the caller needs it no more).
    """
    a_L, z_L = trace.a[-1], trace.z[-1]
    s = loss.fused_scale(act.name, a_L.shape[1]) if fused else None
    if s is not None:
        if consume:
            a_L -= T  # FE = a^L - t (seed 01's final error), in a^L's own array
            delta = a_L
        else:
            delta = a_L - T  # FE = a^L - t (seed 01's final error)
        delta *= s * scale  # delta^L = s (a^L - t): f'(z^L) cancels against dC/da
    else:
        delta = act.delta(xp, loss.dC_da(xp, a_L, T), z_L, a_L)  # delta^L = dC/da ⊙ f'(z^L)
        if scale != 1.0:
            delta *= scale
    if sample_weight is not None:
        delta *= xp.reshape(sample_weight, (-1, 1))  # d(w_i C_i)/dz_i = w_i delta_i
    return delta


def backward(Ws: Sequence, activations: Sequence[Activation], loss: Loss, trace: Trace, T: Any, xp: Any,
             reduction: str = "mean", fused: bool = True, sample_weight: Any = None, scale: float | None = None,
             grads: Any = None, ops: ArrayOps | None = None, ws: Workspace | None = None,
             loss_scale: Any = None, front: Any = None, theta: Sequence = ()) -> Gradients:
    """Backward pass: error signals and gradients for every layer.

    Parameters
    ----------
    Ws : weights, ``Ws[i]`` of shape ``(sizes[i], sizes[i+1])``
    activations : one per layer
    loss : the cost function
    trace : the forward pass for the same batch
    T : targets ``(n, sizes[-1])``, same backend and dtype
    reduction : ``"mean"`` (gradients averaged over the batch) or ``"sum"``
    fused : use the fused output delta where the loss declares one
    sample_weight : ``(n,)`` per-sample weights of the cost, or None
    scale : the factor on delta^L, overriding ``reduction``'s (``1/n`` for the mean, 1 for the
        sum); data-parallel training passes ``1/B`` for a global batch of ``B`` rows split
        across processes, plain SGD the learning rate over ``B``
    grads : a gradient buffer with views ``grads.Ws``, ``grads.bs`` to write into
        (:class:`~xpmlp.nn.parameters.Flat`); None: new arrays
    ops, ws : the backend's primitives and a :class:`Workspace` the trace was made in (the
        training loop's): deltas then reuse its arrays, ``a^L``'s among them
    loss_scale : a 0-d device array multiplying delta^L (mixed precision's loss scaling), or None
    front, theta : the input layers the trace was made with (:func:`forward`); their gradients go
        into ``grads.front`` (or new arrays)

    A ``trace`` whose output layer ran in another dtype (``forward(out_dtype=...)``) has delta^L
    computed in that dtype and cast to the weights' before the products.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if scale is None:
        scale = 1.0 / trace.a[0].shape[0] if reduction == "mean" else 1.0
    ops = ops or ops_for(xp)
    L = len(Ws)
    deltas, grad_W, grad_b = [None] * L, [None] * L, [None] * L
    out_W, out_b = (grads.Ws, grads.bs) if grads is not None else ([None] * L, [None] * L)
    delta = output_delta(loss, activations[-1], trace, T, xp, scale, fused, sample_weight, consume=ws is not None)
    if loss_scale is not None:
        delta *= loss_scale  # the scaled loss's delta^L: small gradients stay above float16's underflow
    if delta.dtype != Ws[-1].dtype:
        delta = xp.astype(delta, Ws[-1].dtype)  # delta^L in the products' precision
    for i in range(L - 1, -1, -1):
        deltas[i] = delta
        grad_W[i] = ops.matmul(transpose(trace.a[i]), delta, out_W[i])  # dC/dW^l = (a^{l-1})^T delta^l
        grad_b[i] = ops.sum_rows(delta, out_b[i])  # dC/db^l = sum over the batch of delta^l
        if i > 0:
            g = ops.matmul(delta, Ws[i].T, None if ws is None else ws.g[i])  # dC/da^{l-1} = delta^l (W^l)^T
            if trace.mask(i) is not None:
                g *= trace.mask(i)  # dropout: ⊙ m^{l-1} / (1-p)
            scratch = None if ws is None else ws.scratch[i]
            delta = activations[i - 1].delta(xp, g, trace.z[i - 1], trace.undropped(i), scratch)  # ⊙ f'(z^{l-1})
    grad_front = []
    if front:
        g = ops.matmul(delta, Ws[0].T, None if ws is None else ws.g[0])  # dC/da^0 = delta^1 (W^1)^T
        if trace.mask(0) is not None:
            g *= trace.mask(0)  # input dropout: ⊙ m^0 / (1-p)
        grad_front = front.backward(xp, theta, trace.front, g, None if grads is None else grads.front)  # grad_theta
    return Gradients(deltas, grad_W, grad_b, grad_front)
