"""Periodic embeddings of numbers (RealMLP's "PBLD": periodic, bias, linear, densenet).

Each of the first ``m`` input columns ``x_j`` (the numeric ones; ``columns``, all by default) is
mapped to ``d`` numbers of its own (``k = frequencies``, ``d = width - 1``):

=============================  ==========================================================================
forward, per column j          ``v_j = 2 pi x_j w1_j + b1_j``  (``(n, k)``),  ``h_j = cos(v_j)``,
                               ``e_j = h_j W2_j + b2_j``  (``(n, d)``); ``u = [e_1 .. e_m, x]``
delta (pull-back)              ``dC/dh_j = dC/de_j (W2_j)^T``,  ``dC/dv_j = -sin(v_j) ⊙ dC/dh_j``,
                               ``dC/dx_j = dC/du_{x_j} + 2 pi sum_k dC/dv_jk w1_jk``
gradients                      ``grad_W2_j = h_j^T dC/de_j``,  ``grad_b2_j = sum_n dC/de_j``,
                               ``grad_w1_j = 2 pi sum_n x_j dC/dv_j``,  ``grad_b1_j = sum_n dC/dv_j``
=============================  ==========================================================================

``u`` keeps ``x`` itself (the "densenet" part), so ``width_out = m d + width_in``.  Every
parameter is ``c theta`` (``c = lr_factor``, RealMLP's 0.1: the embeddings learn slowly); ``w1``
starts ``N(0, sigma^2)`` (``sigma``: the frequencies' scale, 0.1 for robust-scaled inputs),
``b1`` ``U(-pi, pi)``, ``W2`` and ``b2`` ``U(-1, 1) / sqrt(k)``.  The per-column products are one
batched ``matmul`` over the ``m`` columns; written once on the Array API, each result into the
layer's :class:`~xpmlp.nn.input_layer.Scratch`, ``cos`` and ``sin`` too (its ``ops.cos(v, out)``,
``ops.sin(v, out)``: where a library can write into ``out``, a training step allocates nothing).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .input_layer import InputLayer, Scratch, positive, whole

__all__ = ["Periodic"]


class Periodic(InputLayer):
    """``theta = (w1 (m, k), b1 (m, k), W2 (m, k, d), b2 (m, d))``, each used as ``c theta``."""

    name = "periodic"
    settings = ("frequencies", "width", "sigma", "lr_factor", "columns")

    def __init__(self, width_in: int, frequencies: float = 16, width: float = 4, sigma: float = 0.1,
                 lr_factor: float = 0.1, columns: float = 0) -> None:
        super().__init__(width_in)
        self.frequencies, self.width = whole(self.name, "frequencies", frequencies, 1), whole(self.name, "width", width, 2)
        self.columns = whole(self.name, "columns", columns, 0)
        self.sigma, self.lr_factor = positive(self.name, "sigma", sigma), positive(self.name, "lr_factor", lr_factor)
        if self.columns > self.width_in:
            raise ValueError(f"periodic: columns must be 0 (all) to {self.width_in}, got {self.columns}")

    @property
    def m(self) -> int:
        """The columns embedded: the first ``m``."""
        return self.columns or self.width_in

    @property
    def width_out(self) -> int:
        return self.m * (self.width - 1) + self.width_in

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        m, k, d = self.m, self.frequencies, self.width - 1
        return [(m, k), (m, k), (m, k, d), (m, d)]

    def init(self, rng: np.random.Generator) -> list[np.ndarray]:
        (m, k), d, c = self.shapes[0], self.width - 1, self.lr_factor
        r = 1.0 / math.sqrt(k)
        return [self.sigma * rng.standard_normal((m, k)) / c, rng.uniform(-math.pi, math.pi, (m, k)) / c,
                rng.uniform(-r, r, (m, k, d)) / c, rng.uniform(-r, r, (m, d)) / c]

    def forward(self, xp: Any, theta: Sequence, x: Any, scratch: Scratch) -> tuple[Any, Any]:
        c, m, k, d, n = self.lr_factor, self.m, self.frequencies, self.width - 1, x.shape[0]
        v = scratch("v", (n, m, k), x)
        v[...] = xp.expand_dims(x[:, :m], axis=2)
        v *= (2.0 * math.pi * c) * theta[0]
        v += c * theta[1]  # v_j = 2 pi x_j w1_j + b1_j, (n, m, k)
        h = scratch("h", (m, n, k), x)
        scratch.ops.cos(v, xp.permute_dims(h, (1, 0, 2)))  # h_j = cos(v_j), (m, n, k)
        u = scratch("u", (n, self.width_out), x)
        e_all = u[:, :m * d]  # [e_1 .. e_m], (n, m d)
        e = xp.permute_dims(xp.reshape(e_all, (n, m, d), copy=False), (1, 0, 2))  # a view of u, (m, n, d)
        scratch.ops.matmul(h, c * theta[2], e)  # h_j W2_j, into u
        e_all += xp.reshape(c * theta[3], (m * d,))  # e_j = h_j W2_j + b2_j (2-D: NumPy would copy e, a 3-D view, whole)
        u[:, m * d:] = x  # u = [e_1 .. e_m, x]
        return u, (v, h)

    def backward(self, xp: Any, theta: Sequence, x: Any, cache: Any, g: Any, out: Sequence | None,
                 need_dx: bool, scratch: Scratch) -> tuple[list, Any]:
        c, m, k, d, n = self.lr_factor, self.m, self.frequencies, self.width - 1, x.shape[0]
        ops, (v, h) = scratch.ops, cache
        o = list(out) if out is not None else [None] * 4
        ge = xp.permute_dims(xp.reshape(g[:, :m * d], (n, m, d)), (1, 0, 2))  # dC/de_j, (m, n, d)
        grad_W2 = ops.matmul(xp.permute_dims(h, (0, 2, 1)), ge, o[2])
        grad_W2 *= c  # grad_W2_j = c h_j^T dC/de_j
        grad_b2 = _batch_sum(ops, g[:, :m * d], o[3], (m, d))
        grad_b2 *= c  # grad_b2_j = c sum_n dC/de_j
        minus_W2 = xp.permute_dims((-c) * theta[2], (0, 2, 1))
        gh = ops.matmul(ge, minus_W2, scratch("gh", (m, n, k), x))  # -dC/dh_j = dC/de_j (-W2_j)^T, (m, n, k)
        gv = ops.sin(v, scratch("gv", (n, m, k), x))
        gv *= xp.permute_dims(gh, (1, 0, 2))  # dC/dv_j = -sin(v_j) ⊙ dC/dh_j, (n, m, k)
        gv_j = xp.permute_dims(gv, (1, 0, 2))  # (m, n, k)
        x_j = xp.expand_dims(xp.permute_dims(x[:, :m], (1, 0)), axis=1)  # x_j^T, (m, 1, n)
        grad_w1 = xp.reshape(ops.matmul(x_j, gv_j, _view(xp, o[0], (m, 1, k))), (m, k))
        grad_w1 *= 2.0 * math.pi * c  # grad_w1_j = 2 pi c sum_n x_j dC/dv_j
        grad_b1 = _batch_sum(ops, gv, o[1], (m, k))
        grad_b1 *= c  # grad_b1_j = c sum_n dC/dv_j
        grads = o if out is not None else [grad_w1, grad_b1, grad_W2, grad_b2]
        if not need_dx:
            return grads, None
        w1 = xp.expand_dims((2.0 * math.pi * c) * theta[0], axis=2)  # 2 pi w1_j, (m, k, 1)
        dv_dx = ops.matmul(gv_j, w1, scratch("dv_dx", (m, n, 1), x))  # 2 pi sum_k dC/dv_jk w1_jk, (m, n, 1)
        dx = scratch("dx", x.shape, x)
        dx[...] = g[:, m * d:]  # the densenet part: dC/du_x
        dx_m = dx[:, :m]
        dx_m += xp.permute_dims(dv_dx[:, :, 0], (1, 0))  # dC/dx_j = dC/du_{x_j} + 2 pi sum_k dC/dv_jk w1_jk
        return grads, dx


def _view(xp: Any, out: Any, shape: tuple[int, ...]) -> Any:
    """``out`` (a gradient's place in the flat buffer) seen as ``shape``, or None."""
    return None if out is None else xp.reshape(out, shape, copy=False)


def _batch_sum(ops: Any, a: Any, out: Any, shape: tuple[int, ...]) -> Any:
    """The sum over the batch (axis 0) of ``a`` ``(n, ...)``, as ``shape``, written into ``out`` when given."""
    xp, size = ops.xp, math.prod(shape)
    total = ops.sum_rows(xp.reshape(a, (a.shape[0], size)), _view(xp, out, (size,)))
    return xp.reshape(total, shape, copy=False)
