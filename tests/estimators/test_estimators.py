"""scikit-learn estimators: scikit-learn's estimator checks on three backends, and the same
numbers as scikit-learn's own MLPs where the algorithms are the same.

With full batches (no shuffling differences) and float64, SGD and L-BFGS start from scikit-learn's
weights (the same ``random_state``) and descend its objective, so their loss curves and weights
agree with scikit-learn's to rounding: measured 1e-15 relative for SGD over 60 epochs, 1e-13 to
1e-7 for L-BFGS, whose line searches amplify rounding differences over tens of iterations.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import pickle
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
import sklearn.neural_network as sk  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from xpmlp.estimators import MLPClassifier, MLPRegressor, load_estimator  # noqa: E402
from xpmlp.nn.objective import objective  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:Got `batch_size` less than 1 or larger than sample size"),
]

try:
    import torch  # noqa: F401

    _BACKENDS = [None, "torch", "array_api_strict"]
except ImportError:  # pragma: no cover - torch is optional
    _BACKENDS = [None, "array_api_strict"]


def _without_array_api_checks(parametrization):
    """``parametrize_with_checks``'s parametrization less scikit-learn's Array API checks, which
    ``test_dispatch.py`` runs on smaller models and with values (here they would take 20 s)."""
    argnames, cases = parametrization.args
    kept = [case for case in cases if not getattr(case[1], "func", case[1]).__name__.startswith("check_array_api")]
    assert len(kept) < len(cases)  # the estimators declare Array API support: scikit-learn made those checks
    return pytest.mark.parametrize(argnames, kept, **parametrization.kwargs)


# max_iter=100 as scikit-learn's own test suite sets for its MLPs; 30 on the slower backends, still
# enough for every check (the same numbers as NumPy's: every check seeds random_state).
@_without_array_api_checks(parametrize_with_checks(
    [est(max_iter=100 if b is None else 30, backend=b) for b in _BACKENDS for est in (MLPClassifier, MLPRegressor)]
))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, Y = make_regression(n_samples=120, n_features=5, n_targets=3, noise=1.0, random_state=0)
    return X, Y / 100


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def both(name, X, y, sample_weight=None, **params):
    """scikit-learn's estimator and xpmlp's (NumPy, float64 data), fitted alike."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = getattr(sk, name)(**params).fit(X, y, sample_weight=sample_weight)
        ours = globals()[name](backend="numpy", **params).fit(X, y, sample_weight=sample_weight)
    return ref, ours


BASE = dict(hidden_layer_sizes=(7,), random_state=0, max_iter=60, alpha=1e-2)
#: L-BFGS against scikit-learn's, float64: the loss and gradient agree to the last bits (summed in
#: another order), and L-BFGS-B's line search amplifies those bits over its 100-200 iterations:
#: measured 2e-12 (multiclass), 1e-7 (binary), 2e-8 (weighted) in the weights.  Hence 1e-6 there;
#: the stochastic solvers take the same steps and are held to 1e-12.
LBFGS_RTOL = 1e-6
FULL_SGD = dict(BASE, solver="sgd", batch_size=150, learning_rate_init=0.1)


@pytest.mark.parametrize("params", [
    FULL_SGD,
    dict(FULL_SGD, learning_rate="invscaling", learning_rate_init=0.5, momentum=0.5, nesterovs_momentum=False),
    dict(FULL_SGD, learning_rate="adaptive", tol=1e-2, n_iter_no_change=2, max_iter=300),  # stops on a stall
    dict(FULL_SGD, early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, tol=1e-3, max_iter=200),
], ids=["nesterov", "invscaling", "adaptive-stops", "early-stopping"])
def test_full_batch_sgd_equals_sklearn(iris, params):
    X, y = iris
    ref, ours = both("MLPClassifier", X, y, **params)
    assert (ours.n_iter_, ours.t_) == (ref.n_iter_, ref.t_)
    assert rel(ours.loss_curve_, ref.loss_curve_) < 1e-12
    assert rel(ours.coefs_[0], ref.coefs_[0]) < 1e-12 and rel(ours.intercepts_[1], ref.intercepts_[1]) < 1e-12
    if ref.best_loss_ is None:
        assert ours.best_loss_ is None
    else:
        assert ours.best_loss_ == pytest.approx(ref.best_loss_, rel=1e-12)
    if ref.validation_scores_ is not None:
        assert ours.validation_scores_ == ref.validation_scores_  # same split, same predictions
        assert ours.best_validation_score_ == ref.best_validation_score_


