"""The estimators at their edges: scikit-learn's "Stopping." line and its warning on Ctrl-C, a
regressor's model file (its hyperparameters as JSON, feature names, another dtype on load), the
model-file records ``load`` refuses, the refusals of ``fit`` (lbfgs data-parallel, a warm start with
another number of outputs, an early-stopping fit whose weights became non-finite), the hooks a
subclass of ``BaseMLP`` must give."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

pytest.importorskip("sklearn")
import sklearn.neural_network as sk  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402

import xpmlp  # noqa: E402
from xpmlp.estimators import MLPClassifier, MLPRegressor, load_estimator  # noqa: E402
from xpmlp.estimators._base import BaseMLP  # noqa: E402
from xpmlp.io import ModelFileError, read_state, write_state  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # short fits, on purpose


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def test_verbose_says_stopping_as_sklearn_when_the_loss_stalls(iris):
    """A constant learning rate that stalls: scikit-learn's "... Stopping." line, the same text."""
    X, y = iris
    params = dict(hidden_layer_sizes=(5,), random_state=0, solver="sgd", batch_size=150, learning_rate_init=0.1,
                  tol=0.5, n_iter_no_change=2, max_iter=40, verbose=True)
    outs = []
    for Est in (sk.MLPClassifier, MLPClassifier):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            Est(**params).fit(X, y)
        outs.append(buf.getvalue())
    assert outs[1] == outs[0]
    assert outs[1].endswith("Training loss did not improve more than tol=0.500000 for 2 consecutive epochs. "
                            "Stopping.\n")


def test_ctrl_c_during_a_fit_warns_as_sklearn_and_keeps_whole_epochs(iris, monkeypatch):
    from xpmlp.estimators import _report

    X, y = iris
    original = _report.SklearnVerbose.on_epoch_begin

    def ctrl_c_in_epoch_3(self, run):
        original(self, run)
        if run.history.epochs == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(_report.SklearnVerbose, "on_epoch_begin", ctrl_c_in_epoch_3)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=10, random_state=0, verbose=True)
    with contextlib.redirect_stdout(io.StringIO()), pytest.warns(UserWarning, match="^Training interrupted by user.$"):
        clf.fit(X, y)
    assert clf.history_.stop_reason == "interrupted" and clf.n_iter_ == 2 and len(clf.loss_curve_) == 2
    assert clf.predict(X).shape == y.shape


def test_a_regressor_saved_with_json_hyperparameters_loads_in_another_dtype(iris, tmp_path):
    pd = pytest.importorskip("pandas")
    X, _ = iris
    frame = pd.DataFrame(X, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    target = X[:, 0] - X[:, 2]
    reg = MLPRegressor(hidden_layer_sizes=(6,), max_iter=20, random_state=np.random.RandomState(0),
                       alpha=np.float64(1e-3), backend=xpmlp.resolve("numpy"), dtype="float64").fit(frame, target)
    reg.save(tmp_path / "r.npz")
    meta, _ = read_state(tmp_path / "r.npz")
    hyper = meta["hyperparameters"]
    assert hyper["alpha"] == 1e-3 and type(hyper["alpha"]) is float  # a NumPy scalar, as a number
    assert hyper["backend"] == "numpy" and hyper["random_state"] is None  # a Backend by name; a RandomState not kept
    back = load_estimator(tmp_path / "r.npz", dtype="float32")
    assert back.dtype == "float32" and back.net_.backend.dtype_name == "float32"
    assert list(back.feature_names_in_) == list(frame.columns)
    np.testing.assert_allclose(back.predict(frame), reg.predict(frame), rtol=1e-5, atol=1e-5)
    again = load_estimator(tmp_path / "r.npz")  # its own dtype: the same numbers
    np.testing.assert_array_equal(again.predict(frame), reg.predict(frame))


def _edited(path, tmp_path, edit):
    meta, arrays = read_state(path)
    edit(meta, arrays)
    return write_state(tmp_path / "edited.npz", meta, arrays)


def test_load_refuses_estimator_records_that_do_not_fit(iris, tmp_path):
    X, y = iris
    path = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y).save(tmp_path / "c.npz")
    no_type = _edited(path, tmp_path, lambda m, a: m["extra"].pop("y_type"))
    with pytest.raises(ModelFileError) as exc:
        load_estimator(no_type)
    assert str(exc.value) == (f"{no_type}: estimator record is not valid: "
                              "ValueError('classifier record lacks its target type or classes')")
    other_width = _edited(path, tmp_path, lambda m, a: m["extra"]["attrs"].update(n_features_in_=7))
    with pytest.raises(ModelFileError) as exc:
        MLPClassifier.load(other_width)
    assert str(exc.value) == (f"{other_width}: estimator record does not match its network: {{'n_features_in_': 7}} "
                              "(the network has {'n_features_in_': 4, 'n_outputs_': 3, 'n_layers_': 3, "
                              "'out_activation_': 'softmax'})")
    net = xpmlp.MLP([4, 3], seed=0)
    plain = xpmlp.save(tmp_path / "net.npz", net)
    with pytest.raises(ModelFileError) as exc:
        load_estimator(plain)
    assert str(exc.value) == f"{plain}: holds a 'MLP', not an xpmlp estimator"


def test_lbfgs_does_not_train_data_parallel(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"distributed=True trains with the stochastic solvers \('sgd', 'adam', "
                                         r"'adamw'\); solver='lbfgs' runs in one process"):
        MLPClassifier(solver="lbfgs", distributed=True).fit(X, y)


def test_a_warm_start_with_another_number_of_outputs_is_refused(iris):
    X, _ = iris
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0, warm_start=True).fit(X, X[:, 0])
    before = [c.copy() for c in reg.coefs_]
    with pytest.raises(ValueError, match="y has 2 outputs but the network was fitted with 1"):
        reg.fit(X, X[:, :2])
    for a, b in zip(reg.coefs_, before):
        np.testing.assert_array_equal(a, b)


def test_an_early_stopping_fit_whose_weights_overflow_says_so_as_sklearn(iris):
    """With early stopping a non-finite loss does not stop the loop (scikit-learn's issue 29504); the
    weights it ends with are refused with scikit-learn's message."""
    X, _ = iris
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0, solver="sgd", learning_rate_init=1e308,
                       early_stopping=True)
    with pytest.raises(ValueError) as exc:
        reg.fit(X, X[:, 0])
    assert str(exc.value) == ("Solver produced non-finite parameter weights. The input data may contain large values "
                              "and need to be preprocessed.")


def test_the_hooks_of_base_mlp_must_be_given_by_a_subclass(iris):
    X, y = iris
    est = MLPRegressor()
    with pytest.raises(NotImplementedError):
        BaseMLP._validate_input(est, X, y, incremental=False, reset=True)
    with pytest.raises(NotImplementedError):
        BaseMLP._output_layer(est)
