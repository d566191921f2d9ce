"""xpmlp's additions to scikit-learn's MLP estimators: dropout, mixed precision and (the classifier's)
class weights; defaults leave scikit-learn's behaviour unchanged."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.utils.class_weight import compute_sample_weight  # noqa: E402

from xpmlp.estimators import MLPClassifier, MLPRegressor, load_estimator  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 4))
y = np.array(["a"] * 40 + ["b"] * 12 + ["c"] * 8)
X[:, 0] += (y == "b") * 2.0 - (y == "c") * 2.0

SETTINGS = dict(hidden_layer_sizes=(6,), max_iter=20, random_state=0, batch_size=10)


def test_class_weights_train_as_the_sample_weights_they_stand_for():
    balanced = MLPClassifier(class_weight="balanced", **SETTINGS).fit(X, y)
    weighted = MLPClassifier(**SETTINGS).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    for a, b in zip(balanced.coefs_, weighted.coefs_):
        np.testing.assert_array_equal(a, b)
    by_label = MLPClassifier(class_weight={"b": 3.0, "c": 5.0}, **SETTINGS).fit(X, y, sample_weight=np.full(60, 2.0))
    by_rows = MLPClassifier(**SETTINGS).fit(X, y, sample_weight=2.0 * np.select([y == "b", y == "c"], [3.0, 5.0], 1.0))
    np.testing.assert_array_equal(by_label.coefs_[0], by_rows.coefs_[0])


def test_class_weights_with_lbfgs_and_for_two_classes():
    two = y[:52]
    clf = MLPClassifier(class_weight="balanced", solver="lbfgs", **SETTINGS).fit(X[:52], two)
    ref = MLPClassifier(solver="lbfgs", **SETTINGS).fit(X[:52], two, sample_weight=compute_sample_weight("balanced", two))
    np.testing.assert_array_equal(clf.coefs_[0], ref.coefs_[0])


def test_bad_class_weights_are_refused():
    with pytest.raises(ValueError, match=r"class_weight names \['z'\], which are not among the classes"):
        MLPClassifier(class_weight={"z": 2.0}, **SETTINGS).fit(X, y)
    with pytest.raises(ValueError, match="class_weight is not supported for multilabel targets"):
        MLPClassifier(class_weight="balanced", **SETTINGS).fit(X, np.eye(2, dtype=int)[np.arange(60) % 2])
    with pytest.raises(ValueError, match="The 'class_weight' parameter"):
        MLPClassifier(class_weight="even", **SETTINGS).fit(X, y)
    assert "class_weight" not in MLPRegressor().get_params()


def test_dropout_trains_differently_and_predicts_deterministically():
    plain = MLPClassifier(**SETTINGS).fit(X, y)
    dropped = MLPClassifier(dropout=0.3, **SETTINGS).fit(X, y)
    assert not np.array_equal(plain.coefs_[0], dropped.coefs_[0])
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))
    assert dropped.net_.dropout == [0.0, 0.3]
    reg = MLPRegressor(dropout=[0.2, 0.1], hidden_layer_sizes=(5, 4), max_iter=5, random_state=0).fit(X, X[:, 1])
    assert reg.net_.dropout == [0.0, 0.2, 0.1]
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifier(dropout=1.0, **SETTINGS).fit(X, y)


def test_mixed_precision_keeps_float32_weights():
    pytest.importorskip("torch")
    settings = dict(SETTINGS, max_iter=150)
    clf = MLPClassifier(compute_dtype="bfloat16", backend="torch", **settings).fit(X, y)  # float64 X
    assert clf.coefs_[0].dtype == np.float32 and clf.net_.compute_dtype == "bfloat16"
    full = MLPClassifier(backend="torch", dtype="float32", **settings).fit(X, y)
    assert clf.score(X, y) > 0.8 and abs(clf.score(X, y) - full.score(X, y)) <= 0.05  # 40 of 60 rows are "a"
    with pytest.raises(ValueError, match="numpy offers no low-precision products"):
        MLPClassifier(compute_dtype="bfloat16", backend="numpy", **SETTINGS).fit(X, y)


def test_the_additions_survive_a_model_file(tmp_path):
    clf = MLPClassifier(class_weight={"b": 3.0, "c": 5.0}, dropout=0.2, **SETTINGS).fit(X, y)
    clf.save(tmp_path / "clf.npz")
    back = load_estimator(tmp_path / "clf.npz")
    assert back.get_params()["class_weight"] == {"b": 3.0, "c": 5.0} and back.dropout == 0.2
    assert back.net_.dropout == [0.0, 0.2]
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
