"""Small Array API helpers the math modules share."""

from __future__ import annotations

from typing import Any

import array_api_compat

__all__ = ["scalar_like"]


def scalar_like(xp: Any, value: float, x: Any) -> Any:
    """``value`` as a 0-d array of ``x``'s dtype on ``x``'s device.

    The 2023.12 standard takes only arrays in functions such as ``maximum`` and ``where``
    (Python scalars there came with 2024.12); a 0-d array broadcasts the same way on both.
    Made by ``full``, a fill on the device: ``asarray`` of a Python scalar is a host-to-device
    copy, which on PyTorch CUDA waits for the stream to drain (pytorch/pytorch#120996), a host
    sync in every step that calls this.
    """
    return xp.full((), value, dtype=x.dtype, device=array_api_compat.device(x))
