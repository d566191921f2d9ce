"""Data-parallel xpmlp on one GPU: run under ``mpiexec -n 2`` (a step of ``bench/gpu_check.sh``).

    mpiexec -n 2 python bench/gpu_mpi.py [--dry-run] [--json PATH]

Both ranks fit the same float32 network (Adam, 5 epochs) on their halves of one data set, on the
one GPU, with CuPy and then with torch CUDA; each prints the transport xpmlp chose for the
all-reduce (NCCL or torch.distributed where every rank has a GPU of its own; two ranks on one GPU
are staged through host memory, and xpmlp says why).  Rank 0 then fits the whole data set alone:
both ranks must hold the same weights, bitwise, and those of the one process within float32's
tolerance for a trajectory (norm-relative 1e-4, as the test suite's).  Last, whether NCCL itself
takes both ranks on the one GPU in one communicator (it refuses duplicate GPUs: the reason xpmlp
stages through host memory there), and sums right if it does.  ``--dry-run``: the
stand-ins (one simulated GPU), on the CPU; not a GPU result.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gpu_common import CouldNotRun, Results, dry_run, gpu_backends, label, usable

import xpmlp
from xpmlp.distributed import MPICommunicator, shard

ROWS, TOL = 2000, 1e-4


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, 20)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
    return X, np.eye(3, dtype=np.float32)[y]


def fit(backend: str, comm: "MPICommunicator | None") -> list[np.ndarray]:
    """The weights after the fit (on the host), data-parallel when ``comm`` is given."""
    X, T = data()
    rows = slice(None) if comm is None else shard(ROWS, comm.rank, comm.size)
    net = xpmlp.MLP([20, 64, 3], "tanh", backend=backend, dtype="float32", seed=0)
    xpmlp.fit(net, X[rows], T[rows], comm=comm, epochs=5, batch_size=100, optimizer="adam", learning_rate=0.01,
              patience=None, seed=0)
    Ws, bs = net.get_weights()
    return [np.asarray(a) for a in Ws + bs]


def rel_err(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    num = sum(float(np.sum((x.astype(np.float64) - y) ** 2)) for x, y in zip(a, b))
    return (num / sum(float(np.sum(y.astype(np.float64) ** 2)) for y in b)) ** 0.5


def check(backend: str, comm: MPICommunicator) -> str:
    usable(backend)
    mine = fit(backend, comm)
    transport = type(comm._transport).__name__  # the one this fit's all-reduces took
    every = comm.exchange(mine)
    if comm.rank != 0:
        return ""
    for other in every[1:]:
        for a, b in zip(every[0], other):
            np.testing.assert_array_equal(a, b, err_msg="the ranks' weights differ")
    err = rel_err(mine, fit(backend, None))
    assert err <= TOL, f"off the one-process fit by {err:.1e} (tolerance {TOL:.0e})"
    return f"{comm.size} ranks, transport {transport}; ranks bitwise equal; off one process by {err:.1e}"


def nccl_two_ranks_one_gpu() -> str:
    """Whether this NCCL takes every rank on the one GPU in one communicator (xpmlp's rule assumes not)."""
    usable("cupy")
    import cupy
    from cupy.cuda import nccl
    from mpi4py import MPI

    if not getattr(nccl, "available", False):
        raise CouldNotRun("CuPy has no NCCL here")
    world = MPI.COMM_WORLD
    uid = world.bcast(nccl.get_unique_id() if world.rank == 0 else None)
    try:
        comm = nccl.NcclCommunicator(world.size, uid, world.rank)
    except nccl.NcclError as exc:
        return f"NCCL {nccl.get_version()} refuses it ({exc}), so host staging above is the way"
    try:
        x = cupy.full(8, world.rank + 1, dtype=cupy.float32)
        stream = cupy.cuda.get_current_stream()
        comm.allReduce(x.data.ptr, x.data.ptr, 8, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, stream.ptr)
        stream.synchronize()
        assert (cupy.asnumpy(x) == world.size * (world.size + 1) / 2).all(), cupy.asnumpy(x)
    finally:
        comm.destroy()
    return f"NCCL {nccl.get_version()} accepts it and sums right (xpmlp still stages: one GPU per rank is its rule)"


def main(argv: list[str]) -> int:
    dry = dry_run(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="rank 0 appends each check's result to this file (JSON lines)")
    args = parser.parse_args(argv)
    comm = MPICommunicator()
    results = Results(args.json if comm.rank == 0 else None, "mpi", dry, quiet=comm.rank != 0)
    if comm.rank == 0:
        print(f"data-parallel fit, {comm.size} ranks, on {label(dry)}", flush=True)
    for backend in gpu_backends():
        results.run(f"{backend} float32 on {comm.size} ranks vs 1 process", lambda: check(backend, comm))
    # last: should an NCCL hang on it, the step's time limit loses only this line
    results.run(f"NCCL communicator of {comm.size} ranks on one GPU", nccl_two_ranks_one_gpu)
    return results.exit_status()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