def test_sample_weights_and_alpha_scaling_equal_sklearn(iris):
    X, y = iris
    w = np.random.RandomState(0).randint(0, 4, 150).astype(float)  # includes zeros
    ref, ours = both("MLPClassifier", X, y, sample_weight=w, **FULL_SGD)
    assert rel(ours.loss_curve_, ref.loss_curve_) < 1e-12 and rel(ours.coefs_[1], ref.coefs_[1]) < 1e-12
    ref, ours = both("MLPClassifier", X, y, sample_weight=w, **dict(BASE, solver="lbfgs", max_iter=100))
    assert ours.n_iter_ == ref.n_iter_ and rel(ours.coefs_[0], ref.coefs_[0]) < LBFGS_RTOL
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-9)


@pytest.mark.parametrize("target", ["multiclass", "binary"])
def test_lbfgs_equals_sklearn(iris, target):
    X, y = iris
    y = y if target == "multiclass" else (y == 1).astype(int)
    ref, ours = both("MLPClassifier", X, y, **dict(BASE, solver="lbfgs", max_iter=200))
    assert ours.n_iter_ == ref.n_iter_ and ours.t_ == ref.t_ == 0
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-7) and type(ours.loss_) is type(ref.loss_)
    assert rel(ours.coefs_[0], ref.coefs_[0]) < LBFGS_RTOL
    for name in ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_"):
        assert hasattr(ours, name) == hasattr(ref, name) == False  # noqa: E712 - scikit-learn sets none for lbfgs


def test_multi_output_squared_error_reports_as_sklearn(regression):
    """scikit-learn descends 0.5 sum over outputs but reports 0.5 mean over outputs (its #8349):
    the same trajectory and the same reported numbers here."""
    X, Y = regression
    params = dict(BASE, solver="sgd", batch_size=200, learning_rate_init=0.01, tol=1e-3, max_iter=500)
    ref, ours = both("MLPRegressor", X, Y, **params)
    assert ours.n_iter_ == ref.n_iter_ < 500  # stopped on the same reported loss
    assert rel(ours.loss_curve_, ref.loss_curve_) < 1e-12 and rel(ours.coefs_[0], ref.coefs_[0]) < 1e-12
    # the step is the exact gradient of the summed objective: alpha / n on the mean loss
    reg = MLPRegressor(**dict(BASE, solver="sgd", batch_size=200, momentum=0.0, learning_rate_init=0.01, max_iter=1),
                       backend="numpy").fit(X, Y)
    Ws, bs = reg.net_.get_weights()
    alpha = BASE["alpha"] / X.shape[0]
    h, k, idx = 1e-6, 0, (2, 3)
    vals = []
    for s in (1, -1):
        trial = [W.copy() for W in Ws]
        trial[k][idx] += s * h
        reg.net_.set_weights(trial, bs)
        vals.append(objective(reg.net_, X, Y, alpha=alpha))
    reg.net_.set_weights(Ws, bs)
    reg.set_params(warm_start=True).fit(X, Y)
    step = reg.coefs_[k][idx] - Ws[k][idx]
    assert step == pytest.approx(-0.01 * (vals[0] - vals[1]) / (2 * h), rel=1e-6)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_poisson_equals_sklearn(regression, solver):
    X, Y = regression
    counts = np.random.RandomState(0).poisson(np.exp(X[:, 0] / 3))
    params = dict(BASE, solver=solver, loss="poisson", batch_size=500, learning_rate_init=0.01)
    ref, ours = both("MLPRegressor", X / 3, counts, **params)
    assert ours.out_activation_ == ref.out_activation_ == "exp"
    tol = LBFGS_RTOL if solver == "lbfgs" else 1e-12
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-9) and rel(ours.coefs_[0], ref.coefs_[0]) < tol
    assert np.all(ours.predict(X / 3) > 0)
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson", backend="numpy").fit(X, -np.abs(Y[:, 0]))


