"""No host sync inside the step loop, on any backend: every operation known to make CuPy wait for
the GPU is counted while the loop steps, and there must be none.

What synchronises on CuPy: conversions to Python scalars or NumPy (``__bool__``, ``__float__``,
``__int__``, ``__index__``, ``__array__``, ``__dlpack__``, ``tolist``, ``to_device``,
``Backend.to_numpy``), boolean-mask indexing (``x[mask]``, ``x[mask] = v``: the mask's count is read
to size the result), and functions with data-dependent output shapes (``nonzero``, ``unique_*``,
``repeat``, ``searchsorted`` is fine).  The loop runs on array-api-strict's ``device1`` with its
array class and namespace instrumented.  A second run uses, wherever array-api-compat gives CuPy
its *generic* implementation of a function (``array_api_compat.common._aliases``, e.g. ``clip``,
which assigns through a boolean mask), that generic implementation over the instrumented arrays:
CuPy-only syncs that NumPy and array-api-strict never show are caught as well.
"""

from __future__ import annotations

import collections
import functools
import inspect

import numpy as np
import pytest

import xpmlp
from xpmlp.backend import Backend
from xpmlp.callbacks import Callback
from xpmlp.optimizers import SGD, Adam
from xpmlp.training import fit

from conftest import random_problem

strict = pytest.importorskip("array_api_strict")

CONVERSIONS = ("__bool__", "__float__", "__int__", "__index__", "__array__", "__dlpack__", "tolist", "to_device")
DATA_DEPENDENT = ("nonzero", "unique_all", "unique_counts", "unique_inverse", "unique_values", "repeat")


class Window(Callback):
    """Counting is on from an epoch's first step to the epoch's read."""

    on = False

    def on_epoch_begin(self, run):
        Window.on = True

    def epoch_values(self, run):
        Window.on = False
        return {}

    def on_fit_end(self, run):
        Window.on = False


@pytest.fixture
def counts(monkeypatch):
    seen: collections.Counter = collections.Counter()

    def counting(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if Window.on:
                seen[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    def mask_aware(name, fn):
        @functools.wraps(fn)
        def wrapper(self, key, *rest):
            if Window.on and getattr(key, "dtype", None) == strict.bool:
                seen[f"boolean-mask {name}"] += 1
            return fn(self, key, *rest)
        return wrapper

    Array = type(strict.asarray(0.0))
    for name in CONVERSIONS:
        if hasattr(Array, name):
            monkeypatch.setattr(Array, name, counting(name, getattr(Array, name)))
    for name in ("__getitem__", "__setitem__"):
        monkeypatch.setattr(Array, name, mask_aware(name, getattr(Array, name)))
    for name in DATA_DEPENDENT:
        if hasattr(strict, name):
            monkeypatch.setattr(strict, name, counting(name, getattr(strict, name)))
    monkeypatch.setattr(Backend, "to_numpy", counting("to_numpy", Backend.to_numpy))
    return seen


CREATION = ("zeros", "ones", "empty", "full", "arange", "eye", "linspace")


class RawLibrary:
    """What the generic code takes as ``xp`` (the raw library, cupy itself on CuPy): here
    array-api-strict, plus the NumPy-style helper the generic code calls that strict lacks; like
    CuPy, it creates arrays on the current device (``device1``) when none is named."""

    broadcast_shapes = staticmethod(np.broadcast_shapes)

    def __getattr__(self, name):
        fn = getattr(strict, name)
        if name not in CREATION:
            return fn
        return lambda *args, device=None, **kw: fn(*args, device=device or strict.Device("device1"), **kw)


class CupyLikeNamespace:
    """array-api-strict, except that every function array-api-compat gives CuPy through its
    generic ``common._aliases`` implementation is that implementation, over strict arrays."""

    def __init__(self) -> None:
        import array_api_compat.cupy as compat_cupy  # imports CuPy; needs no GPU

        self._generic = {}
        for name in dir(compat_cupy):
            wrapped = getattr(getattr(compat_cupy, name), "__wrapped__", None)
            if getattr(wrapped, "__module__", "").endswith("common._aliases"):
                if "xp" in inspect.signature(wrapped).parameters:
                    self._generic[name] = functools.partial(wrapped, xp=RawLibrary())

    def __getattr__(self, name):
        return self._generic[name] if name in self._generic else getattr(strict, name)


def run_fit(be, optimizer):
    X, T = random_problem("cross_entropy", 64, 3, 3, shift=2.0)
    w = np.linspace(0.5, 1.5, 64)
    net = xpmlp.MLP([3, 5, 3], backend=be, seed=0)
    fit(net, X, T, epochs=2, batch_size=8, optimizer=optimizer, alpha=1e-3, max_grad_norm=1.0, sample_weight=w,
        validation_data=(X[:16], T[:16]), patience=None, callbacks=[Window()])


@pytest.mark.parametrize("optimizer", [Adam(), SGD(momentum=0.9, nesterov=True), SGD()], ids=["adam", "nesterov", "sgd"])
def test_step_loop_has_no_sync_on_array_api_strict(counts, optimizer):
    run_fit(xpmlp.resolve("array_api_strict", device="device1", dtype="float32"), optimizer)
    assert not counts, f"operations that synchronise, inside the step loop: {dict(counts)}"


@pytest.mark.parametrize("optimizer", [Adam(), SGD(momentum=0.9)], ids=["adam", "momentum"])
def test_step_loop_has_no_sync_with_cupys_generic_functions(counts, optimizer):
    pytest.importorskip("cupy", reason="array_api_compat.cupy (which imports CuPy) lists CuPy's generic functions")
    xp = CupyLikeNamespace()
    assert "clip" in xp._generic  # the generic clip that once synced twice a step with max_grad_norm
    be = Backend("array_api_strict", xp, strict.Device("device1"), strict.float32)
    run_fit(be, optimizer)
    assert not counts, f"operations that synchronise on CuPy, inside the step loop: {dict(counts)}"


def test_the_counters_see_what_they_look_for(counts):
    """The instruments work: each counted operation, done inside the window, is seen."""
    x = strict.asarray([1.0, -2.0], device=strict.Device("device1"))
    Window.on = True
    try:
        float(x[0])
        x[x > 0]
        strict.nonzero(x > 0)
        CupyLikeNamespace().clip(strict.sum(x), max=0.5) if _has_cupy() else None  # a 0-d norm, as clipping had
    finally:
        Window.on = False
    assert counts["__float__"] == 1 and counts["nonzero"] == 1
    assert counts["boolean-mask __getitem__"] >= 1
    if _has_cupy():
        assert counts["boolean-mask __setitem__"] >= 1  # generic clip: out[mask] = ...


def _has_cupy() -> bool:
    try:
        import array_api_compat.cupy  # noqa: F401
    except ImportError:
        return False
    return True
