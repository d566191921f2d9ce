"""``cupy.linalg`` of the stand-in: NumPy's under CuPy's rules."""

from __future__ import annotations

from typing import Any

import numpy as _np

from . import _forward

__all__ = [n for n in dir(_np.linalg) if not n.startswith("_") and callable(getattr(_np.linalg, n))]


def __getattr__(name: str) -> Any:
    attr = getattr(_np.linalg, name)
    return attr if isinstance(attr, type) or not callable(attr) else _forward(attr)
