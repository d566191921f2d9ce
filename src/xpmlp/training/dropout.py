"""Dropout's masks for a fit: drawn on the model's device every step, into arrays made once.

Inverted dropout: during training ``a^l = f(z^l) ⊙ m^l / (1-p_l)`` with ``m^l`` Bernoulli(``1-p_l``)
per unit and row, so the expected activation is unchanged and prediction uses the network as
it is (:func:`xpmlp.nn.backprop.forward` applies the masks; nothing else sees them).

Each step draws, per dropped layer, uniform numbers on the device
(:func:`xpmlp.backends.random.uniform_filler`, the library's own generator, seeded from the
fit's seed) and turns them into the scaled mask in place: ``where(u >= p, 1/(1-p), 0)``.  No host
sync and no host-to-device copy, except on array-api-strict, which has no generator (drawn on
the host; :attr:`DropoutMasks.on_device` is False).  ``host=True`` draws the masks themselves on
the host from one NumPy generator and copies them in, so every backend and dtype gets the same
masks (parity tests).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..backends.arrays import scalar_like
from ..backends.random import uniform_filler
from ..nn.network import MLP

__all__ = ["DropoutMasks"]


class DropoutMasks:
    """Per-step masks for ``net`` (its :attr:`~xpmlp.nn.network.MLP.dropout` rates), batches of up to
    ``rows`` rows, in ``dtype`` (the dtype the layers compute in)."""

    def __init__(self, net: MLP, rows: int, seed: int, dtype: Any = None, host: bool = False) -> None:
        be, xp = net.backend, net.xp
        self.xp, self.rates, self.host = xp, list(net.dropout), bool(host)
        dtype = be.dtype if dtype is None else dtype
        with be.activate():
            self.buffers = [None if p == 0 else xp.empty((rows, k), dtype=dtype, device=be.device)
                            for p, k in zip(self.rates, net.widths[:-1])]
            self.keep = [None if p == 0 else (scalar_like(xp, 1.0 / (1.0 - p), b), scalar_like(xp, 0.0, b))
                         for p, b in zip(self.rates, self.buffers)]
        self._filler = uniform_filler(be, seed)
        self._rng = np.random.default_rng(seed)
        self._backend = be
        self.on_device = self._filler.on_device and not self.host

    def draw(self, n: int) -> list:
        """The ``L`` masks for a batch of ``n`` rows (None where the rate is 0): views of reused arrays."""
        return [None if b is None else self._draw(b[:n, ...], p, keep)
                for b, p, keep in zip(self.buffers, self.rates, self.keep)]

    def _draw(self, out: Any, p: float, keep: Sequence) -> Any:
        if self.host:  # one NumPy generator for every backend: the same masks everywhere
            mask = (self._rng.random(tuple(out.shape)) >= p) / (1.0 - p)
            out[...] = self._backend.asarray(mask, dtype=out.dtype)
            return out
        u = self._filler.fill(out)  # u ~ U[0, 1), on the device
        out[...] = self.xp.where(u >= p, *keep)  # m / (1-p): kept with probability 1-p
        return out
