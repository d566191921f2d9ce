"""``cupy.ndarray`` on host memory: a NumPy array that lives on a simulated device.

It behaves where it matters as CuPy's does, failing where CuPy fails:

* implicit conversion to NumPy (``numpy.asarray(x)``, ``__array__``) raises CuPy's ``TypeError``;
* a NumPy array mixed into an operation raises ``TypeError: Unsupported type``;
* an array used while another device is current: CuPy's peer-access check (:mod:`._standin`);
* NumPy's ufuncs and functions given a stand-in array dispatch to the stand-in's own, as CuPy's
  ``__array_ufunc__`` and ``__array_function__`` do (:func:`array_ufunc`, :func:`array_function`);
* reductions return 0-d arrays, not Python or NumPy scalars;
* ``bool(x)``, ``float(x)``, ``int(x)``, ``x.item()``, ``x.tolist()``, ``x.get()`` and boolean-mask
  indexing work but are counted as synchronisations (:mod:`._standin`);
* every kernel or copy that uses an array runs on the current stream: deferred work (NCCL's) that
  still has to write its memory from another stream is a race, refused (:func:`._standin.use`).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import _standin

__all__ = ["ndarray", "wrap", "unwrap", "call"]

#: Operations that make views (no kernel, so no current device needed) when they can.
VIEWS = {"reshape", "ravel", "transpose", "swapaxes", "expand_dims", "squeeze", "broadcast_to", "view", "moveaxis",
         "diagonal", "permute_dims", "matrix_transpose"}


def unwrap(obj: Any, check: bool = True) -> Any:
    """Stand-in arrays (checked to be on the current device) to NumPy, recursively; NumPy arrays refused."""
    if isinstance(obj, ndarray):
        if check:
            _standin.check_peer_access(obj._dev)
            _standin.use(obj._a)
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
    args = _bfloat16_loop(fn, args)
    if fn in (np.sum, np.prod, np.nansum) and args and isinstance(args[0], ndarray) and \
            args[0].dtype.name == "bfloat16" and kwargs.get("dtype") is None:
        return _bfloat16_reduction(fn, args, kwargs)
    result = fn(*unwrap(args), **unwrap(kwargs))
    if isinstance(out, ndarray) and result is out._a:
        return out
    if fn is np.matmul and isinstance(result, np.ndarray):  # NumPy gives bfloat16 @ bfloat16 in float32,
        result = result.astype(np.result_type(*[a.dtype for a in args]), copy=False)  # CuPy: bfloat16
    return wrap(result)


#: CuPy 14.2's ufuncs that have no bfloat16 loop (``cupy/_util.pyx``, ``bf16_loop``; every other one
#: has one where ml_dtypes is installed), with the loop its type resolution picks for bfloat16
#: arguments instead (``_Ops._guess_routine_from_in_types``: the first loop every argument casts to
#: safely): its input types, or None where there is none (CuPy's ``TypeError``).  ``where`` and
#: ``clip`` are ufuncs in CuPy too.  tests/backends/test_cupy_standin.py checks this table against an
#: installed CuPy.
BFLOAT16_FALLBACK: dict[str, str | None] = {
    "bitwise_and": None, "bitwise_count": None, "bitwise_invert": None, "bitwise_left_shift": None,
    "bitwise_not": None, "bitwise_or": None, "bitwise_right_shift": None, "bitwise_xor": None, "gcd": None,
    "invert": None, "lcm": None, "left_shift": None, "right_shift": None,
    "divmod": "ff", "float_power": "dd", "logical_not": "f", "logical_xor": "ff", "where": "?ff", "clip": "fff"}


def _bfloat16_loop(fn: Any, args: tuple) -> tuple:
    """``args`` as CuPy's type resolution casts them where ``fn`` has no bfloat16 loop (bfloat16
    arrays to the loop's types), or CuPy's ``TypeError`` where no loop takes them."""
    name = getattr(fn, "__name__", "")
    if name not in BFLOAT16_FALLBACK or not (isinstance(fn, np.ufunc) or fn in (np.where, np.clip)):
        return args
    arrays = [a for a in args if isinstance(a, ndarray)]
    if not any(a.dtype.name == "bfloat16" for a in arrays):
        return args
    loop = BFLOAT16_FALLBACK[name]
    if loop is None:
        raise TypeError(f"Wrong type ({tuple(a.dtype for a in arrays)}) of arguments for cupy_{name}")
    return tuple(ndarray(a._a.astype(np.dtype(t)), a._dev) if isinstance(a, ndarray) and a.dtype.name == "bfloat16"
                 else a for a, t in zip(args, loop)) + args[len(loop):]


def _bfloat16_reduction(fn: Any, args: tuple, kwargs: dict) -> Any:
    """CuPy 14.2's bfloat16 sums and products accumulate in float (``_routines_math.pyx``:
    ``bf16_loop(code=(None, None, None, 'float'))``), rounded once at the end; NumPy's would round
    at every addition."""
    out = kwargs.pop("out", None)
    result = np.asarray(fn(*unwrap(args), **unwrap(kwargs), dtype=np.float32)).astype(args[0].dtype)
    if out is None:
        return wrap(result)
    unwrap(out)[...] = result
    return out


def _cupy() -> Any:
    import sys

    return sys.modules["cupy"]


def array_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    """CuPy 14.2's ``ndarray.__array_ufunc__`` (``cupy/_core/core.pyx``): a NumPy ufunc given a CuPy
    array calls CuPy's ufunc of that name (its method for ``reduce``, ``outer``...), which refuses
    NumPy arrays among the arguments; arguments of other types give NotImplemented (NumPy's TypeError)."""
    inout = inputs
    if "out" in kwargs:
        out = kwargs["out"]
        if len(out) != 1:
            raise ValueError("The 'out' parameter must have exactly one array value")
        inout, kwargs = inout + tuple(out), {**kwargs, "out": out[0]}
    if method not in ("__call__", "outer", "at", "reduce", "accumulate", "reduceat"):
        return NotImplemented
    func = getattr(_cupy(), ufunc.__name__, None)  # the stand-in has no cupyx.scipy.special
    if func is None:
        return NotImplemented
    if method != "__call__":  # the stand-in's ufuncs are NumPy's methods under the same checks
        def func(*args: Any, _m: Any = getattr(ufunc, method), **kw: Any) -> Any:
            return call(_m, args, kw)
    for x in inout:
        if not (isinstance(x, (ndarray, np.ndarray, np.generic, int, float, complex, bool))
                or hasattr(x, "__cuda_array_interface__")):
            return NotImplemented
    if ufunc.__name__ in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal"):
        inputs = tuple(x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else x for x in inputs)
    return func(*inputs, **kwargs)


def array_function(func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
    """CuPy 14.2's ``ndarray.__array_function__``: NumPy's function given a CuPy array calls CuPy's of
    the same module path and name; NotImplemented (NumPy's TypeError) where CuPy has none or another
    array type takes part."""
    import functools

    try:
        cupy_func = getattr(functools.reduce(getattr, func.__module__.split(".")[1:], _cupy()), func.__name__)
    except AttributeError:
        return NotImplemented
    if cupy_func is func or not all(issubclass(t, (ndarray, np.ndarray)) for t in types):
        return NotImplemented
    return cupy_func(*args, **kwargs)


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
        _standin.OWNERS[self.ptr] = array  # so that work deferred on this address keeps its memory alive


class ndarray:
    """See the module docstring."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
        return array_function(func, types, args, kwargs)
    __slots__ = ("_a", "_dev", "__weakref__")

    def __init__(self, a: np.ndarray, device_id: int) -> None:
        self._a, self._dev = a, int(device_id)

    # -- what CuPy refuses or counts ---------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def get(self, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> np.ndarray:
        _standin.use(self._a)  # a copy on the current stream, then a wait for it
        _standin.sync("get")
        return np.array(self._a, order=order)

    def _host_scalar(self, kind: str) -> Any:
        _standin.use(self._a)
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
        _standin.use(self._a)
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
        _standin.use(self._a)
        _standin.sync("repr")
        return repr(self._a)

    def __str__(self) -> str:
        _standin.use(self._a)
        _standin.sync("str")
        return str(self._a)

    def __format__(self, spec: str) -> str:
        _standin.use(self._a)
        _standin.sync("format")
        return format(self._a, spec)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- indexing -----------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        parts = key if isinstance(key, tuple) else (key,)
        if all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in parts):  # a view: no kernel
            result = self._a[key]
            if not isinstance(result, np.ndarray):  # one element: a 0-d view in CuPy, not a copy
                result = self._a[(*parts, Ellipsis)]
            return ndarray(result, self._dev)
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
        """The device buffer, as CuPy hands it to CUDA-aware libraries (a CUDA-aware MPI, Numba); no
        device check (CuPy 14.2's ``core.pyx`` has none: the consumer must be on the right device)."""
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
