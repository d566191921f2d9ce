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


@register("relu.forward", "numpy")
def _relu_forward(xp: Any, z: Any, out: Any = None) -> tuple[Any, Any]:
    return np.maximum(z, 0.0, out=out), None  # into the loop's buffer when it lends one


@register("relu.delta", "numpy")
def _relu_delta(xp: Any, g: Any, z: Any, a: Any, scratch: Any = None) -> Any:
    if scratch is None:
        g *= a > 0  # g ⊙ f'(z): NumPy multiplies by a bool mask in place, no float mask built
        return g
    np.greater(a, 0, out=scratch)  # f'(z) as 1.0 / 0.0 in the lent buffer: nothing allocated
    g *= scratch
    return g


@register("softmax.forward", "numpy")
def _softmax_forward(xp: Any, z: Any, out: Any = None) -> tuple[Any, Any]:
    m = np.max(z, axis=1, keepdims=True)
    e = np.subtract(z, m, out=out)
    np.exp(e, out=e)  # in place: one (n, k) buffer for e and a
    s = e @ np.ones((z.shape[1], 1), dtype=z.dtype)  # row sums by BLAS: short rows reduce slowly in NumPy
    e /= s
    return e, m + np.log(s)


@register("arrays.matmul", "numpy")
def _matmul(xp: Any, a: Any, b: Any, out: Any = None) -> Any:
    if isinstance(a, np.ndarray):
        return np.matmul(a, b, out=out)  # BLAS writes the product where it belongs: no temporary
    result = a @ b  # a sparse input layer: SciPy's product, then copied
    if out is None:
        return np.asarray(result)
    out[...] = result
    return out


@register("arrays.add_scaled", "numpy")
def _add_scaled(xp: Any, y: Any, x: Any, alpha: float) -> Any:
    axpy = _axpy(y)
    if axpy is None or not (x.flags.c_contiguous and x.dtype == y.dtype):
        y += alpha * x  # no BLAS at hand: NumPy's two passes and a temporary
        return y
    axpy(x, y, a=alpha)  # y += alpha x in place, one BLAS pass (y is contiguous: SciPy writes into it)
    return y


def _axpy(y: Any) -> Any:
    """SciPy's BLAS axpy for ``y``'s dtype, or None (no SciPy, another dtype, a strided ``y``)."""
    if not y.flags.c_contiguous or y.dtype not in (np.float32, np.float64):
        return None
    try:
        from scipy.linalg import blas
    except ImportError:
        return None
    return blas.saxpy if y.dtype == np.float32 else blas.daxpy


@register("arrays.sum_rows", "numpy")
def _sum_rows(xp: Any, a: Any, out: Any = None) -> Any:
    return np.sum(a, axis=0, out=out)


@register("arrays.take_rows", "numpy")
def _take_rows(xp: Any, a: Any, rows: Any, out: Any = None) -> Any:
    # mode="raise" (the default) gathers into a temporary before out; the rows are valid by construction
    return np.take(a, rows, axis=0, out=out, mode="wrap" if out is not None else "raise")


@register("arrays.cos", "numpy")
def _cos(xp: Any, x: Any, out: Any = None) -> Any:
    return np.cos(x, out=out)  # the ufunc writes into out (a strided view too): no temporary


@register("arrays.sin", "numpy")
def _sin(xp: Any, x: Any, out: Any = None) -> Any:
    return np.sin(x, out=out)


@register("momentum.update", "numpy")
def _momentum_update(p: Any, g: Any, v: Any, learning_rate: float, momentum: float, nesterov: bool) -> None:
    g *= learning_rate  # eta g, in the gradient's own buffer
    v *= momentum
    v -= g  # v <- mu v - eta g
    if nesterov:
        p -= g  # p <- p - eta g ...
        np.multiply(v, momentum, out=g)  # ... + mu v, through g's buffer (consumed): no temporary
        p += g
    else:
        p += v  # p <- p + v


@register("adam.update", "numpy")
def _adam_update(xp, p, g, m, v, learning_rate, beta_1, beta_2, epsilon, c1, c2) -> None:
    """Adam in place, g's buffer (consumed) the only scratch: nothing allocated.  The moments in
    the interpolation form ``m <- g + b1 (m - g)`` (PyTorch's ``lerp``), equal to ``b1 m + (1-b1) g``."""
    m -= g
    m *= beta_1
    m += g  # m <- b1 m + (1 - b1) g
    np.multiply(g, g, out=g)  # g^2
    v -= g
    v *= beta_2
    v += g  # v <- b2 v + (1 - b2) g^2
    np.divide(v, c2, out=g)
    np.sqrt(g, out=g)
    g += epsilon  # sqrt(v_hat) + eps
    np.divide(m, g, out=g)
    g *= learning_rate / c1  # eta m_hat / (sqrt(v_hat) + eps)
    p -= g
