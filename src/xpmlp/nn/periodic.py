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
batched ``matmul`` over the ``m`` columns; written once on the Array API.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .input_layer import InputLayer, positive, whole

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

    def forward(self, xp: Any, theta: Sequence, x: Any) -> tuple[Any, Any]:
        c, m = self.lr_factor, self.m
        w1, b1, W2, b2 = (c * t for t in theta)
        xm = x[:, :m] if m < self.width_in else x
        v = (2.0 * math.pi) * (xp.expand_dims(xm, axis=2) * w1) + b1  # v_j = 2 pi x_j w1_j + b1_j, (n, m, k)
        h = xp.permute_dims(xp.cos(v), (1, 0, 2))  # h_j = cos(v_j), (m, n, k)
        e = xp.matmul(h, W2) + xp.expand_dims(b2, axis=1)  # e_j = h_j W2_j + b2_j, (m, n, d)
        n = x.shape[0]
        e = xp.reshape(xp.permute_dims(e, (1, 0, 2)), (n, m * (self.width - 1)))
        return xp.concat([e, x], axis=1), (v, h)  # u = [e_1 .. e_m, x]

    def backward(self, xp: Any, theta: Sequence, x: Any, cache: Any, g: Any, out: Sequence | None,
                 need_dx: bool) -> tuple[list, Any]:
        c, m, d = self.lr_factor, self.m, self.width - 1
        v, h = cache
        w1, W2 = c * theta[0], c * theta[2]
        n = x.shape[0]
        ge = xp.permute_dims(xp.reshape(g[:, :m * d], (n, m, d)), (1, 0, 2))  # dC/de_j, (m, n, d)
        grad_W2 = c * xp.matmul(xp.permute_dims(h, (0, 2, 1)), ge)  # grad_W2_j = h_j^T dC/de_j
        grad_b2 = c * xp.sum(ge, axis=1)  # grad_b2_j = sum_n dC/de_j
        gh = xp.permute_dims(xp.matmul(ge, xp.permute_dims(W2, (0, 2, 1))), (1, 0, 2))  # dC/dh_j, (n, m, k)
        gv = -xp.sin(v) * gh  # dC/dv_j = -sin(v_j) ⊙ dC/dh_j
        xm = x[:, :m] if m < self.width_in else x
        grad_w1 = (c * 2.0 * math.pi) * xp.sum(xp.expand_dims(xm, axis=2) * gv, axis=0)  # 2 pi sum_n x_j dC/dv_j
        grad_b1 = c * xp.sum(gv, axis=0)  # grad_b1_j = sum_n dC/dv_j
        grads = [grad_w1, grad_b1, grad_W2, grad_b2]
        if out is not None:
            for o, gr in zip(out, grads):
                o[...] = gr
            grads = list(out)
        dx = None
        if need_dx:
            dx_m = (2.0 * math.pi) * xp.sum(gv * w1, axis=2)  # 2 pi sum_k dC/dv_jk w1_jk
            gx = g[:, m * d:]
            dx = gx + (dx_m if m == self.width_in else xp.concat([dx_m, xp.zeros_like(gx[:, m:])], axis=1))
        return grads, dx
