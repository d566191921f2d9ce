"""``cupy.fft`` of the stand-in: NumPy's under CuPy's rules."""

from __future__ import annotations

from typing import Any

import numpy as _np

from . import _forward

__all__ = [n for n in dir(_np.fft) if not n.startswith("_") and callable(getattr(_np.fft, n))]


def __getattr__(name: str) -> Any:
    attr = getattr(_np.fft, name)
    return attr if isinstance(attr, type) or not callable(attr) else _forward(attr)
