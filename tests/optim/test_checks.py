"""Optimizers and schedules at their edges: a step with mismatched lists changes nothing, state that
does not fit is refused (keeping the old), reset starts over, a subclass must give its rule, bad
hyperparameters are named, and a schedule's repr shows its rate."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_np

from xpmlp.optim.optimizers import SGD, Adam, Optimizer
from xpmlp.optim.schedules import Adaptive, InvScaling


def params(be):
    return [be.asarray(np.array([[1.0, 2.0]])), be.asarray(np.array([0.5]))]


def grads(be, k):
    return [be.asarray(np.array([[0.5, -1.0]]) * k), be.asarray(np.array([0.2]) * k)]


@pytest.mark.on_device
def test_a_step_with_mismatched_lists_changes_nothing(be):
    opt, p = Adam(), params(be)
    with pytest.raises(ValueError) as exc:
        opt.step(p, grads(be, 1)[:1], 0.1)
    assert str(exc.value) == "got 2 parameters but 1 gradients"
    assert opt.t == 0 and opt.state() == {} and to_np(be, p[0]).tolist() == [[1.0, 2.0]]


@pytest.mark.on_device
def test_reset_starts_from_zero_moments(be):
    used, fresh = Adam(), Adam()
    p_used, p_fresh = params(be), params(be)
    for k in (1, 2, 3):
        used.step(p_used, grads(be, k), 0.1)
    used.reset()
    assert used.t == 0 and used.state() == {}
    p_used = params(be)  # the same start: the next step must be a first step
    used.step(p_used, grads(be, 1), 0.1)
    fresh.step(p_fresh, grads(be, 1), 0.1)
    for a, b in zip(p_used, p_fresh):
        np.testing.assert_array_equal(to_np(be, a), to_np(be, b))
    assert used.t == 1


def test_state_that_does_not_fit_is_refused_and_the_old_state_kept():
    be_params = [np.array([[1.0, 2.0]]), np.array([0.5])]
    opt = Adam()
    opt.step(be_params, [np.array([[0.5, -1.0]]), np.array([0.2])], 0.1)
    m0 = opt.state()["m"][0].copy()
    with pytest.raises(ValueError) as exc:
        opt.load_state({}, 3, None, be_params)
    assert str(exc.value) == "adam state is empty but its step count is 3"
    with pytest.raises(ValueError) as exc:
        opt.load_state({"m": [np.zeros((1, 2))], "v": [np.zeros((1, 2)), np.zeros(1)]}, 1, None, be_params)
    assert str(exc.value) == "adam slot 'm' has 1 arrays for 2 parameters"
    assert opt.t == 1 and np.array_equal(opt.state()["m"][0], m0)


def test_an_optimizer_subclass_must_give_its_update_rule():
    class Unfinished(Optimizer):
        name = "unfinished"

    assert Unfinished().weight_decay == 0.0  # a subclass that says nothing decays nothing
    with pytest.raises(NotImplementedError):
        Unfinished().step([np.zeros(2)], [np.ones(2)], 0.1)


@pytest.mark.parametrize("make, message", [
    (lambda: Adam(epsilon=0.0), "epsilon must be > 0, got 0.0"),
    (lambda: InvScaling(power_t=-0.5), "power_t must be >= 0, got -0.5"),
    (lambda: Adaptive(factor=1.0), "factor must be in (0, 1), got 1.0"),
    (lambda: Adaptive(factor=0.0), "factor must be in (0, 1), got 0.0"),
])
def test_bad_hyperparameters_are_named(make, message):
    with pytest.raises(ValueError) as exc:
        make()
    assert str(exc.value) == message


def test_a_schedules_repr_shows_its_configuration_and_current_rate():
    s = Adaptive(0.01)
    assert repr(s) == "Adaptive(learning_rate_init=0.01, factor=0.2, min_learning_rate=1e-06; now 0.01)"
    assert s.on_stall() and repr(s).endswith("; now 0.002)")
    assert repr(InvScaling(0.1, power_t=0.25)) == "InvScaling(learning_rate_init=0.1, power_t=0.25; now 0.1)"
    assert repr(SGD(momentum=0.5)) == "SGD(momentum=0.5, nesterov=False, weight_decay=0.0)"
