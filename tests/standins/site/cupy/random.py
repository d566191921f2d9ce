"""``cupy.random`` of the stand-in: ``default_rng``'s ``Generator.random``, drawn where CuPy draws.

The contract is CuPy 14.2's (``cupy/random/_generator_api.pyx``, ``Generator.random`` and
``_check_output_array``; ``cupy/random/_bit_generator.pyx``, ``BitGenerator._check_device``):

* ``out`` is checked first: its dtype's character must be ``dtype``'s, it must be C- or
  F-contiguous, and of ``size``'s shape where a size is given;
* float64 is drawn as float64; every other dtype as float32 (cuRAND's float uniform), then copied
  into ``out`` (a broadcasting copy kernel: float16 ``out`` takes the rounded float32 draws) or
  cast with ``astype(dtype)``; no dtype is refused;
* the generator's state is a device allocation: drawing while another device is current raises
  ``RuntimeError('This Generator state is allocated in a different device')``.

The numbers are NumPy's (another stream than cuRAND's: only the contract is CuPy's).  Nothing
is uploaded: they are made on the device.
"""

from __future__ import annotations

from typing import Any

import numpy as _np

from . import _standin
from ._array import ndarray, unwrap

__all__ = ["default_rng", "Generator"]


class Generator:
    """A device's random generator (see the module docstring)."""

    def __init__(self, seed: Any = None) -> None:
        self._rng, self._dev = _np.random.default_rng(seed), _standin.current()

    @staticmethod
    def _check_output_array(dtype: _np.dtype, size: Any, out: Any) -> None:
        if out.dtype.char != dtype.char:
            raise TypeError(f"Supplied output array has the wrong type. Expected {dtype.name}, got {out.dtype.name}")
        if not (out.flags.c_contiguous or out.flags.f_contiguous):
            raise ValueError("Supplied output array is not contiguous, writable or aligned.")
        if size is not None and (tuple(size) if _np.ndim(size) else (size,)) != out.shape:
            raise ValueError("size must match out.shape when used together")

    def random(self, size: Any = None, dtype: Any = _np.float64, out: Any = None) -> ndarray:
        dtype = _np.dtype(dtype)
        if out is not None:
            self._check_output_array(dtype, size, out)
        shape = () if size is None else size
        if self._dev != _standin.current():
            raise RuntimeError("This Generator state is allocated in a different device")
        y = self._rng.random(shape, dtype=_np.float64 if dtype.char == "d" else _np.float32)
        if out is None:
            return ndarray(y.astype(dtype, copy=False), _standin.current())
        unwrap(out)[...] = y  # the copy kernel: out on the current device (or a peer), a stand-in array
        return out


def default_rng(seed: Any = None) -> Generator:
    return Generator(seed)
