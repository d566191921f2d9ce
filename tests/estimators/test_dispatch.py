"""scikit-learn's Array API dispatch on the estimators (``xpmlp.estimators._dispatch``).

Under ``sklearn.config_context(array_api_dispatch=True)`` an ``X`` of PyTorch, CuPy or
array-api-strict trains the network on its library and device; the fitted arrays and the
predictions are arrays there; the numbers are those of the same fit on NumPy.  Checked with
scikit-learn's own Array API estimator checks (with values) on every namespace and device it
offers that runs here, and on the matrix of ``tests/conftest.py`` (the CuPy and torch-CUDA
stand-ins included) through a ``StandardScaler`` + MLP pipeline.  The models are small (5 hidden
units, 5 epochs): these tests are about where arrays live, not about learning.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn import config_context  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils._array_api import (  # noqa: E402
    yield_mixed_namespace_input_permutations,
    yield_namespace_device_dtype_combinations,
)
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_array_api_input,
    check_array_api_mixed_inputs,
    check_array_api_same_namespace,
)

from conftest import RTOL, RTOL_TRAJECTORY, assert_close, backend_of  # noqa: E402
from standins import cupy_standin  # noqa: E402
from xpmlp.backends.libraries import cupy_usable  # noqa: E402
from xpmlp.estimators import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(hidden_layer_sizes=(5,), max_iter=5)
ESTIMATORS = [MLPClassifier(**SMALL), MLPRegressor(**SMALL)]


@pytest.fixture(autouse=True)
def _strict_flags_kept():
    """scikit-learn sets array-api-strict's API version to its own whenever it meets that library's
    arrays under dispatch, for the whole process: the suite's (CI's 2023.12) comes back after each test."""
    strict = pytest.importorskip("array_api_strict")
    flags = strict.get_array_api_strict_flags()
    yield
    strict.set_array_api_strict_flags(**flags)


def _skip_without_cupy(*namespaces: str | None) -> None:
    """scikit-learn asks CUDA for its device count, which raises where CuPy has no driver: skip first."""
    if "cupy" in namespaces and not cupy_usable()[0]:
        pytest.skip(f"CuPy case skipped: {cupy_usable()[1]}")


# -- scikit-learn's own Array API checks ------------------------------------------------------------

def test_estimators_declare_array_api_support():
    """The tag by which scikit-learn (its Pipeline, its estimator checks) knows the estimators take the dispatch."""
    from sklearn.utils import get_tags

    assert all(get_tags(est).array_api_support is True for est in ESTIMATORS)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("namespace, device, dtype", list(yield_namespace_device_dtype_combinations()),
                         ids=lambda v: str(v))
def test_sklearn_array_api_checks_with_values(estimator, namespace, device, dtype):
    """Attributes and every method's output in X's namespace and device, with NumPy's shapes, dtypes
    and values (sample weights given)."""
    _skip_without_cupy(namespace)
    check_array_api_input(type(estimator).__name__, estimator, namespace, device_name=device, dtype_name=dtype,
                          check_values=True, check_sample_weight=True)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("other, x, _", list(yield_mixed_namespace_input_permutations()), ids=lambda v: str(v))
def test_sklearn_mixed_input_checks(estimator, other, x, _):
    """y and sample_weight of another namespace or device follow X's."""
    _skip_without_cupy(other.xp, x.xp)
    check_array_api_mixed_inputs(type(estimator).__name__, estimator, X_ns_and_device=x, other_ns_and_device=other,
                                 check_values=True)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_sklearn_same_namespace_check(estimator):
    """predict, predict_proba and predict_log_proba refuse a NumPy X after an array-api-strict fit."""
    check_array_api_same_namespace(type(estimator).__name__, estimator, "array_api_strict")


@pytest.mark.parametrize("backend, namespace, device, dtype", [
    ("torch", "array_api_strict", "device1", "float32"),
    ("array_api_strict", "torch", "cpu", "float64"),
], ids=["torch-trains-strict-data", "strict-trains-torch-data"])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor], ids=lambda c: c.__name__)
def test_backend_of_another_library_trains_and_the_arrays_stay_in_xs(Est, backend, namespace, device, dtype):
    """With backend= naming another library than X's, the data go through host memory to it and the
    fitted arrays and outputs come back to X's namespace and device, with NumPy's values."""
    pytest.importorskip("torch")
    check_array_api_input(Est.__name__, Est(backend=backend, **SMALL), namespace, device_name=device,
                          dtype_name=dtype, check_values=True, check_sample_weight=True)


# -- a pipeline on every backend of the test matrix ---------------------------------------------------

