"""Run by tests/test_distributed.py under ``mpiexec -n P``: one data-parallel fit per scenario.

``python mpi_worker.py SCENARIO DTYPE OUT`` -- every rank builds the same global data, keeps its
(uneven) shard and trains with ``comm=MPICommunicator()``; rank 0 saves the model to OUT.
"""

from __future__ import annotations

import sys

import numpy as np

import xpmlp
from xpmlp.distributed import MPICommunicator
from xpmlp.io import save

N, SIZES = 103, [5, 8, 3]


def global_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, N)
    X = rng.normal(size=(N, 5)) + np.eye(3, 5)[y]
    return X, np.eye(3)[y], y, rng.uniform(0.2, 2.0, N)


def uneven(rank: int, size: int) -> slice:
    """Shards of very different sizes (rank 0 holds about half)."""
    cuts = np.linspace(0, 1, size + 1) ** 0.6 * N
    cuts = np.round(cuts).astype(int)
    return slice(int(cuts[rank]), int(cuts[rank + 1]))


SCENARIOS = {
    "adam": dict(optimizer="adam", alpha=1e-3, max_grad_norm=1.0, validation_fraction=0.2, patience=3, epochs=12,
                 weighted=True, learning_rate=0.01),
    "momentum": dict(optimizer=xpmlp.SGD(momentum=0.9, nesterov=True), epochs=8, learning_rate=0.05, patience=None),
}


def fit_kwargs(name: str, y: np.ndarray, w: np.ndarray, rows: slice = slice(None)) -> dict:
    kw = dict(SCENARIOS[name])
    weighted = kw.pop("weighted", False)
    if isinstance(kw["optimizer"], xpmlp.SGD):
        kw["optimizer"] = xpmlp.SGD(momentum=0.9, nesterov=True)  # a fresh one for every fit
    return dict(kw, batch_size=16, seed=7, sample_weight=w[rows] if weighted else None,
                stratify=y[rows] if kw.get("validation_fraction") else None)


class Crash(xpmlp.Callback):
    """An error on one rank in the middle of training (the others are waiting in an all-reduce)."""

    def on_epoch_end(self, run, log):
        if log.epoch == 2:
            raise RuntimeError("simulated failure on this rank")


def main() -> None:
    scenario, dtype, out = sys.argv[1:4]
    scenario, _, backend = scenario.partition("@")  # e.g. momentum@torch
    comm = MPICommunicator()
    X, T, y, w = global_data()
    rows = uneven(comm.rank, comm.size)
    seed = 1 if scenario == "mismatch" and comm.rank == 1 else 0
    net = xpmlp.MLP(SIZES, "tanh", backend=backend or "numpy", dtype=dtype, seed=seed)
    if scenario == "nan" and comm.rank == 1:
        X = X.copy()
        X[rows.start + 2, 1] = np.nan  # a bad shard on rank 1 only
    name = scenario if scenario in SCENARIOS else "momentum"
    callbacks = [Crash()] if scenario == "crash" and comm.rank == 1 else []
    hist = xpmlp.fit(net, X[rows], T[rows], comm=comm, callbacks=callbacks, **fit_kwargs(name, y, w, rows))
    if comm.rank == 0:
        save(out, net, history=hist)




def estimator_main() -> None:
    """``python mpi_worker.py estimator DTYPE OUT``: MLPClassifier(distributed=True) on each rank's
    rows (rank 1's rows miss a class); rank 0 writes the weights and classes."""
    from xpmlp.estimators import MLPClassifier

    comm = MPICommunicator()
    X, _, y, _ = global_data()
    rows = uneven(comm.rank, comm.size)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=15, batch_size=16, random_state=0, early_stopping=True,
                        validation_fraction=0.2, distributed=True, dtype=sys.argv[2])
    Xr, yr = X[rows], y[rows]
    if comm.rank == 1:
        keep = yr != 2  # a shard without class 2: the classes still come from every rank
        Xr, yr = Xr[keep], yr[keep]
    clf.fit(Xr, yr)
    if comm.rank == 0:
        np.savez(sys.argv[3], classes=clf.classes_, n_iter=clf.n_iter_, **{f"W{i}": W for i, W in enumerate(clf.coefs_)})


if __name__ == "__main__":
    estimator_main() if sys.argv[1] == "estimator" else main()
