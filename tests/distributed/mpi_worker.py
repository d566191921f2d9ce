"""Run by the tests in this folder under ``mpiexec -n P``: ``python mpi_worker.py SCENARIO DTYPE OUTDIR``.

Every rank builds the same global data (:func:`global_data`), keeps its shard, runs the scenario
and writes ``OUTDIR/rank<r>.npz``: its parameters, its history (JSON) and what it raised, so a
test compares every rank with one process.  ``SCENARIO@BACKEND`` runs it on another backend
(``momentum@torch``, ``adam@cupy`` with the CuPy stand-in on the path).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

import xpmlp
from xpmlp.distributed import MPICommunicator, shard

from comm_scenarios import COMM_SCENARIOS
from estimator_scenarios import ESTIMATORS
from scenario_data import FITS, N, SIZES, fit_kwargs, global_data, uneven  # noqa: F401

class At(xpmlp.Callback):
    """Runs ``action`` on one rank at the end of one epoch."""

    def __init__(self, epoch: int, action) -> None:
        self.epoch, self.action = epoch, action

    def on_epoch_end(self, run, log):
        if log.epoch == self.epoch:
            self.action()


def failure(out: Path):
    def fail():
        (out / "failed_at").write_text(repr(time.time()))
        raise RuntimeError("simulated failure on this rank")
    return fail


def run_fit(name: str, backend: str, dtype: str, out: Path):
    """xpmlp.fit on uneven shards; the scenario's fault (if any) on rank 1."""
    comm = MPICommunicator()
    X, T, y, w = global_data()
    rows = uneven(comm.rank, comm.size)
    base = name.split("-")[0] if name.split("-")[0] in FITS else "momentum"
    kwargs = fit_kwargs(base, y, w, rows)
    one = comm.rank == 1
    seed = 1 if name == "mismatch" and one else 0
    net = xpmlp.MLP(SIZES, "tanh", backend=backend, dtype=dtype, seed=seed)
    if name == "nan" and one:
        X = X.copy()
        X[rows.start + 2, 1] = np.nan
    if name == "bad-optimizer" and one:
        kwargs["optimizer"] = "adamx"
    callbacks = []
    if name == "crash" and one:
        callbacks = [At(2, failure(out))]
    if name == "interrupt" and one:
        callbacks = [At(2, lambda: os.kill(os.getpid(), signal.SIGINT))]
    if name == "double-interrupt" and one:  # Ctrl-C twice: the second one at once
        callbacks = [At(2, lambda: [os.kill(os.getpid(), signal.SIGINT) for _ in range(2)])]
    if name == "diverge":
        kwargs.update(learning_rate=1e308)  # the weights overflow in epoch 1 on every rank
    if name in ("slow", "interrupt"):
        kwargs.update(epochs=60)
        callbacks.append(At(1, lambda: (out / f"pid{comm.rank}").write_text(str(os.getpid()))))
        callbacks.append(SlowEpochs())
    if name == "balanced-some" and one:
        kwargs.pop("class_weight")
    if name == "validation-some":
        kwargs.update(validation_data=(X[:10], T[:10]) if comm.rank == 0 else None)
    return net, xpmlp.fit(net, X[rows], T[rows], comm=comm, callbacks=callbacks, **kwargs)


def run_cuda_then_cpu(name: str, backend: str, dtype: str, out: Path):
    """A fit on ``backend`` (torch CUDA), then one on torch's CPU in the same process: the process
    group the first made must take the second's tensors."""
    run_fit("momentum", backend, dtype, out)
    return run_fit("momentum", "torch", dtype, out)


class SlowEpochs(xpmlp.Callback):
    def on_epoch_end(self, run, log):
        time.sleep(0.1)


def run_few_rows(name: str, backend: str, dtype: str, out: Path):
    """Fewer rows than ranks: some ranks hold none."""
    comm = MPICommunicator()
    X, T, _, _ = global_data(n=2)
    net = xpmlp.MLP(SIZES, "tanh", backend=backend, dtype=dtype, seed=0)
    rows = shard(2, comm.rank, comm.size)
    return net, xpmlp.fit(net, X[rows], T[rows], comm=comm, epochs=5, batch_size=2, optimizer="sgd",
                          learning_rate=0.1, patience=None, seed=3)


_STANDIN: list = []


def _save_coverage_before_abort() -> None:
    """Under ``coverage run`` (CI's measured run), a rank that calls ``MPI_Abort`` ends at once and
    coverage would lose what it ran (the fault paths): COMM_WORLD's handle saves it first."""
    try:
        import coverage
        from mpi4py import MPI
    except ImportError:
        return
    if coverage.Coverage.current() is None:
        return

    class SavesCoverage(MPI.Intracomm):
        def Abort(self, errorcode: int = 0) -> None:  # noqa: N802 (MPI's name)
            coverage.Coverage.current().save()
            super().Abort(errorcode)

    MPI.COMM_WORLD = SavesCoverage(MPI.COMM_WORLD)


_save_coverage_before_abort()


def main() -> None:
    scenario, dtype, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    name, _, backend = scenario.partition("@")
    runner = ESTIMATORS.get(name) or COMM_SCENARIOS.get(name) or \
        {"few-rows": run_few_rows, "cuda-then-cpu": run_cuda_then_cpu}.get(name, run_fit)
    rank = int(os.environ.get("PMI_RANK", "0"))
    record: dict = {}
    if backend.startswith("torch:cuda") and os.environ.get("XPMLP_STANDIN_TORCH_CUDA"):
        from standins.torch_cuda import torch_cuda

        _STANDIN.append(torch_cuda())
        _STANDIN[0].__enter__()  # for the whole process (held, so that it is not closed when collected)
    try:
        net, hist, *extra = runner(name, backend or "numpy", dtype, out)
        record["history"] = json.dumps(hist.to_dict())
        record["backend"] = net.backend.describe()
        record.update(extra[0] if extra else {})
        params = {f"p{i}": np.asarray(a) for i, a in enumerate(net.get_weights()[0] + net.get_weights()[1])}
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        params = {}
        np.savez(out / f"rank{rank}.npz", **record)
        raise
    np.savez(out / f"rank{rank}.npz", **record, **params)


if __name__ == "__main__":
    main()
