"""The math's public pieces called directly, as a user extending or probing them would: derivatives
that have a value, derivatives that do not exist (saying why), base classes a subclass must
complete, scikit-learn's initialisation, and the checks of backward, set_weights, Objective,
one_hot and 1-D targets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_on_backend, to_np

import xpmlp
from xpmlp.nn.activations import Activation, NotDifferentiableError, get_activation
from xpmlp.nn.losses import Loss, get_loss
from xpmlp.nn.network import backward, forward
from xpmlp.nn.objective import Objective
from xpmlp.nn.targets import as_target_matrix, one_hot

Z = [[-1.5, 0.0, 2.0], [3.0, -0.25, 0.5]]


@pytest.mark.on_device
def test_elementwise_derivatives_that_the_pullback_does_not_need(be):
    """identity and relu pull back without f' (``delta`` is ``g`` and ``g * (a > 0)``); f' itself is still right."""
    z = be.asarray(np.array(Z))
    for name, want in (("identity", np.ones((2, 3))), ("relu", [[0.0, 0.0, 1.0], [1.0, 0.0, 1.0]])):
        act = get_activation(name)
        d = act.fprime(be.xp, z, act.f(be.xp, z))
        assert_on_backend(be, d)
        np.testing.assert_array_equal(to_np(be, d), want)  # exact: 0 and 1 in any dtype


def test_derivatives_that_do_not_exist_say_why():
    xp = xpmlp.resolve("numpy", dtype="float64").xp
    z = np.array(Z)
    with pytest.raises(NotDifferentiableError) as exc:
        get_activation("softmax").fprime(xp, z, get_activation("softmax").f(xp, z))
    assert str(exc.value) == "softmax has no elementwise derivative; use Activation.delta"
    threshold = get_activation("threshold")
    for call in (lambda: threshold.fprime(xp, z, z), lambda: threshold.delta(xp, z, z, z)):
        with pytest.raises(NotDifferentiableError) as exc:
            call()
        assert str(exc.value) == threshold.untrainable_reason


def test_backward_through_a_threshold_layer_raises_saying_why():
    """The public ``backward`` (below ``MLP.gradients``' own check) refuses a threshold hidden layer too."""
    net = xpmlp.MLP([3, 4, 2], "threshold", "identity", "squared_error", backend="numpy", dtype="float64")
    X, T = np.array(Z), np.ones((2, 2))
    trace = forward(net.Ws, net.bs, net.activations, X, net.xp)
    with pytest.raises(NotDifferentiableError, match="threshold activation cannot be trained by gradient descent"):
        backward(net.Ws, net.activations, net.loss, trace, T, net.xp)
    with pytest.raises(ValueError) as exc:
        backward(net.Ws, net.activations, net.loss, trace, T, net.xp, reduction="max")
    assert str(exc.value) == "reduction must be 'mean' or 'sum', got 'max'"


def test_a_subclass_must_give_the_formulas_it_declares():
    class Unfinished(Activation):
        name = "unfinished"

    class NoCost(Loss):
        name = "no_cost"

    xp, z = xpmlp.resolve("numpy").xp, np.zeros((1, 2))
    for call in (lambda: Unfinished().f(xp, z), lambda: Unfinished().fprime(xp, z, z),
                 lambda: Unfinished().delta(xp, z, z, z), lambda: NoCost().value(xp, z, z, z),
                 lambda: NoCost().dC_da(xp, z, z), lambda: NoCost().total(xp, z, z, z)):
        with pytest.raises(NotImplementedError):
            call()
    assert repr(get_loss("mse")) == "<loss mse>" and repr(NoCost()) == "<loss no_cost>"


@pytest.mark.parametrize("hidden, f", [("logistic", 2.0), ("tanh", 6.0)])
def test_sklearn_init_draws_scikit_learns_ranges_for_every_layer(hidden, f):
    """``init="sklearn"``: ``U(-r, r)``, ``r = sqrt(f / (fan_in + fan_out))`` with f from the hidden
    activation, for the output layer too (scikit-learn's rule), drawn W then b, layer by layer."""
    net = xpmlp.MLP([4, 6, 3], hidden, "softmax", init="sklearn", backend="numpy", dtype="float64", seed=7)
    rng = np.random.default_rng(7)
    Ws, bs = net.get_weights()
    for W, b, (fan_in, fan_out) in zip(Ws, bs, [(4, 6), (6, 3)]):
        r = math.sqrt(f / (fan_in + fan_out))
        np.testing.assert_array_equal(W, rng.uniform(-r, r, size=(fan_in, fan_out)))
        np.testing.assert_array_equal(b, rng.uniform(-r, r, size=(fan_out,)))
    with pytest.raises(ValueError) as exc:
        xpmlp.MLP([4, 3], init="xavier")
    assert str(exc.value) == "unknown init scheme 'xavier'; valid: auto, sklearn"


def test_set_weights_wants_one_pair_per_layer_and_keeps_the_model_otherwise():
    net = xpmlp.MLP([3, 4, 2], backend="numpy")
    before = net.get_weights()
    with pytest.raises(ValueError) as exc:
        net.set_weights(before[0][:1], before[1])
    assert str(exc.value) == "expected 2 weight matrices and bias vectors, got 1 and 2"
    for a, b in zip(net.get_weights()[0] + net.get_weights()[1], before[0] + before[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, message", [
    (dict(alpha=-0.1), "alpha must be >= 0, got -0.1"),
    (dict(alpha=float("nan")), "alpha must be >= 0, got nan"),
    (dict(reduction="max"), "reduction must be 'mean' or 'sum', got 'max'"),
])
def test_objective_checks_its_terms(kwargs, message):
    with pytest.raises(ValueError) as exc:
        Objective(**kwargs)
    assert str(exc.value) == message


def test_labels_and_1d_targets():
    with pytest.raises(ValueError) as exc:
        one_hot([[0, 1]])
    assert str(exc.value) == "labels must be 1-D (one label per sample), got shape (1, 2)"
    with pytest.raises(ValueError) as exc:
        as_target_matrix(np.zeros(3), 2, "identity")
    assert str(exc.value) == "T is 1-D but the network has 2 identity outputs: give T as (n, 2)"
    net = xpmlp.MLP([3, 4, 1], "tanh", "identity", "squared_error", backend="numpy", dtype="float64")
    X, t = np.array(Z), np.array([0.5, -1.0])
    flat, column = net.gradients(X, t), net.gradients(X, t[:, None])  # a 1-D T is the one output's column
    for a, b in zip(flat.grad_W + flat.grad_b, column.grad_W + column.grad_b):
        np.testing.assert_array_equal(a, b)
    assert net.loss_value(X, t) == net.loss_value(X, t[:, None])


def test_a_loss_swapped_after_construction_is_checked_before_training():
    import xpmlp
    from xpmlp.nn.activations import NotDifferentiableError
    from xpmlp.nn.losses import get_loss

    net = xpmlp.MLP([3, 4, 2], "tanh", "identity", "mse", backend="numpy", seed=0)
    net.loss = get_loss("cross_entropy")  # needs softmax outputs: MLP() would have refused the pair
    with pytest.raises(NotDifferentiableError, match="cannot train cross_entropy on identity outputs"):
        xpmlp.fit(net, np.zeros((4, 3)), np.eye(2)[[0, 1, 0, 1]], epochs=1)
