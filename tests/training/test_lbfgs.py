"""xpmlp.training.lbfgs: the flat objective's gradient, its two transfers per evaluation, and L-BFGS-B runs."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.backends.backend import Backend
from xpmlp.training.lbfgs import fit_lbfgs, flat_objective
from xpmlp.nn.objective import objective

from conftest import random_problem, rel_err

pytest.importorskip("scipy")


def problem(be, seed=0):
    """A float64 (or ``be``'s dtype) softmax network, inputs ``(12, 4)`` and one-hot targets."""
    X, T = random_problem("cross_entropy", 12, 4, 3, seed)
    return xpmlp.MLP([4, 5, 3], "tanh", "softmax", "cross_entropy", backend=be, seed=seed), X, T


def test_flat_gradient_matches_finite_differences(be64):
    net, X, T = problem(be64)
    w = np.linspace(0.0, 2.0, 12)
    fun, theta = flat_objective(net, X, T, sample_weight=w, alpha=0.3)
    value, grad = fun(theta)
    h = 1e-6
    numeric = np.array([(fun(theta + h * e)[0] - fun(theta - h * e)[0]) / (2 * h) for e in np.eye(theta.size)])
    assert rel_err(grad, numeric) < 1e-7
    fun(theta)  # loads theta again
    assert value == pytest.approx(objective(net, X, T, alpha=0.3, sample_weight=w), rel=1e-12)


def test_one_transfer_each_way_per_evaluation(monkeypatch):
    be = xpmlp.resolve("array_api_strict", device="device1", dtype="float64")
    net, X, T = problem(be)
    fun, theta = flat_objective(net, X, T, alpha=0.1)
    calls = {"asarray": 0, "to_numpy": 0}
    for name in calls:
        original = getattr(Backend, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Backend, name, counted)
    fun(theta)
    assert calls == {"asarray": 1, "to_numpy": 1}


def test_fit_lbfgs_agrees_across_backends_and_respects_max_fun(be64):
    ref, X, T = problem(xpmlp.resolve("numpy", dtype="float64"))
    ref_result = fit_lbfgs(ref, X, T, alpha=1e-3, max_iter=50)
    net, _, _ = problem(be64)
    result = fit_lbfgs(net, X, T, alpha=1e-3, max_iter=50)
    assert result.nit == ref_result.nit and result.fun == pytest.approx(ref_result.fun, rel=1e-9)
    assert result.fun < 0.5 * np.log(3)
    limited = fit_lbfgs(problem(be64)[0], X, T, max_iter=100, max_fun=5)
    assert limited.nfev <= 6 and limited.status != 0  # SciPy stops once maxfun is exceeded


def test_fit_lbfgs_refuses_bad_arguments():
    net, X, T = problem("numpy")
    with pytest.raises(ValueError, match="alpha"):
        fit_lbfgs(net, X, T, alpha=-1.0)
    with pytest.raises(ValueError, match="columns"):
        fit_lbfgs(net, X[:, :2], T)
