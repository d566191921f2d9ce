"""How many array operations one training step makes: on a GPU each is a kernel launch, and small
networks are bound by launches, not arithmetic.

:func:`ops_per_step` trains with the operations counted and returns them per step by name: the
difference between runs of 2k and k steps per epoch, divided by k, so once-per-epoch work (the row
order, the epoch's read) cancels out.  Two counts:

* ``backend="torch"`` (the default): the ATen operations PyTorch runs, views and allocations
  left out, with xpmlp's torch fast paths.  On CUDA each is a kernel launch (cuBLAS GEMMs
  included), so this is the count a GPU user's step pays; it runs on the CPU build the same.
* ``backend="array_api_strict"``: the generic code alone (no fast paths), every array method and
  namespace function of array-api-strict counted; what a library without fast paths runs.

``tests/diagnostics/test_opcount.py`` guards both against regressions and ``bench/bench_train.py``
reports them.
"""

from __future__ import annotations

import collections
import contextlib
import functools
from typing import Any, Iterator

import numpy as np

__all__ = ["ops_per_step", "counting", "counting_torch"]

#: ATen operations that launch no kernel: views, metadata, allocation.
_NO_KERNEL = frozenset({"view", "_unsafe_view", "reshape", "_reshape_alias", "slice", "select", "t", "transpose",
                        "permute", "expand", "as_strided", "alias", "detach", "unsqueeze", "squeeze", "lift_fresh",
                        "empty", "empty_like", "empty_strided", "resize_", "set_"})

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


@contextlib.contextmanager
def counting_torch() -> Iterator[collections.Counter]:
    """Within the block, every ATen operation PyTorch dispatches that runs a kernel, counted by name."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: collections.Counter = collections.Counter()

    class _Count(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            name = func.overloadpacket.__name__
            if name not in _NO_KERNEL:
                seen[name] += 1
            return func(*args, **(kwargs or {}))

    with _Count():
        yield seen


def ops_per_step(sizes: list[int], batch: int = 32, steps: int = 4, backend: str = "torch",
                 **fit_kwargs: Any) -> dict[str, float]:
    """Array operations per step, by name, of ``fit`` on an MLP with layer ``sizes`` (relu hidden,
    softmax output, cross-entropy) on ``backend`` (``"torch"`` or ``"array_api_strict"``, see the
    module's docstring); ``fit_kwargs`` go to :func:`xpmlp.fit` (default: plain SGD, no validation)."""
    from ..nn.network import MLP
    from ..training.loop import fit

    if backend not in ("torch", "array_api_strict"):
        raise ValueError(f"backend must be 'torch' or 'array_api_strict', got {backend!r}")
    counter, spec = (counting_torch, "torch") if backend == "torch" else (counting, "array_api_strict:device1")
    kwargs = {"optimizer": "sgd", "patience": None, **fit_kwargs}
    counts = []
    for k in (steps, 2 * steps):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(k * batch, sizes[0]))
        T = np.eye(sizes[-1])[rng.integers(0, sizes[-1], k * batch)]
        net = MLP(sizes, backend=spec, seed=0)
        Xd, Td = net.as_input(X), net.as_target(T, k * batch)
        with counter() as seen:
            fit(net, Xd, Td, epochs=1, batch_size=batch, **kwargs)
        counts.append(seen)
    return {name: (counts[1][name] - counts[0][name]) / steps for name in counts[1] if counts[1][name] != counts[0][name]}
