"""The data and settings of the data-parallel scenarios: the same in every rank and in the one-process reference."""

from __future__ import annotations

import numpy as np

import xpmlp

N, SIZES = 103, [5, 8, 3]


def global_data(seed: int = 0, n: int = N):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 5)) + np.eye(3, 5)[y]
    return X, np.eye(3)[y], y, rng.uniform(0.2, 2.0, n)


def uneven(rank: int, size: int, n: int = N) -> slice:
    """Shards of very different sizes (rank 0 holds about half)."""
    cuts = np.round(np.linspace(0, 1, size + 1) ** 0.6 * n).astype(int)
    return slice(int(cuts[rank]), int(cuts[rank + 1]))


FITS = {
    "adam": dict(optimizer="adam", alpha=1e-3, max_grad_norm=1.0, validation_fraction=0.2, patience=3, epochs=12,
                 weighted=True, learning_rate=0.01),
    "momentum": dict(optimizer="nesterov", epochs=8, learning_rate=0.05, patience=None),
    # class weights from every rank's class counts (the uneven shards hold the classes unevenly), times w
    "balanced": dict(optimizer="adam", class_weight="balanced", weighted=True, epochs=6, learning_rate=0.01,
                     patience=None),
}


def fit_kwargs(name: str, y: np.ndarray, w: np.ndarray, rows=slice(None)) -> dict:
    kw = dict(FITS[name])
    weighted = kw.pop("weighted", False)
    if kw["optimizer"] == "nesterov":
        kw["optimizer"] = xpmlp.SGD(momentum=0.9, nesterov=True)  # a fresh one for every fit
    return dict(kw, batch_size=16, seed=7, sample_weight=w[rows] if weighted else None,
                stratify=y[rows] if kw.get("validation_fraction") else None)