def test_adam_agrees_with_sklearn_up_to_epsilon_placement(iris):
    """Adam adds epsilon to sqrt(v_hat); scikit-learn to sqrt(v) before the bias correction."""
    X, y = iris
    ref, ours = both("MLPClassifier", X, y, **dict(BASE, learning_rate_init=0.01))
    assert 0 < rel(ours.loss_curve_, ref.loss_curve_) < 1e-4


def test_n_iter_t_and_curves_across_calls_as_sklearn(iris):
    X, y = iris
    for warm in (dict(warm_start=True), dict()):
        ref = sk.MLPClassifier(**FULL_SGD, **warm)
        ours = MLPClassifier(backend="numpy", **FULL_SGD, **warm)
        for est in (ref, ours):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X, y)
                est.set_params(max_iter=5).fit(X, y)
                est.partial_fit(X, y)
        assert (ours.n_iter_, ours.t_, len(ours.loss_curve_)) == (ref.n_iter_, ref.t_, len(ref.loss_curve_))
        assert rel(ours.loss_curve_, ref.loss_curve_) < 1e-12 and rel(ours.coefs_[0], ref.coefs_[0]) < 1e-12
    assert ours.n_iter_ == 1


def test_training_continues_from_assigned_weights(iris):
    X, y = iris
    rs = np.random.RandomState(1)
    coefs = [rs.normal(size=(4, 7)), rs.normal(size=(7, 3))]
    inters = [rs.normal(size=7), rs.normal(size=3)]
    results = []
    for Est in (sk.MLPClassifier, MLPClassifier):
        est = Est(**FULL_SGD)
        est.coefs_, est.intercepts_ = [c.copy() for c in coefs], [b.copy() for b in inters]
        est.n_features_in_, est.n_outputs_, est.n_layers_, est.out_activation_ = 4, 3, 3, "softmax"
        est.n_iter_, est.t_, est.best_loss_, est.loss_curve_, est._no_improvement_count = 0, 0, np.inf, [], 0
        est.partial_fit(X, y, classes=[0, 1, 2])  # an unfitted estimator with weights given
        fitted = Est(**dict(FULL_SGD, warm_start=True, max_iter=3)).fit(X, y)
        fitted.coefs_ = [c.copy() for c in coefs]  # assigned after fitting: predict and fit use them
        fitted.intercepts_[0] = inters[0].copy()
        fitted.intercepts_[1] = inters[1].copy()
        proba = fitted.predict_proba(X)
        fitted.fit(X, y)
        results.append((est.coefs_, proba, fitted.coefs_))
    (a1, p1, b1), (a2, p2, b2) = results
    assert rel(a2[0], a1[0]) < 1e-12 and rel(p2, p1) < 1e-12 and rel(b2[1], b1[1]) < 1e-12


def test_verbose_prints_sklearns_lines(iris):
    X, y = iris
    outs = []
    for Est in (sk.MLPClassifier, MLPClassifier):
        buf = io.StringIO()
        params = dict(FULL_SGD, learning_rate="adaptive", tol=0.5, n_iter_no_change=2, max_iter=40, verbose=True)
        with contextlib.redirect_stdout(buf):
            Est(**params).fit(X, y)
            Est(**dict(params, early_stopping=True)).fit(X, y)
        outs.append(buf.getvalue())
    assert "Setting learning rate to" in outs[0] and "Validation score" in outs[0]
    assert outs[1] == outs[0]


