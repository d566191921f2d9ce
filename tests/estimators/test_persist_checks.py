"""An estimator file restores only the fitted attributes the estimator defines, consistent with its
network and labels (not ``"predict": "x"``, not ``n_outputs_ = 10**9``, not 2 labels for 3 outputs);
mostly negative sample weights are refused as such, not as a negative penalty."""

from __future__ import annotations

import numpy as np
import pytest

from xpmlp import MLPClassifier, MLPRegressor
from xpmlp.io import ModelFileError, read_state, write_state


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.array(["a", "b", "c"])[np.digitize(X[:, 0], [-0.4, 0.4])]
    path = tmp_path_factory.mktemp("est") / "clf.npz"
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y).save(path)
    return path, X


def edited(src, dst, edit):
    meta, arrays = read_state(src)
    edit(meta, arrays)
    return write_state(dst, meta, arrays)


def test_a_saved_classifier_loads_and_predicts(saved):
    path, X = saved
    assert set(MLPClassifier.load(path).predict(X)) <= {"a", "b", "c"}


@pytest.mark.parametrize("attrs, problem", [
    ({"predict": "x"}, "fitted attributes ['n_features_in_', 'n_iter_', 'n_layers_', 'n_outputs_', "
                       "'out_activation_', 'predict', 't_'], expected"),
    ({"n_outputs_": 10**9}, "{'n_outputs_': 1000000000} (the network has"),
    ({"n_layers_": 7}, "{'n_layers_': 7} (the network has"),
    ({"out_activation_": "identity"}, "{'out_activation_': 'identity'} (the network has"),
    ({"n_iter_": -1}, "fitted counts"),
    ({"t_": "5"}, "fitted counts"),
])
def test_fitted_attributes_must_be_the_estimators_own_and_fit_its_network(saved, tmp_path, attrs, problem):
    path, _ = saved
    bad = edited(path, tmp_path / "bad.npz", lambda m, a: m["extra"]["attrs"].update(attrs))
    with pytest.raises(ModelFileError) as exc:
        MLPClassifier.load(bad)
    assert str(exc.value).startswith(f"{bad}: estimator record does not match its network: {problem}")


def test_a_missing_fitted_attribute_is_refused(saved, tmp_path):
    path, _ = saved
    bad = edited(path, tmp_path / "bad.npz", lambda m, a: m["extra"]["attrs"].pop("t_"))
    with pytest.raises(ModelFileError, match="fitted attributes .* expected"):
        MLPClassifier.load(bad)


def test_two_labels_for_three_outputs_are_refused_at_load(saved, tmp_path):
    path, X = saved

    def two_labels(meta, arrays):
        from xpmlp.io import archive

        arrays["x.classes"] = arrays["x.classes"][:2]
        meta["arrays"]["x.classes"].update(shape=[2], sha256=archive.digest(arrays["x.classes"]))

    bad = edited(path, tmp_path / "bad.npz", two_labels)
    with pytest.raises(ModelFileError) as exc:
        MLPClassifier.load(bad)
    assert str(exc.value) == f"{bad}: estimator record does not match its network: its labels need 1 outputs, " \
                             "the network has 3"


def test_a_regressor_file_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=3, random_state=0).fit(X, X[:, 0])
    est.save(tmp_path / "r.npz")
    np.testing.assert_array_equal(MLPRegressor.load(tmp_path / "r.npz").predict(X), est.predict(X))


def test_mostly_negative_sample_weights_are_refused_as_such():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    w = -np.ones(50)
    w[:5] = 1.0
    with pytest.raises(ValueError, match="^Negative values in data passed to `sample_weight`"):
        MLPRegressor(max_iter=2).fit(X, X[:, 0], sample_weight=w)


def test_an_estimator_file_without_its_history_is_refused(saved, tmp_path):
    path, _ = saved
    bad = edited(path, tmp_path / "bad.npz", lambda m, a: m.update(history=None))
    with pytest.raises(ModelFileError) as exc:
        MLPClassifier.load(bad)
    assert str(exc.value) == f"{bad}: estimator record does not match its network: no training history"
