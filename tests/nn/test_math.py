"""Activations and losses: values, derivatives, numerical stability, fused output deltas."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import xpmlp
from xpmlp.nn.activations import ACTIVATIONS, TRAINABLE, NotDifferentiableError
from xpmlp.nn.losses import LOSSES, valid_pair
from xpmlp.nn.network import Trace, backward, forward, output_delta

from conftest import RTOL, assert_close, assert_on_backend, central_differences, to_np

REFERENCE = {
    "identity": lambda z: z,
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": lambda z: 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))),
    "silu": lambda z: z / (1 + np.exp(-z)),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "exp": np.exp,
    "softmax": lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True),
    "threshold": lambda z: (z >= 0).astype(z.dtype),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.on_device
def test_activation_values(be, name):
    z_host = np.random.default_rng(0).normal(scale=3, size=(7, 5))
    act = ACTIVATIONS[name]
    a = act.f(be.xp, be.asarray(z_host))
    assert_on_backend(be, a)
    assert_close(to_np(be, a), REFERENCE[name](z_host), RTOL[be.dtype_name], name)


@pytest.mark.parametrize("name", [n for n in TRAINABLE])
@pytest.mark.on_device
def test_activation_pullback_matches_jacobian(be64, name):
    """delta(g) = J^T g, with J from central differences of f (float64)."""
    xp, act = be64.xp, ACTIVATIONS[name]
    rng = np.random.default_rng(1)
    z, g = rng.normal(size=(1, 4)), rng.normal(size=(1, 4))
    J = central_differences(lambda: REFERENCE[name](z)[0], [z])[0][:, 0, :]  # J[i, j] = d f_i / d z_j
    zb = be64.asarray(z)
    got = act.delta(xp, be64.asarray(g), zb, act.f(xp, zb))
    assert_close(to_np(be64, got), g @ J, 1e-8, name)


def test_threshold_cannot_be_trained():
    net = xpmlp.MLP([2, 3, 1], "threshold", "logistic", "squared_error", backend="numpy")
    assert net.predict(np.ones((1, 2))).shape == (1, 1)  # forward works
    with pytest.raises(NotDifferentiableError, match="cannot be trained by gradient descent"):
        xpmlp.train(net, np.ones((2, 2)), np.ones((2, 1)))


@pytest.mark.on_device
def test_float32_logistic_softmax_and_losses_do_not_overflow(be):
    """Huge preactivations give finite outputs, finite losses and no warnings."""
    xp = be.xp
    z_host = np.array([[-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4]])
    z = be.asarray(z_host)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's overflow RuntimeWarning would fail the test
        a = ACTIVATIONS["logistic"].f(xp, z)
        s = ACTIVATIONS["softmax"].f(xp, z)
        t = be.asarray(np.array([[0, 1, 0, 1, 0, 1, 0]], dtype=float))
        bce = LOSSES["binary_cross_entropy"].value(xp, z, a, t)
        ce = LOSSES["cross_entropy"].value(xp, z, s, t / 3)
    a_h, s_h = to_np(be, a), to_np(be, s)
    assert np.all(np.isfinite(a_h)) and np.all((a_h >= 0) & (a_h <= 1))
    assert a_h[0, 0] == 0.0 and a_h[0, -1] == 1.0 and a_h[0, 3] == 0.5
    assert np.isclose(a_h[0, 2], 2.0611536181902037e-09, rtol=RTOL[be.dtype_name]), "small outputs keep relative precision"
    assert np.all(np.isfinite(s_h)) and np.isclose(s_h.sum(), 1.0)
    # BCE from z: sum of softplus terms, exact for these saturated logits
    expect_bce = 1e4 * 0 + 100 + 0 + np.log(2) + 20 + 0 + 1e4
    assert np.isclose(to_np(be, bce)[0], expect_bce, rtol=RTOL[be.dtype_name])
    assert np.isfinite(to_np(be, ce)[0]) and to_np(be, ce)[0] > 0


@pytest.mark.parametrize("loss,out", [(l, o) for l in LOSSES for o in TRAINABLE if valid_pair(l, o) and LOSSES[l].fused_scale(o, 3) is not None])
@pytest.mark.on_device
def test_fused_output_delta_equals_general_route(be64, loss, out):
    """delta^L = s (a - t) agrees with delta^L = dC/da ⊙ f'(z^L)."""
    xp = be64.xp
    rng = np.random.default_rng(2)
    z = be64.asarray(rng.normal(size=(6, 3)))
    t_host = np.eye(3)[rng.integers(0, 3, 6)] if loss != "mse" else rng.normal(size=(6, 3))
    act, spec = ACTIVATIONS[out], LOSSES[loss]
    trace = Trace(z=[z], a=[None, act.f(xp, z)])
    fused = output_delta(spec, act, trace, be64.asarray(t_host), xp, 0.5, fused=True)
    general = output_delta(spec, act, trace, be64.asarray(t_host), xp, 0.5, fused=False)
    assert_close(to_np(be64, fused), to_np(be64, general), 1e-12, f"{loss}/{out}")


