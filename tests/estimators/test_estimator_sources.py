"""The estimators' ``fit`` on data read as it trains (``estimators/_streamed.py``): a ``.npy`` pair, a
Parquet file, a Dask array or DataFrame, a function returning batches.  With a shuffle window over every
chunk (a source of at most 8 chunks) the fit is the in-memory fit of the same rows: the same batches,
so bitwise the same weights without sample weights; with them, equal to rounding (their mean is summed
chunk by chunk, not over one array)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
from xpmlp.estimators import MLPClassifier, MLPRegressor  # noqa: E402
from xpmlp.training.sources import ArraySource  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # short fits, on purpose

rng = np.random.default_rng(0)
X = rng.normal(size=(240, 4))
labels = np.array(["a", "b", "c"])[np.argmax(X[:, :3] + 0.3 * rng.normal(size=(240, 3)), axis=1)]
t = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1
w = rng.random(240) + 0.5
INDICATOR = np.eye(2, dtype=int)[(X[:, 0] > 0).astype(int)]  # multilabel targets
SETTINGS = dict(hidden_layer_sizes=(8,), max_iter=4, random_state=0, backend="numpy")


def batches(*arrays, size=40):
    """A function returning a fresh iterator of batches of ``arrays`` (6 of 40 rows)."""
    return lambda: (tuple(a[s:s + size] for a in arrays) for s in range(0, len(arrays[0]), size))


def assert_same_fit(a, b, exact=True):
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        if exact:
            np.testing.assert_array_equal(p, q)
        else:
            np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    assert b.n_iter_ == a.n_iter_ and b.t_ == a.t_ and b.n_features_in_ == a.n_features_in_
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=0 if exact else 1e-12)


def test_a_classifier_from_npy_files_is_the_in_memory_fit(tmp_path):
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    np.save(tmp_path / "y.npy", labels)
    memory = MLPClassifier(**SETTINGS).fit(X.astype(np.float32), labels)
    streamed = MLPClassifier(**SETTINGS).fit(str(tmp_path / "X.npy"), str(tmp_path / "y.npy"))
    assert_same_fit(memory, streamed)
    assert streamed.coefs_[0].dtype == np.float32  # float32 inputs: a float32 model, as in memory
    assert streamed.classes_.tolist() == ["a", "b", "c"] and not hasattr(streamed, "feature_names_in_")
    np.testing.assert_array_equal(streamed.predict(X), memory.predict(X))


def test_a_regressor_from_a_batch_function_is_the_in_memory_fit():
    T = np.stack([t, -t], axis=1)
    memory = MLPRegressor(**SETTINGS).fit(X, T)
    streamed = MLPRegressor(**SETTINGS).fit(batches(X, T))
    assert_same_fit(memory, streamed)
    assert streamed.n_outputs_ == 2 and streamed.predict(X).shape == (240, 2)
    single = MLPRegressor(**SETTINGS).fit(ArraySource(X, t, chunk_rows=50))  # a Source of its own
    assert_same_fit(MLPRegressor(**SETTINGS).fit(X, t), single)


def test_more_chunks_than_a_window_are_read_in_a_shuffled_order():
    windowed = MLPRegressor(**SETTINGS).fit(ArraySource(X, t, chunk_rows=20))  # 12 chunks, 8 a window
    memory = MLPRegressor(**SETTINGS).fit(X, t)
    assert windowed.t_ == memory.t_ and not np.array_equal(windowed.coefs_[0], memory.coefs_[0])
    assert windowed.loss_curve_[-1] < windowed.loss_curve_[0]


def test_sample_and_class_weights_train_as_in_memory():
    memory = MLPClassifier(class_weight="balanced", **SETTINGS).fit(X, labels, sample_weight=w)
    streamed = MLPClassifier(class_weight="balanced", **SETTINGS).fit(batches(X, labels, w))
    assert_same_fit(memory, streamed, exact=False)
    by_label = dict(class_weight={"b": 3.0, "c": 0.5}, **SETTINGS)
    assert_same_fit(MLPClassifier(**by_label).fit(X, labels), MLPClassifier(**by_label).fit(batches(X, labels)),
                    exact=False)


def test_binary_and_multilabel_targets():
    two = labels == "a"
    assert_same_fit(MLPClassifier(**SETTINGS).fit(X, two), MLPClassifier(**SETTINGS).fit(batches(X, two)))
    Y = np.stack([labels == "a", labels == "b", X[:, 3] > 0], axis=1).astype(int)
    memory, streamed = MLPClassifier(**SETTINGS).fit(X, Y), MLPClassifier(**SETTINGS).fit(batches(X, Y))
    assert_same_fit(memory, streamed)
    assert streamed.classes_.tolist() == [0, 1, 2] and streamed.predict(X).shape == (240, 3)


def test_a_parquet_file_with_target_and_weight_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(X, columns=["x0", "x1", "x2", "x3"]).assign(y=t, w=w)
    frame.to_parquet(tmp_path / "d.parquet", row_group_size=60)
    memory = MLPRegressor(**SETTINGS).fit(X, t, sample_weight=w)
    streamed = MLPRegressor(**SETTINGS).fit(str(tmp_path / "d.parquet"), "y", sample_weight="w")
    assert_same_fit(memory, streamed, exact=False)


def test_dask_arrays_and_dataframes():
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    memory = MLPClassifier(**SETTINGS).fit(X, labels)
    streamed = MLPClassifier(**SETTINGS).fit(da.from_array(X, chunks=60), da.from_array(labels, chunks=60))
    assert_same_fit(memory, streamed)
    weighted = MLPRegressor(**SETTINGS).fit(da.from_array(X, chunks=80), da.from_array(t, chunks=80),
                                            sample_weight=da.from_array(w, chunks=80))
    assert_same_fit(MLPRegressor(**SETTINGS).fit(X, t, sample_weight=w), weighted, exact=False)
    frame = dd.from_pandas(__import__("pandas").DataFrame(X, columns=list("abcd")).assign(y=t), npartitions=3)
    assert_same_fit(MLPRegressor(**SETTINGS).fit(X, t), MLPRegressor(**SETTINGS).fit(frame, "y"))


def test_early_stopping_and_warm_start_from_a_source():
    clf = MLPClassifier(early_stopping=True, validation_fraction=0.2, **SETTINGS).fit(batches(X, labels))
    assert len(clf.validation_scores_) == clf.n_iter_ == 4 and 0.0 <= clf.best_validation_score_ <= 1.0
    warm = MLPClassifier(warm_start=True, **SETTINGS).fit(batches(X, labels))
    first = [c.copy() for c in warm.coefs_]
    warm.fit(batches(X, labels))
    assert warm.n_iter_ == 4 and warm.t_ == 8 * 240 and not np.array_equal(first[0], warm.coefs_[0])
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        warm.fit(batches(X, labels == "a"))
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4 features"):
        warm.fit(batches(X[:, :3], labels))
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPClassifier(early_stopping=True, validation_fraction=0.001, **SETTINGS).fit(batches(X, labels))


def test_a_preset_applies_to_a_streamed_fit():
    clf = MLPClassifier(preset="tabular", max_iter=2, random_state=0).fit(batches(X, labels))
    assert clf.net_.front is not None and len(clf.front_params_) > 0 and clf.early_stopping is False  # put back
    assert len(clf.validation_scores_) == 2 and all(s <= 0 for s in clf.validation_scores_)  # minus the log loss


@pytest.mark.parametrize("call, message", [
    (lambda: MLPClassifier(**SETTINGS).partial_fit(batches(X, labels), None, classes=["a", "b", "c"]),
     "partial_fit takes arrays"),
    (lambda: MLPRegressor(**SETTINGS).partial_fit(batches(X, t), None), "partial_fit takes arrays"),
    (lambda: MLPRegressor(solver="lbfgs", **SETTINGS).fit(batches(X, t)), "solver='lbfgs' needs every row"),
    (lambda: MLPRegressor(distributed=True, **SETTINGS).fit(batches(X, t)), "distributed=True takes each process"),
    (lambda: MLPRegressor(**SETTINGS).fit(batches(X, t)()), "can be read once"),
    (lambda: MLPRegressor(**SETTINGS).fit(batches(X, t), t), "carries its own targets and sample weights"),
    (lambda: MLPRegressor(**SETTINGS).fit(batches(X, t), sample_weight=w), "carries its own targets"),
    (lambda: MLPRegressor(**SETTINGS).fit("X.npy"), "needs y: the target column"),
    (lambda: MLPRegressor(**SETTINGS).fit(batches(X[:0], t[:0])), "holds no rows"),
    (lambda: MLPRegressor(**SETTINGS).fit(lambda: iter([(X[:5], t[:5]), (X[:5, :3], t[:5])])), "3 columns where"),
    (lambda: MLPRegressor(**SETTINGS).fit(lambda: iter([(X[:5], t[:4])])), "5 rows of X but 4 of y"),
    (lambda: MLPRegressor(**SETTINGS).fit(lambda: iter([(X[:5], t[:5]), (X[:5], X[:5, :2])])), "2 outputs where"),
    (lambda: MLPRegressor(**SETTINGS).fit(batches(X, labels)), "y must hold numbers for a regressor"),
    (lambda: MLPRegressor(loss="poisson", **SETTINGS).fit(batches(X, t)), "negative which is not allowed"),
    (lambda: MLPClassifier(class_weight="balanced", **SETTINGS).fit(batches(X, INDICATOR)),
     "class_weight is not supported for multilabel"),
    (lambda: MLPClassifier(class_weight={"z": 2.0}, **SETTINGS).fit(batches(X, labels)), r"names \['z'\]"),
])
def test_what_a_streamed_fit_refuses_is_one_clear_line(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_weights_beside_a_table_or_a_npy_are_of_their_kind(tmp_path):
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match="sample_weight names a column, but X is not a table"):
        MLPRegressor(**SETTINGS).fit(str(tmp_path / "X.npy"), t, sample_weight="w")
    with pytest.raises(ValueError, match="a table's sample weights are one of its columns"):
        MLPRegressor(**SETTINGS).fit(str(tmp_path / "d.parquet"), "y", sample_weight=w)
    weighted = MLPRegressor(**SETTINGS).fit(str(tmp_path / "X.npy"), t, sample_weight=w)  # an array beside a .npy
    assert_same_fit(MLPRegressor(**SETTINGS).fit(X, t, sample_weight=w), weighted, exact=False)
