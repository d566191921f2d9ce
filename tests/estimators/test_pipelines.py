"""Pipelines holding xpmlp estimators saved and loaded without pickle (skops), trusting only the types
xpmlp names; a file holding another type is refused."""

from __future__ import annotations

import json
import os
import sys
import warnings
import zipfile

import numpy as np
import pytest

pytest.importorskip("sklearn")
sio = pytest.importorskip("skops.io", reason="saving pipelines needs skops (pip install 'xpmlp[sklearn]')")
pd = pytest.importorskip("pandas")
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler  # noqa: E402

import xpmlp  # noqa: E402
from xpmlp.estimators import MLPClassifier, MLPRegressor, load_pipeline, save_pipeline, trusted_types  # noqa: E402
from xpmlp.io import ModelFileError  # noqa: E402

rng = np.random.default_rng(0)
N = 80
TABLE = pd.DataFrame({"size": rng.normal(size=N), "weight": rng.normal(5.0, 2.0, size=N),
                      "colour": rng.choice(["red", "green", "blue"], size=N), "shape": rng.choice(["o", "x"], size=N)})
LABELS = np.where(TABLE["size"] + (TABLE["colour"] == "red") > 0.5, "big", "small")
AMOUNT = 2.0 * TABLE["size"].to_numpy() + (TABLE["shape"] == "x") + rng.normal(0, 0.1, size=N)


