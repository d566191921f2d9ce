"""The per-feature scale: one learned factor per input column (RealMLP's "scaling layer").

==========================  ============================================================
forward                     ``u = x ⊙ s``,  ``s = c theta``  (``(width,)``; starts at 1)
delta (pull-back)           ``dC/dx = dC/du ⊙ s``
gradient                    ``grad_theta = c sum over the batch of (x ⊙ dC/du)``
==========================  ============================================================

In front of ``W^1`` it is the diagonal matrix ``diag(s)`` folded into ``W^1`` at prediction
time, but it trains differently: ``c`` (``lr_factor``, RealMLP's 6) makes ``s`` move ``c`` times
as fast as a weight under Adam, so each column's importance is learned early (feature selection
in effect).  Written once on the Array API; ``u`` and ``dC/dx`` go into the layer's
:class:`~xpmlp.nn.input_layer.Scratch` (a training step allocates nothing the size of the batch).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .input_layer import InputLayer, Scratch, positive

__all__ = ["Scale"]


class Scale(InputLayer):
    """``u = x ⊙ (c theta)``, ``theta`` ``(width,)`` initialised to ``1/c``."""

    name = "scale"
    settings = ("lr_factor",)

    def __init__(self, width_in: int, lr_factor: float = 6.0) -> None:
        super().__init__(width_in)
        self.lr_factor = positive(self.name, "lr_factor", lr_factor)

    @property
    def width_out(self) -> int:
        return self.width_in

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [(self.width_in,)]

    def init(self, rng: np.random.Generator) -> list[np.ndarray]:
        return [np.full(self.width_in, 1.0 / self.lr_factor)]  # s = c theta = 1

    def forward(self, xp: Any, theta: Sequence, x: Any, scratch: Scratch) -> tuple[Any, Any]:
        s = self.lr_factor * theta[0]  # s = c theta
        u = scratch("u", x.shape, x)
        u[...] = x
        u *= s  # u = x ⊙ s
        return u, s

    def backward(self, xp: Any, theta: Sequence, x: Any, cache: Any, g: Any, out: Sequence | None,
                 need_dx: bool, scratch: Scratch) -> tuple[list, Any]:
        grad = self.lr_factor * xp.vecdot(x, g, axis=-2)  # grad_theta = c sum_n x ⊙ dC/du
        if out is not None:
            out[0][...] = grad
            grad = out[0]
        if not need_dx:
            return [grad], None
        dx = scratch("dx", g.shape, g)
        dx[...] = g
        dx *= cache  # dC/dx = dC/du ⊙ s
        return [grad], dx
