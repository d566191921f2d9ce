"""What every input layer of another kind provides (:mod:`.front` stacks them in front of ``W^1``),
and the arrays it writes into (:class:`Scratch`)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import array_api_compat
import numpy as np

from ..backends.arrays import ArrayOps

__all__ = ["InputLayer", "Scratch", "whole", "positive"]


class Scratch:
    """The arrays one input layer writes its results into, by name and shape, and the backend's
    primitives ``ops`` (:class:`~xpmlp.backends.arrays.ArrayOps`, whose ``out=`` they fill).

    ``keep=True`` (the training loop's, held by :class:`~xpmlp.nn.backprop.Workspace`): each array is
    made on its first use and every later step of that batch size reuses it, so a step allocates
    nothing; ``keep=False``: new arrays on every call (a pass outside training, whose results outlive it).
    """

    def __init__(self, ops: ArrayOps, keep: bool = False) -> None:
        self.ops, self.xp, self.keep = ops, ops.xp, keep
        self._arrays: dict = {}

    def __call__(self, name: str, shape: tuple[int, ...], like: Any) -> Any:
        """The array ``name`` of ``shape``, of ``like``'s dtype and device (contents undefined)."""
        key = (name, tuple(shape))
        array = self._arrays.get(key)
        if array is None:
            array = self.xp.empty(shape, dtype=like.dtype, device=array_api_compat.device(like))
            if self.keep:
                self._arrays[key] = array
        return array


def whole(kind: str, name: str, value: float, least: int) -> int:
    """A setting that counts (``frequencies``, ``columns``): ``value`` as an int, refused unless whole and ``>= least``."""
    v = float(value)
    if not (math.isfinite(v) and v == int(v) and v >= least):
        raise ValueError(f"{kind}: {name} must be a whole number >= {least}, got {v:g}")
    return int(v)


def positive(kind: str, name: str, value: float) -> float:
    """A setting that scales (``sigma``, ``lr_factor``): ``value`` as a float, refused unless finite and ``> 0``."""
    v = float(value)
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{kind}: {name} must be > 0 and finite, got {v:g}")
    return v


class InputLayer:
    """One kind of input layer (see the module docstring); parameters are given to each call, so one
    instance serves the model's weights, a gradient buffer's views and host copies alike."""

    name: str = ""
    #: Names of the spec's settings, in order (``periodic:frequencies=16,width=4``).
    settings: tuple[str, ...] = ()

    def __init__(self, width_in: int) -> None:
        self.width_in = int(width_in)

    @property
    def width_out(self) -> int:
        """Columns of ``u``."""
        raise NotImplementedError

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The shapes of ``theta``'s arrays, in order."""
        raise NotImplementedError

    def init(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Initial ``theta`` (float64 host arrays of :attr:`shapes`), drawn from ``rng``."""
        raise NotImplementedError

    def forward(self, xp: Any, theta: Sequence, x: Any, scratch: Scratch) -> tuple[Any, Any]:
        """``(u, cache)`` for ``x`` ``(n, width_in)``: the output ``(n, width_out)`` (in ``scratch``) and
        what :meth:`backward` reuses."""
        raise NotImplementedError

    def backward(self, xp: Any, theta: Sequence, x: Any, cache: Any, g: Any, out: Sequence | None,
                 need_dx: bool, scratch: Scratch) -> tuple[list, Any]:
        """``(grad_theta, dC/dx)`` from ``g = dC/du`` ``(n, width_out)``: each gradient written into
        ``out[i]`` when given (views of a flat gradient buffer), else new; ``dC/dx`` ``(n, width_in)``
        in ``scratch``, None unless ``need_dx``."""
        raise NotImplementedError

    def config(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.settings}

    @property
    def spec(self) -> str:
        """What :func:`get_input_layer` reads back: ``scale``, ``periodic:frequencies=16,...``."""
        params = ",".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{self.name}:{params}" if params else self.name

    def __repr__(self) -> str:
        return f"<input layer {self.spec} ({self.width_in} -> {self.width_out})>"
