"""``cupy.ElementwiseKernel`` of the stand-in: CuPy's argument rules, the body compiled for the host.

A call checks what CuPy checks -- the number of arguments, arrays on the current device (or a
peer), no NumPy arrays, one dtype per type placeholder and declared types for arrays (``Type is
mismatched``), output shapes; scalars are cast to their parameter's type -- then runs the loop body, compiled by the system C++ compiler with CuPy's
bindings (``const T &x = _raw_x[i];`` for inputs, ``T &y`` for outputs, scalars by value),
over the broadcast arguments.  Libraries are cached per (body, types) and built in a
temporary folder removed when the process ends.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import _standin
from ._array import ndarray

__all__ = ["ElementwiseKernel"]

_CTYPES = {"float16": "half", "float32": "float", "float64": "double", "int32": "int", "int64": "long long",
           "uint32": "unsigned int", "uint64": "unsigned long long", "int8": "signed char", "uint8": "unsigned char",
           "bool": "bool", "bfloat16": "bfloat16"}
_FFI = {"float": ctypes.c_float, "double": ctypes.c_double, "int": ctypes.c_int, "long long": ctypes.c_longlong,
        "unsigned int": ctypes.c_uint, "unsigned long long": ctypes.c_ulonglong, "signed char": ctypes.c_byte,
        "unsigned char": ctypes.c_ubyte, "bool": ctypes.c_bool}
#: CuPy's ``float16`` in a kernel: stored in 16 bits, computed in float (GCC's ``_Float16`` storage).
_HALF = ("struct half {\n"
         "  _Float16 v;\n"
         "  half() = default;\n"
         "  half(float x) : v((_Float16)x) {}\n"
         "  operator float() const { return (float)v; }\n"
         "  half &operator+=(float x) { return *this = half(float(*this) + x); }\n"
         "  half &operator-=(float x) { return *this = half(float(*this) - x); }\n"
         "  half &operator*=(float x) { return *this = half(float(*this) * x); }\n"
         "  half &operator/=(float x) { return *this = half(float(*this) / x); }\n"
         "};\n")
#: CuPy 14's ``bfloat16`` (``cupy/_core/include/cupy/bfloat16.cuh`` over ``cuda_bf16.h``): 16 bits
#: (float32's top half), made from float by rounding to nearest even, computed in float; like
#: CuPy's it has no compound assignment from float (``y += (T)a * x`` does not compile there).
_BFLOAT16 = ("struct bfloat16 {\n"
             "  unsigned short v;\n"
             "  bfloat16() = default;\n"
             "  bfloat16(float x) {\n"
             "    unsigned int u; std::memcpy(&u, &x, 4);\n"
             "    v = (u & 0x7fffffffu) > 0x7f800000u ? (unsigned short)((u >> 16) | 0x40)\n"
             "                                        : (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);\n"
             "  }\n"
             "  operator float() const { unsigned int u = (unsigned int)v << 16; float x; std::memcpy(&x, &u, 4); "
             "return x; }\n"
             "};\n")
_BUILD = Path(tempfile.mkdtemp(prefix="xpmlp-cupy-standin-"))
atexit.register(shutil.rmtree, _BUILD, True)
_LIBS: dict[str, Any] = {}


class _Param:
    def __init__(self, text: str, is_const: bool) -> None:
        words = text.split()
        if len(words) == 3 and words[0] == "raw":
            raise NotImplementedError("the stand-in does not take raw parameters")
        if len(words) != 2:
            raise Exception(f"Syntax error: {text}")  # CuPy's ParameterInfo raises a bare Exception
        self.type, self.name, self.is_const = words[0], words[1], is_const
        self.dtype = np.dtype(self.type) if self.type in _CTYPES else None  # None: a type placeholder


def _params(text: str, is_const: bool) -> tuple:
    return tuple(_Param(p, is_const) for p in text.split(",")) if text.strip() else ()


class ElementwiseKernel:
    """See the module docstring."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel",
                 reduce_dims: bool = True, preamble: str = "", no_return: bool = False,
                 return_tuple: bool = False, **kwargs: Any) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f'Invalid kernel name: "{name}"')
        self.in_params, self.out_params = _params(in_params, True), _params(out_params, False)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        self.operation, self.name, self.preamble = operation, name, preamble
        self.no_return, self.return_tuple = no_return, return_tuple

    def __call__(self, *args: Any, size: int = -1, stream: Any = None, block_size: int = 128) -> Any:
        if len(args) not in (self.nin, self.nargs):
            raise TypeError(f"Wrong number of arguments for {self.name!r}. It must be either {self.nin} or "
                            f"{self.nargs} (with outputs), but given {len(args)}.")
        for a in args:  # CuPy's _preprocess_args: arrays checked for the device, the rest made CScalars
            if isinstance(a, ndarray):
                _standin.check_peer_access(a._dev)
                _standin.use(a._a)
            elif not isinstance(a, (int, float, complex, bool, np.generic)):
                raise TypeError(f"Unsupported type {type(a)}")
        ins, outs = list(args[:self.nin]), list(args[self.nin:])
        types = self.decide_types(tuple(a.dtype if isinstance(a, ndarray) else None for a in ins),
                                  tuple(o.dtype if isinstance(o, ndarray) else None for o in outs))
        shape = np.broadcast_shapes(*[a.shape for a in ins if isinstance(a, ndarray)] or [()])
        if outs:
            if any(not isinstance(o, ndarray) for o in outs):
                raise TypeError("Output arguments type must be cupy.ndarray")
            if any(o.shape != shape for o in outs):
                raise ValueError("Out shape is mismatched")
        else:
            outs = [ndarray(np.empty(shape, dtype=types[p.type] if p.dtype is None else p.dtype), _standin.current())
                    for p in self.out_params]
        self._launch(ins, outs, types, shape)
        if self.no_return:
            return None
        return outs[0] if self.nout == 1 and not self.return_tuple else tuple(outs)

    def decide_types(self, in_dtypes: tuple, out_dtypes: tuple) -> dict[str, np.dtype]:
        """CuPy 14.2's ``_decide_params_type_core`` (``cupy/_core/_kernel.pyx``) on the arguments' dtypes,
        None for scalars: outputs bind the placeholders first, then input arrays; scalars, Python's
        or NumPy's of any dtype, bind nothing and are cast to their parameter's type at the launch
        (``CScalar.apply_dtype``).  A placeholder only scalars fill is CuPy's ``KeyError``."""
        types: dict[str, np.dtype] = {}
        if any(d is None for d in out_dtypes):
            raise TypeError("Output arguments must be cupy.ndarray")
        for p, dtype in [*zip(self.out_params, out_dtypes), *zip(self.in_params, in_dtypes)]:
            if dtype is None:
                continue
            if p.dtype is not None:
                if dtype != p.dtype:
                    raise TypeError(f"Type is mismatched. {p.name} {dtype} {p.dtype}")
            elif p.type in types and types[p.type] != dtype:
                raise TypeError(f"Type is mismatched. {p.name} {dtype} {types[p.type]} {p.type}")
            else:
                types.setdefault(p.type, dtype)
        for p in self.in_params + self.out_params:
            if p.dtype is None and p.type not in types:
                raise KeyError(p.type)
        return types

    def _launch(self, ins: list, outs: list, types: dict, shape: tuple) -> None:
        n = int(np.prod(shape))
        if n == 0:
            return
        lib = _library(self, types)
        c_args, copies = [], []
        for p, a in zip(self.in_params, ins):
            ctype = _ctype(p, types)
            if not isinstance(a, ndarray):  # CScalar.apply_dtype: assignment into the parameter's type
                a = _cast_scalar(a, p.dtype if p.dtype is not None else types[p.type])
            if p.dtype is None:  # an array parameter (a scalar broadcast to it)
                buf = np.ascontiguousarray(np.broadcast_to(a._a if isinstance(a, ndarray) else a, shape))
                copies.append(buf)
                c_args.append(buf.ctypes.data_as(ctypes.c_void_p))
            else:
                c_args.append(_FFI[ctype](a.item()))
        for o in outs:
            buf = o._a if o._a.flags.c_contiguous else np.ascontiguousarray(o._a)
            copies.append((o, buf))
            c_args.append(buf.ctypes.data_as(ctypes.c_void_p))
        getattr(lib, self.name)(*c_args, ctypes.c_longlong(n))
        for item in copies:
            if isinstance(item, tuple) and item[1] is not item[0]._a:
                item[0]._a[...] = item[1]