def test_every_valid_pair_is_listed():
    pairs = {(l, o) for l in LOSSES for o in ACTIVATIONS if valid_pair(l, o)}
    assert ("cross_entropy", "softmax") in pairs and ("cross_entropy", "logistic") not in pairs
    assert ("binary_cross_entropy", "logistic") in pairs and ("squared_error", "threshold") not in pairs
    assert ("poisson", "exp") in pairs and ("poisson", "identity") not in pairs
    new = ("leaky_relu", "elu", "gelu", "silu", "softplus")  # outputs of the squared losses only
    assert {(l, o) for l, o in pairs if o in new} == {(l, o) for l in ("squared_error", "mse") for o in new}
    assert len(pairs) == 15 + 2 * len(new)


BIG = float(np.float32(1e37))  # |z - max z| stays below float32's max (3.4e38)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (3, 4), elements=st.floats(-BIG, BIG, width=32)))
def test_logistic_and_softmax_stay_in_range_for_any_float32(z):
    be = xpmlp.resolve("numpy", dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = ACTIVATIONS["logistic"].f(be.xp, z)
        ce = LOSSES["cross_entropy"].value(be.xp, z, None, np.full_like(z, 0.25))
    assert a.dtype == np.float32 and np.all((a >= 0) & (a <= 1))
    assert ce.dtype == np.float32 and np.all(np.isfinite(ce)) and np.all(ce >= 0)


def test_loss_values_match_formulas():
    be = xpmlp.resolve("numpy", dtype="float64")
    xp = be.xp
    z = np.array([[0.5, -1.0]])
    t = np.array([[1.0, 0.0]])
    a_id = z
    assert np.isclose(LOSSES["squared_error"].value(xp, z, a_id, t)[0], 0.5 * ((0.5 - 1) ** 2 + 1.0))
    assert np.isclose(LOSSES["mse"].value(xp, z, a_id, t)[0], ((0.5 - 1) ** 2 + 1.0) / 2)
    p = 1 / (1 + np.exp(-z))
    assert np.isclose(LOSSES["binary_cross_entropy"].value(xp, z, p, t)[0], -(np.log(p[0, 0]) + np.log(1 - p[0, 1])))
    sm = np.exp(z) / np.exp(z).sum()
    assert np.isclose(LOSSES["cross_entropy"].value(xp, z, sm, t)[0], -np.log(sm[0, 0]))
    counts = np.array([[3.0, 0.0]])  # half Poisson deviance sum_j t log(t/a) - t + a, with 0 log 0 = 0
    mu = np.exp(z)
    expect = 3.0 * np.log(3.0 / mu[0, 0]) - 3.0 + mu[0, 0] + mu[0, 1]
    assert np.isclose(LOSSES["poisson"].value(xp, z, mu, counts)[0], expect)
    assert abs(LOSSES["poisson"].value(xp, np.log(counts[:, :1]), counts[:, :1], counts[:, :1])[0]) < 1e-15  # 0 at a = t


@pytest.mark.on_device
def test_fused_cross_entropy_delta_equals_the_general_route_for_soft_labels(be):
    """Class-probability rows (summing to 1) keep the fused delta a - t exact."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(6, 4))
    T = rng.dirichlet(np.ones(4), size=6)  # soft labels: rows of probabilities
    xp, act, loss = be.xp, ACTIVATIONS["softmax"], LOSSES["cross_entropy"]
    zb, Tb = be.asarray(z), be.asarray(T)
    trace = Trace([zb], [None, act.f(xp, zb)])
    fused = output_delta(loss, act, trace, Tb, xp, 1.0, fused=True)
    general = output_delta(loss, act, trace, Tb, xp, 1.0, fused=False)
    assert_close(to_np(be, fused), to_np(be, general), 10 * RTOL[be.dtype_name], "soft-label delta")


@pytest.mark.parametrize("loss,out,T,rule", [
    ("cross_entropy", "softmax", [[1.0, 1.0]], "summing to 1"),  # once: silently the gradient of another function
    ("cross_entropy", "softmax", [[1.5, -0.5]], "non-negative"),
    ("binary_cross_entropy", "logistic", [[0.5, 2.0]], r"in \[0, 1\]"),
])
def test_targets_outside_the_loss_rule_are_refused(be, loss, out, T, rule):
    net = xpmlp.MLP([2, 2], "relu", out, loss, backend=be)
    X = np.zeros((2, 2))
    T = np.array([[1.0, 0.0] if loss == "cross_entropy" else [0.0, 1.0]] + T)
    with pytest.raises(ValueError, match=f"{loss} needs targets .*{rule}.*; row 1 is"):
        net.gradients(X, T)
    with pytest.raises(ValueError, match="row 1"):
        xpmlp.train(net, X, be.asarray(T))  # backend arrays are checked the same way


@pytest.mark.parametrize("name", [n for n, act in ACTIVATIONS.items() if act.output_only])
def test_output_only_activations_are_refused_in_hidden_layers(name):
    assert name in ("softmax", "exp")
    with pytest.raises(ValueError, match=f"{name} is an output activation"):
        xpmlp.MLP([2, 3, 1], name, "identity", "squared_error", backend="numpy")


@pytest.mark.parametrize("loss,out,z,T", [
    ("binary_cross_entropy", "logistic", [[40.0, -40.0]], [[0.0, 1.0]]),
    ("cross_entropy", "softmax", [[200.0, -200.0]], [[0.0, 1.0]]),
])
def test_saturated_outputs_keep_a_finite_delta_by_default(loss, out, z, T):
    """At a saturated float32 output the general route divides by a(1 - a) = 0 (NaN); the default
    (fused) delta^L = a - t stays exact, in output_delta, backward and through the network."""
    xp = xpmlp.resolve("numpy", dtype="float32").xp
    act, spec = ACTIVATIONS[out], LOSSES[loss]
    z, T = np.array(z, np.float32), np.array(T, np.float32)
    want = np.array([[1.0, -1.0]], np.float32)  # a - t with a = (1, 0)
    assert spec.fused_scale(out, 2) == 1.0
    np.testing.assert_array_equal(output_delta(spec, act, Trace([z], [None, act.f(xp, z)]), T, xp, 1.0), want)
    X = np.ones((1, 2), np.float32)
    Ws, bs = [np.diag(z[0])], [np.zeros(2, np.float32)]  # z^L = X W = z
    trace = forward(Ws, bs, [act], X, xp)
    grads = backward(Ws, [act], spec, trace, T, xp)
    np.testing.assert_array_equal(grads.delta[-1], want)
    np.testing.assert_array_equal(grads.grad_W[0], X.T @ want)  # dC/dW = a^0T delta^1


@pytest.mark.parametrize("fused", [True, False])
def test_output_delta_scales_by_any_factor(fused):
    """delta^L carries ``scale`` (1/n, a learning rate over B, a loss scale over n) on both routes."""
    xp = xpmlp.resolve("numpy", dtype="float64").xp
    rng = np.random.default_rng(4)
    z, T = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    act, spec = ACTIVATIONS["tanh" if not fused else "identity"], LOSSES["squared_error"]
    one = output_delta(spec, act, Trace([z], [None, act.f(xp, z)]), T, xp, 1.0, fused=fused)
    for s in (2.0, 0.5, 3.0):
        got = output_delta(spec, act, Trace([z], [None, act.f(xp, z)]), T, xp, s, fused=fused)
        np.testing.assert_array_equal(got, s * one)  # the same one multiplication, so the same bits


def test_backward_without_a_workspace_leaves_the_trace_as_it_was():
    """Only the training loop's workspace lets delta^L take a^L's array; a caller's trace is kept."""
    net = xpmlp.MLP([3, 4, 2], "tanh", "softmax", "cross_entropy", backend="numpy", seed=0)
    X, T = np.random.default_rng(5).normal(size=(5, 3)), np.eye(2)[[0, 1, 1, 0, 1]]
    trace = forward(net.Ws, net.bs, net.activations, X, net.xp)
    before = [a.copy() for a in trace.a[1:]]
    backward(net.Ws, net.activations, net.loss, trace, T, net.xp)
    for a, b in zip(trace.a[1:], before):
        np.testing.assert_array_equal(a, b)


def test_cross_entropy_soft_label_tolerance_follows_the_dtype():
    """Rows must sum to 1 within about sqrt(eps): 1e-4 in float32 (rounded thirds pass), 1e-8 in float64."""
    xp, ce = np, LOSSES["cross_entropy"]
    thirds32 = np.full((1, 3), 1 / 3, np.float32) * np.float32(1.0000005)
    off64 = np.array([[0.5, 0.5 + 1e-6]])
    assert not ce.invalid_targets(xp, thirds32)[0] and not ce.invalid_targets(xp, off64.astype(np.float32))[0]
    assert ce.invalid_targets(xp, off64)[0] and not ce.invalid_targets(xp, np.full((1, 3), 1 / 3))[0]


def test_poisson_targets_are_checked_row_by_row_and_rates_need_not_be_counts():
    xp, poisson = np, LOSSES["poisson"]
    np.testing.assert_array_equal(poisson.invalid_targets(xp, np.array([[1.0, 0.0], [2.0, -1.0], [0.5, 3.0]])),
                                  [False, True, False])
    t, z = np.array([[0.5, 0.0]], np.float32), np.array([[0.3, -1.0]], np.float32)
    mu = np.exp(z)
    got = poisson.value(xp, z, mu, t)
    expect = 0.5 * np.log(0.5 / mu[0, 0]) - 0.5 + mu[0, 0] + mu[0, 1]  # t log(t/a) - t + a, 0 log 0 = 0
    assert got.dtype == np.float32 and got.shape == (1,)
    assert_close(got, np.array([expect]), RTOL["float32"], "poisson at a rate of 0.5")
