"""Input layers of other kinds in the estimators (``front=``) and ``preset="tabular"`` (the tabular
recipe of ``xpmlp train``): the dense layers stay ``coefs_``/``intercepts_``, the input layers'
parameters are ``front_params_``; both parameters clone and are refused by name when wrong; the
estimator round-trips through model files, pickle and skops pipelines; the defaults change nothing."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import RobustScaler  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from xpmlp.estimators import MLPClassifier, MLPRegressor, load_estimator  # noqa: E402
from xpmlp.estimators._params import preset_values  # noqa: E402
from xpmlp.nn.scale import Scale  # noqa: E402
from xpmlp.training.presets import TABULAR  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

rng = np.random.default_rng(0)
X = rng.normal(size=(80, 3))
y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
FRONT = ("scale", "periodic:frequencies=4,width=3")
SMALL = dict(hidden_layer_sizes=(5,), max_iter=4, batch_size=16, random_state=0)


def test_front_puts_input_layers_before_the_dense_layers_that_coefs_hold():
    clf = MLPClassifier(front=FRONT, **SMALL).fit(X, y)
    assert clf.net_.front.specs[0] == "scale:lr_factor=6.0" and clf.net_.widths == [3 * 2 + 3, 5, 1]
    assert [c.shape for c in clf.coefs_] == [(9, 5), (5, 1)] and [b.shape for b in clf.intercepts_] == [(5,), (1,)]
    assert [p.shape for p in clf.front_params_] == clf.net_.front.shapes == [(3,), (3, 4), (3, 4), (3, 4, 2), (3, 2)]
    assert clf.n_features_in_ == 3 and clf.n_layers_ == 3
    again = MLPClassifier(front=FRONT, **SMALL).fit(X, y)
    for a, b in zip(clf.coefs_ + clf.front_params_, again.coefs_ + again.front_params_):
        np.testing.assert_array_equal(a, b)  # random_state draws the input layers too
    other = MLPClassifier(front=FRONT, **{**SMALL, "random_state": 1}).fit(X, y)
    assert not np.array_equal(other.front_params_[1], clf.front_params_[1])
    plain = MLPRegressor(**SMALL).fit(X, X[:, 0])
    assert plain.front_params_ == [] and not plain.net_.front and plain.coefs_[0].shape == (3, 5)
    lbfgs = MLPRegressor(front="scale", solver="lbfgs", **SMALL).fit(X, X[:, 0])
    assert lbfgs.net_.front.specs == ["scale:lr_factor=6.0"] and lbfgs.n_iter_ >= 1


def test_assigned_input_layer_parameters_are_used():
    clf = MLPClassifier(front="scale", **SMALL).fit(X, y)
    clf.front_params_[0][:] = 0.0  # every column scaled to nothing: one output for every row
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(proba, np.broadcast_to(proba[0], proba.shape))
    new = MLPRegressor(front="scale", warm_start=True, solver="sgd", learning_rate_init=1e-12, max_iter=1,
                       hidden_layer_sizes=(5,), random_state=0)
    new.coefs_, new.intercepts_ = [c.copy() for c in clf.coefs_], [b.copy() for b in clf.intercepts_]
    new.front_params_ = [np.full(3, 0.25)]
    new.fit(X, X[:, 0])  # from the assigned weights, as scikit-learn continues from assigned coefs_
    np.testing.assert_allclose(new.front_params_[0], 0.25, atol=1e-9)
    np.testing.assert_allclose(new.coefs_[0], clf.coefs_[0], atol=1e-9)


def test_preset_tabular_is_the_recipe_where_parameters_are_left_at_their_defaults():
    assert preset_values("tabular") == {
        "hidden_layer_sizes": TABULAR["hidden"], "solver": "adam", "learning_rate_init": 1e-3, "max_iter": 100,
        "batch_size": 32, "alpha": 1e-4, "validation_fraction": 0.1, "n_iter_no_change": 20,
        "front": ("scale", "periodic"), "early_stopping": True}
    clf = MLPClassifier(preset="tabular", hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, y)
    assert clf.net_.sizes == [3, 6, 1] and [layer.name for layer in clf.net_.front.layers] == ["scale", "periodic"]
    assert clf.n_iter_ == 3 and len(clf.validation_scores_) == 3  # early stopping on held-out rows
    assert all(s < 0 for s in clf.validation_scores_) and clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.get_params()["front"] is None and clf.get_params()["batch_size"] == "auto"  # as given
    assert clf.get_params()["early_stopping"] is False and clf.max_iter == 3
    off = MLPClassifier(preset="tabular", front=(), hidden_layer_sizes=(6,), max_iter=2).fit(X, y)
    assert not off.net_.front  # a parameter given otherwise is kept
    reg = MLPRegressor(preset="tabular", hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    reg.partial_fit(X, X[:, 0])  # partial_fit takes no early stopping: the preset holds no rows out
    assert reg.net_.front and reg.validation_scores_ is None and reg.get_params()["preset"] == "tabular"


def test_front_and_preset_clone_and_set_params_and_bad_values_are_refused():
    est = MLPClassifier(front=["scale"], preset="tabular")
    twin = clone(est)
    assert twin.get_params()["front"] == ["scale"] and twin.preset == "tabular"
    assert twin.set_params(preset=None, front=None).get_params()["preset"] is None
    with pytest.raises(InvalidParameterError) as exc:
        MLPClassifier(preset="fast").fit(X, y)
    assert str(exc.value) == "The 'preset' parameter of MLPClassifier must be None or a str among {'tabular'}. " \
        "Got 'fast' instead."
    with pytest.raises(InvalidParameterError, match="The 'front' parameter of MLPRegressor must be None"):
        MLPRegressor(front=5).fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"^front takes input layers by spec, such as 'scale'"):
        MLPRegressor(front=[Scale(3)], **SMALL).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="^unknown input layer 'fourier'; valid: scale, periodic$"):
        MLPRegressor(front="fourier", **SMALL).fit(X, X[:, 0])


def test_a_front_estimator_round_trips_through_files_pickle_and_pipelines(tmp_path):
    clf = MLPClassifier(front=FRONT, preset="tabular", **SMALL).fit(X, y)
    back = load_estimator(clf.save(tmp_path / "clf.npz"))
    assert back.get_params() == clf.get_params() and back.net_.front.specs == clf.net_.front.specs
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    for a, b in zip(back.front_params_, clf.front_params_):
        np.testing.assert_array_equal(a, b)
    unpickled = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(unpickled.predict_proba(X), clf.predict_proba(X))
    unpickled.partial_fit(X, y)  # Adam's state over the input layers came along
    assert unpickled.optimizer_.t == clf.optimizer_.t + 5
    pytest.importorskip("skops")
    from xpmlp import load_pipeline, save_pipeline

    pipe = make_pipeline(RobustScaler(), MLPRegressor(front=["scale", "periodic:width=2"], **SMALL)).fit(X, X[:, 1])
    loaded = load_pipeline(save_pipeline(tmp_path / "p.skops", pipe))
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    assert loaded[-1].get_params()["front"] == ["scale", "periodic:width=2"]


def test_sklearns_private_lbfgs_objective_is_refused_with_input_layers():
    reg = MLPRegressor(front="scale", **SMALL).fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"packs scikit-learn's coefs_ and intercepts_ only; this network has input "
                                         r"layers \(scale:lr_factor=6.0\)"):
        reg._loss_grad_lbfgs(np.zeros(1), X, X[:, 0], None, [], [], [], [])


def test_input_layer_parameters_live_where_the_data_do_under_array_api_dispatch():
    strict = pytest.importorskip("array_api_strict")
    from sklearn import config_context

    flags, device = strict.get_array_api_strict_flags(), strict.Device("device1")
    try:
        with config_context(array_api_dispatch=True):
            Xs, ys = strict.asarray(X, device=device), strict.asarray(X[:, 0], device=device)
            reg = MLPRegressor(front="scale", **SMALL).fit(Xs, ys)
            assert reg.front_params_[0].device == device and reg.front_params_[0] is reg.net_.parameters.front[0]
            assert reg.predict(Xs).device == device
    finally:
        strict.set_array_api_strict_flags(**flags)  # scikit-learn sets the library's API version for the process
    host = MLPRegressor(front="scale", **SMALL).fit(X, X[:, 0])
    np.testing.assert_allclose(np.asarray(strict.asarray(reg.front_params_[0], device=strict.Device("CPU_DEVICE"))),
                               host.front_params_[0], rtol=1e-12)
