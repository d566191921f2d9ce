"""Where a network's numbers live: one flat buffer per model, each layer's ``W^l`` and ``b^l`` a view of it.

A :class:`Layout` places every weight matrix first, then every bias vector, then the
parameters of the input layers of other kinds (:mod:`.front`), in one 1-D array: so the L2 penalty and the weight norm are one slice (:attr:`Flat.weights`), an
optimizer updates all parameters in one call, and data-parallel training all-reduces the
gradients in place.  A :class:`Flat` is such a buffer with its per-layer views; the model's
parameters, the gradient of a step and an optimizer's state (momentum, Adam's moments) are
each one, with the same layout.  The views are ``reshape(slice, copy=False)``: writes through
them reach the buffer on NumPy, CuPy, PyTorch and array-api-strict (the standard leaves this
unspecified; :func:`check_views` checks it once per library and refuses one that copies).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Iterator

__all__ = ["Layout", "Flat", "check_views", "update_order"]

_CHECKED: set[str] = set()


@dataclass(frozen=True)
class Layout:
    """The places of an MLP's parameters in its flat buffer: ``W^1 .. W^L``, ``b^1 .. b^L``, then the
    input layers' ``theta`` arrays.

    ``sizes`` are the units per dense layer, ``W^1``'s rows first.  ``W^l`` is
    ``(sizes[l-1], sizes[l])``, ``b^l`` is ``(sizes[l],)``; ``front`` the input layers' shapes.
    """

    sizes: tuple[int, ...]
    front: tuple[tuple[int, ...], ...] = ()
    _spans: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shapes = [(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:])] + [(b,) for b in self.sizes[1:]]
        shapes += [tuple(s) for s in self.front]
        spans, start = [], 0
        for shape in shapes:
            spans.append((start, start + math.prod(shape), shape))
            start += math.prod(shape)
        object.__setattr__(self, "_spans", tuple(spans))

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def size(self) -> int:
        """Every parameter's count."""
        return self._spans[-1][1]

    @property
    def n_weights(self) -> int:
        """The weights' count: ``flat[:n_weights]`` holds every ``W^l``."""
        return self._spans[self.n_layers - 1][1]

    def views(self, xp: Any, flat: Any) -> list:
        """Every array's view in layout order: ``W^1 .. W^L, b^1 .. b^L``, then the input layers'."""
        return [xp.reshape(flat[a:b], shape, copy=False) for a, b, shape in self._spans]


class Flat(Sequence):
    """A flat buffer of a :class:`Layout` and its views.

    ``flat`` is the 1-D array; ``Ws`` and ``bs`` the per-layer views, ``front`` the input layers';
    ``weights`` the slice of every weight matrix.  As a sequence it is the views in update order
    ``[W^1, b^1, W^2, ..., b^L, *front]`` (what per-parameter code iterates over).
    """

    def __init__(self, layout: Layout, xp: Any, flat: Any) -> None:
        check_views(xp)
        self.layout, self.xp, self.flat = layout, xp, flat
        views, L = layout.views(xp, flat), layout.n_layers
        self.Ws, self.bs, self.front = views[:L], views[L:2 * L], views[2 * L:]
        self.weights = flat[:layout.n_weights]

    @classmethod
    def zeros(cls, layout: Layout, xp: Any, dtype: Any, device: Any) -> "Flat":
        return cls(layout, xp, xp.zeros(layout.size, dtype=dtype, device=device))

    def like(self) -> "Flat":
        """A zero buffer of the same layout, dtype and device."""
        return Flat(self.layout, self.xp, self.xp.zeros_like(self.flat))

    def __getitem__(self, k: Any) -> Any:
        return self.params[k]

    def __len__(self) -> int:
        return 2 * self.layout.n_layers + len(self.front)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.params)

    @property
    def params(self) -> list:
        """The views in update order ``[W^1, b^1, W^2, b^2, ..., *front]``."""
        return update_order(self.Ws, self.bs) + list(self.front)

    def pack(self, xp: Any, arrays: Sequence[Any]) -> Any:
        """One flat array of this layout from per-parameter arrays in update order (``xp``'s)."""
        dense = 2 * self.layout.n_layers
        ordered = list(arrays[0:dense:2]) + list(arrays[1:dense:2]) + list(arrays[dense:])  # Ws, bs, front
        return xp.concat([xp.reshape(a, (-1,)) for a in ordered])

    def unpack(self, flat: Any) -> list:
        """Per-parameter views, in update order, of another flat array of this layout."""
        views, L = self.layout.views(self.xp, flat), self.layout.n_layers
        return update_order(views[:L], views[L:2 * L]) + views[2 * L:]


def update_order(Ws: Sequence[Any], bs: Sequence[Any]) -> list:
    """Per-layer arrays in update order: ``[W^1, b^1, W^2, b^2, ...]``."""
    return [p for pair in zip(Ws, bs) for p in pair]


def check_views(xp: Any) -> None:
    """Refuse (``TypeError``) a library whose ``reshape`` of a slice copies, once per library."""
    name = getattr(xp, "__name__", str(xp))
    if name in _CHECKED:
        return
    probe = xp.zeros(4, dtype=xp.float32)
    view = xp.reshape(probe[1:3], (1, 2), copy=False)
    view[...] = xp.ones((1, 2), dtype=xp.float32)
    if float(xp.sum(probe)) != 2.0:
        raise TypeError(f"{name}: a reshaped slice is a copy, not a view, so a flat parameter buffer cannot be "
                        "shared with its layers' arrays")
    _CHECKED.add(name)
