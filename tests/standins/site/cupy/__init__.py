"""A stand-in for CuPy on host memory, so that xpmlp's CuPy code runs where no GPU is (CI).

Arrays are NumPy arrays living on simulated devices (:mod:`cupy.cuda`, two by default); the
functions are NumPy's behind CuPy 14.2's rules (:mod:`._array`): no implicit conversion to
NumPy, no NumPy arrays mixed in, an array used while another device is current only through
peer access (:mod:`._standin`), reductions give 0-d arrays, bfloat16 (ml_dtypes') where CuPy
has it, and everything that would make a real GPU's host wait is counted.
``ElementwiseKernel`` runs the kernel body compiled for the host (:mod:`._elementwise`);
``cupy.cuda.nccl`` reduces over MPI (:mod:`cupy.cuda.nccl`); ``cupyx.scipy.sparse`` holds
CSR/CSC matrices with cupyx's synchronising steps.  It is test code: put its ``site``
folder first on ``sys.path`` (``tests/standins``).
"""

from __future__ import annotations

import types as _types
from typing import Any

import numpy as _np

from . import _standin, _util, cuda
from ._array import VIEWS
from ._array import call as _call
from ._array import ndarray
from ._elementwise import ElementwiseKernel

__version__ = "14.2.0+xpmlp-standin"
__all__ = [n for n in _np.__all__ if n not in ("ctypeslib", "f2py", "testing", "typing", "core", "lib", "ma",
                                               "char", "rec", "strings", "polynomial", "emath")] + ["ndarray"]


def is_available() -> bool:
    return True


def asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> ndarray:
    """An array on the current device: the same one where it already is there with that dtype,
    a device copy of an array of another device, a host-to-device copy of host data."""
    if isinstance(a, ndarray):
        if a._dev == _standin.current() and (dtype is None or a.dtype == _np.dtype(dtype)):
            return a
        _standin.use(a._a)
        return ndarray(_np.array(a._a, dtype=dtype), _standin.current())  # device to device
    _standin.upload(f"asarray {_np.shape(a)}")
    return ndarray(_np.array(a, dtype=dtype, order=order or "K"), _standin.current())


def array(obj: Any, dtype: Any = None, copy: bool = True, order: str = "K", subok: bool = False, ndmin: int = 0,
          *, blocking: bool = False) -> ndarray:
    if isinstance(obj, ndarray) and not copy:
        return asarray(obj, dtype)
    if isinstance(obj, ndarray):
        _standin.use(obj._a)
        return ndarray(_np.array(obj._a, dtype=dtype, order=order, ndmin=ndmin), _standin.current())
    _standin.upload(f"array {_np.shape(obj)}")
    return ndarray(_np.array(obj, dtype=dtype, order=order, ndmin=ndmin), _standin.current())


def ascontiguousarray(a: Any, dtype: Any = None) -> ndarray:
    return asarray(a, dtype, order="C")


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> _np.ndarray:
    return a.get(order=order) if isinstance(a, ndarray) else _np.asarray(a, order=order)


def get_array_module(*args: Any) -> _types.ModuleType:
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


def _forward(fn: Any, view: bool = False) -> Any:
    def function(*args: Any, **kwargs: Any) -> Any:
        return _call(fn, args, kwargs, view)
    function.__name__ = getattr(fn, "__name__", "function")
    function.__doc__ = f"NumPy's {function.__name__} under CuPy's rules (the stand-in)."
    return function


_SUBMODULES = {"linalg", "fft", "random"}
#: Functions whose result's size depends on the data: CuPy reads it back from the device.
DATA_DEPENDENT = {"nonzero", "argwhere", "flatnonzero", "unique", "unique_all", "unique_counts", "unique_inverse",
                  "unique_values", "compress", "extract"}


def _reads_back(fn: Any, name: str) -> Any:
    def function(*args: Any, **kwargs: Any) -> Any:
        _standin.sync(f"data-dependent {name}")
        return _call(fn, args, kwargs)
    return function


def __getattr__(name: str) -> Any:
    """NumPy's names under CuPy's rules: functions and ufuncs checked and wrapped; types, dtypes and
    constants as they are."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    attr = getattr(_np, name)
    if isinstance(attr, type) or not callable(attr):
        return attr
    forwarded = _reads_back(attr, name) if name in DATA_DEPENDENT else _forward(attr, name in VIEWS)
    globals()[name] = forwarded  # made once
    return forwarded
