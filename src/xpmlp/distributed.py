"""Data-parallel training over MPI (``pip install 'xpmlp[mpi]'``; launch with ``mpiexec -n P``).

Each of the P processes (ranks) holds a contiguous shard of the training rows,
in rank order (rank 0 the first rows).  Every rank draws the same row order
from the same seed, computes the gradient of its own rows of each *global*
minibatch (with the global ``1/|B|``), and one bucketed all-reduce per step
sums the gradients, so every rank takes the same step and holds the same
weights as one process training on all rows (to within float summation order).
The epoch's loss is summed the same way; sample weights are normalised by the
global mean; the validation rows (a global split, or ``validation_data``) are
gathered to every rank once, so every early-stopping and learning-rate decision
is computed from the same numbers everywhere.  Only rank 0 prints and writes.

``fit(net, X_shard, T_shard, comm=MPICommunicator())`` is all it takes
(:func:`shard` cuts a rank's rows from the whole array).  How device arrays
travel is chosen per library, behind one table (:data:`TRANSPORTS`): NumPy and
torch on the CPU reduce in place in host memory; CuPy uses NCCL
(``cupy.cuda.nccl``) when present, or a CUDA-aware MPI when
``XPMLP_MPI_CUDA_AWARE=1`` says the MPI library is one; torch on CUDA goes
through DLPack to the same CuPy paths; anything else is staged through host
memory, with a one-time message.

Faults: bad data on any rank is found before training and reported on every
rank, naming the rank; so are models, seeds or settings that differ between
ranks.  A diverging loss is global, so every rank raises the same
``DivergenceError``.  An exception on one rank in the middle of training
aborts all ranks (``MPI_Abort``) after printing which rank failed and why:
never a hang.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

from .comm import Communicator
from .sharded import ShardedData

__all__ = ["MPICommunicator", "ShardedData", "shard", "world", "TRANSPORTS", "DistributedError"]

#: Variables an MPI launcher sets in every process it starts (MPICH/Hydra, Open MPI, Slurm's PMI).
LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")

logger = logging.getLogger("xpmlp.distributed")


class DistributedError(RuntimeError):
    """The ranks of a data-parallel run disagree, or one of them failed."""


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError("data-parallel training needs mpi4py and an MPI library: pip install 'xpmlp[mpi]'") from exc
    return MPI


def shard(n: int, rank: int, size: int) -> slice:
    """The rows of ``range(n)`` rank ``rank`` of ``size`` holds: contiguous, sizes differing by at most 1."""
    per, extra = divmod(n, size)
    start = rank * per + min(rank, extra)
    return slice(start, start + per + (rank < extra))


def world() -> "MPICommunicator | None":
    """The communicator of all processes when this one was started by ``mpiexec -n P`` with P > 1,
    else None (and mpi4py is not even imported)."""
    if not any(v in os.environ for v in LAUNCHER_VARIABLES):
        return None
    comm = MPICommunicator()
    return comm if comm.size > 1 else None


class MPICommunicator(Communicator):
    """The communicator of a data-parallel fit over MPI (default: ``MPI.COMM_WORLD``)."""

    def __init__(self, comm: Any = None) -> None:
        self.MPI = _mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._transport: Any = None

    # -- the loop's seam ---------------------------------------------------------------------
    def allreduce_(self, arrays: Sequence[Any]) -> None:
        """Sum every array over the ranks, in place: one bucketed all-reduce for the whole list."""
        if self._transport is None:
            raise DistributedError("the communicator was not prepared for a model (fit calls prepare)")
        self._transport.allreduce_(list(arrays))

    def prepare(self, net: Any, X: Any, T: Any, **kwargs: Any) -> "ShardedData":
        """Check that every rank agrees and every shard is clean, then shard the fit's data."""
        self._transport = TRANSPORTS.get(net.backend.name, HostStaging)(self, net.backend)
        return ShardedData.prepare(self, net, X, T, **kwargs)

    def agree(self, what: dict[str, Any]) -> None:
        """Raise :class:`DistributedError` on every rank if ``what`` (JSON-able) differs between ranks."""
        mine = {k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest() for k, v in what.items()}
        everyone = self.comm.allgather(mine)
        odd = {r: sorted(k for k in mine if theirs.get(k) != everyone[0].get(k)) for r, theirs in enumerate(everyone)}
        odd = {r: keys for r, keys in odd.items() if keys}
        if odd:
            detail = "; ".join(f"rank {r} in {', '.join(keys)}" for r, keys in odd.items())
            raise DistributedError(f"the ranks disagree with rank 0 ({detail}): every rank must build the same "
                                   "model with the same seed and settings")

    def all_ok(self, error: BaseException | None) -> None:
        """Collective: raise on every rank, naming the failing ranks, if any rank had an ``error``."""
        reports = self.comm.allgather(None if error is None else f"{type(error).__name__}: {error}")
        failed = [(r, msg) for r, msg in enumerate(reports) if msg is not None]
        if failed:
            detail = "; ".join(f"rank {r}: {msg}" for r, msg in failed)
            raise DistributedError(f"{len(failed)} of {self.size} ranks failed before training ({detail})")

    def failed(self, error: BaseException) -> None:
        self.abort(error)

    def abort(self, error: BaseException) -> None:
        """Last resort for an error on this rank only: say which rank failed, then stop every rank."""
        print(f"xpmlp: rank {self.rank} of {self.size} failed: {type(error).__name__}: {error}; aborting all ranks",
              file=sys.stderr, flush=True)
        time.sleep(1.0)  # let mpiexec forward the line before the abort tears the job down
        self.comm.Abort(1)


