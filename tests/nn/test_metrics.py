"""The validation scores against scikit-learn's metrics: weights, thresholds, constant targets, dtype."""

from __future__ import annotations

import numpy as np
import pytest

from xpmlp.nn.metrics import accuracy, default_score, r2_score, subset_accuracy

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_equal_scikit_learns_with_and_without_weights(dtype):
    rng = np.random.default_rng(0)
    n, k = 40, 3
    w = rng.uniform(0.1, 3.0, n).astype(dtype)
    out = rng.normal(size=(n, k)).astype(dtype)
    labels = rng.integers(0, k, n)
    T = np.eye(k, dtype=dtype)[labels]
    logits = rng.uniform(size=(n, k)).astype(dtype)
    multilabel = (rng.uniform(size=(n, k)) > 0.5).astype(dtype)
    Y = (0.01 * rng.normal(size=(n, k))).astype(dtype)  # targets whose variance is far below 1
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for weights in (None, w):
        cases = [
            (accuracy(np, out, T, weights), sklearn_metrics.accuracy_score(labels, out.argmax(1), sample_weight=weights)),
            (subset_accuracy(np, logits, multilabel, weights),
             sklearn_metrics.accuracy_score(multilabel, logits > 0.5, sample_weight=weights)),
            (r2_score(np, Y + 0.003, Y, weights), sklearn_metrics.r2_score(Y, Y + 0.003, sample_weight=weights)),
        ]
        for got, want in cases:
            assert got.dtype == dtype and got.shape == ()
            assert abs(float(got) - want) <= tol * max(1.0, abs(want)), (got, want)


def test_an_output_of_one_half_is_the_negative_class():
    assert float(subset_accuracy(np, np.array([[0.5], [0.5]]), np.array([[0.0], [0.0]]))) == 1.0


def test_constant_targets_score_one_if_predicted_exactly_else_zero():
    T = np.array([[2.0, 1.0], [2.0, 3.0]])
    exact = np.array([[2.0, 1.0], [2.0, 3.0]])
    off = np.array([[2.5, 1.0], [2.0, 3.0]])  # column 0 (constant) missed, column 1 exact
    assert float(r2_score(np, exact, T)) == 1.0
    assert float(r2_score(np, off, T)) == 0.5
    assert float(r2_score(np, off, T)) == sklearn_metrics.r2_score(T, off)


def test_the_default_score_follows_the_output_activation():
    assert default_score("softmax") is accuracy and default_score("logistic") is subset_accuracy
    assert default_score("identity") is r2_score and default_score("exp") is r2_score
