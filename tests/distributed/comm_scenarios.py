"""The communicator's own scenarios of ``mpi_worker.py`` (``comm-edges``): what an ``MPICommunicator``
refuses, its loop entered from another thread, a checkpoint written by rank 0 alone, and several arrays
summed over the ranks in one all-reduce; each returns ``(net, history, extra)``."""

from __future__ import annotations

import pickle
import signal
import threading

import numpy as np

import xpmlp
from xpmlp.distributed import MPICommunicator

from scenario_data import SIZES, fit_kwargs, global_data, uneven


def _error(action) -> str:
    try:
        action()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def _loop_from_a_thread(comm: MPICommunicator) -> bool:
    """Whether ``comm.loop()`` entered and left from a thread other than the main one keeps the process's
    SIGINT handler (only the main thread may set one)."""
    before, kept = signal.getsignal(signal.SIGINT), []

    def enter():
        with comm.loop():
            kept.append(signal.getsignal(signal.SIGINT) is before)
        kept.append(signal.getsignal(signal.SIGINT) is before)

    worker = threading.Thread(target=enter)
    worker.start()
    worker.join()
    return kept == [True, True]


def several(rank: int) -> list[np.ndarray]:
    """This rank's arrays for the list all-reduce: a matrix, a vector and a strided view, scaled by rank + 1."""
    base = np.arange(12.0).reshape(3, 4) * (rank + 1)
    return [np.full((2, 3), rank + 1.0), np.arange(3.0) * (rank + 1), base[:, ::2]]


def run_edges(name: str, backend: str, dtype: str, out):
    comm = MPICommunicator()
    extra = {"pickle_error": _error(lambda: pickle.dumps(comm)),
             "unprepared_error": _error(lambda: comm.allreduce_([np.zeros(3)])),
             "thread_loop_keeps_handler": _loop_from_a_thread(comm)}
    X, T, y, w = global_data()
    rows = uneven(comm.rank, comm.size)
    net = xpmlp.MLP(SIZES, "tanh", backend=backend, dtype=dtype, seed=0)
    hist = xpmlp.fit(net, X[rows], T[rows], comm=comm, checkpoint=out / f"checkpoint{comm.rank}.npz",
                     **fit_kwargs("momentum", y, w, rows))
    arrays = several(comm.rank)
    comm.allreduce_(arrays)  # after the fit prepared it: the model's library's transport
    extra.update({f"sum{i}": a for i, a in enumerate(arrays)})
    return net, hist, extra


COMM_SCENARIOS = {"comm-edges": run_edges}
