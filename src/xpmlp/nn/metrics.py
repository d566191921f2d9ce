"""Validation scores, computed on the device (higher is better).

Every score takes ``(xp, out, T, w)``: the network's output ``out`` ``(n, k)``,
the targets ``T`` ``(n, k)`` (one-hot or 0/1 for classification), optional
sample weights ``w`` ``(n,)``, all arrays of one backend and dtype, and
returns a 0-d array on the same device (read back once per epoch by the loop).
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["ScoreFn", "accuracy", "subset_accuracy", "r2_score", "default_score"]

#: Score function: ``(xp, output (n, k), targets (n, k), weights (n,) or None) -> 0-d device array``.
ScoreFn = Callable[[Any, Any, Any, Any], Any]


def _weighted_mean(xp: Any, values: Any, w: Any) -> Any:
    return xp.mean(values) if w is None else xp.sum(values * w) / xp.sum(w)


def accuracy(xp: Any, out: Any, T: Any, w: Any = None) -> Any:
    """Fraction of rows whose arg-max output matches the one-hot target's (softmax outputs)."""
    hit = xp.astype(xp.argmax(out, axis=1) == xp.argmax(T, axis=1), out.dtype)
    return _weighted_mean(xp, hit, w)


def subset_accuracy(xp: Any, out: Any, T: Any, w: Any = None) -> Any:
    """Fraction of rows with every logistic output on the target's side of 0.5 (binary, multilabel)."""
    hit = xp.astype(xp.all((out > 0.5) == (T > 0.5), axis=1), out.dtype)
    return _weighted_mean(xp, hit, w)


def r2_score(xp: Any, out: Any, T: Any, w: Any = None) -> Any:
    """Coefficient of determination, averaged over the outputs (scikit-learn's ``uniform_average``).

    An output with constant targets scores 1 if predicted exactly, else 0.
    """
    wc = xp.ones_like(T[:, :1]) if w is None else xp.reshape(w, (-1, 1))
    mean_T = xp.sum(wc * T, axis=0) / xp.sum(wc)
    ss_res = xp.sum(wc * (T - out) ** 2, axis=0)
    ss_tot = xp.sum(wc * (T - mean_T) ** 2, axis=0)
    ones, zeros = xp.ones_like(ss_tot), xp.zeros_like(ss_tot)
    safe = xp.where(ss_tot > 0, ss_tot, ones)
    r2 = xp.where(ss_tot > 0, 1.0 - ss_res / safe, xp.where(ss_res > 0, zeros, ones))
    return xp.mean(r2)


def default_score(output_activation: str) -> ScoreFn:
    """The score for a network's output activation: accuracy for softmax outputs, subset
    accuracy for logistic outputs, R^2 otherwise."""
    return {"softmax": accuracy, "logistic": subset_accuracy}.get(output_activation, r2_score)
