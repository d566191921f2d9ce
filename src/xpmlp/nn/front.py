"""Input layers of other kinds: what a network may put between its input ``X`` and ``W^1``.

A dense layer is ``z^l = a^{l-1} W^l + b^l, a^l = f(z^l)`` (:mod:`.backprop`).  Tabular MLPs gain
from layers that are not dense (Holzmüller et al. 2024, RealMLP): a per-feature scale
(:mod:`.scale`) and a periodic embedding of each number (:mod:`.periodic`).  Each such *kind*
keeps, in one class beside the others (as activations do):

==========================  ====================================================================
forward                     ``u = h(x; theta)``: ``x`` ``(n, width_in)`` -> ``u`` ``(n, width_out)``
delta (pull-back)           ``dC/dx = (dC/du) dh/dx`` (for the layer below it, if any)
gradient                    ``grad_theta = (dC/du) dh/dtheta``, summed over the batch
==========================  ====================================================================

A :class:`Front` is the stack of these layers: ``a^0 = h_m(... h_1(X))`` is what the dense stack
sees as its input, so ``W^1`` has ``Front.width`` rows.  The backward pass ends with
``dC/da^0 = delta^1 (W^1)^T`` and hands it to :meth:`Front.backward`, which walks the kinds top
down.  Their parameters live in the network's one flat buffer after the biases
(:class:`~xpmlp.nn.parameters.Layout`'s ``front`` shapes), so optimizers, the data-parallel
all-reduce and model files treat them as every other parameter; the L2 penalty (weights' slice)
leaves them out.  Each kind writes its results into a :class:`~xpmlp.nn.input_layer.Scratch`
(one per layer): in training the :class:`~xpmlp.nn.backprop.Workspace` keeps them, so the steps
reuse their arrays; a pass outside training gets new ones.

Learning-rate factors are parametrisations: a kind stores ``theta`` and uses ``c theta`` (``c``
its ``lr_factor``), so plain gradient descent moves ``c theta`` ``c^2`` times as fast and Adam
``c`` times as fast, with no per-parameter rate in the optimizers (RealMLP's scale layer has
``c = 6``, its embeddings ``c = 0.1``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..backends.arrays import ArrayOps, ops_for
from .input_layer import InputLayer, Scratch
from .periodic import Periodic
from .scale import Scale

__all__ = ["InputLayer", "Front", "Scratch", "get_input_layer", "parse_spec", "KINDS"]


#: The input-layer kinds by name.
KINDS: dict[str, type] = {"scale": Scale, "periodic": Periodic}


def parse_spec(spec: str) -> tuple[str, dict[str, float]]:
    """``"periodic:frequencies=16,sigma=0.1"`` as ``("periodic", {"frequencies": 16.0, "sigma": 0.1})``."""
    name, _, text = str(spec).partition(":")
    name = name.strip().lower()
    if name not in KINDS:
        raise ValueError(f"unknown input layer {spec!r}; valid: {', '.join(KINDS)}")
    settings: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or key not in KINDS[name].settings or key in settings:
            raise ValueError(f"input layer {name!r} takes {', '.join(KINDS[name].settings) or 'no settings'}; "
                             f"cannot read {item!r}")
        try:
            settings[key] = float(value)
        except ValueError:
            raise ValueError(f"input layer {name!r}: {key} must be a number, got {value.strip()!r}") from None
    return name, settings


def get_input_layer(spec: "str | InputLayer", width_in: int) -> InputLayer:
    """An input layer of ``width_in`` columns from its spec (an :class:`InputLayer` of that width is
    returned as it is)."""
    if isinstance(spec, InputLayer):
        if spec.width_in != width_in:
            raise ValueError(f"{spec!r} takes {spec.width_in} columns, its place has {width_in}")
        return spec
    name, settings = parse_spec(spec)
    return KINDS[name](width_in, **settings)


class Front:
    """The stack of input layers in front of ``W^1`` (empty: ``a^0 = X``)."""

    def __init__(self, specs: "Sequence[str | InputLayer]", width_in: int) -> None:
        self.layers: list[InputLayer] = []
        for spec in specs:
            self.layers.append(get_input_layer(spec, width_in))
            width_in = self.layers[-1].width_out
        self.width = width_in

    def __bool__(self) -> bool:
        return bool(self.layers)

    @property
    def specs(self) -> list[str]:
        return [layer.spec for layer in self.layers]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Every layer's ``theta`` shapes, in order (the layout's ``front`` part)."""
        return [s for layer in self.layers for s in layer.shapes]

    def init(self, rng: np.random.Generator) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.init(rng)]

    def _split(self, theta: Sequence) -> list[list]:
        parts, i = [], 0
        for layer in self.layers:
            parts.append(list(theta[i:i + len(layer.shapes)]))
            i += len(layer.shapes)
        return parts

    def scratch(self, ops: ArrayOps, keep: bool = False) -> list[Scratch]:
        """One :class:`~xpmlp.nn.input_layer.Scratch` per layer (``keep=True``: a training loop's, reused
        by every step)."""
        return [Scratch(ops, keep) for _ in self.layers]

    def forward(self, xp: Any, theta: Sequence, X: Any, ops: ArrayOps | None = None,
                scratch: Sequence[Scratch] | None = None) -> tuple[Any, list]:
        """``(a^0, caches)``: ``a^0 = h_m(... h_1(X))`` and each layer's ``(x, cache, scratch)``; each
        layer's results go into its ``scratch`` (:meth:`scratch`; new arrays without)."""
        scratch = self.scratch(ops or ops_for(xp)) if scratch is None else scratch
        caches = []
        for layer, th, s in zip(self.layers, self._split(theta), scratch):
            u, cache = layer.forward(xp, th, X, s)  # u = h(x; theta)
            caches.append((X, cache, s))
            X = u
        return X, caches

    def backward(self, xp: Any, theta: Sequence, caches: list, g: Any, out: Sequence | None = None) -> list:
        """Every layer's ``grad_theta`` (in :attr:`shapes` order) from ``g = dC/da^0``, each written into
        ``out`` (views of a flat gradient buffer, in the same order) when given."""
        outs = self._split(out) if out is not None else [None] * len(self.layers)
        thetas = self._split(theta)
        grads: list = [None] * len(self.layers)
        for k in range(len(self.layers) - 1, -1, -1):
            x, cache, scratch = caches[k]
            grads[k], g = self.layers[k].backward(xp, thetas[k], x, cache, g, outs[k], k > 0, scratch)  # dC/dx below
        return [gr for part in grads for gr in part]