class HostTransport:
    """Arrays whose memory NumPy can see (NumPy; torch on the CPU, zero-copy): packed into one
    reused host buffer, all-reduced in place."""

    def __init__(self, comm: MPICommunicator, backend: Any) -> None:
        self.comm, self.backend, self.buffer = comm, backend, None

    def host_view(self, a: Any) -> np.ndarray:
        return a.numpy() if self.backend.name == "torch" else a  # a torch CPU tensor shares its memory

    def allreduce_(self, arrays: list) -> None:
        views = [self.host_view(a) for a in arrays]
        n = sum(v.size for v in views)
        if self.buffer is None or self.buffer.size != n or self.buffer.dtype != views[0].dtype:
            self.buffer = np.empty(n, dtype=views[0].dtype)
        offset = 0
        for v in views:
            self.buffer[offset:offset + v.size] = v.reshape(-1)
            offset += v.size
        self.comm.comm.Allreduce(self.comm.MPI.IN_PLACE, self.buffer, op=self.comm.MPI.SUM)
        offset = 0
        for v in views:
            v[...] = self.buffer[offset:offset + v.size].reshape(v.shape)
            offset += v.size


class HostStaging(HostTransport):
    """Any other library: copied to host memory and back at every all-reduce (said once)."""

    _said = False

    def allreduce_(self, arrays: list) -> None:
        if not HostStaging._said and self.comm.rank == 0:
            logger.warning("%s arrays are staged through host memory for every all-reduce; on GPUs install "
                           "NCCL (CuPy) or use a CUDA-aware MPI (XPMLP_MPI_CUDA_AWARE=1)", self.backend.describe())
            HostStaging._said = True
        host = [np.array(self.backend.to_numpy(a)) for a in arrays]
        super().allreduce_(host)
        for a, h in zip(arrays, host):
            a[...] = self.backend.asarray(h, dtype=a.dtype)


class CupyTransport(HostStaging):
    """CuPy arrays: one device bucket, summed by NCCL, or by a CUDA-aware MPI, else staged on the host.

    Written for GPUs and not run in CI (no GPU there): the host staging it falls back to is tested.
    """

    def __init__(self, comm: MPICommunicator, backend: Any) -> None:
        super().__init__(comm, backend)
        self.nccl = self.cuda_aware = None
        try:
            from cupy.cuda import nccl

            uid = comm.comm.bcast(nccl.get_unique_id() if comm.rank == 0 else None, root=0)
            self.nccl = (nccl, nccl.NcclCommunicator(comm.size, uid, comm.rank))
        except Exception:  # no NCCL in this CuPy build: try a CUDA-aware MPI, else the host
            self.cuda_aware = os.environ.get("XPMLP_MPI_CUDA_AWARE") == "1"

    def allreduce_(self, arrays: list) -> None:
        if self.nccl is None and not self.cuda_aware:
            return super().allreduce_(arrays)
        import cupy

        bucket = cupy.concatenate([cupy.ravel(cupy.asarray(a)) for a in arrays])  # one device buffer
        if self.nccl is not None:
            nccl, nc = self.nccl
            kind = nccl.NCCL_FLOAT32 if bucket.dtype == cupy.float32 else nccl.NCCL_FLOAT64
            nc.allReduce(bucket.data.ptr, bucket.data.ptr, bucket.size, kind, nccl.NCCL_SUM,
                         cupy.cuda.get_current_stream().ptr)
        else:
            cupy.cuda.get_current_stream().synchronize()  # MPI does not follow CUDA streams
            self.comm.comm.Allreduce(self.comm.MPI.IN_PLACE, bucket, op=self.comm.MPI.SUM)
        offset = 0
        for a in arrays:
            cupy.asarray(a)[...] = bucket[offset:offset + a.size].reshape(a.shape)
            offset += a.size


class TorchTransport(CupyTransport):
    """torch tensors: on the CPU, zero-copy through NumPy; on CUDA, through DLPack to the CuPy paths."""

    def __init__(self, comm: MPICommunicator, backend: Any) -> None:
        HostStaging.__init__(self, comm, backend)
        self.nccl = self.cuda_aware = None
        if backend.device.type == "cuda":
            CupyTransport.__init__(self, comm, backend)

    def allreduce_(self, arrays: list) -> None:
        if self.backend.device.type != "cuda":
            return HostTransport.allreduce_(self, arrays)
        return super().allreduce_(arrays)  # cupy.asarray takes the tensors by DLPack / CUDA array interface


#: Library -> how its arrays are all-reduced (the one seam; the rest of xpmlp does not know).
TRANSPORTS = {"numpy": HostTransport, "torch": TorchTransport, "cupy": CupyTransport, "array_api_strict": HostStaging}

