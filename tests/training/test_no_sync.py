"""No host sync inside the step loop, on any backend: every operation known to make the host wait
for the GPU is counted while the loop steps, and there must be none.

What synchronises on CuPy or PyTorch CUDA: conversions to Python scalars or NumPy (``__bool__``,
``__float__``, ``__int__``, ``__index__``, ``__array__``, ``__dlpack__``, ``item``, ``tolist``,
``numpy``, ``to_device``, ``Backend.to_numpy``), boolean-mask indexing (``x[mask]``,
``x[mask] = v``: the mask's count is read to size the result), functions with data-dependent
output shapes (``nonzero``, ``argwhere``, ``unique*``, ``masked_select``, ``repeat`` with an
array of repeats), and copies of host data to the device (``asarray`` of a Python scalar or a
NumPy array: on PyTorch CUDA a blocking copy that waits for the stream, pytorch/pytorch#120996).
The loop's one host-to-device copy is each epoch's row order, made before its first step.

Three runs, each with Adam, Nesterov momentum and plain SGD, ``max_grad_norm``, ``alpha``, sample
weights and validation data, for a relu/softmax and a logistic/binary cross-entropy network:

* array-api-strict's ``device1``, its array class and namespace instrumented;
* the same arrays through a CuPy-like namespace: wherever array-api-compat gives CuPy its
  *generic* implementation of a function (``array_api_compat.common._aliases``: ``clip``, which
  assigns through a boolean mask, ``sign``, which does on CuPy only, ...), that implementation,
  with a stand-in for the raw ``cupy`` module as its ``xp``, so CuPy-only syncs are caught too;
* PyTorch on the CPU, ``torch.Tensor`` and the torch functions instrumented (array-api-compat's
  torch wrappers and xpmlp's torch fast paths, which neither other run reaches).
"""

from __future__ import annotations

import collections
import functools
import inspect

import numpy as np
import pytest

import xpmlp
from xpmlp.backends.backend import Backend
from xpmlp.training.callbacks import Callback
from xpmlp.optim.optimizers import SGD, Adam
from xpmlp.training import fit

from conftest import random_problem

strict = pytest.importorskip("array_api_strict")

CONVERSIONS = ("__bool__", "__float__", "__int__", "__index__", "__complex__", "__array__", "__dlpack__",
               "item", "tolist", "numpy", "to_device")
DATA_DEPENDENT = ("nonzero", "argwhere", "unique", "unique_all", "unique_counts", "unique_inverse",
                  "unique_values", "masked_select")
UPLOADS = {"array_api_strict": ("asarray",), "torch": ("asarray", "tensor", "as_tensor")}
N_ROWS, EPOCHS = 64, 2
ROW_ORDER = f"host-to-device ({N_ROWS},)"  # each epoch's shuffled row order (xpmlp.training.data), before its first step


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


