"""The tabular recipe: what ``xpmlp train`` does by default, in one place.

Chosen on ``bench/tabular.py`` (issue 27), against the 0.3 defaults: robust scaling of the inputs
(``scaling="robust"``: the median and the quartiles), and the best epoch judged by the validation
loss (``judge_by="loss"``: log loss, so the probabilities are what is picked); each helped log loss
and ranks on the development tables at no cost in time.  Smooth clipping at +-3 (``"clip"``) was
even on classification and cost R^2 on a table whose largest values carry the signal (grunfeld); a
wider network with the ``coslog`` schedule won on some tables and lost on others: both are options.
"""

from __future__ import annotations

from typing import Any

from ..training.presets import TABULAR

__all__ = ["CLI_DEFAULTS", "cli_defaults"]

#: ``train_table`` keyword -> the command line's default: the network and training of the tabular recipe
#: (:data:`xpmlp.training.presets.TABULAR`, which the estimators' ``preset="tabular"`` shares), and the
#: command line's own choices.  Its input layers stay off (``--front scale,periodic`` switches them on).
CLI_DEFAULTS: dict[str, Any] = {
    **TABULAR, "activation": "relu", "schedule": "constant", "momentum": 0.9, "scaling": "robust", "test_size": 0.25,
    "dropout": 0.0, "dtype": "float32", "front": (),
}


def cli_defaults(**overrides: Any) -> dict[str, Any]:
    """:data:`CLI_DEFAULTS` with ``overrides``, as ``train_table`` keywords."""
    return {**CLI_DEFAULTS, **overrides}
