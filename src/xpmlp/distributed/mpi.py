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

from ..training.comm import Communicator
from .sharded import prepare_shard
from .transports import TRANSPORTS, HostStaging

__all__ = ["MPICommunicator", "shard", "world", "DistributedError"]

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

    def prepare(self, net: Any, X: Any, T: Any, **kwargs: Any) -> Any:
        """Check that every rank agrees and every shard is clean, then shard the fit's data."""
        self._transport = TRANSPORTS.get(net.backend.name, HostStaging)(self, net.backend)
        return prepare_shard(self, net, X, T, **kwargs)

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