def _cast_scalar(value: Any, dtype: np.dtype) -> np.ndarray:
    """``PyArray_Pack`` as CuPy's ``CScalar`` uses it: NaN into an integer type and out-of-range
    integers raise; a float64 NumPy scalar for a float32 parameter is rounded."""
    buf = np.empty((), dtype=dtype)
    buf[()] = value
    return buf


def _ctype(p: _Param, types: dict) -> str:
    dtype = p.dtype if p.dtype is not None else types[p.type]
    ctype = _CTYPES.get(str(dtype))
    if ctype is None:
        raise NotImplementedError(f"the stand-in has no host type for {dtype}")
    return ctype


def host_source(kernel: ElementwiseKernel, types: dict) -> str:
    """The body in a host loop with CuPy's bindings; arrays are pointers, in parameter order."""
    typedefs = "".join(f"typedef {_CTYPES[str(t)]} {name};\n" for name, t in sorted(types.items()))
    params, bindings = [], []
    for p in kernel.in_params + kernel.out_params:
        const = "const " if p.is_const else ""
        ctype = p.type if p.dtype is None else _CTYPES[str(p.dtype)]
        if p.dtype is None:  # an array of the placeholder's type
            params.append(f"{const}{ctype}* _raw_{p.name}")
            bindings.append(f"{const}{ctype} &{p.name} = _raw_{p.name}[i];")
        else:
            params.append(f"{const}{ctype} {p.name}")
    body = "\n    ".join([*bindings, kernel.operation + ";"])
    return ("#include <cmath>\n#include <algorithm>\n#include <cstring>\n"
            "using std::sqrt; using std::exp; using std::log; using std::log1p; using std::expm1; using std::tanh;\n"
            "using std::fabs; using std::abs; using std::max; using std::min; using std::pow; using std::erf;\n"
            f"{_HALF}{_BFLOAT16}{typedefs}{kernel.preamble}\n"
            f'extern "C" void {kernel.name}({", ".join([*params, "long long _n"])}) {{\n'
            "  for (long long i = 0; i < _n; ++i) {\n"
            f"    {body}\n  }}\n}}\n")


def _library(kernel: ElementwiseKernel, types: dict) -> Any:
    source = host_source(kernel, types)
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    if key not in _LIBS:
        compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
        if compiler is None:
            raise RuntimeError("the CuPy stand-in builds kernel bodies with a C++ compiler; none found")
        src, lib = _BUILD / f"{kernel.name}_{key}.cpp", _BUILD / f"{kernel.name}_{key}.so"
        src.write_text(source)
        done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-std=c++17", str(src), "-o", str(lib)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"host build of {kernel.name} failed:\n{done.stderr}")
        _LIBS[key] = ctypes.CDLL(str(lib))
    return _LIBS[key]