@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@contextlib.contextmanager
def _sklearn_cupy_namespace_kept_apart():
    """scikit-learn's own copy of array-api-compat binds CuPy's namespace when first asked: a stand-in
    block gets a fresh binding, forgotten afterwards (a real CuPy's stays out of it, and it out of a real one's)."""
    import sklearn.externals.array_api_compat as compat

    ours = lambda: [n for n in sys.modules if n.startswith(compat.__name__ + ".cupy")]  # noqa: E731
    saved, attribute = {n: sys.modules.pop(n) for n in ours()}, compat.__dict__.pop("cupy", None)
    try:
        yield
    finally:
        for name in ours():
            del sys.modules[name]
        sys.modules.update(saved)
        compat.__dict__.pop("cupy", None)
        if attribute is not None:
            compat.cupy = attribute


def _uploads(be):
    """The stand-in's host-to-device copies, ``{"asarray (150, 4)": count, ...}``; None off the stand-ins
    (a real GPU counts nothing)."""
    if be.name == "cupy":
        return getattr(getattr(sys.modules["cupy"], "_standin", None), "UPLOADS", None)
    if be.name == "torch" and "cuda" in str(be.device):
        from standins import torch_cuda

        return torch_cuda.UPLOADS if sys.modules["torch"].cuda.get_device_name() == "xpmlp torch-CUDA stand-in" else None
    return None


def _pipeline(backend=None):
    return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, learning_rate_init=0.1,
                                                         random_state=0, backend=backend))


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # StandardScaler's 0/0
def test_pipeline_returns_arrays_of_xs_library_on_its_device(be, iris):
    """The issue's case: StandardScaler + MLPClassifier on arrays of one library and device gives arrays
    of that library on that device, the network trained there, with the numbers of the NumPy pipeline."""
    X, y = iris
    ref = _pipeline("numpy").fit(X.astype(be.dtype_name), y)
    uploads = _uploads(be)
    with _sklearn_cupy_namespace_kept_apart(), be.activate():
        X_dev, y_dev = be.asarray(X), be.asarray(y, dtype=be.xp.int64)
        if uploads is not None:
            uploads.clear()
        with config_context(array_api_dispatch=True):
            pipe = _pipeline().fit(X_dev, y_dev)
            outputs = {name: getattr(pipe, name)(X_dev) for name in ("predict", "predict_proba", "predict_log_proba")}
            # scikit-learn's accuracy_score averages in float64, which a float32-only device lacks
            with64 = "float64" in be.xp.__array_namespace_info__().dtypes(device=be.device)
            score = pipe.score(X_dev, y_dev) if with64 else ref.score(X.astype(be.dtype_name), y)
        mlp = pipe[-1]
        for name, out in outputs.items():
            assert be.is_native(out) and (be.name == "numpy" or out.device == be.device), name
            assert str(out.dtype).endswith("int64" if name == "predict" else be.dtype_name), (name, out.dtype)
        host = {name: be.to_numpy(out) for name, out in outputs.items()}
        if be.name != "numpy":  # NumPy data train on the backend resolved as without dispatch
            assert mlp.net_.backend.describe() == be.describe()
            assert all(a is p for a, p in zip(mlp.coefs_ + mlp.intercepts_, mlp.net_.Ws + mlp.net_.bs))
            assert be.is_native(mlp.classes_) and mlp.classes_.device == be.device
    assert uploads is None or not any(f"{X.shape}" in copy for copy in uploads), dict(uploads)  # X never left
    np.testing.assert_array_equal(host["predict"], ref.predict(X.astype(be.dtype_name)))
    assert_close(host["predict_proba"], ref.predict_proba(X.astype(be.dtype_name)), RTOL_TRAJECTORY[be.dtype_name])
    assert_close(mlp.loss_curve_, ref[-1].loss_curve_, RTOL_TRAJECTORY[be.dtype_name])
    # scikit-learn's accuracy_score averages in the namespace's default float (torch's: float32)
    assert type(score) is float and score == pytest.approx(ref.score(X.astype(be.dtype_name), y), rel=RTOL["float32"])
    assert score > 0.7  # the labels are not all one class


def test_backend_on_another_device_of_xs_library_trains_there_and_the_arrays_stay_with_x(iris):
    """CuPy stand-in: X on GPU 0, backend="cupy:1": the network trains on GPU 1; coefs_ are copies on
    GPU 0, changes to them are seen (by their values) and loaded before predict."""
    X, _ = iris
    ref = MLPRegressor(**SMALL, random_state=0, backend="numpy").fit(X, X[:, 0])
    with _sklearn_cupy_namespace_kept_apart(), cupy_standin() as cp, config_context(array_api_dispatch=True):
        X0 = cp.asarray(X)
        reg = MLPRegressor(**SMALL, random_state=0, backend="cupy:1").fit(X0, X0[:, 0])
        before = reg.predict(X0)
        assert reg.net_.backend.describe() == "cupy:1 float64" and reg.net_.Ws[0].device.id == 1
        assert before.device.id == reg.coefs_[0].device.id == reg.intercepts_[0].device.id == 0
        reg.intercepts_[-1] += 1.0  # a copy on GPU 0, changed in place
        shifted = reg.predict(X0)
        assert_close((shifted - before).get(), np.ones(150), RTOL["float64"])
        assert_close(before.get(), ref.predict(X), RTOL_TRAJECTORY["float64"])


