"""``MLPClassifier``/``MLPRegressor(distributed=True)`` under ``mpiexec`` equal the estimator fitted in
one process on all rows: early stopping (scikit-learn's validation split of all rows, the
shuffling seed drawn after it), sample weights (their global mean), ``partial_fit``,
``warm_start``; a distributed-fitted estimator pickles; bad rows on one rank stop every rank,
naming it."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import rel_err
from estimator_scenarios import estimator, fit_estimator
from mpirun import mpirun, ranks
from scenario_data import global_data

pytest.importorskip("mpi4py", reason="the data-parallel tests need mpi4py and an MPI library (pip install 'xpmlp[mpi]')")
pytest.importorskip("sklearn")
TOL = {"float64": 1e-12, "float32": 1e-5}  # as in test_data_parallel.py


def one_process(name: str, dtype: str):
    est, weighted, partial = estimator(name, dtype, distributed=False)
    X, _, y, w = global_data()
    return fit_estimator(est, name, X, y, w, weighted, partial)


# Each case once, with 2 or 3 ranks in turn (3: shards of unequal size), to keep the suite short.
@pytest.mark.parametrize("name,n_ranks", [("clf-early", 3), ("clf-weights", 2), ("clf-partial", 3), ("clf-warm", 2),
                                          ("reg-early", 3)])
def test_a_distributed_estimator_equals_one_process(name, n_ranks, tmp_path):
    done = mpirun(n_ranks, name, "float64", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = one_process(name, "float64")
    for r, rank in enumerate(ranks(tmp_path, n_ranks)):
        assert rank["n_iter"] == expected.n_iter_, f"rank {r}"
        assert rel_err(rank["history"]["loss"], expected.loss_curve_) <= TOL["float64"]
        for a, b in zip(rank["params"], list(expected.coefs_) + list(expected.intercepts_)):
            assert rel_err(a, b) <= TOL["float64"], f"rank {r}"
    if name.startswith("clf"):
        assert ranks(tmp_path, n_ranks)[0]["classes"].tolist() == [0, 1, 2]


def test_a_distributed_fitted_estimator_pickles_and_predicts(tmp_path):
    done = mpirun(2, "clf-pickle", "float64", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    clf = pickle.loads((tmp_path / "clf.pkl").read_bytes())
    X, _, y, _ = global_data()
    expected = one_process("clf-pickle", "float64")
    np.testing.assert_array_equal(clf.predict(X), expected.predict(X))
    assert clf.distributed and clf.score(X, y) == pytest.approx(expected.score(X, y))


@pytest.mark.parametrize("name,message,n_ranks", [
    ("clf-nan", "ranks failed (rank 1: ValueError: Input X contains NaN", 3),
    ("clf-empty", "ranks failed (rank 1: ValueError: Found array with 0 sample(s)", 2),
])
def test_bad_rows_on_one_rank_stop_every_rank_naming_it(name, message, n_ranks, tmp_path):
    done = mpirun(n_ranks, name, "float64", tmp_path)
    assert done.returncode != 0
    for r, rank in enumerate(ranks(tmp_path, n_ranks)):
        assert message in rank.get("error", ""), f"rank {r}: {rank.get('error')}"


def test_distributed_estimators_need_mpiexec():
    from xpmlp.estimators import MLPClassifier

    X, _, y, _ = global_data()
    with pytest.raises(ValueError, match="started by mpiexec"):
        MLPClassifier(distributed=True, max_iter=2).fit(X, y)
