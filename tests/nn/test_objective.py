"""The objective's conventions, each against another way to compute the same number (float64, NumPy):
mean against sum, a batch's rows against |B|, the data-parallel reduce hook, the L2 term, deep nets."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.network import forward
from xpmlp.nn.objective import (Objective, add_penalty, batch_gradients, batch_loss, data_gradients, objective,
                                param_gradients)

RTOL64 = 1e-12  # float64: the same sums in another order


def close(a, b):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=RTOL64, atol=RTOL64 * np.abs(y).max())


@pytest.fixture
def problem():
    """A network with two hidden layers (so the output layer is not also the second), 6 rows."""
    rng = np.random.default_rng(0)
    net = xpmlp.MLP([3, 4, 5, 2], "tanh", "softmax", "cross_entropy", backend="numpy", dtype="float64", seed=1)
    X, T = rng.normal(size=(6, 3)), np.eye(2)[[0, 1, 1, 0, 1, 0]]
    w = rng.uniform(0.5, 2.0, 6)
    return net, X, T, w


def test_sum_reduction_is_rows_times_the_mean_with_its_penalty(problem):
    """grad(|B| C_B) = |B| grad(C_B), the L2 term included (|B| alpha W against alpha W)."""
    net, X, T, w = problem
    mean = batch_gradients(net, X, T, w, Objective(alpha=0.3))
    total = batch_gradients(net, X, T, w, Objective(alpha=0.3, reduction="sum"))
    close(total.grads, [6 * g for g in mean.grads])
    assert Objective(reduction="sum").delta_scale(6) == 1.0 and Objective().delta_scale(4) == 0.25
    trace = forward(net.Ws, net.bs, net.activations, X, net.xp)
    close(param_gradients(net, trace, T, reduction="sum"), [6 * g for g in param_gradients(net, trace, T)])


def test_a_batch_is_scaled_by_the_global_batch_not_its_own_rows(problem):
    """rows=|B| (every process's rows): this process's 3 rows of a 6-row batch give half their mean."""
    net, X, T, _ = problem
    own = batch_gradients(net, X[:3], T[:3])
    part = batch_gradients(net, X[:3], T[:3], rows=6)
    close(part.grads, [g / 2 for g in own.grads])


def test_the_reduce_hook_gets_the_data_term_once_as_one_buffer_or_the_list(problem):
    net, X, T, _ = problem
    seen = []

    def double(arrays):  # a stand-in all-reduce over two identical processes
        seen.append([tuple(a.shape) for a in arrays])
        for a in arrays:
            a *= 2

    obj = Objective(alpha=0.5)
    plain = batch_gradients(net, X, T, objective=obj)
    as_list = batch_gradients(net, X, T, objective=obj, reduce=double)
    flat = batch_gradients(net, X, T, objective=obj, reduce=double, grads=net.parameters.like())
    assert seen == [[tuple(p.shape) for p in net.params], [(net.parameters.flat.shape[0],)]]
    penalty = [0.5 * p if k % 2 == 0 else 0 * p for k, p in enumerate(net.params)]  # alpha W, biases untouched
    want = [2 * (g - pen) + pen for g, pen in zip(plain.grads, penalty)]  # the data term doubled, the penalty once
    close(as_list.grads, want)
    close(list(flat.grads), want)


def test_defaults_of_the_pieces_add_up_to_the_batch_gradient(problem):
    """data_gradients (factor 1) + add_penalty (factor 1) = batch_gradients; batch_loss = sum_i w_i C_i."""
    net, X, T, w = problem
    obj = Objective(alpha=0.2)
    loss, g = data_gradients(net, X, T, w, obj, 6)
    penalty = add_penalty(net, g, obj, 6)
    want = batch_gradients(net, X, T, w, obj)
    close(g, want.grads)
    assert abs(float(penalty) - float(want.penalty)) <= RTOL64 * float(want.penalty)
    trace = forward(net.Ws, net.bs, net.activations, X, net.xp)
    per = net.loss.value(net.xp, trace.z[-1], trace.a[-1], T)
    assert abs(float(batch_loss(net, trace, T, w)) - float(np.sum(per * w))) <= RTOL64 * float(np.sum(per * w))
    assert abs(float(batch_loss(net, trace, T)) - float(np.sum(per))) <= RTOL64 * float(np.sum(per))
    assert abs(float(loss) - float(np.sum(per * w))) <= RTOL64 * float(np.sum(per * w))


def test_objective_is_the_weighted_mean_cost_plus_half_alpha_l2_on_a_deep_net(problem):
    net, X, T, w = problem
    trace = forward(net.Ws, net.bs, net.activations, X, net.xp)
    per = net.loss.value(net.xp, trace.z[-1], trace.a[-1], T)
    w_norm = w / w.mean()
    l2 = sum(float(np.sum(W * W)) for W in net.Ws)
    want = float(np.mean(per * w_norm)) + 0.5 * 0.1 * l2
    assert abs(objective(net, X, T, alpha=0.1, sample_weight=w) - want) <= RTOL64 * want
    with pytest.raises(ValueError, match="T"):
        objective(net, X, T[:4])  # 4 target rows for 6 inputs
