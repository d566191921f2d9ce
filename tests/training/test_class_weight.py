"""Class weights (xpmlp.training.class_weight): "balanced" and dicts, times sample weights, for softmax
and a single logistic output; the same training as the equivalent sample weights, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.training import fit
from xpmlp.training.class_weight import class_row_weights
from xpmlp.training.comm import SingleProcess

Y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 0])  # 7, 2, 3 rows of classes 0, 1, 2


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(Y.size, 4)) + np.eye(3, 4)[Y], np.eye(3)[Y]


def _trained(**kwargs):
    X, T = _problem()
    net = xpmlp.MLP([4, 6, 3], "tanh", backend="numpy", dtype="float64", seed=0)
    fit(net, X, T, epochs=4, batch_size=4, patience=None, **kwargs)
    return net.flat


def test_balanced_is_n_over_k_times_the_class_count():
    net = xpmlp.MLP([4, 3], backend="numpy")
    w = class_row_weights(net, np.eye(3)[Y], "balanced", SingleProcess())
    np.testing.assert_allclose(w, (12 / (3 * np.array([7, 2, 3])))[Y], rtol=1e-15)
    from sklearn.utils.class_weight import compute_sample_weight

    np.testing.assert_allclose(w, compute_sample_weight("balanced", Y), rtol=1e-15)  # scikit-learn's rule


def test_class_weights_train_as_the_sample_weights_they_stand_for():
    sw = np.linspace(0.5, 2.0, Y.size)
    balanced = 12 / (3 * np.array([7, 2, 3]))
    np.testing.assert_array_equal(_trained(class_weight="balanced"), _trained(sample_weight=balanced[Y]))
    cw = {1: 5.0, 2: 0.5}  # class 0 weighs 1
    np.testing.assert_array_equal(_trained(class_weight=cw, sample_weight=sw),
                                  _trained(sample_weight=np.array([1.0, 5.0, 0.5])[Y] * sw))


def test_labels_stand_for_their_one_hot_rows():
    net = xpmlp.MLP([4, 3], backend="numpy")
    np.testing.assert_array_equal(class_row_weights(net, Y, "balanced", SingleProcess()),
                                  class_row_weights(net, np.eye(3)[Y], "balanced", SingleProcess()))
    with pytest.raises(ValueError, match=r"T must be \(n, 3\) for class weights, got shape \(12, 2\)"):
        class_row_weights(net, np.eye(3)[Y][:, :2], "balanced", SingleProcess())


def test_probability_targets_mix_the_class_weights():
    net = xpmlp.MLP([4, 3], backend="numpy")
    T = np.array([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    w = class_row_weights(net, T, {0: 2.0, 1: 4.0, 2: 8.0}, SingleProcess())
    np.testing.assert_allclose(w, [3.0, 7.0], rtol=1e-15)


def test_a_single_logistic_output_has_classes_0_and_1():
    net = xpmlp.MLP([4, 1], "relu", "logistic", "binary_cross_entropy", backend="numpy")
    t = np.array([[1.0], [0.0], [0.0], [0.0]])
    np.testing.assert_allclose(class_row_weights(net, t, "balanced", SingleProcess()), [2.0, 2 / 3, 2 / 3, 2 / 3])


def test_device_targets_are_read_once_at_the_boundary():
    torch = pytest.importorskip("torch")
    net = xpmlp.MLP([4, 3], backend="torch")
    w = class_row_weights(net, torch.eye(3, dtype=torch.float32)[torch.as_tensor(Y)], "balanced", SingleProcess())
    np.testing.assert_allclose(w, (12 / (3 * np.array([7, 2, 3])))[Y], rtol=1e-7)


def test_targets_on_a_device_that_refuses_implicit_conversion_are_read_explicitly():
    be = xpmlp.resolve("array_api_strict", device="device1", dtype="float64")
    net = xpmlp.MLP([4, 3], backend=be)
    w = class_row_weights(net, be.asarray(np.eye(3)[Y]), "balanced", SingleProcess())
    np.testing.assert_allclose(w, (12 / (3 * np.array([7, 2, 3])))[Y], rtol=1e-15)


def test_an_absent_class_keeps_weight_one_and_a_zero_weight_drops_a_class():
    net = xpmlp.MLP([4, 3], backend="numpy")
    T = np.eye(3)[[0, 0, 0, 1]]  # class 2 has no rows
    w = class_row_weights(net, T, "balanced", SingleProcess())
    np.testing.assert_allclose(w, [4 / 9] * 3 + [4 / 3], rtol=1e-15)  # n / (k n_c), k = 3 columns
    mixed = class_row_weights(net, np.array([[0.5, 0.0, 0.5]]), "balanced", SingleProcess())
    assert np.isfinite(mixed).all()
    dropped = class_row_weights(net, np.eye(3)[Y], {1: 0.0}, SingleProcess(), sample_weight=np.full(Y.size, 2.0))
    np.testing.assert_array_equal(dropped, np.where(Y == 1, 0.0, 2.0))


def test_without_class_weights_the_sample_weights_pass_through():
    sw = np.ones(3)
    assert class_row_weights(xpmlp.MLP([4, 3]), np.eye(3), None, SingleProcess(), sw) is sw


@pytest.mark.parametrize("class_weight,error,message", [
    ("balance", ValueError, "class_weight must be 'balanced' or a dict"),
    ([1.0, 2.0], TypeError, "class_weight must be 'balanced' or a dict {class: weight}, got list"),
    ({3: 1.0}, ValueError, r"class_weight names class 3; the classes are 0..2"),
    ({"a": 1.0}, ValueError, r"class_weight names class 'a'"),
    ({1: -1.0}, ValueError, "class_weight for class 1 must be a finite weight >= 0, got -1.0"),
    ({1: float("nan")}, ValueError, "must be a finite weight"),
])
def test_bad_class_weights_are_refused(class_weight, error, message):
    X, T = _problem()
    with pytest.raises(error, match=message):
        fit(xpmlp.MLP([4, 3], backend="numpy"), X, T, epochs=1, class_weight=class_weight)


def test_outputs_without_classes_are_refused():
    X = np.zeros((4, 2))
    net = xpmlp.MLP([2, 2], "relu", "logistic", "binary_cross_entropy", backend="numpy")
    with pytest.raises(ValueError, match="needs a softmax output or a single logistic output; this model has 2 logistic outputs$"):
        fit(net, X, np.zeros((4, 2)), epochs=1, class_weight="balanced")
    net = xpmlp.MLP([2, 1], "relu", "identity", "mse", backend="numpy")
    with pytest.raises(ValueError, match="this model has 1 identity output$"):
        fit(net, X, np.zeros((4, 1)), epochs=1, class_weight="balanced")
