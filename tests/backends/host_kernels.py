"""Test helper: xpmlp's CUDA kernel bodies built for the host and called like CuPy kernels.

:class:`HostKernel` compiles ``cuda_kernels.host_source(spec, dtype)`` with the
system C++ compiler into a shared library (cached per session) and calls it
on NumPy arrays with ``cupy.ElementwiseKernel``'s calling convention:
``kernel(*inputs)`` allocates the outputs, ``kernel(*inputs, *outputs)``
writes into the given ones (read-modify-write), and the result is the output
or a tuple of outputs.  Arrays must be C-contiguous with one shared size (the
xpmlp kernels never broadcast).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from xpmlp.backends.cuda_kernels import SCALAR_CTYPES, ElementwiseSpec, host_source, parse_params

_CTYPES = {"double": ctypes.c_double, "float": ctypes.c_float, "long long": ctypes.c_longlong, "int": ctypes.c_int}
_BUILD_DIR = Path(tempfile.mkdtemp(prefix="xpmlp-host-kernels-"))
_LIBS: dict[tuple[str, str], ctypes.CDLL] = {}


def compiler() -> str | None:
    """The system C++ compiler, or None."""
    return shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


def build(spec: ElementwiseSpec, dtype: str) -> ctypes.CDLL:
    """Compile the spec's host source for ``dtype`` (once per session) and load it."""
    key = (spec.name, dtype)
    if key not in _LIBS:
        src = _BUILD_DIR / f"{spec.name}_{dtype}.cpp"
        lib = src.with_suffix(".so")
        src.write_text(host_source(spec, dtype))
        cmd = [compiler(), "-O2", "-shared", "-fPIC", "-std=c++17", str(src), "-o", str(lib)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"host build of {spec.name} ({dtype}) failed:\n{done.stderr}")
        _LIBS[key] = ctypes.CDLL(str(lib))
    return _LIBS[key]


class HostKernel:
    """One spec for one dtype, callable like ``cupy.ElementwiseKernel`` on NumPy arrays."""

    def __init__(self, spec: ElementwiseSpec, dtype: str) -> None:
        self.spec, self.dtype = spec, np.dtype(dtype)
        self.fn = getattr(build(spec, dtype), spec.kernel_name)
        self.ins, self.outs = parse_params(spec.in_params), parse_params(spec.out_params)

    def __call__(self, *args):
        if len(args) not in (len(self.ins), len(self.ins) + len(self.outs)):
            raise TypeError(f"{self.spec.name}: {len(args)} arguments")
        arrays = [a for a, (t, _) in zip(args, self.ins) if t == "T"]
        n = arrays[0].size
        outs = list(args[len(self.ins):]) or [np.empty_like(arrays[0]) for _ in self.outs]
        c_args = [self._c_arg(a, t, n) for a, (t, _) in zip([*args[:len(self.ins)], *outs], [*self.ins, *self.outs])]
        self.fn(*c_args, ctypes.c_longlong(n))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _c_arg(self, value, type_name: str, n: int):
        if type_name != "T":
            return _CTYPES[SCALAR_CTYPES[type_name]](value)
        if not (isinstance(value, np.ndarray) and value.dtype == self.dtype and value.flags.c_contiguous
                and value.size == n):
            raise TypeError(f"{self.spec.name}: needs C-contiguous {self.dtype} arrays of size {n}")
        return value.ctypes.data_as(ctypes.c_void_p)