# -- labels, continued training, changed weights, persistence, errors (PyTorch) ----------------------

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def test_string_labels_stay_numpy_and_probabilities_follow_x(torch, iris):
    """As scikit-learn's Array API classifiers do: classes_ and predict's labels are NumPy strings
    (no tensor holds strings); probabilities are X's."""
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    ref = MLPClassifier(**SMALL, random_state=0, backend="numpy").fit(X, names)
    with config_context(array_api_dispatch=True):
        clf = MLPClassifier(**SMALL, random_state=0).fit(torch.asarray(X), names)
        labels, proba = clf.predict(torch.asarray(X)), clf.predict_proba(torch.asarray(X))
    assert type(clf.classes_) is np.ndarray and clf.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(labels, ref.predict(X))
    assert isinstance(proba, torch.Tensor) and proba.dtype == torch.float64
    assert_close(proba.numpy(), ref.predict_proba(X), RTOL_TRAJECTORY["float64"])


@pytest.mark.parametrize("case", [("torch", "cpu", "float64"), ("torch-cuda-standin", "cuda:1", "float64")],
                         ids=["torch-cpu", "torch-standin-cuda1"])
def test_warm_start_and_partial_fit_continue_on_the_device_as_on_numpy(torch, iris, case):
    X, y = iris
    kw = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0, solver="sgd", batch_size=50)
    ref, clf = MLPClassifier(backend="numpy", warm_start=True, **kw), MLPClassifier(warm_start=True, **kw)
    inc_ref, inc = MLPClassifier(backend="numpy", **kw), MLPClassifier(**kw)
    with backend_of(case) as be, config_context(array_api_dispatch=True):
        Xt, yt = be.asarray(X), be.asarray(y, dtype=torch.int64)
        for _ in range(2):  # classes given again: checked against classes_ on the device
            ref.fit(X, y), clf.fit(Xt, yt)
            inc_ref.partial_fit(X, y, classes=[0, 1, 2]), inc.partial_fit(Xt, yt, classes=[0, 1, 2])
        with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the same classes as in the "
                                             r"previous call to fit. Previously got \[0 1 2\], `y` has \[0 1 5\]"):
            clf.fit(Xt, torch.where(yt == 2, 5, yt))
        with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
            inc.partial_fit(Xt, torch.where(yt == 2, 5, yt))
        with pytest.raises(ValueError, match=r"`classes=\[0, 1\]` is not the same as on last call to partial_fit"):
            inc.partial_fit(Xt, yt, classes=[0, 1])
        on_device = [(est.classes_.device, est.coefs_[0].device) for est in (clf, inc)]
        found = [(est.classes_.tolist(), be.to_numpy(est.coefs_[0])) for est in (clf, inc)]
    assert on_device == [(be.device, be.device)] * 2
    assert (clf.t_, inc.t_) == (ref.t_, inc_ref.t_) == (900, 300)
    for (classes, coefs), theirs in zip(found, (ref, inc_ref)):
        assert classes == [0, 1, 2]
        assert_close(coefs, theirs.coefs_[0], RTOL_TRAJECTORY["float64"])


@pytest.mark.parametrize("case", [("torch", "cpu", "float64"), ("torch-cuda-standin", "cuda:1", "float64")],
                         ids=["torch-cpu", "torch-standin-cuda1"])
def test_early_stopping_splits_and_validates_on_the_device_as_on_numpy(torch, iris, case):
    """scikit-learn's split (the row numbers drawn on the host), its rows taken on the device."""
    X, y = iris
    w = np.linspace(0.5, 1.5, 150)
    kw = dict(hidden_layer_sizes=(5,), max_iter=8, random_state=0, early_stopping=True, validation_fraction=0.2,
              learning_rate_init=0.05)
    ref = MLPClassifier(backend="numpy", **kw).fit(X, y, sample_weight=w)
    with backend_of(case) as be, config_context(array_api_dispatch=True):
        clf = MLPClassifier(**kw).fit(be.asarray(X), be.asarray(y, dtype=torch.int64), sample_weight=be.asarray(w))
        coefs = be.to_numpy(clf.coefs_[0])
    assert clf.n_iter_ == ref.n_iter_ and len(set(ref.validation_scores_)) > 1
    np.testing.assert_allclose(clf.validation_scores_, ref.validation_scores_, rtol=RTOL["float64"])
    assert_close(coefs, ref.coefs_[0], RTOL_TRAJECTORY["float64"])


