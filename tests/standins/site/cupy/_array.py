"""``cupy.ndarray`` on host memory: a NumPy array that lives on a simulated device.

It behaves where it matters as CuPy's does, failing where CuPy fails:

* implicit conversion to NumPy (``numpy.asarray(x)``, ``__array__``) raises CuPy's ``TypeError``;
* a NumPy array mixed into an operation raises ``TypeError: Unsupported type``;
* an array used while another device is current raises CuPy's ``ValueError`` (no peer access);
* reductions return 0-d arrays, not Python or NumPy scalars;
* ``bool(x)``, ``float(x)``, ``int(x)``, ``x.item()``, ``x.tolist()``, ``x.get()`` and boolean-mask
  indexing work but are counted as synchronisations (:mod:`._standin`).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import _standin

__all__ = ["ndarray", "wrap", "unwrap", "call"]

_NO_PEER = "The device where the array resides ({}) is different from the current device ({}). " \
           "Peer access is unavailable between these devices."


#: Operations that make views (no kernel, so no current device needed) when they can.
VIEWS = {"reshape", "ravel", "transpose", "swapaxes", "expand_dims", "squeeze", "broadcast_to", "view", "moveaxis",
         "diagonal", "permute_dims", "matrix_transpose"}


def unwrap(obj: Any, check: bool = True) -> Any:
    """Stand-in arrays (checked to be on the current device) to NumPy, recursively; NumPy arrays refused."""
    if isinstance(obj, ndarray):
        if check and obj._dev != _standin.current():
            raise ValueError(_NO_PEER.format(obj._dev, _standin.current()))
        return obj._a
    if isinstance(obj, np.ndarray):
        raise TypeError(f"Unsupported type {type(obj)}")
    if isinstance(obj, (list, tuple)):
        return type(obj)(unwrap(o, check) for o in obj)
    if isinstance(obj, dict):
        return {k: unwrap(v, check) for k, v in obj.items()}
    return obj


def wrap(obj: Any) -> Any:
    """NumPy results as stand-in arrays on the current device (scalars as 0-d arrays, like CuPy)."""
    if isinstance(obj, np.ndarray):
        return ndarray(obj, _standin.current())
    if isinstance(obj, np.generic):
        return ndarray(np.asarray(obj), _standin.current())
    if isinstance(obj, tuple):
        return tuple(wrap(o) for o in obj)
    if isinstance(obj, list):
        return [wrap(o) for o in obj]
    return obj


def call(fn: Any, args: tuple, kwargs: dict, view: bool = False) -> Any:
    """``fn`` (a NumPy function) on unwrapped arguments, its result wrapped (``out=`` given back as
    the very array passed, as CuPy does).  A ``view`` operation needs no current device when its
    result is a view of its input (on the input's device); a copy does."""
    out = kwargs.get("out")
    if view and args and isinstance(args[0], ndarray):
        result = fn(*unwrap(args, check=False), **unwrap(kwargs, check=False))
        if isinstance(result, np.ndarray) and np.shares_memory(result, args[0]._a):
            return ndarray(result, args[0]._dev)
    result = fn(*unwrap(args), **unwrap(kwargs))
    if isinstance(out, ndarray) and result is out._a:
        return out
    return wrap(result)


def _binary(op: Any, reflected: bool = False) -> Any:
    def method(self: "ndarray", other: Any) -> Any:
        if not isinstance(other, (ndarray, int, float, complex, bool, np.generic)):
            if isinstance(other, np.ndarray):
                raise TypeError(f"Unsupported type {type(other)}")
            return NotImplemented
        return call(op, (other, self) if reflected else (self, other), {})
    return method


def _inplace(op: Any) -> Any:
    def method(self: "ndarray", other: Any) -> "ndarray":
        a = unwrap(self)
        op(a, unwrap(other), out=a, casting="same_kind")
        return self
    return method


class _MemoryPointer:
    """``x.data``: the device pointer (here the host address) and its device."""

    def __init__(self, array: "ndarray") -> None:
        self.ptr, self.device_id, self.mem = int(array._a.ctypes.data), array._dev, array


class ndarray:
    """See the module docstring."""

    __array_ufunc__ = None  # NumPy defers to us (and so refuses numpy-op-cupy mixes through our methods)
    __slots__ = ("_a", "_dev", "__weakref__")

    def __init__(self, a: np.ndarray, device_id: int) -> None:
        self._a, self._dev = a, int(device_id)

    # -- what CuPy refuses or counts ---------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def get(self, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> np.ndarray:
        _standin.sync("get")
        return np.array(self._a, order=order)

    def _host_scalar(self, kind: str) -> Any:
        _standin.sync(kind)
        if self._a.size != 1:
            raise TypeError("only length-1 arrays can be converted to Python scalars")
        return self._a.reshape(()).item()

    def __bool__(self) -> bool:
        return bool(self._host_scalar("__bool__"))

    def __float__(self) -> float:
        return float(self._host_scalar("__float__"))

    def __int__(self) -> int:
        return int(self._host_scalar("__int__"))

    def __index__(self) -> int:
        if self._a.dtype.kind not in "iub":
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return int(self._host_scalar("__index__"))

    def __complex__(self) -> complex:
        return complex(self._host_scalar("__complex__"))

    def item(self) -> Any:
        return self._host_scalar("item")

    def tolist(self) -> Any:
        _standin.sync("tolist")
        return self._a.tolist()

    # -- attributes ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._a.shape

    @shape.setter
    def shape(self, value: tuple) -> None:  # in place, as CuPy's: refused where it would need a copy
        self._a.shape = value

    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T, self._dev))  # a view: no kernel
    mT = property(lambda self: ndarray(np.swapaxes(self._a, -1, -2), self._dev))
    data = property(lambda self: _MemoryPointer(self))

    @property
    def device(self) -> Any:
        from .cuda import Device

        return Device(self._dev)

    def __len__(self) -> int:
        return len(self._a)

    def __repr__(self) -> str:  # CuPy 14.2 (cupy/_core/core.pyx): repr/str/format of self.get(), a sync
        _standin.sync("repr")
        return repr(self._a)

    def __str__(self) -> str:
        _standin.sync("str")
        return str(self._a)

    def __format__(self, spec: str) -> str:
        _standin.sync("format")
        return format(self._a, spec)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- indexing -----------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        parts = key if isinstance(key, tuple) else (key,)
        if all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in parts):  # a view: no kernel
            result = self._a[key]
            return ndarray(result, self._dev) if isinstance(result, np.ndarray) else wrap(result)
        key = self._key(key)
        return wrap(unwrap(self)[key])

    def __setitem__(self, key: Any, value: Any) -> None:
        key = self._key(key)
        if isinstance(value, np.ndarray):  # CuPy copies host data in: a host-to-device transfer
            _standin.upload(f"__setitem__ {value.shape}")
            unwrap(self)[key] = value
            return
        unwrap(self)[key] = unwrap(value)

    @staticmethod
    def _key(key: Any) -> Any:
        parts = key if isinstance(key, tuple) else (key,)
        if any(isinstance(k, ndarray) and k.dtype == np.bool_ for k in parts):
            _standin.sync("boolean-mask indexing")  # the result's size is read back
        return unwrap(key)

    # -- methods: NumPy's, through the same checks ---------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # NumPy's array protocols (__array_interface__, ...) are not CuPy's
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")
        attr = getattr(self._a, name)
        if not callable(attr):
            return wrap(attr)
        if name in ("nonzero", "compress", "repeat"):  # sizes read back from the device
            _standin.sync(f"data-dependent {name}")

        def method(*args: Any, **kwargs: Any) -> Any:
            if name in VIEWS:
                result = attr(*unwrap(args, check=False), **unwrap(kwargs, check=False))
                if isinstance(result, np.ndarray) and np.shares_memory(result, self._a):
                    return ndarray(result, self._dev)
            return call(getattr(unwrap(self), name), args, kwargs)
        return method

    def astype(self, dtype: Any, copy: bool = True, **kwargs: Any) -> "ndarray":
        return call(unwrap(self).astype, (dtype,), {"copy": copy, **kwargs})

    def copy(self, order: str = "C") -> "ndarray":
        return call(unwrap(self).copy, (order,), {})

    def __neg__(self) -> "ndarray":
        return call(np.negative, (self,), {})

    def __pos__(self) -> "ndarray":
        return call(np.positive, (self,), {})

    def __abs__(self) -> "ndarray":
        return call(np.absolute, (self,), {})

    def __invert__(self) -> "ndarray":
        return call(np.invert, (self,), {})

    def __dlpack_device__(self) -> tuple[int, int]:
        return (2, self._dev)  # kDLCUDA: a consumer on the host must refuse it

    @property
    def __cuda_array_interface__(self) -> dict:
        """The device buffer, as CuPy hands it to CUDA-aware libraries (a CUDA-aware MPI, Numba)."""
        if self._dev != _standin.current():
            raise ValueError(_NO_PEER.format(self._dev, _standin.current()))
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (int(self._a.ctypes.data), False),
                "strides": None if self._a.flags.c_contiguous else self.strides, "version": 3, "stream": 1}


for _name, _op in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
                   ("floordiv", np.floor_divide), ("mod", np.remainder), ("pow", np.power),
                   ("matmul", np.matmul), ("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor)]:
    setattr(ndarray, f"__{_name}__", _binary(_op))
    setattr(ndarray, f"__r{_name}__", _binary(_op, reflected=True))
    if _name != "matmul":
        setattr(ndarray, f"__i{_name}__", _inplace(_op))
for _name, _op in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
                   ("eq", np.equal), ("ne", np.not_equal)]:
    setattr(ndarray, f"__{_name}__", _binary(_op))
ndarray.__hash__ = None  # type: ignore[assignment]
del _name, _op, operator
