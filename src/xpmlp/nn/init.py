"""Initial weights, drawn on the host so every backend starts from the same numbers.

Weights come from a seeded :class:`numpy.random.Generator` in float64 and are
only then cast and moved to the backend (by :meth:`Backend.asarray`), so NumPy,
CuPy, PyTorch and array-api-strict models built with the same seed hold
identical starting weights.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["init_layer", "init_weights"]


SCHEMES = ("auto", "sklearn")
#: Rectifiers (about max(z, 0) away from 0): He-uniform under ``"auto"``.
RECTIFIERS = ("relu", "leaky_relu", "elu", "gelu", "silu", "softplus")


def init_layer(
    rng: np.random.Generator, fan_in: int, fan_out: int, activation: str, scheme: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """One layer's host weights: ``W`` of shape ``(fan_in, fan_out)`` and ``b`` of shape ``(fan_out,)``.

    Both are ``U(-r, r)``, float64; biases too, so a zero input still gives a
    non-trivial network.  ``scheme``:

    * ``"auto"``: He-uniform ``r = sqrt(6 / fan_in)`` for relu-like layers (:data:`RECTIFIERS`);
      Glorot-uniform ``r = sqrt(6 / (fan_in + fan_out))`` otherwise, times
      ``sqrt(2)`` for logistic layers (Glorot & Bengio 2010).
    * ``"sklearn"``: scikit-learn's MLP rule, ``r = sqrt(f / (fan_in + fan_out))``
      with ``f = 2`` when ``activation`` is logistic, else 6 (the estimators pass
      the hidden activation for every layer, as scikit-learn does).
    """
    if scheme == "sklearn":
        r = math.sqrt((2.0 if activation == "logistic" else 6.0) / (fan_in + fan_out))
    elif scheme == "auto":
        if activation in RECTIFIERS:
            r = math.sqrt(6.0 / fan_in)
        else:
            r = math.sqrt(6.0 / (fan_in + fan_out)) * (math.sqrt(2.0) if activation == "logistic" else 1.0)
    else:
        raise ValueError(f"unknown init scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
    W = rng.uniform(-r, r, size=(fan_in, fan_out))
    b = rng.uniform(-r, r, size=(fan_out,))
    return W, b


def init_weights(
    sizes: list[int], activations: list[str], seed: "int | np.random.Generator | None", scheme: str = "auto"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Host weights for every layer of a network with layer ``sizes`` (input first).

    ``activations[l]`` is layer ``l+1``'s activation name (used by ``scheme``, see
    :func:`init_layer`).  Returns float64 lists ``Ws``, ``bs``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    Ws, bs = [], []
    for fan_in, fan_out, act in zip(sizes[:-1], sizes[1:], activations):
        W, b = init_layer(rng, fan_in, fan_out, act, scheme)
        Ws.append(W)
        bs.append(b)
    return Ws, bs
