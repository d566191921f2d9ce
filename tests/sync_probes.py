"""Counting what would make the host wait for a GPU inside a fit's step loop (a test helper).

What synchronises on CuPy or PyTorch CUDA: conversions to Python scalars or NumPy (``__bool__``,
``__float__``, ``__int__``, ``__index__``, ``__array__``, ``__dlpack__``, ``item``, ``tolist``,
``numpy``, ``to_device``, ``Backend.to_numpy``), printing (``repr``, ``str``, ``format``: from a
host copy), boolean-mask indexing (``x[mask]``, ``x[mask] = v``:
the mask's count is read to size the result), functions with data-dependent output shapes
(``nonzero``, ``argwhere``, ``unique*``, ``masked_select``, ``repeat`` with an array of repeats);
and copies of host data to the device (``asarray`` of a Python scalar or a NumPy array: on PyTorch
CUDA a blocking copy that waits for the stream, pytorch/pytorch#120996).

:func:`counting` gives a backend of one of :data:`KINDS` and its two counters (syncs, uploads):
array-api-strict on ``device1`` and PyTorch on the CPU with their array class and namespace
instrumented here; the CuPy stand-in (``cupy:1``) and the torch-CUDA stand-in (``torch:cuda:1``),
which count for themselves (``tests/standins``), through array-api-compat's real CuPy and torch
namespaces.  :class:`Probe`, a callback, keeps what the counters moved by between each epoch's
first step and its read: the step loop.  The loop's one host-to-device copy is each epoch's row order.
"""

from __future__ import annotations

import collections
import contextlib
import functools
from typing import Any, Iterator

import numpy as np
import pytest

import xpmlp
from xpmlp.backends.backend import Backend
from xpmlp.training.callbacks import Callback

CONVERSIONS = ("__bool__", "__float__", "__int__", "__index__", "__complex__", "__array__", "__dlpack__",
               "item", "tolist", "numpy", "to_device", "__repr__", "__str__", "__format__")
DATA_DEPENDENT = ("nonzero", "argwhere", "unique", "unique_all", "unique_counts", "unique_inverse",
                  "unique_values", "masked_select")
UPLOADS = {"array_api_strict": ("asarray",), "torch": ("asarray", "tensor", "as_tensor")}
KINDS = ("strict", "torch", "cupy-standin", "torch-cuda-standin")


class Probe(Callback):
    """What the counters moved by between an epoch's first step and its read, over the fit."""

    def __init__(self, syncs: collections.Counter, uploads: collections.Counter) -> None:
        self.syncs, self.uploads = syncs, uploads
        self.seen, self.uploaded = collections.Counter(), collections.Counter()

    def on_epoch_begin(self, run):
        self._start = collections.Counter(self.syncs), collections.Counter(self.uploads)

    def epoch_values(self, run):
        self.seen += collections.Counter(self.syncs) - self._start[0]
        self.uploaded += collections.Counter(self.uploads) - self._start[1]
        return {}


def _counted(counter: collections.Counter, name: str, fn: Any, when: Any = None) -> Any:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if when is None or when(*args, **kwargs):
            counter[name] += 1
        return fn(*args, **kwargs)
    return wrapper


def _instrument(monkeypatch, syncs, uploads, array_type, module, bool_dtype, upload_names) -> None:
    """Count, on ``array_type`` and in ``module``, every operation the module docstring names."""
    for name in CONVERSIONS:
        if hasattr(array_type, name):
            monkeypatch.setattr(array_type, name, _counted(syncs, name, getattr(array_type, name)))
    for name in ("__getitem__", "__setitem__"):
        def masked(self_, key, *rest, _fn=getattr(array_type, name), _name=name):
            keys = key if isinstance(key, tuple) else (key,)
            if any(getattr(k, "dtype", None) == bool_dtype for k in keys):
                syncs["boolean-mask " + _name] += 1
            return _fn(self_, key, *rest)
        monkeypatch.setattr(array_type, name, masked)
    for owner in (module, array_type):
        for name in DATA_DEPENDENT:
            if hasattr(owner, name):
                monkeypatch.setattr(owner, name, _counted(syncs, name, getattr(owner, name)))
        for name in ("repeat", "repeat_interleave"):  # data-dependent when the repeats are an array
            if hasattr(owner, name):
                monkeypatch.setattr(owner, name, _counted(syncs, name, getattr(owner, name),
                                                          lambda x, r=None, *a, **k: isinstance(r, array_type)))
    for name in upload_names:
        fn = getattr(module, name)
        monkeypatch.setattr(module, name, functools.wraps(fn)(
            lambda obj, *a, _fn=fn, **k: (uploads.update([f"host-to-device {np.shape(obj)}"])
                                          if not isinstance(obj, array_type) else None, _fn(obj, *a, **k))[1]))


@contextlib.contextmanager
def counting(kind: str, monkeypatch) -> Iterator[tuple[Backend, collections.Counter, collections.Counter]]:
    """``(backend, syncs, uploads)`` for one of :data:`KINDS`, counting for the block."""
    if kind in ("torch", "torch-cuda-standin"):
        pytest.importorskip("torch")
    if kind == "cupy-standin":
        from standins import cupy_standin

        with cupy_standin() as cupy:
            yield xpmlp.resolve("cupy:1", dtype="float32"), cupy._standin.SYNCS, cupy._standin.UPLOADS
        return
    if kind == "torch-cuda-standin":
        from standins import torch_cuda

        with torch_cuda.torch_cuda():
            yield xpmlp.resolve("torch:cuda:1", dtype="float32"), torch_cuda.SYNCS, torch_cuda.UPLOADS
        return
    syncs, uploads = collections.Counter(), collections.Counter()
    monkeypatch.setattr(Backend, "to_numpy", _counted(syncs, "to_numpy", Backend.to_numpy))
    if kind == "strict":
        strict = pytest.importorskip("array_api_strict")
        _instrument(monkeypatch, syncs, uploads, type(strict.asarray(0.0)), strict, strict.bool,
                    UPLOADS["array_api_strict"])
        yield xpmlp.resolve("array_api_strict", device="device1", dtype="float32"), syncs, uploads
        return
    import torch

    _instrument(monkeypatch, syncs, uploads, torch.Tensor, torch, torch.bool, UPLOADS["torch"])
    yield xpmlp.resolve("torch", dtype="float32"), syncs, uploads


@contextlib.contextmanager
def cupyx_release(version: tuple | None) -> Iterator[None]:
    """Inside :func:`counting`'s CuPy stand-in: cupyx behaves as release ``version`` for the block
    (``None``: nothing changes)."""
    if version is None:
        yield
        return
    import cupyx.scipy.sparse as csp

    csp.follow(version)
    try:
        yield
    finally:
        csp.follow((14, 2))


def only_row_orders(uploaded: collections.Counter, rows: int, epochs: int) -> bool:
    """Whether the uploads are each epoch's row order of ``rows`` indices, and nothing else."""
    return sum(uploaded.values()) == epochs and all(f"({rows},)" in name for name in uploaded)
