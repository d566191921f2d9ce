"""Presets: named sets of training choices, shared by the command line and the estimators.

:data:`TABULAR` is the tabular recipe (issue 27), chosen on ``bench/tabular.py``, in the keywords of
``xpmlp.app.workflows.train_table`` (``hidden``, ``epochs``, ...); the command line's defaults
(``xpmlp.app.recipe``) are made from it, and the estimators' ``preset="tabular"`` maps it onto
scikit-learn's parameter names (``hidden_layer_sizes``, ``max_iter``, ...).  It holds what the
network and its training do; how the inputs are scaled (robust scaling) is the data's business: the
command line's preprocessing, a scikit-learn ``Pipeline``'s scaler.

* ``front``: RealMLP's input layers, a learned scale per column then a periodic embedding of each
  number (:mod:`xpmlp.nn.front`);
* ``judge_by="loss"``: the best epoch is the one of the least validation loss
  (:func:`validation_loss`: log loss, so the probabilities are what is picked), not accuracy or R^2;
* Adam at 1e-3, batches of 32, L2 ``alpha`` 1e-4, at most 100 epochs, stopping after 20 without
  progress on a tenth of the training rows held out.
"""

from __future__ import annotations

from typing import Any

from ..backends.arrays import scalar_like
from ..nn.metrics import ScoreFn

__all__ = ["TABULAR", "PRESETS", "validation_loss"]

#: The tabular recipe, as ``train_table`` keywords.
TABULAR: dict[str, Any] = {
    "hidden": (100,), "optimizer": "adam", "learning_rate": 1e-3, "epochs": 100, "batch_size": 32, "alpha": 1e-4,
    "validation_fraction": 0.1, "judge_by": "loss", "patience": 20, "front": ("scale", "periodic"),
}

#: The presets by name.
PRESETS: dict[str, dict[str, Any]] = {"tabular": TABULAR}


def _mean(xp: Any, per_row: Any, w: Any) -> Any:
    return xp.mean(per_row) if w is None else xp.sum(per_row * w) / xp.sum(w)


def _log_loss(xp: Any, out: Any, T: Any, w: Any = None) -> Any:  # -sum_j t_j log a_j (softmax)
    return -_mean(xp, -xp.sum(T * xp.log(xp.maximum(out, scalar_like(xp, 1e-12, out))), axis=1), w)


def _binary_log_loss(xp: Any, out: Any, T: Any, w: Any = None) -> Any:  # -sum_j [t log a + (1 - t) log(1 - a)]
    eps = scalar_like(xp, 1e-12, out)
    terms = T * xp.log(xp.maximum(out, eps)) + (1.0 - T) * xp.log(xp.maximum(1.0 - out, eps))
    return -_mean(xp, -xp.sum(terms, axis=1), w)


def _poisson(xp: Any, out: Any, T: Any, w: Any = None) -> Any:  # sum_j (a - t log a), the deviance less a constant
    return -_mean(xp, xp.sum(out - T * xp.log(xp.maximum(out, scalar_like(xp, 1e-12, out))), axis=1), w)


def _squared_error(xp: Any, out: Any, T: Any, w: Any = None) -> Any:  # sum_j (a - t)^2
    return -_mean(xp, xp.sum((out - T) ** 2, axis=1), w)


def validation_loss(output_activation: str) -> ScoreFn:
    """Minus the mean validation loss (a score: higher is better) for outputs of ``output_activation``:
    log loss (softmax), binary log loss per output (logistic), the Poisson loss (exp), squared error."""
    return {"softmax": _log_loss, "logistic": _binary_log_loss, "exp": _poisson}.get(output_activation, _squared_error)
