"""A model file's input layers of other kinds (:mod:`xpmlp.nn.front`): their specs and arrays.

The record's ``architecture`` lists the layers in order as their specs (``"scale:lr_factor=6.0"``,
``"periodic:frequencies=16,width=4,..."``, :attr:`~xpmlp.nn.input_layer.InputLayer.spec`) under
``"front"``, and the archive holds their ``theta`` arrays as ``front.<i>`` in the order of
:attr:`~xpmlp.nn.front.Front.shapes` (the flat buffer's order, after the biases).  A file without
input layers has no ``"front"`` entry and no such arrays, as those of xpmlp 0.3 and 0.4.

On load, :func:`read_front` makes the :class:`~xpmlp.nn.front.Front` from the specs alone (no
array is allocated: an unknown kind or a bad setting is refused by name) and
:func:`read_front_arrays` checks every array against its layer's shapes, dtype and finiteness,
before :mod:`xpmlp.io.model` builds the network.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..nn.front import Front

__all__ = ["PREFIX", "front_arrays", "read_front", "read_front_arrays"]

#: The archive names of the input layers' arrays: ``front.0``, ``front.1``, ...
PREFIX = "front."


def front_arrays(theta: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The input layers' host arrays by archive name."""
    return {f"{PREFIX}{i}": t for i, t in enumerate(theta)}


def read_front(saved: Any, width_in: int, arrays: dict[str, np.ndarray], bad: Callable) -> Front:
    """The input layers a record lists (``None``: none) in front of ``width_in`` input columns."""
    if saved is None:
        return Front([], width_in)
    if not isinstance(saved, list) or not all(isinstance(s, str) for s in saved):
        raise bad(f"the input layers record {str(saved)[:80]!r} is not a list of specs")
    if len(saved) > sum(k.startswith(PREFIX) for k in arrays):  # every kind has an array: no parse of a huge list
        raise bad(f"the file lists {len(saved)} input layers but holds fewer of their arrays")
    try:
        front = Front(saved, width_in)
    except (ValueError, TypeError) as exc:
        raise bad(f"input layers {saved!r}: {exc}") from None  # the kinds refuse non-finite settings
    return front


def read_front_arrays(arrays: dict[str, np.ndarray], front: Front, check: Callable, bad: Callable) -> list[np.ndarray]:
    """The input layers' arrays, each shaped as its layer says (``check(a, name, bad)``: floats, finite)."""
    wanted = [(layer, shape) for layer in front.layers for shape in layer.shapes]
    theta = []
    for i, (layer, shape) in enumerate(wanted):
        a = arrays.get(f"{PREFIX}{i}")
        if a is None:
            raise bad(f"input layer {layer.spec}: array {PREFIX}{i} is missing")
        if a.shape != shape:
            raise bad(f"input layer {layer.spec}: array {PREFIX}{i} is {a.shape}, the layer needs {shape}")
        check(a, f"{PREFIX}{i}", bad)
        theta.append(a)
    stray = sorted({k for k in arrays if k.startswith(PREFIX)} - {f"{PREFIX}{i}" for i in range(len(wanted))})
    if stray:
        raise bad(f"the file holds input-layer arrays {stray} that its input layers "
                  f"({', '.join(front.specs) or 'none'}) do not have")
    return theta
