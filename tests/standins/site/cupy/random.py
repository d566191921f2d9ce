"""``cupy.random`` of the stand-in: ``default_rng``'s ``Generator.random``, drawn where CuPy draws.

The generator's state belongs to the device current when it was made (cuRAND's state is a device
allocation); drawing with another device current is refused as CuPy refuses the peer access.
``random(size, dtype, out)`` keeps CuPy's checks: float32 or float64 only, ``out`` of that very
dtype, contiguous, and of ``size``'s shape.  The numbers are NumPy's (another stream than
cuRAND's: only the contract is CuPy's).  Nothing is uploaded: they are made on the device.
"""

from __future__ import annotations

from typing import Any

import numpy as _np

from . import _standin
from ._array import _NO_PEER, ndarray, unwrap

__all__ = ["default_rng", "Generator"]


class Generator:
    """A device's random generator (see the module docstring)."""

    def __init__(self, seed: Any = None) -> None:
        self._rng, self._dev = _np.random.default_rng(seed), _standin.current()

    def random(self, size: Any = None, dtype: Any = _np.float64, out: Any = None) -> ndarray:
        dtype = _np.dtype(dtype)
        if dtype.char not in "fd":
            raise TypeError("cupy.random only supports float32 and float64")
        if self._dev != _standin.current():
            raise ValueError(_NO_PEER.format(self._dev, _standin.current()))
        if out is not None:
            target = unwrap(out)  # on the current device, a stand-in array (NumPy arrays refused)
            if target.dtype.char != dtype.char:
                raise TypeError(f"Supplied output array has the wrong type. Expected {dtype.name}, got "
                                f"{target.dtype.name}")
            if not (target.flags.c_contiguous or target.flags.f_contiguous):
                raise ValueError("Supplied output array is not contiguous, writable or aligned.")
            if size is not None and (tuple(size) if _np.ndim(size) else (int(size),)) != target.shape:
                raise ValueError("size must match out.shape when used together")
            target[...] = self._rng.random(target.shape, dtype=dtype)
            return out
        shape = () if size is None else size
        return ndarray(self._rng.random(shape, dtype=dtype), _standin.current())


def default_rng(seed: Any = None) -> Generator:
    return Generator(seed)
