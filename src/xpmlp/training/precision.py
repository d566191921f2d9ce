"""Mixed precision: float32 master weights and optimizer state, each step's products in bfloat16 or float16.

A model made with ``compute_dtype`` (:class:`~xpmlp.nn.network.MLP`) trains like this, every
step on the device and without a host sync::

    W_c <- cast(W)                        one copy of the flat float32 buffer into the compute dtype
    z^l, a^l, delta^l, dC/dW^l in the compute dtype, the library's GEMMs accumulating in float32
    z^L, a^L, the loss and delta^L in float32 (softmax and the cross-entropy as autocast keeps them)
    g <- cast(dC/dW_c)                    the gradient in float32, then all-reduced, clipped, L2 added
    W <- update(W, g)                     in float32, the optimizer's state float32

float16's range ends at 65504 and its smallest normal number is 6e-5, so small gradients vanish.
It gets dynamic loss scaling (:class:`LossScaler`): delta^L is multiplied by ``S`` (start
``2^16``), the float32 gradient divided by it; a step whose gradient holds an inf or NaN is
undone on the device (the weights and the optimizer's state are selected back from copies made
before it, ``where(finite, new, old)``) and ``S`` halves; after ``growth_interval`` finite steps in
a row ``S`` doubles.  The only host-side trace of a skipped step is the optimizer's step count,
which advances (Adam's bias correction is then one step ahead; negligible after a few steps).
bfloat16 has float32's range and needs no scaling.

Where the library lacks the dtype, :meth:`~xpmlp.backends.backend.Backend.compute_dtype` refuses
it by name.  The data stay float32 on the device; each batch is cast when it is used.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from ..backends.sparse import is_sparse
from ..nn.backprop import Workspace
from ..nn.network import MLP
from ..nn.objective import BatchObjective, Objective, add_penalty, data_gradients
from ..nn.parameters import Flat

__all__ = ["MixedPrecision", "LossScaler"]


class LossScaler:
    """float16's dynamic loss scale, kept on the device: ``scale`` (0-d float32) multiplies delta^L."""

    def __init__(self, xp: Any, device: Any, dtype: Any, init: float = 2.0 ** 16, growth_interval: int = 2000) -> None:
        self.xp, self.growth_interval = xp, int(growth_interval)
        self.scale = xp.full((), init, dtype=dtype, device=device)
        self.good = xp.zeros((), dtype=dtype, device=device)  # finite steps in a row
        self.finite: Any = None

    def unscale_(self, g: Any) -> None:
        """``g /= S`` in place (a float32 flat gradient), noting whether every entry is finite."""
        xp = self.xp
        self.finite = xp.all(xp.isfinite(g))  # 0-d bool on the device: no read
        g /= self.scale

    def update(self) -> None:
        """After the step: halve ``S`` on an inf or NaN, double it after ``growth_interval`` finite steps."""
        xp = self.xp
        good = xp.where(self.finite, self.good + 1.0, xp.zeros_like(self.good))
        grow = good >= self.growth_interval
        self.scale = xp.where(self.finite, xp.where(grow, self.scale * 2.0, self.scale), self.scale * 0.5)
        self.good = xp.where(grow, xp.zeros_like(good), good)


class MixedPrecision:
    """A fit's mixed-precision step for ``net`` (``net.compute_dtype`` set), batches of up to ``rows`` rows.

    ``compute`` is the compute-dtype copy of the weights (a :class:`~xpmlp.nn.parameters.Flat`)
    and ``view`` a network whose parameters it is; ``scaler`` float16's :class:`LossScaler`, None
    for bfloat16.
    """

    def __init__(self, net: MLP, rows: int) -> None:
        be, xp = net.backend, net.xp
        self.net, self.xp, self.dtype = net, xp, be.compute_dtype(net.compute_dtype)
        with be.activate():
            self.compute = Flat(net.layout, xp, xp.zeros(net.layout.size, dtype=self.dtype, device=be.device))
            self.grads = self.compute.like()
            self.ws = Workspace(net.widths, xp, self.dtype, be.device, rows, out_dtype=be.dtype) if net.ops.in_place \
                else None
            self.scaler = LossScaler(xp, be.device, be.dtype) if net.compute_dtype == "float16" else None
        self.view = copy.copy(net)
        self.view.parameters = self.compute
        self._saved: list = []

    def batch_gradients(self, Xb: Any, Tb: Any, wb: Any, objective: Objective, rows: int,
                        reduce: Callable[[list], None] | None, grads: Flat, factor: float = 1.0,
                        masks: list | None = None) -> BatchObjective:
        """As :func:`xpmlp.nn.objective.batch_gradients`, the products in the compute dtype; the
        float32 gradient goes into ``grads`` (the fit's flat buffer)."""
        if is_sparse(Xb):
            raise TypeError("mixed precision needs dense inputs: a sparse X trains in float32 (compute_dtype=None)")
        xp, net = self.xp, self.net
        self.compute.flat[...] = net.flat  # W_c <- W, cast: the step's one copy of the weights
        ws = None if self.ws is None else self.ws.rows(Xb.shape[0])
        loss, _ = data_gradients(self.view, xp.astype(Xb, self.dtype), Tb, wb, objective, rows, self.grads, ws,
                                 factor, out_dtype=net.backend.dtype,
                                 loss_scale=None if self.scaler is None else self.scaler.scale, masks=masks)
        grads.flat[...] = self.grads.flat  # dC/dW in float32
        if reduce is not None:
            reduce([grads.flat])  # data-parallel: summed in float32
        if self.scaler is not None:
            self.scaler.unscale_(grads.flat)  # / S, and whether the step is finite
        return BatchObjective(loss, add_penalty(net, grads, objective, rows, factor), grads)

    def before_update(self, optimizer: Any) -> None:
        """float16: copy the weights and the optimizer's state, so a non-finite step can be undone."""
        if self.scaler is None:
            return
        live = [self.net.flat, *optimizer.buffers()]
        if len(self._saved) != len(live):
            self._saved = [self.xp.empty_like(a) for a in live]
        for saved, a in zip(self._saved, live):
            saved[...] = a

    def after_update(self, optimizer: Any) -> None:
        """float16: keep the step where it was finite, else select the copies back; update ``S``."""
        if self.scaler is None:
            return
        xp, ok = self.xp, self.scaler.finite
        live = [self.net.flat, *optimizer.buffers()]
        saved = self._saved if len(self._saved) == len(live) else [self._saved[0]] + \
            [xp.zeros_like(a) for a in live[1:]]  # the first step made the state: undone, it is zero
        for a, old in zip(live, saved):
            a[...] = xp.where(ok, a, old)
        self.scaler.update()
