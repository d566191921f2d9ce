"""The private names of scikit-learn's MLPs that its own test_mlp.py reads (``xpmlp.estimators._compat``),
held to scikit-learn's own values: ``_optimizer.learning_rate`` after the same fits, and
``_loss_grad_lbfgs`` at the same parameters and data (float64, so to rounding)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
import sklearn.neural_network as sk  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from conftest import RTOL, assert_close  # noqa: E402
from xpmlp.estimators import MLPClassifier, MLPRegressor  # noqa: E402

FULL_BATCH = dict(hidden_layer_sizes=(7,), random_state=0, batch_size=150, alpha=1e-2, max_iter=20)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def _both(Est, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(sk, Est.__name__)(**params).fit(X, y), Est(backend="numpy", **params).fit(X, y)


@pytest.mark.parametrize("params", [
    dict(solver="sgd", learning_rate="constant", learning_rate_init=0.1),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5, power_t=0.25),
    dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.1, tol=1e-2, n_iter_no_change=2, max_iter=300),
    dict(solver="adam", learning_rate_init=0.01),  # scikit-learn folds Adam's bias corrections in
], ids=["constant", "invscaling", "adaptive", "adam"])
def test_optimizer_learning_rate_is_sklearns(iris, params):
    X, y = iris
    ref, ours = _both(MLPClassifier, X, y, **dict(FULL_BATCH, **params))
    assert ours.n_iter_ == ref.n_iter_
    assert ours._optimizer.learning_rate == pytest.approx(ref._optimizer.learning_rate, rel=RTOL["float64"])
    assert ours._optimizer.learning_rate != params["learning_rate_init"] or params.get("learning_rate") == "constant"


def test_no_optimizer_after_lbfgs_as_in_sklearn(iris):
    X, y = iris
    ref, ours = _both(MLPClassifier, X, y, **dict(FULL_BATCH, solver="lbfgs"))
    assert not hasattr(ref, "_optimizer") and not hasattr(ours, "_optimizer")
    with pytest.raises(AttributeError, match="MLPClassifier has no _optimizer: no stochastic solver has trained it"):
        ours._optimizer  # noqa: B018


def _buffers(est, X):
    """scikit-learn's work buffers for ``_loss_grad_lbfgs``, as its test_gradient makes them."""
    units = [c.shape[1] for c in est.coefs_]
    return ([X] + [np.empty((len(X), u)) for u in units], [np.empty((len(X), u)) for u in units],
            [np.empty(c.shape) for c in est.coefs_], [np.empty(b.shape) for b in est.intercepts_])


@pytest.mark.parametrize("Est, target, weighted", [
    (MLPClassifier, "multiclass", False), (MLPClassifier, "binary", True), (MLPRegressor, "one output", True),
])
def test_loss_grad_lbfgs_is_sklearns(iris, Est, target, weighted):
    """The value and gradient at parameters other than the fitted ones, packed in scikit-learn's order; the
    parameters left loaded and the gradients left in coef_grads/intercept_grads, as scikit-learn leaves them."""
    X, y = iris
    y = {"multiclass": y, "binary": (y == 1).astype(int), "one output": X[:, 0] + y}[target]
    ref, ours = _both(Est, X, y, **dict(FULL_BATCH, solver="lbfgs", max_iter=3))
    Y = ref._label_binarizer.transform(y) if Est is MLPClassifier else y.reshape(-1, 1)
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(y)) if weighted else None
    fitted = np.concatenate([a.ravel() for a in ref.coefs_ + ref.intercepts_])
    theta = fitted + 0.1 * np.random.RandomState(1).normal(size=fitted.size)  # near: no probability rounds to 0
    expected = ref._loss_grad_lbfgs(theta, X, Y, w, *_buffers(ref, X))
    buffers = _buffers(ours, X)
    loss, grad = ours._loss_grad_lbfgs(theta, X, Y, w, *buffers)
    assert loss == pytest.approx(expected[0], rel=RTOL["float64"])
    assert_close(grad, expected[1], RTOL["float64"], "gradient")
    assert_close(np.concatenate([a.ravel() for a in buffers[2] + buffers[3]]), expected[1], RTOL["float64"])
    assert_close(np.concatenate([a.ravel() for a in ours.coefs_ + ours.intercepts_]), theta, RTOL["float64"])
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))  # both predict with theta now