class Seen(collections.Counter):
    """The synchronising operations the instruments saw while ``Window.on``."""

    def counting(self, name, fn, when=lambda *args, **kwargs: True):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if Window.on and when(*args, **kwargs):
                self[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    def indexing(self, name, fn, bool_dtype):
        @functools.wraps(fn)
        def wrapper(self_, key, *rest):
            keys = key if isinstance(key, tuple) else (key,)
            if Window.on and any(getattr(k, "dtype", None) == bool_dtype for k in keys):
                self["boolean-mask " + name] += 1
            if isinstance(key, tuple) and not key and len(self_.shape) > 0:
                key = ...  # NumPy's and CuPy's a[()]: the whole array (array-api-strict wants 0-d for it)
            return fn(self_, key, *rest)
        return wrapper

    def uploading(self, fn, array_type):
        @functools.wraps(fn)
        def wrapper(obj, *args, **kwargs):
            if Window.on and not isinstance(obj, array_type):
                self[f"host-to-device {np.shape(obj)}"] += 1
            return fn(obj, *args, **kwargs)
        return wrapper

    def instrument(self, monkeypatch, array_type, module, bool_dtype, uploads):
        """Count, on ``array_type`` and in ``module``, every operation this file names."""
        for name in CONVERSIONS:
            if hasattr(array_type, name):
                monkeypatch.setattr(array_type, name, self.counting(name, getattr(array_type, name)))
        for name in ("__getitem__", "__setitem__"):
            monkeypatch.setattr(array_type, name, self.indexing(name, getattr(array_type, name), bool_dtype))
        for owner in (module, array_type):
            for name in DATA_DEPENDENT:
                if hasattr(owner, name):
                    monkeypatch.setattr(owner, name, self.counting(name, getattr(owner, name)))
            for name in ("repeat", "repeat_interleave"):  # data-dependent when the repeats are an array
                if hasattr(owner, name):
                    monkeypatch.setattr(owner, name, self.counting(
                        name, getattr(owner, name), lambda x, r=None, *a, **k: isinstance(r, array_type)))
        for name in uploads:
            monkeypatch.setattr(module, name, self.uploading(getattr(module, name), array_type))


@pytest.fixture
def seen(monkeypatch) -> Seen:
    counts = Seen()
    counts.instrument(monkeypatch, type(strict.asarray(0.0)), strict, strict.bool, UPLOADS["array_api_strict"])
    try:
        import torch
    except ImportError:
        pass
    else:
        counts.instrument(monkeypatch, torch.Tensor, torch, torch.bool, UPLOADS["torch"])
    monkeypatch.setattr(Backend, "to_numpy", counts.counting("to_numpy", Backend.to_numpy))
    return counts


DEVICE1 = strict.Device("device1")
KINDS = {"floating": "real floating", "complexfloating": "complex floating", "integer": "integral",
         "signedinteger": "signed integer", "unsignedinteger": "unsigned integer", "number": "numeric"}


class RawCupy:
    """What array-api-compat's generic code gets as ``xp`` on CuPy (the ``cupy`` module itself),
    over array-api-strict arrays: named ``cupy`` so that the generic code takes its CuPy branches,
    with the NumPy-style names CuPy has and the standard lacks, and, like CuPy, creating arrays on
    the current device (``device1``) when none is named."""

    __name__ = "cupy"
    bool_, nan = strict.bool, float("nan")
    broadcast_shapes = staticmethod(np.broadcast_shapes)

    def __getattr__(self, name):
        if name in KINDS:
            return KINDS[name]
        fn = getattr(strict, name)
        if name not in ("zeros", "ones", "empty", "full", "arange", "linspace"):
            return fn
        return lambda *args, device=None, **kw: fn(*args, device=device or DEVICE1, **kw)

    @staticmethod
    def issubdtype(dtype, kind):
        return strict.isdtype(dtype, kind)

    @staticmethod
    def transpose(x, axes=None):
        return strict.permute_dims(x, tuple(reversed(range(x.ndim))) if axes is None else axes)

    @staticmethod
    def swapaxes(x, a, b):
        axes = list(range(x.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return strict.permute_dims(x, tuple(axes))

    @staticmethod
    def eye(n, M=None, k=0, dtype=None, device=None):
        return strict.eye(n, M, k=k, dtype=dtype, device=device or DEVICE1)

    @staticmethod
    def cumsum(x, axis=None, dtype=None):
        return strict.cumulative_sum(x, axis=axis, dtype=dtype)

    @staticmethod
    def cumprod(x, axis=None, dtype=None):
        return strict.cumulative_prod(x, axis=axis, dtype=dtype)

    @staticmethod
    def sort(x, axis=-1, kind=None):
        return strict.sort(x, axis=axis, stable=kind == "stable")

    @staticmethod
    def argsort(x, axis=-1, kind=None):
        return strict.argsort(x, axis=axis, stable=kind == "stable")

    @staticmethod
    def std(x, axis=None, dtype=None, ddof=0, keepdims=False):
        return strict.std(x, axis=axis, correction=ddof, keepdims=keepdims)

    @staticmethod
    def var(x, axis=None, dtype=None, ddof=0, keepdims=False):
        return strict.var(x, axis=axis, correction=ddof, keepdims=keepdims)

    @staticmethod
    def unique(x, return_index=False, return_inverse=False, return_counts=False, equal_nan=True):
        res = strict.unique_all(x)  # data-dependent (counted); the generic code reshapes the inverse
        picked = [res.values] + [a for a, want in zip(res[1:], (return_index, return_inverse, return_counts)) if want]
        return picked[0] if len(picked) == 1 else tuple(picked)


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
                    self._generic[name] = functools.partial(wrapped, xp=RawCupy())

    def __getattr__(self, name):
        return self._generic[name] if name in self._generic else getattr(strict, name)


def cupy_like() -> CupyLikeNamespace:
    pytest.importorskip("cupy", reason="array_api_compat.cupy (which imports CuPy) lists CuPy's generic functions")
    return CupyLikeNamespace()


def make_backend(kind: str) -> Backend:
    if kind == "strict":
        return xpmlp.resolve("array_api_strict", device="device1", dtype="float32")
    if kind == "cupy-like":
        xp = cupy_like()
        assert {"clip", "sign", "zeros", "ones_like", "reshape"} <= set(xp._generic)  # the generic ones CuPy gets
        return Backend("array_api_strict", xp, DEVICE1, strict.float32)
    pytest.importorskip("torch")
    return xpmlp.resolve("torch", dtype="float32")


NETS = {"relu-softmax": ("relu", "softmax", "cross_entropy"),
        "logistic-bce": ("tanh", "logistic", "binary_cross_entropy")}
OPTIMIZERS = {"adam": Adam, "nesterov": lambda: SGD(momentum=0.9, nesterov=True), "sgd": SGD}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("kind", ["strict", "cupy-like", "torch"])
def test_step_loop_has_no_sync(seen, kind, net, optimizer):
    hidden, out, loss = NETS[net]
    X, T = random_problem(loss, N_ROWS, 3, 3, shift=2.0)
    model = xpmlp.MLP([3, 5, 3], hidden, out, loss, backend=make_backend(kind), seed=0)
    fit(model, X, T, epochs=EPOCHS, batch_size=8, optimizer=OPTIMIZERS[optimizer](), alpha=1e-3, max_grad_norm=1.0,
        sample_weight=np.linspace(0.5, 1.5, N_ROWS), validation_data=(X[:16], T[:16]), patience=None,
        callbacks=[Window()])
    uploads = {k: seen.pop(k) for k in list(seen) if k.startswith("host-to-device")}
    where = " on CuPy" if kind == "cupy-like" else ""
    assert not seen, f"operations that synchronise{where}, inside the step loop: {dict(seen)}"
    assert uploads == {ROW_ORDER: EPOCHS}, f"host data copied to the device inside the step loop: {uploads}"


def _strict_cases():
    x = strict.asarray([[1.0, -2.0], [3.0, 0.5]], device=DEVICE1)
    return [
        ("float", lambda: float(x[0, 0]), "__float__"),
        ("mask", lambda: x[x > 0], "boolean-mask __getitem__"),
        ("mask in a tuple", lambda: x[(x > 0,)], "boolean-mask __getitem__"),
        ("nonzero", lambda: strict.nonzero(x > 0), "nonzero"),
        ("repeat", lambda: strict.repeat(x[0, ...], strict.asarray([1, 2], device=DEVICE1)), "repeat"),
        ("scalar upload", lambda: strict.asarray(0.0, device=DEVICE1), "host-to-device ()"),
    ]


def _cupy_like_cases():
    x = strict.asarray([[1.0, -2.0], [3.0, 0.5]], device=DEVICE1)
    xp = cupy_like()
    return [
        ("generic clip", lambda: xp.clip(x, -1.0, 1.0), "boolean-mask __setitem__"),  # out[mask] = bound
        ("generic sign", lambda: xp.sign(x), "boolean-mask __setitem__"),  # CuPy only: out[isnan(x)] = nan
        ("generic unique_values", lambda: xp.unique_values(x), "unique_all"),
    ]


def _torch_cases():
    torch = pytest.importorskip("torch")
    import array_api_compat.torch as txp

    t = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
    return [
        ("item", lambda: t[0, 0].item(), "item"),
        ("bool", lambda: bool(t[0, 0] > 0), "__bool__"),
        ("mask", lambda: t[t > 0], "boolean-mask __getitem__"),
        ("mask assignment", lambda: t.clone().__setitem__(t > 0, 0.0), "boolean-mask __setitem__"),
        ("nonzero", lambda: torch.nonzero(t), "nonzero"),
        ("compat maximum with a Python scalar", lambda: txp.maximum(t, 0.0), "host-to-device ()"),
    ]


@pytest.mark.parametrize("cases", [_strict_cases, _cupy_like_cases, _torch_cases], ids=["strict", "cupy-like", "torch"])
def test_the_instruments_see_what_they_look_for(seen, cases):
    """Each counted operation, done inside the window, is seen (so the zero above means something)."""
    for what, op, expected in cases():
        seen.clear()
        Window.on = True
        try:
            op()
        finally:
            Window.on = False
        assert seen[expected] >= 1, f"{what}: expected {expected!r}, saw {dict(seen)}"


class Between(Callback):
    """What a stand-in's counters moved by between an epoch's first step and its read."""

    def __init__(self, syncs, uploads) -> None:
        self.syncs, self.uploads = syncs, uploads
        self.seen, self.uploaded = collections.Counter(), collections.Counter()

    def on_epoch_begin(self, run):
        self._start = collections.Counter(self.syncs), collections.Counter(self.uploads)

    def epoch_values(self, run):
        self.seen += collections.Counter(self.syncs) - self._start[0]
        self.uploaded += collections.Counter(self.uploads) - self._start[1]
        return {}


def _gpu_standin(kind: str):
    """``(context, backend name, the stand-in's sync and upload counters)``."""
    if kind == "torch-cuda":
        pytest.importorskip("torch")
        from standins import torch_cuda

        return torch_cuda.torch_cuda(), "torch:cuda:1", torch_cuda.SYNCS, torch_cuda.UPLOADS
    from standins import cupy_standin

    context = cupy_standin()
    return context, "cupy:1", None, None


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("kind", ["cupy", "torch-cuda"])
def test_step_loop_has_no_sync_on_the_gpu_stand_ins(kind, optimizer, sparse):
    """The CuPy and torch-CUDA stand-ins count what would make the host wait for a real GPU (their
    own conversions, cupyx's synchronising steps, device waits) and every host-to-device copy:
    none inside the step loop but each epoch's row order, dense or sparse inputs alike."""
    if sparse and kind == "torch-cuda":
        pytest.skip("torch's sparse COO input is a CPU matter here: the stand-in's tensors are strided")
    from scipy import sparse as sp

    context, name, syncs, uploads = _gpu_standin(kind)
    with context as module:
        if kind == "cupy":
            syncs, uploads = module._standin.SYNCS, module._standin.UPLOADS
        X, T = random_problem("cross_entropy", N_ROWS, 3, 3, shift=2.0)
        X = sp.csr_matrix(np.where(X > 0, X, 0.0)) if sparse else X
        model = xpmlp.MLP([3, 5, 3], "relu", backend=name, dtype="float32", seed=0)
        window = Between(syncs, uploads)
        fit(model, X, T, epochs=EPOCHS, batch_size=8, optimizer=OPTIMIZERS[optimizer](), alpha=1e-3,
            max_grad_norm=1.0, sample_weight=np.linspace(0.5, 1.5, N_ROWS), validation_data=(X[:16], T[:16]),
            patience=None, callbacks=[window])
    assert not window.seen, f"operations that synchronise on {kind}, inside the step loop: {dict(window.seen)}"
    assert sum(window.uploaded.values()) == EPOCHS and all(f"({N_ROWS},)" in k for k in window.uploaded), \
        f"host data copied to the device inside the step loop: {dict(window.uploaded)}"
