"""NumPy fast paths: in-place operations the Array API standard has no words for.

Each is registered (:mod:`.fastpaths`) under the generic function it replaces and
held to it by a parity test.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .fastpaths import register

__all__: list[str] = []


@register("relu.f", "numpy")
def _relu_f(xp: Any, z: Any) -> Any:
    return np.maximum(z, 0.0)  # NumPy takes the Python scalar as it is: no 0-d array per call


@register("relu.delta", "numpy")
def _relu_delta(xp: Any, g: Any, z: Any, a: Any) -> Any:
    g *= a > 0  # g ⊙ f'(z): NumPy multiplies by a bool mask in place, no float mask built
    return g


@register("softmax.forward", "numpy")
def _softmax_forward(xp: Any, z: Any) -> tuple[Any, Any]:
    m = np.max(z, axis=1, keepdims=True)
    e = z - m
    np.exp(e, out=e)  # in place: one (n, k) buffer for e and a
    s = e @ np.ones((z.shape[1], 1), dtype=z.dtype)  # row sums by BLAS: short rows reduce slowly in NumPy
    e /= s
    return e, m + np.log(s)
