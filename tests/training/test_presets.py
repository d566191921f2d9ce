"""The presets (``xpmlp.training.presets``): the tabular recipe's values and the validation losses
that judge its best epoch, each against its formula, with and without row weights."""

from __future__ import annotations

import numpy as np
import pytest

from xpmlp.training.presets import PRESETS, TABULAR, validation_loss

rng = np.random.default_rng(0)
P = rng.dirichlet(np.ones(3), size=6)  # softmax rows
T = np.eye(3)[[0, 1, 2, 0, 1, 1]]
W = rng.uniform(0.5, 2.0, size=6)


def mean(per_row, w):
    return per_row.mean() if w is None else (per_row * w).sum() / w.sum()


@pytest.mark.parametrize("w", [None, W], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("activation, out, target, per_row", [
    ("softmax", P, T, lambda a, t: -(t * np.log(a)).sum(axis=1)),
    ("logistic", P, T, lambda a, t: -(t * np.log(a) + (1 - t) * np.log(1 - a)).sum(axis=1)),
    ("exp", P * 3, T * 2, lambda a, t: (a - t * np.log(a)).sum(axis=1)),
    ("identity", P - 0.5, T, lambda a, t: ((a - t) ** 2).sum(axis=1)),
])
def test_each_validation_loss_is_minus_its_mean_loss(activation, out, target, per_row, w):
    got = float(validation_loss(activation)(np, out, target, w))
    assert got == pytest.approx(-mean(per_row(out, target), w), rel=1e-12)


def test_the_tabular_recipe_is_the_one_preset():
    assert PRESETS == {"tabular": TABULAR} and TABULAR["front"] == ("scale", "periodic")
    assert TABULAR["judge_by"] == "loss" and validation_loss("tanh") is validation_loss("identity")