def test_warnings_and_errors_as_sklearn(iris, regression):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match=re.escape("Stochastic Optimizer: Maximum iterations (2) reached")):
        MLPClassifier(max_iter=2, backend="numpy").fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(solver="lbfgs", max_iter=2, backend="numpy").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MLPClassifier(max_iter=2, backend="numpy").partial_fit(X, y, classes=[0, 1, 2])  # never warns
    cases = [
        (lambda E: E().partial_fit(X[:30], y[:30], classes=[0, 1]).partial_fit(X, y), "MLPClassifier"),
        (lambda E: E(warm_start=True, max_iter=2).fit(X, y).fit(X, np.where(y == 2, 5, y)), "MLPClassifier"),
        (lambda E: E(early_stopping=True).fit(*make_regression(n_samples=2, n_features=5, random_state=0)),
         "MLPRegressor"),
        (lambda E: E(early_stopping=True).fit([[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1]), "MLPClassifier"),
        (lambda E: E(early_stopping=True, validation_fraction=0.05).fit(X[:20], X[:20, 0]), "MLPRegressor"),
        (lambda E: E(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2]), "MLPClassifier"),
        (lambda E: E().partial_fit(X, y), "MLPClassifier"),
        (lambda E: E(hidden_layer_sizes=(3, 0)).fit(X, y), "MLPClassifier"),
    ]
    for call, name in cases:
        messages = []
        for Est in (getattr(sk, name), globals()[name]):
            with pytest.raises(ValueError) as info:
                call(Est)
            messages.append(str(info.value))
        assert messages[1] == messages[0]


def test_partial_fit_only_for_stochastic_solvers():
    for Est in (MLPClassifier, MLPRegressor):
        assert not hasattr(Est(solver="lbfgs"), "partial_fit") and hasattr(Est(solver="sgd"), "partial_fit")


def test_parameters_are_sklearns_plus_xpmlps():
    """Same names, defaults and constraints as scikit-learn 1.9; xpmlp adds only its own."""
    for ours, ref in ((MLPClassifier, sk.MLPClassifier), (MLPRegressor, sk.MLPRegressor)):
        sig_ours, sig_ref = inspect.signature(ours).parameters, inspect.signature(ref).parameters
        assert list(sig_ours)[:len(sig_ref)] == list(sig_ref)
        own = {"max_grad_norm", "backend", "dtype", "distributed", "dropout", "compute_dtype", "front", "preset"}
        assert set(sig_ours) - set(sig_ref) == own | ({"class_weight"} if ours is MLPClassifier else set())
        assert all(sig_ours[k].default == v.default for k, v in sig_ref.items())
        assert (sig_ours["dropout"].default, sig_ours["compute_dtype"].default) == (0.0, None)  # scikit-learn's model
        for key, constraints in ref._parameter_constraints.items():
            got = [_meaning(c) for c in ours._parameter_constraints[key]]
            expected = [_meaning(c) for c in constraints]
            assert got == expected or (key == "solver" and got[0] == expected[0] | {"adamw"}) or (
                key == "activation" and got[0] == expected[0] | {"leaky_relu", "elu", "gelu", "silu", "softplus"}), key


def _meaning(constraint):
    """A constraint as comparable data (StrOptions print their set in any order)."""
    options = getattr(constraint, "options", None)
    return set(options) if isinstance(options, (set, frozenset)) else str(constraint)


@pytest.mark.parametrize("params, match", [
    (dict(solver="bfgs"), "'solver' parameter"),
    (dict(backend="nope"), "'backend' parameter"),
    (dict(dtype="float16"), "'dtype' parameter"),
    (dict(tol=-1.0), "'tol' parameter"),
    (dict(max_grad_norm=0.0), "'max_grad_norm' parameter"),
])
def test_bad_parameters_raise_invalid_parameter_error(iris, params, match):
    X, y = iris
    with pytest.raises(InvalidParameterError, match=match):
        MLPClassifier(**params).fit(X, y)


def test_unusable_backend_device_is_a_value_error(iris):
    X, y = iris
    with pytest.raises(ValueError, match="unknown array_api_strict device"):
        MLPClassifier(backend="array_api_strict:nowhere").fit(X, y)