def table_pipeline(estimator):
    columns = ColumnTransformer([("numbers", StandardScaler(), ["size", "weight"]),
                                 ("categories", OneHotEncoder(handle_unknown="ignore"), ["colour", "shape"])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_pipeline(columns, estimator)


def fitted(estimator, y):
    pipe = table_pipeline(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipe.fit(TABLE, y)


def test_a_column_transformer_pipeline_with_a_classifier_round_trips_bitwise(tmp_path):
    pipe = fitted(MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0), LABELS)
    path = save_pipeline(tmp_path / "pipe.skops", pipe)
    assert path == tmp_path / "pipe.skops" and os.listdir(tmp_path) == ["pipe.skops"]
    with zipfile.ZipFile(path) as z:
        assert not any(name.endswith((".pkl", ".pickle")) for name in z.namelist())
    back = load_pipeline(path)
    np.testing.assert_array_equal(back.predict(TABLE), pipe.predict(TABLE))
    np.testing.assert_array_equal(back.predict_proba(TABLE), pipe.predict_proba(TABLE))
    mlp, original = back[-1], pipe[-1]
    assert mlp.history_.loss == original.history_.loss and mlp.n_iter_ == 30
    np.testing.assert_array_equal(mlp.classes_, ["big", "small"])
    mlp.partial_fit(back[0].transform(TABLE), LABELS)  # training continues from the saved optimizer state
    original.partial_fit(pipe[0].transform(TABLE), LABELS)
    np.testing.assert_array_equal(mlp.coefs_[0], original.coefs_[0])


def test_a_regressor_pipeline_round_trips_bitwise_and_top_level_names_reach_it(tmp_path):
    pipe = fitted(MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0), AMOUNT)
    path = xpmlp.save_pipeline(tmp_path / "reg.skops", pipe)
    back = xpmlp.load_pipeline(path)
    np.testing.assert_array_equal(back.predict(TABLE), pipe.predict(TABLE))
    assert back[-1].loss_ == pipe[-1].loss_


def test_the_file_needs_only_the_listed_types_trusted(tmp_path):
    path = save_pipeline(tmp_path / "pipe.skops", fitted(MLPClassifier(max_iter=5, random_state=0), LABELS))
    found = sio.get_untrusted_types(file=path)
    assert set(found) <= set(trusted_types()) and "xpmlp.estimators.mlp.MLPClassifier" in found
    with pytest.raises(Exception, match="Untrusted types found"):  # skops trusts no xpmlp type by itself
        sio.load(path)
    np.testing.assert_array_equal(sio.load(path, trusted=trusted_types()).predict(TABLE), load_pipeline(path).predict(TABLE))


@pytest.mark.parametrize("params", [
    dict(solver="sgd", learning_rate="invscaling"),
    dict(solver="sgd", learning_rate="adaptive", early_stopping=True),
    dict(solver="adamw", class_weight={"big": 2.0}, dropout=0.1, random_state=np.random.RandomState(3)),
    dict(backend=xpmlp.resolve("numpy", dtype="float32"), dtype="float32"),
    dict(backend="array_api_strict"),
], ids=["invscaling", "adaptive-early-stopping", "adamw-class-weight", "backend-object", "strict"])
def test_every_setting_saves_with_the_listed_types(params, tmp_path):
    settings = dict(hidden_layer_sizes=(6,), max_iter=8, random_state=0) | params
    pipe = fitted(MLPClassifier(**settings), LABELS)
    path = save_pipeline(tmp_path / "pipe.skops", pipe)
    assert set(sio.get_untrusted_types(file=path)) <= set(trusted_types())
    back = load_pipeline(path)
    np.testing.assert_array_equal(back.predict_proba(TABLE), pipe.predict_proba(TABLE))
    assert type(back[-1].backend) is type(pipe[-1].backend) and back[-1].net_.backend == pipe[-1].net_.backend


def _tampered(path, out, old_class, module, name):
    """A copy of the skops file ``path`` with the node of class ``old_class`` claiming another type."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    schema = json.loads(members["schema.json"])

    def swap(node):
        if isinstance(node, dict):
            if node.get("__class__") == old_class:
                node["__module__"], node["__class__"] = module, name
            for value in node.values():
                swap(value)
        elif isinstance(node, list):
            for value in node:
                swap(value)

    swap(schema)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(out, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return out


def test_a_tampered_file_with_another_type_is_refused_before_anything_is_built(tmp_path):
    path = save_pipeline(tmp_path / "pipe.skops", fitted(MLPClassifier(max_iter=5, random_state=0), LABELS))
    bad = _tampered(path, tmp_path / "bad.skops", "History", "subprocess", "Popen")
    with pytest.raises(ModelFileError, match=r"bad.skops: holds types that are not trusted: subprocess.Popen; .*trusted="):
        load_pipeline(bad)


def doubled(x):
    return 2 * x


def test_your_own_types_are_trusted_by_name(tmp_path):
    pipe = make_pipeline(FunctionTransformer(doubled), MLPRegressor(max_iter=5, random_state=0))
    path = save_pipeline(tmp_path / "own.skops", pipe)  # unfitted: skops saves any estimator tree
    extra = sorted(set(sio.get_untrusted_types(file=path)) - set(trusted_types()))
    assert extra == [f"{__name__}.doubled"]
    with pytest.raises(ModelFileError, match="not trusted: " + extra[0]):
        load_pipeline(path)
    back = load_pipeline(path, trusted=extra)
    assert back[0].func is doubled and back[-1].get_params() == pipe[-1].get_params()


def test_a_failed_save_leaves_nothing_and_a_foreign_file_is_named(tmp_path):
    with pytest.raises(TypeError, match="cannot pickle 'module'"):  # skops saves no module
        save_pipeline(tmp_path / "p.skops", make_pipeline(FunctionTransformer(kw_args={"library": np})))
    assert os.listdir(tmp_path) == []
    (tmp_path / "notes.skops").write_text("not a zip")
    with pytest.raises(ModelFileError, match="notes.skops: not a skops file"):
        load_pipeline(tmp_path / "notes.skops")


def test_without_skops_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(ModuleNotFoundError, match=r"needs skops: pip install 'xpmlp\[sklearn\]'"):
        save_pipeline(tmp_path / "p.skops", MLPClassifier())
    assert not list(tmp_path.iterdir())


def test_io_save_points_a_pipeline_at_save_pipeline(tmp_path):
    with pytest.raises(TypeError, match=r"got Pipeline; .* xpmlp.save_pipeline\(path, estimator\)"):
        xpmlp.io.save(tmp_path / "m.npz", make_pipeline(StandardScaler(), MLPClassifier()))
    assert not list(tmp_path.iterdir())


def test_a_backend_pickles_and_serialises_by_name_device_and_dtype():
    import copy
    import pickle

    be = xpmlp.resolve("numpy", dtype="float32")
    assert be.__getstate__() == {"name": "numpy", "device": "cpu", "dtype": "float32"}
    assert pickle.loads(pickle.dumps(be)) == be and copy.deepcopy(be) == be
    rebuilt = object.__new__(type(be))
    rebuilt.__setstate__(be.__getstate__())
    assert rebuilt == be and rebuilt.xp is be.xp


def test_an_estimator_fitted_on_a_device_is_refused_with_the_way_out(tmp_path):
    torch = pytest.importorskip("torch")
    from sklearn import config_context

    with config_context(array_api_dispatch=True):
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(torch.asarray(TABLE[["size", "weight"]].to_numpy(copy=True)), torch.asarray((LABELS == "big") * 1))
    with pytest.raises(ValueError, match=r"MLPClassifier's fitted arrays are torch arrays .*est.save\(path\)"):
        save_pipeline(tmp_path / "p.skops", make_pipeline(StandardScaler(), clf))
    assert not list(tmp_path.iterdir())