def test_changed_weights_are_the_models_and_replaced_ones_are_loaded(torch, iris):
    """coefs_ are the network's own parameters: changing one in place changes the model, as in
    scikit-learn; an array put in their place is loaded before predict."""
    X, _ = iris
    Xt = torch.asarray(X)
    with config_context(array_api_dispatch=True):
        reg = MLPRegressor(**SMALL, random_state=0).fit(Xt, Xt[:, 0])
        before = reg.predict(Xt)
        reg.intercepts_[-1] += 1.0  # in place: the model's own bias
        assert_close((reg.predict(Xt) - before).numpy(), np.ones(150), RTOL["float64"])
        reg.intercepts_[-1] = reg.intercepts_[-1] - 1.0  # a new tensor
        assert_close(reg.predict(Xt).numpy(), before.numpy(), RTOL["float64"])
        assert reg.intercepts_[-1] is reg.net_.bs[-1]  # loaded, and the model's own again


def test_pickle_and_model_files_keep_where_the_arrays_live(torch, iris, tmp_path):
    """Unpickled without backend=, the network is rebuilt where the fitted arrays are; a model file
    holds host data and loads with host attributes."""
    from xpmlp import load_estimator

    X, y = iris
    Xt = torch.asarray(X)
    with config_context(array_api_dispatch=True):
        clf = MLPClassifier(**SMALL, random_state=0).fit(Xt, torch.asarray(y))
        copy = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(copy.predict_proba(Xt).numpy(), clf.predict_proba(Xt).numpy())
        clf.save(tmp_path / "m.npz")
    assert copy.net_.backend.describe() == "torch:cpu float64" and copy.coefs_[0] is copy.net_.Ws[0]
    back = load_estimator(tmp_path / "m.npz", backend="numpy")
    assert type(back.classes_) is np.ndarray and type(back.coefs_[0]) is np.ndarray
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))  # dispatch off: NumPy out, wherever it trained
    assert type(clf.predict(X)) is np.ndarray and type(clf.predict_proba(X)) is np.ndarray


def test_dispatch_off_keeps_host_numpy_attributes(torch, iris):
    X, y = iris
    clf = MLPClassifier(**SMALL, random_state=0).fit(torch.asarray(X), torch.asarray(y))
    assert type(clf.coefs_[0]) is np.ndarray and type(clf.classes_) is np.ndarray
    assert type(clf.predict(torch.asarray(X))) is np.ndarray


def test_bad_inputs_under_dispatch_say_what_is_wrong(torch, iris):
    X, y = iris
    Xt = torch.asarray(X)
    with config_context(array_api_dispatch=True):
        clf = MLPClassifier(**SMALL).fit(Xt, torch.asarray(y))
        with pytest.raises(ValueError, match=r"Inputs passed to MLPClassifier.predict_log_proba\(\) must use the same "
                                             r"namespace and the same device as those passed to fit\(\)"):
            clf.predict_log_proba(X)
        with pytest.raises(ValueError, match="Some value.s. of y are negative which is not allowed for loss='poisson'"):
            MLPRegressor(loss="poisson", **SMALL).fit(Xt, -Xt[:, 0])
        with pytest.raises(ValueError, match="distributed=True takes host data, not torch arrays under "
                                             "scikit-learn's array_api_dispatch"):
            MLPClassifier(distributed=True).fit(Xt, torch.asarray(y))


class _Foreign:
    """An array of a library xpmlp does not train on (it says it follows the Array API)."""

    shape, ndim, device, dtype = (2, 2), 2, "elsewhere", "float64"

    def __array_namespace__(self, api_version=None):
        return types.SimpleNamespace(__name__="foreign")


def test_arrays_of_another_library_are_refused_by_name():
    with config_context(array_api_dispatch=True), pytest.raises(
            TypeError, match=r"test_dispatch._Foreign arrays are not supported: xpmlp trains on NumPy, torch, cupy, "
                             r"array_api_strict; convert the data to one of them"):
        MLPClassifier().fit(_Foreign(), [0, 1])


def test_a_scalar_sample_weight_weighs_every_row_alike(torch, iris):
    X, y = iris
    ref = MLPClassifier(**SMALL, random_state=0, backend="numpy").fit(X, y, sample_weight=np.full(150, 2.0))
    for w in (np.float64(2.0), 2):
        with config_context(array_api_dispatch=True):
            clf = MLPClassifier(**SMALL, random_state=0).fit(torch.asarray(X), torch.asarray(y), sample_weight=w)
        assert_close(clf.coefs_[0].numpy(), ref.coefs_[0], RTOL_TRAJECTORY["float64"])
