"""The tabular recipe: what ``xpmlp train`` does by default, in one place.

:data:`CLI_DEFAULTS` are the command line's defaults; :func:`cli_defaults` gives them as keyword
arguments of :func:`xpmlp.app.workflows.train_table` (the benchmark, ``bench/tabular.py``, trains
through it exactly as the command line does).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CLI_DEFAULTS", "cli_defaults"]

#: ``train_table`` keyword -> the command line's default.
CLI_DEFAULTS: dict[str, Any] = {
    "hidden": (100,), "activation": "relu", "optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant",
    "momentum": 0.9, "epochs": 100, "batch_size": 32, "alpha": 1e-4, "robust": False, "validation_fraction": 0.1,
    "judge_by": "auto", "patience": 20, "test_size": 0.25, "dropout": 0.0, "dtype": "float32",
}


def cli_defaults(**overrides: Any) -> dict[str, Any]:
    """:data:`CLI_DEFAULTS` with ``overrides``, as ``train_table`` keywords."""
    return {**CLI_DEFAULTS, **overrides}
