"""Small Array API helpers the math shares, and the array primitives a training step writes in place.

:func:`matmul`, :func:`affine`, :func:`add_scaled`, :func:`sum_rows`, :func:`take_rows`, :func:`cos` and
:func:`sin` are the generic forms: each returns its result and, given ``out``, assigns it there
(the Array API has no ``out=``).  Libraries that can write into ``out`` directly register fast
paths under ``"arrays.<name>"`` (:mod:`.numpy_ops`, :mod:`.torch_ops`, :mod:`.cupy_ops`), so a
step on them allocates nothing; :func:`ops_for` hands a backend's math the set to use
(:class:`ArrayOps`).  Callers use what is returned, or the ``out`` they gave: every form returns
that very array (the parity tests hold the fast paths to it), so ``out`` may be a view into a
larger array (a permutation of its axes, some of its columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import array_api_compat

from . import fastpaths

__all__ = ["scalar_like", "sum_of_squares", "matmul", "affine", "add_scaled", "sum_rows", "take_rows", "cos", "sin",
           "ArrayOps", "ops_for", "PRIMITIVES"]


def scalar_like(xp: Any, value: float, x: Any) -> Any:
    """``value`` as a 0-d array of ``x``'s dtype on ``x``'s device.

    The 2023.12 standard takes only arrays in functions such as ``maximum`` and ``where``
    (Python scalars there came with 2024.12); a 0-d array broadcasts the same way on both.
    Made by ``full``, a fill on the device: ``asarray`` of a Python scalar is a host-to-device
    copy, which on PyTorch CUDA waits for the stream to drain (pytorch/pytorch#120996), a host
    sync in every step that calls this.
    """
    return xp.full((), value, dtype=x.dtype, device=array_api_compat.device(x))


def sum_of_squares(xp: Any, arrays: Any) -> Any:
    """``sum_i sum(a_i * a_i)`` over a sequence of arrays, a 0-d array (a 1-D array in one ``vecdot``:
    one reduction, no temporary)."""
    total = None
    for a in arrays:
        sq = xp.vecdot(a, a) if a.ndim == 1 else xp.sum(a * a)
        total = sq if total is None else total + sq
    return total


def matmul(xp: Any, a: Any, b: Any, out: Any = None) -> Any:
    """``a @ b`` (``a`` may be a sparse matrix of the backend), in ``out`` when given."""
    result = a @ b
    if out is None:
        return result
    out[...] = result
    return out


def affine(xp: Any, a: Any, W: Any, b: Any, out: Any = None) -> Any:
    """``a @ W + b`` (``b`` a row broadcast over ``a``'s rows), in ``out`` when given."""
    z = matmul(xp, a, W, out)
    z += b
    return z


def add_scaled(xp: Any, y: Any, x: Any, alpha: float) -> Any:
    """``y += alpha * x`` in place (BLAS's axpy); returns ``y``."""
    y += alpha * x
    return y


def sum_rows(xp: Any, a: Any, out: Any = None) -> Any:
    """The sum over axis 0 of a 2-D ``a``, ``(a.shape[1],)``, in ``out`` when given."""
    result = xp.sum(a, axis=0)
    if out is None:
        return result
    out[...] = result
    return out


def take_rows(xp: Any, a: Any, rows: Any, out: Any = None) -> Any:
    """The rows ``rows`` (a 1-D index array of the backend) of a 2-D or 1-D ``a``, in ``out`` when given."""
    result = xp.take(a, rows, axis=0)
    if out is None:
        return result
    out[...] = result
    return out


def cos(xp: Any, x: Any, out: Any = None) -> Any:
    """``cos(x)`` elementwise, in ``out`` when given (``x``'s shape and dtype; a strided view will do)."""
    result = xp.cos(x)
    if out is None:
        return result
    out[...] = result
    return out


def sin(xp: Any, x: Any, out: Any = None) -> Any:
    """``sin(x)`` elementwise, in ``out`` when given (``x``'s shape and dtype; a strided view will do)."""
    result = xp.sin(x)
    if out is None:
        return result
    out[...] = result
    return out


#: The primitives by their fast-path names.
PRIMITIVES: dict[str, Callable] = {"arrays.matmul": matmul, "arrays.affine": affine, "arrays.add_scaled": add_scaled,
                                    "arrays.sum_rows": sum_rows, "arrays.take_rows": take_rows, "arrays.cos": cos,
                                    "arrays.sin": sin}


@dataclass(frozen=True)
class ArrayOps:
    """A library's primitives: ``ops.matmul(a, b, out)``, ``ops.affine(a, W, b, out)``,
    ``ops.add_scaled(y, x, alpha)``, ``ops.sum_rows(a, out)``, ``ops.take_rows(a, rows, out)``, ``ops.cos(x, out)``,
    ``ops.sin(x, out)``.  ``in_place``: whether they write
    into ``out`` (registered fast paths) rather than assign a new result to it; a workspace of
    reused arrays only pays where they do."""

    xp: Any
    _matmul: Callable
    _affine: Callable
    _add_scaled: Callable
    _sum_rows: Callable
    _take_rows: Callable
    _cos: Callable
    _sin: Callable
    in_place: bool = False

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        return self._matmul(self.xp, a, b, out)

    def affine(self, a: Any, W: Any, b: Any, out: Any = None) -> Any:
        if self._affine is affine:  # no fused form: this library's product, then the bias in place
            z = self.matmul(a, W, out)
            z += b
            return z
        return self._affine(self.xp, a, W, b, out)

    def add_scaled(self, y: Any, x: Any, alpha: float) -> Any:
        return self._add_scaled(self.xp, y, x, alpha)

    def sum_rows(self, a: Any, out: Any = None) -> Any:
        return self._sum_rows(self.xp, a, out)

    def take_rows(self, a: Any, rows: Any, out: Any = None) -> Any:
        return self._take_rows(self.xp, a, rows, out)

    def cos(self, x: Any, out: Any = None) -> Any:
        return self._cos(self.xp, x, out)

    def sin(self, x: Any, out: Any = None) -> Any:
        return self._sin(self.xp, x, out)


def ops_for(xp: Any, library: str | None = None) -> ArrayOps:
    """The primitives for ``library`` (its registered fast paths, else the generic forms)."""
    chosen = [fastpaths.select(name, library or "", generic) for name, generic in PRIMITIVES.items()]
    return ArrayOps(xp, *chosen, in_place=chosen[0] is not matmul)