def test_dtype_follows_input_and_dtype_parameter(iris):
    X, y = iris
    for X_in, dtype, want in ((X.astype(np.float32), None, np.float32), (X, None, np.float64),
                              (X.astype(np.int64), None, np.float64), (X, "float32", np.float32)):
        reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, dtype=dtype, backend="numpy").fit(X_in, y)
        assert all(a.dtype == want for a in reg.coefs_ + reg.intercepts_)
        assert reg.predict(X_in.astype(want)).dtype == want


def test_float32_only_device_falls_back_with_a_warning(iris):
    pytest.importorskip("array_api_strict")
    X, y = iris
    with pytest.warns(UserWarning, match="has no float64"):
        clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, backend="array_api_strict:no_float64").fit(X, y)
    assert clf.coefs_[0].dtype == np.float32
    with pytest.raises(ValueError, match="float64"):
        MLPClassifier(max_iter=3, dtype="float64", backend="array_api_strict:no_float64").fit(X, y)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_sparse_input_equals_dense(iris, solver):
    sp = pytest.importorskip("scipy.sparse")
    X, y = iris
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.8, X, 0.0))
    kw = dict(FULL_SGD, solver=solver, backend="numpy")
    dense, sparse = MLPClassifier(**kw).fit(Xs.toarray(), y), MLPClassifier(**kw).fit(Xs, y)
    assert rel(sparse.coefs_[0], dense.coefs_[0]) < (1e-8 if solver == "lbfgs" else 1e-12)
    np.testing.assert_array_equal(sparse.predict(Xs), dense.predict(Xs.toarray()))


def test_n_iter_no_change_inf_runs_max_iter(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", tol=1e9, max_iter=30, n_iter_no_change=np.inf,
                        backend="numpy").fit(X, y)
    assert clf.n_iter_ == 30 and clf._no_improvement_count == 29


def test_multiclass_with_string_labels(iris):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=150, learning_rate_init=0.01, random_state=0,
                        backend="numpy").fit(X, labels)
    assert clf.classes_.tolist() == ["setosa", "versicolor", "virginica"] and clf.score(X, labels) > 0.9
    P = clf.predict_proba(X)
    assert P.shape == (150, 3) and P.dtype == np.float64
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P))


def test_binary_and_multilabel(iris):
    X, y = iris
    yb = np.where(y == 0, 7, -3)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, learning_rate_init=0.01, random_state=0,
                        backend="numpy").fit(X, yb)
    assert clf.classes_.tolist() == [-3, 7] and clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(clf.predict_proba(X)[:, 1] > 0.5).astype(int)])
    Y = np.stack([y == 0, y == 2, X[:, 0] > 0], axis=1).astype(int)
    ml = MLPClassifier(hidden_layer_sizes=(20,), max_iter=200, learning_rate_init=0.01, random_state=0,
                       backend="numpy").fit(X, Y)
    assert ml.classes_.tolist() == [0, 1, 2] and ml.predict(X).shape == Y.shape and ml.score(X, Y) > 0.8


def test_fitted_attributes_are_numpy_on_every_backend(be, iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, batch_size=50, random_state=0, backend=be,
                        dtype=be.dtype_name, early_stopping=True, n_iter_no_change=50).fit(X, y)
    assert all(type(W) is np.ndarray and W.dtype == np.dtype(be.dtype_name) for W in clf.coefs_ + clf.intercepts_)
    assert [W.shape for W in clf.coefs_] == [(4, 6), (6, 3)]
    assert type(clf.classes_) is np.ndarray and clf.n_features_in_ == 4 and clf.n_iter_ == 5
    assert len(clf.loss_curve_) == 5 and all(type(v) is np.float64 for v in clf.loss_curve_)
    assert len(clf.validation_scores_) == 5 and clf.best_loss_ is None
    assert type(clf.predict_proba(X)) is np.ndarray and type(clf.predict(X)) is np.ndarray


def test_backends_agree(be, iris):
    X, y = iris
    kw = dict(hidden_layer_sizes=(6,), max_iter=3, batch_size=30, random_state=0, dtype=be.dtype_name)
    ref = MLPClassifier(backend="numpy", **kw).fit(X, y)
    clf = MLPClassifier(backend=be, **kw).fit(X, y)
    tol = 1e-4 if be.dtype_name == "float32" else 1e-10
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), rtol=tol, atol=tol)
    np.testing.assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=tol)


