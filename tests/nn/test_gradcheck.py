"""Finite-difference check of backprop: every valid activation x loss pair, depth 0 to 3.

Central differences in float64, ``(C(w + h) - C(w - h)) / 2h`` with ``h = 1e-6``,
on the batch-mean cost, for every weight and bias.  Backprop must agree to a
norm-relative error below 1e-6 per parameter array (truncation error of the
central difference is O(h^2) ~ 1e-12, roundoff ~ eps/h ~ 1e-10).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.activations import ACTIVATIONS, TRAINABLE
from xpmlp.nn.losses import LOSSES, valid_pair

from conftest import central_differences, make_problem, rel_err, to_np

HIDDEN = [a for a in TRAINABLE if not ACTIVATIONS[a].output_only]
PAIRS = [(out, loss) for out in TRAINABLE for loss in LOSSES if valid_pair(loss, out)]
H = 1e-6


def problem(be, out, loss, hidden, depth, seed=0, n=5, width=4):
    return make_problem(be, [3] + [width] * depth + [3], hidden, out, loss, n=n, seed=seed)


def numeric_gradients(net, X, T):
    """Central differences of the mean cost with respect to every parameter (host float64)."""
    Ws, bs = net.get_weights()

    def cost():
        net.set_weights(Ws, bs)
        return net.loss_value(X, T)

    grads = central_differences(cost, [p for pair in zip(Ws, bs) for p in pair], H)
    net.set_weights(Ws, bs)
    return grads


def check(be, out, loss, hidden, depth):
    # relu can leave a whole layer dead for a given draw; take the first seed where no
    # gradient vanishes, so that the comparison below is never vacuous.  Nor may a gradient sink
    # into the central differences' roundoff, ~eps C / h = 2e-10 C per entry (measured: 2.5e-10 C
    # / ||g|| relative): a leaky_relu output whose units all sit on the slope-0.01 side scales its
    # gradients by 0.01, so ||g|| > 1e-3 C keeps that error near 2.5e-7, under the 1e-6 asked.
    for seed in range(20):
        net, X, T = problem(be, out, loss, hidden, depth, seed=seed)
        grads = net.gradients(X, T)
        analytic = [to_np(be, g) for pair in zip(grads.grad_W, grads.grad_b) for g in pair]
        if min(np.linalg.norm(g) for g in analytic) > max(1e-6, 1e-3 * net.loss_value(X, T)):
            break
    numeric = numeric_gradients(net, X, T)
    for k, (a, n) in enumerate(zip(analytic, numeric)):
        name = f"{'W' if k % 2 == 0 else 'b'}^{k // 2 + 1}"
        assert np.linalg.norm(n) > 1e-8, f"{name}: numeric gradient vanished; the check would be vacuous"
        err = rel_err(a, n)
        assert err < 1e-6, f"{name} ({hidden}->{out}, {loss}, depth {depth}): relative error {err:.2e}"


CASES = [(out, loss, "relu", 0) for out, loss in PAIRS] + [
    (out, loss, hidden, depth) for (out, loss), hidden, depth in itertools.product(PAIRS, HIDDEN, (1, 2, 3))
]


@pytest.mark.parametrize("out,loss,hidden,depth", CASES, ids=[f"{h}-{o}-{l}-d{d}" for o, l, h, d in CASES])
def test_backprop_matches_finite_differences_numpy(out, loss, hidden, depth):
    check(xpmlp.resolve("numpy", dtype="float64"), out, loss, hidden, depth)


@pytest.mark.parametrize("out,loss,hidden", [("softmax", "cross_entropy", "relu"), ("logistic", "binary_cross_entropy", "tanh"),
                                             ("identity", "mse", "logistic"), ("tanh", "squared_error", "identity"),
                                             ("exp", "poisson", "tanh"), ("leaky_relu", "mse", "gelu"),
                                             ("gelu", "squared_error", "leaky_relu:slope=0.2"),
                                             ("elu:alpha=0.5", "mse", "silu"), ("silu", "mse", "softplus"),
                                             ("softplus", "squared_error", "elu")])
def test_backprop_matches_finite_differences_every_backend(be64, out, loss, hidden):
    check(be64, out, loss, hidden, depth=2)


@pytest.mark.parametrize("out,loss", [("logistic", "mse"), ("softmax", "cross_entropy"), ("tanh", "squared_error")])
@pytest.mark.on_device
def test_sample_weights_weight_each_samples_gradient(be64, out, loss):
    """backward(sample_weight=w) = sum_i w_i * (gradient of sample i alone), fused or not."""
    from xpmlp.nn.network import backward, forward

    net, X, T = problem(be64, out, loss, "tanh", 2, n=6)
    xp = be64.xp
    w_host = np.linspace(0.2, 2.0, 6)
    Xd, Td, wd = be64.asarray(X), be64.asarray(T), be64.asarray(w_host)
    weighted = backward(net.Ws, net.activations, net.loss, forward(net.Ws, net.bs, net.activations, Xd, xp), Td, xp,
                        reduction="sum", sample_weight=wd)
    for k, g in enumerate(weighted.grad_W):
        expected = sum(
            w_host[i] * to_np(be64, net.gradients(X[i:i + 1], T[i:i + 1], reduction="sum").grad_W[k]) for i in range(6)
        )
        assert rel_err(to_np(be64, g), expected) < 1e-12, f"W^{k + 1}"
