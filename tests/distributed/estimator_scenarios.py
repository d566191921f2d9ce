"""The estimators' data-parallel scenarios of ``mpi_worker.py``: ``distributed=True`` on each rank's rows.

Each builds the estimator the test also fits in one process on all rows (:func:`estimator`),
fits it on this rank's uneven shard and returns ``(net, history, extra)``.
"""

from __future__ import annotations

import pickle

import numpy as np

from scenario_data import global_data, uneven

SETTINGS = {
    "clf-early": dict(early_stopping=True, validation_fraction=0.2),
    "clf-weights": dict(weighted=True),
    "clf-partial": dict(partial=True, solver="sgd", learning_rate_init=0.05),
    "clf-warm": dict(warm_start=True),
    "clf-pickle": dict(),
    "clf-nan": dict(),
    "clf-empty": dict(),
    "reg-early": dict(regressor=True, early_stopping=True, validation_fraction=0.25),
}


def estimator(name: str, dtype: str, distributed: bool):
    """The estimator of scenario ``name`` (and whether it trains twice, with sample weights)."""
    from xpmlp.estimators import MLPClassifier, MLPRegressor

    kw = dict(SETTINGS[name])
    regressor, weighted, partial = kw.pop("regressor", False), kw.pop("weighted", False), kw.pop("partial", False)
    cls = MLPRegressor if regressor else MLPClassifier
    est = cls(hidden_layer_sizes=(8,), max_iter=15, batch_size=16, random_state=0, dtype=dtype,
              distributed=distributed, **kw)
    return est, weighted, partial


def fit_estimator(est, name: str, X, y, w, weighted: bool, partial: bool):
    """The scenario's calls on ``est`` with these rows (the same in one process and under mpiexec)."""
    target = X[:, 0] + X[:, 1] if name.startswith("reg") else y
    if partial:
        est.partial_fit(X, target, classes=np.arange(3))
        est.partial_fit(X, target)
    else:
        est.fit(X, target, sample_weight=w if weighted else None)
        if est.warm_start:
            est.fit(X, target)
    return est


def run(name: str, backend: str, dtype: str, out):
    from xpmlp.distributed import MPICommunicator

    comm = MPICommunicator()
    X, _, y, w = global_data()
    rows = uneven(comm.rank, comm.size)
    X, y, w = X[rows], y[rows], w[rows]
    if name == "clf-nan" and comm.rank == 1:
        X = X.copy()
        X[2, 1] = np.nan
    if name == "clf-empty" and comm.rank == 1:
        X, y, w = X[:0], y[:0], w[:0]
    est, weighted, partial = estimator(name, dtype, distributed=True)
    fit_estimator(est, name, X, y, w, weighted, partial)
    extra = {"n_iter": est.n_iter_, "classes": getattr(est, "classes_", np.zeros(0))}
    if name == "clf-pickle" and comm.rank == 0:
        (out / "clf.pkl").write_bytes(pickle.dumps(est))
    return est.net_, est.history_, extra


ESTIMATORS = {name: run for name in SETTINGS}
