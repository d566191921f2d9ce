"""How many array operations one training step makes: on a GPU each is a kernel launch, and small
networks are bound by launches, not arithmetic.

:func:`ops_per_step` trains on array-api-strict (the generic code, no fast paths) with its array
methods and namespace functions counted, and returns the operations per step by name: the
difference between runs of 2k and k steps per epoch, divided by k, so once-per-epoch work (the row
order, the epoch's read) cancels out.  ``tests/test_opcount.py`` guards the count against
regressions and ``bench/bench_train.py`` reports it.
"""

from __future__ import annotations

import collections
import contextlib
import functools
from typing import Any, Iterator

import numpy as np

__all__ = ["ops_per_step", "counting"]

_METHODS = ("__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__", "__rmul__", "__imul__",
            "__truediv__", "__rtruediv__", "__itruediv__", "__matmul__", "__rmatmul__", "__neg__", "__pow__",
            "__gt__", "__ge__", "__lt__", "__le__", "__eq__", "__ne__", "__and__", "__or__", "__invert__",
            "__getitem__", "__setitem__", "__abs__")


@contextlib.contextmanager
def counting() -> Iterator[collections.Counter]:
    """Within the block, every top-level array-api-strict operation is counted by name."""
    import array_api_strict as strict

    seen: collections.Counter = collections.Counter()
    depth = [0]

    def wrap(name: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            if depth[0] == 0:
                seen[name] += 1
            depth[0] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
        return counted

    Array = type(strict.asarray(0.0))
    saved = [(Array, n, getattr(Array, n)) for n in _METHODS if hasattr(Array, n)]
    saved += [(strict, n, getattr(strict, n)) for n in dir(strict)
              if not n.startswith("_") and callable(getattr(strict, n)) and not isinstance(getattr(strict, n), type)]
    try:
        for owner, name, fn in saved:
            setattr(owner, name, wrap(name, fn))
        yield seen
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def ops_per_step(sizes: list[int], batch: int = 32, steps: int = 4, **fit_kwargs: Any) -> dict[str, float]:
    """Array operations per step, by name, of ``fit`` on an MLP with layer ``sizes`` (relu hidden,
    softmax output, cross-entropy) on array-api-strict; ``fit_kwargs`` go to :func:`xpmlp.fit`
    (default: plain SGD, no validation)."""
    from ..nn.network import MLP
    from ..training.loop import fit

    kwargs = {"optimizer": "sgd", "patience": None, **fit_kwargs}
    counts = []
    for k in (steps, 2 * steps):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(k * batch, sizes[0]))
        T = np.eye(sizes[-1])[rng.integers(0, sizes[-1], k * batch)]
        net = MLP(sizes, backend="array_api_strict:device1", seed=0)
        Xd, Td = net.as_input(X), net.as_target(T, k * batch)
        with counting() as seen:
            fit(net, Xd, Td, epochs=1, batch_size=batch, **kwargs)
        counts.append(seen)
    return {name: (counts[1][name] - counts[0][name]) / steps for name in counts[1] if counts[1][name] != counts[0][name]}
