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
    return getattr(get_activation(subject), method)


def example_of(name: str, be: Backend, rng: np.random.Generator) -> list:
    """Arguments for the generic function named ``name`` (backend arrays of ``be``'s dtype)."""
    normal = lambda shape: be.asarray(rng.normal(size=shape))  # noqa: E731
    if name in ("sgd.update", "momentum.update"):
        shapes = [(7, 5), (5,), (5, 3), (3,)]
        params, grads = [normal(s) for s in shapes], [normal(s) for s in shapes]
        return [params, grads, 0.25]
    if name == "adam.update":
        p, g, m = normal((9, 7)), normal((9, 7)), normal((9, 7))
        v = be.asarray(rng.uniform(0.1, 2.0, size=(9, 7)))
        return [be.xp, p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 1 - 0.9**3, 1 - 0.999**3]
    act, _, method = name.partition(".")
    z = normal((33, 17))
    if method == "delta":  # (xp, g, z, a): a from the generic forward pass
        return [be.xp, normal((33, 17)), z, get_activation(act).f(be.xp, z)]
    return [be.xp, z]  # f, forward


def compared_arrays(name: str, args: list, returned: Any) -> list:
    """The arrays to compare after a call: what it updated in place, or what it returned."""
    if name in ("sgd.update", "momentum.update"):
        return list(args[0])
    if name == "adam.update":
        return [args[1], args[3], args[4]]
    return list(returned) if isinstance(returned, tuple) else [returned]


def _rel(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300))


def compare_fast_path(fp: FastPath, be: Backend, seed: int = 0) -> float:
    """Largest norm-relative difference between ``fp.impl`` and its generic function on fresh copies
    of the same arguments, with ``be``'s device current; raises ``AssertionError`` if an in-place
    update moved nothing."""
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
        return max(_rel(be.to_numpy(g), be.to_numpy(e)) for g, e in zip(got, expected))
