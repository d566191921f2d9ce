"""Random numbers on the model's device, for dropout's masks: each library's own generator behind one seam.

The Array API has no random numbers.  :func:`uniform_filler` gives a function that fills a
backend array (float, contiguous) in place with draws from ``[0, 1)``, made on its device by
its library's generator, seeded once: NumPy's ``Generator``, ``cupy.random``'s ``Generator``
(cuRAND, on the device current when it was made), a ``torch.Generator`` on the array's device.
No host sync, no host-to-device copy.  A library without one (array-api-strict) draws on the
host and copies the draws in; :attr:`Filler.on_device` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .backend import Backend

__all__ = ["Filler", "uniform_filler"]


@dataclass(frozen=True)
class Filler:
    """``fill(out)`` writes uniform ``[0, 1)`` draws into ``out`` and returns it; ``on_device``:
    drawn by the device's own generator (else on the host and copied in)."""

    fill: Callable[[Any], Any]
    on_device: bool


def _numpy(be: Backend, seed: int) -> Callable[[Any], Any]:
    rng = np.random.default_rng(seed)
    return lambda out: rng.random(out.shape, dtype=out.dtype, out=out)


def _torch(be: Backend, seed: int) -> Callable[[Any], Any]:
    import torch

    gen = torch.Generator(device=be.device)
    gen.manual_seed(seed)
    return lambda out: out.uniform_(0.0, 1.0, generator=gen)  # Philox on CUDA, on the device's stream


def _cupy(be: Backend, seed: int) -> Callable[[Any], Any]:
    import cupy

    with be.activate():
        rng = cupy.random.default_rng(seed)  # its state lives on the device current now: the model's

    def fill(out: Any) -> Any:
        rng.random(out.shape, dtype=out.dtype, out=out)
        return out

    return fill


_ON_DEVICE: dict[str, Callable[[Backend, int], Callable[[Any], Any]]] = {"numpy": _numpy, "torch": _torch,
                                                                         "cupy": _cupy}


def _host(be: Backend, seed: int) -> Callable[[Any], Any]:
    rng = np.random.default_rng(seed)

    def fill(out: Any) -> Any:
        out[...] = be.asarray(rng.random(tuple(out.shape)), dtype=out.dtype)  # drawn on the host, copied in
        return out

    return fill


def uniform_filler(be: Backend, seed: int) -> Filler:
    """A :class:`Filler` for arrays of ``be``'s library and device, seeded by ``seed`` (see the module)."""
    make = _ON_DEVICE.get(be.name)
    if make is None:
        return Filler(_host(be, seed), False)
    return Filler(make(be, seed), True)
