"""Bad input gets a clear error that names the problem, and never corrupts the model."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp


@pytest.fixture
def net(be):
    return xpmlp.MLP([4, 5, 3], backend=be, seed=0)


def test_wrong_feature_count(net):
    with pytest.raises(ValueError, match="X has 5 columns but the network expects 4"):
        net.predict(np.ones((2, 5)))


def test_one_dimensional_input(net):
    with pytest.raises(ValueError, match=r"X must be 2-D \(samples, features\), got shape \(4,\)"):
        net.predict(np.ones(4))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input(net, bad):
    X = np.ones((3, 4))
    X[1, 2] = bad
    with pytest.raises(ValueError, match="X contains (NaN|inf)"):
        xpmlp.train(net, X, np.eye(3))


def test_non_finite_target(net):
    T = np.eye(3)
    T[0, 0] = np.nan
    with pytest.raises(ValueError, match="T contains NaN"):
        xpmlp.train(net, np.ones((3, 4)), T)


def test_mismatched_sample_counts(net):
    with pytest.raises(ValueError, match="T has 2 samples but X has 3"):
        xpmlp.train(net, np.ones((3, 4)), np.eye(3)[:2])


def test_wrong_target_width(net):
    with pytest.raises(ValueError, match="T has 2 columns but the network expects 3"):
        xpmlp.train(net, np.ones((3, 4)), np.ones((3, 2)))


def test_non_numeric_input(net):
    with pytest.raises(TypeError, match="X must hold real numbers"):
        net.predict(np.array([["a", "b", "c", "d"]]))


def test_native_input_checked_too(be):
    net = xpmlp.MLP([2, 2], "relu", "identity", "squared_error", backend=be)
    X = be.asarray(np.array([[1.0, np.nan]]))
    if be.name == "numpy":
        pytest.skip("host arrays are covered by test_non_finite_input")
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        net.predict(X)


def test_array_from_another_library_is_refused():
    strict = pytest.importorskip("array_api_strict")
    net = xpmlp.MLP([2, 2], "relu", "identity", "squared_error", backend="numpy")
    with pytest.raises(TypeError, match="pass a NumPy array or an array of that backend"):
        net.predict(strict.ones((1, 2)))


def test_bad_architecture_and_pairs():
    with pytest.raises(ValueError, match="at least an input and an output"):
        xpmlp.MLP([3])
    with pytest.raises(ValueError, match="needs output activation softmax"):
        xpmlp.MLP([3, 2], "relu", "logistic", "cross_entropy")
    with pytest.raises(ValueError, match="unknown activation 'mish'"):
        xpmlp.MLP([3, 2], "mish")
    with pytest.raises(ValueError, match="activation 'leaky_relu' takes slope; cannot read 'alpha=1'"):
        xpmlp.MLP([3, 2], "leaky_relu:alpha=1")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        xpmlp.MLP([3, 2], loss="hinge")
    with pytest.raises(ValueError, match="softmax is an output activation"):
        xpmlp.MLP([3, 4, 2], "softmax")


def test_bad_weights_shape_leaves_model_intact():
    net = xpmlp.MLP([3, 4, 2], backend="numpy")
    before = net.get_weights()
    with pytest.raises(ValueError, match=r"layer 2: W must be \(4, 2\)"):
        net.set_weights([np.zeros((3, 4)), np.zeros((4, 3))], [np.zeros(4), np.zeros(2)])
    for a, b in zip(before[0], net.get_weights()[0]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is the point
def test_divergence_stops_and_keeps_last_good_weights(be):
    net = xpmlp.MLP([2, 8, 1], "relu", "identity", "squared_error", backend=be, seed=0)
    X = np.random.default_rng(0).normal(size=(64, 2)) * 100
    T = X.sum(axis=1, keepdims=True) ** 2
    with pytest.raises(xpmlp.DivergenceError, match="weights restored"):
        xpmlp.train(net, X, T, epochs=20, batch_size=8, learning_rate=10.0)
    Ws, bs = net.get_weights()
    assert all(np.isfinite(W).all() for W in Ws) and all(np.isfinite(b).all() for b in bs)


def test_bad_batch_size(net):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        xpmlp.train(net, np.ones((3, 4)), np.eye(3), batch_size=0)


def test_non_finite_weights_are_refused_and_model_kept():
    net = xpmlp.MLP([2, 3, 1], "relu", "identity", "squared_error", backend="numpy")
    Ws, bs = net.get_weights()
    bad = [W.copy() for W in Ws]
    bad[1][0, 0] = np.nan
    with pytest.raises(ValueError, match="weights contains NaN values"):
        net.set_weights(bad, bs)
    np.testing.assert_array_equal(net.get_weights()[0][1], Ws[1])
