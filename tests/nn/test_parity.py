"""Backend parity: every backend gives NumPy's forward outputs, deltas, gradients and trajectories.

Tolerances are norm-relative and set by dtype in conftest.RTOL (one pass) and
conftest.RTOL_TRAJECTORY (after 50 mini-batch steps), with the reasoning there.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp

from conftest import RTOL, RTOL_TRAJECTORY, assert_close, assert_on_backend, make_problem, to_np

NETS = [
    ([6, 5], "relu", "identity", "squared_error"),  # no hidden layer: the delta rule
    ([6, 8, 4], "logistic", "logistic", "binary_cross_entropy"),
    ([6, 16, 8, 5], "relu", "softmax", "cross_entropy"),
    ([6, 7, 7, 7, 3], "tanh", "identity", "mse"),
    ([6, 8, 8, 3], "gelu", "softplus", "mse"),
    ([6, 8, 8, 3], "leaky_relu:slope=0.2", "elu:alpha=0.5", "squared_error"),
    ([6, 8, 4], "silu", "softmax", "cross_entropy"),
]
IDS = ["delta-rule", "logistic-bce", "relu-softmax-ce", "tanh-depth3-mse", "gelu-softplus-mse", "leaky-elu-se",
       "silu-softmax-ce"]


def pair(be, spec):
    ref, X, T = make_problem("numpy", *spec, n=40, seed=7, dtype=be.dtype_name)
    net, _, _ = make_problem(be, *spec, n=40, seed=7)
    return ref, net, X, T


@pytest.mark.parametrize("spec", NETS, ids=IDS)
def test_same_initial_weights(be_other, spec):
    ref, net, _, _ = pair(be_other, spec)
    for a, b in zip(ref.get_weights()[0], net.get_weights()[0]):
        np.testing.assert_array_equal(a, b)  # drawn on the host: bit-identical


@pytest.mark.parametrize("spec", NETS, ids=IDS)
def test_forward_deltas_gradients_match_numpy(be_other, spec):
    ref, net, X, T = pair(be_other, spec)
    rtol = RTOL[be_other.dtype_name]
    tr_ref, tr = ref.forward(X), net.forward(X)
    for i, (za, zb, aa, ab) in enumerate(zip(tr_ref.z, tr.z, tr_ref.a[1:], tr.a[1:])):
        assert_on_backend(be_other, zb)
        assert_on_backend(be_other, ab)
        assert_close(to_np(be_other, zb), za, rtol, f"z^{i + 1}")
        assert_close(to_np(be_other, ab), aa, rtol, f"a^{i + 1}")
    g_ref, g = ref.gradients(X, T), net.gradients(X, T)
    for name in ("delta", "grad_W", "grad_b"):
        for i, (x_ref, x) in enumerate(zip(getattr(g_ref, name), getattr(g, name))):
            assert_on_backend(be_other, x)
            assert_close(to_np(be_other, x), x_ref, rtol, f"{name}^{i + 1}")


@pytest.mark.parametrize("spec", NETS, ids=IDS)
def test_weights_after_50_minibatch_steps_match_numpy(be_other, spec):
    ref, net, X, T = pair(be_other, spec)
    # 40 samples, batch 8 -> 5 steps per epoch; 10 epochs = 50 steps, shuffled from the same seed
    kw = dict(epochs=10, batch_size=8, learning_rate=0.05, shuffle=True, seed=3)
    loss_ref = xpmlp.train(ref, X, T, **kw)
    loss = xpmlp.train(net, X, T, **kw)
    rtol = RTOL_TRAJECTORY[be_other.dtype_name]
    assert_close(loss, loss_ref, rtol, "loss curve")
    assert loss_ref[-1] < loss_ref[0], "training must make progress, or the comparison says little"
    for i, (Wa, Wb) in enumerate(zip(ref.params, net.params)):
        assert_on_backend(be_other, Wb)  # float32 stays float32 on every backend
        assert_close(to_np(be_other, Wb), to_np(ref.backend, Wa), rtol, f"param {i}")
