"""Seeds 03 and 04 without a hidden layer: the delta rule is linear / logistic regression."""

from __future__ import annotations

import numpy as np

import xpmlp

from conftest import to_np


def test_delta_rule_full_batch_descent_reaches_least_squares(be64):
    """Identity output, squared error, full batch: gradient descent converges to lstsq's solution."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    t = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.05 * rng.normal(size=(80, 1))
    net = xpmlp.MLP([3, 1], "identity", "identity", "squared_error", backend=be64, seed=0)
    losses = xpmlp.train(net, X, t, epochs=400, batch_size="full", learning_rate=0.2, shuffle=False)
    A = np.hstack([X, np.ones((80, 1))])
    coef, *_ = np.linalg.lstsq(A, t, rcond=None)
    np.testing.assert_allclose(to_np(be64, net.Ws[0])[:, 0], coef[:3, 0], atol=1e-8)
    np.testing.assert_allclose(to_np(be64, net.bs[0]), coef[3], atol=1e-8)
    assert losses[-1] < losses[0]


def test_logistic_regression_gradient_is_sum_of_error_times_input(be64):
    """Seed 03: for logistic outputs and the log-likelihood cost, dJ/dw = sum_i (y_i - t_i) x_i."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 4))
    t = rng.integers(0, 2, size=(12, 1)).astype(float)
    net = xpmlp.MLP([4, 1], "identity", "logistic", "binary_cross_entropy", backend=be64, seed=2)
    W, b = (a[0] for a in net.get_weights())
    y = 1 / (1 + np.exp(-(X @ W + b)))
    grads = net.gradients(X, t, reduction="sum")
    np.testing.assert_allclose(to_np(be64, grads.grad_W[0]), X.T @ (y - t), rtol=1e-12)
    np.testing.assert_allclose(to_np(be64, grads.grad_b[0]), (y - t).sum(axis=0), rtol=1e-12)
