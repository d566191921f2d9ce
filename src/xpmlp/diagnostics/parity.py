"""Fast paths against the generic code they replace: inputs built from a fast path's name, and the comparison.

A fast path (:mod:`xpmlp.backends.fastpaths`) is registered under the name of the
generic function it replaces.  :func:`generic_of` finds that function
(``"relu.delta"``: :meth:`Activation.delta` of relu; ``"sgd.update"``:
:data:`xpmlp.optim.updates.RULES`), :func:`example_of` builds arguments of the
generic function's shape for any backend, and :func:`compare_fast_path` runs both
on copies of the same arguments.  The test suite and ``xpmlp selftest`` use it.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..backends.arrays import PRIMITIVES
from ..backends.backend import Backend
from ..backends.fastpaths import FastPath
from ..nn.activations import get_activation
from ..optim.updates import RULES

__all__ = ["generic_of", "example_of", "compared_arrays", "compare_fast_path"]


def generic_of(name: str) -> Callable:
    """The generic function a fast path named ``name`` replaces; ``KeyError`` for an unknown name."""
    subject, _, method = name.partition(".")
    if method == "update":
        return RULES[name]
    if subject == "arrays":
        return PRIMITIVES[name]
    return getattr(get_activation(subject), method)


def example_of(name: str, be: Backend, rng: np.random.Generator) -> list:
    """Arguments for the generic function named ``name`` (backend arrays of ``be``'s dtype; for the
    functions that take one, an ``out``/``scratch`` buffer last)."""
    normal = lambda shape: be.asarray(rng.normal(size=shape))  # noqa: E731
    if name == "sgd.update":
        shapes = [(7, 5), (5,), (5, 3), (3,)]
        params, grads = [normal(s) for s in shapes], [normal(s) for s in shapes]
        return [params, grads, 0.25]
    if name == "momentum.update":  # (p, g, v, lr, mu, nesterov): Nesterov for every other seed
        return [normal((9, 7)), normal((9, 7)), normal((9, 7)), 0.25, 0.9, bool(rng.integers(2))]
    if name == "adam.update":
        p, g, m = normal((9, 7)), normal((9, 7)), normal((9, 7))
        v = be.asarray(rng.uniform(0.1, 2.0, size=(9, 7)))
        return [be.xp, p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 1 - 0.9**3, 1 - 0.999**3]
    zeros = lambda shape: be.xp.zeros(shape, dtype=be.dtype, device=be.device)  # noqa: E731
    if name == "arrays.matmul":  # (xp, a, b, out)
        return [be.xp, normal((33, 17)), normal((17, 5)), zeros((33, 5))]
    if name == "arrays.affine":  # (xp, a, W, b, out)
        return [be.xp, normal((33, 17)), normal((17, 5)), normal((5,)), zeros((33, 5))]
    if name == "arrays.add_scaled":  # (xp, y, x, alpha): y the leading slice of a flat buffer, as for L2
        return [be.xp, normal((401,))[:300], normal((300,)), 0.37]
    if name == "arrays.sum_rows":  # (xp, a, out)
        return [be.xp, normal((33, 17)), zeros((17,))]
    if name == "arrays.take_rows":  # (xp, a, rows, out)
        rows = be.asarray(rng.permutation(33)[:9], dtype=be.index_dtype)
        return [be.xp, normal((33, 17)), rows, zeros((9, 17))]
    if name in ("arrays.cos", "arrays.sin"):  # (xp, x, out): out a permuted view, as periodic.py's h
        return [be.xp, normal((9, 5, 7)) * 4.0, be.xp.permute_dims(zeros((5, 9, 7)), (1, 0, 2))]
    act, _, method = name.partition(".")
    z = normal((33, 17))
    if method == "delta":  # (xp, g, z, a, scratch): a from the generic forward pass
        return [be.xp, normal((33, 17)), z, get_activation(act).f(be.xp, z), zeros((33, 17))]
    if method == "forward":  # (xp, z, out)
        return [be.xp, z, zeros((33, 17))]
    return [be.xp, z]  # f


def compared_arrays(name: str, args: list, returned: Any) -> list:
    """The arrays to compare after a call: what it updated in place, or what it returned."""
    if name == "sgd.update":
        return list(args[0])
    if name == "momentum.update":
        return [args[0], args[2]]
    if name == "adam.update":
        return [args[1], args[3], args[4]]
    if isinstance(returned, tuple):  # forward: (a, aux), aux possibly None
        return [r for r in returned if r is not None]
    return [returned]


def _rel(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300))


def compare_fast_path(fp: FastPath, be: Backend, seed: int = 0) -> float:
    """Largest norm-relative difference between ``fp.impl`` and its generic function on fresh copies
    of the same arguments, with ``be``'s device current, over two seeds' inputs; raises
    ``AssertionError`` if an in-place update moved nothing or a primitive wrote elsewhere."""
    return max(_compare(fp, be, seed), _compare(fp, be, seed + 1))


def _compare(fp: FastPath, be: Backend, seed: int) -> float:
    with be.activate():
        args = example_of(fp.name, be, np.random.default_rng(seed))

        def fresh(arg: Any) -> Any:
            if isinstance(arg, list):
                return [fresh(a) for a in arg]
            return be.xp.asarray(arg, copy=True) if be.is_native(arg) else arg

        generic_args, fast_args = fresh(args), fresh(args)
        expected = compared_arrays(fp.name, generic_args, generic_of(fp.name)(*generic_args))
        got = compared_arrays(fp.name, fast_args, fp.impl(*fast_args))
        if fp.name.endswith(".update"):
            for g, before in zip(got, compared_arrays(fp.name, args, None)):
                assert not np.allclose(be.to_numpy(g), be.to_numpy(before)), f"{fp.name} left an array unchanged"
        if fp.name.startswith("arrays."):
            buffer = fast_args[1] if fp.name == "arrays.add_scaled" else fast_args[-1]  # y, or out
            assert got[0] is buffer, f"{fp.name} did not return the buffer it was given"
        return max(_rel(be.to_numpy(g), be.to_numpy(e)) for g, e in zip(got, expected))