def test_pickle_round_trip_keeps_predictions_and_training_state(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, backend="array_api_strict").fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert copy.net_.backend.name == "array_api_strict" and copy.optimizer_.t == clf.optimizer_.t
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)  # the same optimizer moments and shuffling stream
    np.testing.assert_array_equal(copy.coefs_[0], clf.coefs_[0])


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_save_and_load_round_trip(tmp_path, iris, solver):
    X, y = iris
    labels = np.array(["a", "b", "c"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, solver=solver, early_stopping=True,
                        n_iter_no_change=np.inf, backend="numpy").fit(X, labels)
    clf.save(tmp_path / "m.npz")
    back = load_estimator(tmp_path / "m.npz", backend="array_api_strict")
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-12)
    for name in ("n_iter_", "t_", "loss_", "n_layers_", "out_activation_", "loss_curve_", "validation_scores_",
                 "best_validation_score_", "best_loss_"):
        assert getattr(back, name, "absent") == getattr(clf, name, "absent"), name
    if solver == "adam":
        clf.set_params(early_stopping=False).partial_fit(X, labels)
        back.set_params(early_stopping=False).partial_fit(X, labels)
        np.testing.assert_allclose(back.coefs_[0], clf.coefs_[0], rtol=1e-12)


def test_clone_and_params():
    clf = MLPClassifier(backend="torch", dtype="float64", max_grad_norm=1.0)
    assert clone(clf).get_params() == clf.get_params() and clf.set_params(alpha=0.5).alpha == 0.5


def test_partial_fit_equals_fit_epoch_by_epoch_bitwise():
    """The same epochs in the same order with the same arithmetic: equal to the last bit."""
    X, y = load_iris(return_X_y=True)
    kw = dict(hidden_layer_sizes=(8,), random_state=0, backend="numpy", batch_size=32, shuffle=True)
    full = MLPClassifier(max_iter=3, n_iter_no_change=100, **kw).fit(X, y)
    inc = MLPClassifier(**kw)
    for _ in range(3):
        inc.partial_fit(X, y, classes=np.unique(y))
    assert inc.t_ == full.t_ == 450
    np.testing.assert_array_equal(inc.loss_curve_, full.loss_curve_)
    for a, b in zip(inc.coefs_ + inc.intercepts_, full.coefs_ + full.intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("activation", ["leaky_relu", "leaky_relu:slope=0.2", "elu", "elu:alpha=0.5", "gelu", "silu",
                                        "softplus"])
def test_estimators_train_with_xpmlps_activations(iris, activation, tmp_path):
    """scikit-learn's parameter validation takes each (a spec carries its parameter), fit trains
    through it, and a saved estimator comes back with it."""
    from xpmlp.nn.activations import get_activation

    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8,), activation=activation, max_iter=30, random_state=0,
                        backend="numpy").fit(X, y)
    assert clf.net_.hidden_activation == get_activation(activation) and clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clone(clf).get_params()["activation"] == activation
    clf.save(tmp_path / "m.npz")
    back = load_estimator(tmp_path / "m.npz")
    assert back.activation == activation and back.net_.hidden_activation == clf.net_.hidden_activation
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    reg = MLPRegressor(hidden_layer_sizes=(5,), activation=activation, max_iter=5, random_state=0, backend="numpy")
    assert reg.fit(X, X[:, 0]).net_.hidden_activation == get_activation(activation)


@pytest.mark.parametrize("activation", ["swish", "RELU", "softmax", "threshold", "leaky_relu:slope=x", "gelu:1",
                                        "elu:beta=1", "leaky_relu:slope=inf"])
def test_estimators_refuse_other_activations_as_scikit_learn_does(iris, activation):
    X, y = iris
    with pytest.raises(ValueError, match="'activation' parameter of MLPClassifier must be a str among"):
        MLPClassifier(activation=activation, backend="numpy").fit(X, y)
