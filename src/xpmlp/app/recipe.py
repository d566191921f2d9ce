"""The tabular recipe: what ``xpmlp train`` does by default, in one place.

Chosen on ``bench/tabular.py`` (issue 27) by average rank over its fourteen tables, never per table.
Against the 0.3 defaults: robust scaling of the inputs (``scaling="robust"``: the median and the
quartiles), and the best epoch judged by the validation loss (``judge_by="loss"``: log loss, so the
probabilities are what is picked); each helped log loss and ranks at no cost in time.

Then, measured with 10 splits per table (mean differences over the tables; wins out of 9
classification and 5 regression tables, against the step before):

* ``front=("scale", "periodic")``, RealMLP's input layers (:mod:`xpmlp.nn.front`): a periodic
  embedding of each number (only the numbers: one-hot and gap columns go in as they are) gave
  accuracy +0.005 (7 wins), log loss -0.019 (8), R^2 +0.011 (5 of 5); a learned factor per input
  in front of it another log loss -0.011 (7), accuracy +0.002 (4), R^2 -0.001 (1); the factor
  alone: accuracy +0.004, log loss -0.011, R^2 +0.002;
* ``schedule="coslog"`` with Adam at ``learning_rate=3e-3`` on batches of ``batch_size=64``
  (from a constant 1e-3 on 32): accuracy +0.002 (7 wins), log loss +0.001 (4), R^2 +0.002 (4),
  in half the steps; ``coslog`` alone cost log loss (+0.009, iris), the larger steps alone were
  even.

Together, against the recipe before them: accuracy +0.009 (7 wins), log loss -0.030 (8), R^2
+0.011 (5 of 5).  Average ranks among the eight recipes tried with 10 splits (accuracy / log
loss / R^2; 1 is best): this one 3.06 / 3.33 / 3.00, the best of the eight on each; without
``coslog`` and the larger steps 4.50 / 3.44 / 4.60; with ``periodic`` alone 4.67 / 5.11 / 4.20;
with neither input layer 6.28 / 6.78 / 7.00.  Mean fit time 0.58 and 0.63 s against 0.42 s twice without
any of it (2 splits, each run twice, in turn, on 2 cores; digits, whose 64 numbers become 256
inputs, takes twice as long; RealMLP took 61 s a fit on these tables, timed under more load).  Tried and left as options: smooth clipping at +-3 (``scaling="clip"``),
which cost grunfeld, whose largest values carry the signal, 0.07 of R^2; a 256x3 network (2
splits), worse on every metric at 3x the time.  Input layers train in float32 or float64: with
``--compute-dtype`` they are left out, with a note.
"""

from __future__ import annotations

from typing import Any

from ..training.presets import TABULAR

__all__ = ["CLI_DEFAULTS", "cli_defaults"]

#: ``train_table`` keyword -> the command line's default: the network and training of the tabular recipe
#: (:data:`xpmlp.training.presets.TABULAR`, which the estimators' ``preset="tabular"`` shares; its input
#: layers included), with the command line's own choices: Adam's larger steps on larger batches under the
#: ``coslog`` schedule (measured on the command line's preprocessing, see above), the inputs' scaling, the split.
CLI_DEFAULTS: dict[str, Any] = {
    **TABULAR, "learning_rate": 3e-3, "batch_size": 64, "schedule": "coslog", "activation": "relu", "momentum": 0.9,
    "scaling": "robust", "test_size": 0.25, "dropout": 0.0, "dtype": "float32",
}


def cli_defaults(**overrides: Any) -> dict[str, Any]:
    """:data:`CLI_DEFAULTS` with ``overrides``, as ``train_table`` keywords."""
    return {**CLI_DEFAULTS, **overrides}
