"""The tabular recipe: what ``xpmlp train`` does by default, in one place.

Chosen on ``bench/tabular.py`` (issue 27) by average rank over its fourteen tables, never per table.
Against the 0.3 defaults: robust scaling of the inputs (``scaling="robust"``: the median and the
quartiles), and the best epoch judged by the validation loss (``judge_by="loss"``: log loss, so the
probabilities are what is picked); each helped log loss and ranks at no cost in time.

Then RealMLP's input layers (:mod:`xpmlp.nn.front`), ``front=("scale", "periodic")``: a learned
factor per input, then a periodic embedding of each number (only the numbers: the one-hot and gap
columns go in as they are).  Measured with 5 splits per table, against the recipe without them
(mean differences over the tables; wins out of 9 classification and 5 regression tables):

* ``periodic`` alone: accuracy +0.006 (6 wins), log loss -0.022 (7), R^2 +0.015 (5 of 5);
* ``scale`` before it: log loss another -0.015 (6 wins), accuracy +0.001, R^2 -0.002 (even);
  ``scale`` alone (2 splits): accuracy +0.002, log loss -0.012, R^2 +0.004;
* Adam at 3e-3 on batches of 64 (from 1e-3 on 32): accuracy +0.003, log loss -0.001, R^2
  +0.004, in half the steps.

All three together, against the recipe without them: accuracy +0.010 (5 wins), log loss -0.037
(7), R^2 +0.017 (5 of 5).  Average ranks (accuracy / log loss / R^2, 5 splits) among the recipe
without them, with ``periodic``, with ``scale, periodic`` and this one: 3.00 / 3.22 / 3.80, 2.11 /
2.67 / 2.00, 2.33 / 2.22 / 2.40 and 2.56 / 1.89 / 1.80.  Mean fit time 0.57 s against 0.47 s
without them (2 splits, run back to back on 2 busy cores; RealMLP took 61 s on these tables).
Tried and left as options: smooth clipping at +-3 (``"clip"``), which cost grunfeld, whose largest
values carry the signal, 0.08 of R^2; the ``coslog`` schedule, accuracy +0.001 but log loss +0.011
(iris); a 256x3 network (2 splits), worse on every metric at 3x the time.  Input layers train in
float32 or float64: with ``--compute-dtype`` they are left out, with a note.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CLI_DEFAULTS", "cli_defaults"]

#: ``train_table`` keyword -> the command line's default.
CLI_DEFAULTS: dict[str, Any] = {
    "hidden": (100,), "activation": "relu", "optimizer": "adam", "learning_rate": 3e-3, "schedule": "constant",
    "momentum": 0.9, "epochs": 100, "batch_size": 64, "alpha": 1e-4, "scaling": "robust", "validation_fraction": 0.1,
    "judge_by": "loss", "patience": 20, "test_size": 0.25, "dropout": 0.0, "dtype": "float32",
    "front": ("scale", "periodic"),
}


def cli_defaults(**overrides: Any) -> dict[str, Any]:
    """:data:`CLI_DEFAULTS` with ``overrides``, as ``train_table`` keywords."""
    return {**CLI_DEFAULTS, **overrides}
