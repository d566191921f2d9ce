"""Data-parallel training over MPI (``pip install 'xpmlp[mpi]'``; launch with ``mpiexec -n P``).

Each of the P processes (ranks) holds a contiguous shard of the training rows, in rank
order (rank 0 the first rows).  Every rank draws the same row order from the same seed,
computes the gradient of its own rows of each *global* minibatch (with the global
``1/|B|``), and one all-reduce per step sums the gradients, so every rank takes the same
step and holds the same weights as one process training on all rows (to within float
summation order).  The epoch's loss is summed the same way; sample weights are normalised
by the global mean; the validation rows are gathered to every rank once; and every
stopping decision is made from rank 0's numbers, handed to all (:meth:`MPICommunicator.consensus`).
Only rank 0 prints and writes.  How arrays travel is chosen per library, collectively
(:mod:`.transports`).  One process per GPU: a communicator makes its local rank's GPU the
default device of CuPy and torch (a device named in the backend string wins).

``fit(net, X_shard, T_shard, comm=MPICommunicator())`` is all it takes (:func:`shard` cuts a
rank's rows from the whole array).

Faults never hang (:meth:`MPICommunicator.guard`).  Before and after the training loop every
collective step is an :meth:`~MPICommunicator.exchange` that carries each rank's error, if
any, so a rank that fails joins the step the others wait in and every rank raises: the same
exception where every rank failed alike, else :class:`DistributedError` naming each failed
rank and its message.  Inside the loop (between the settings' agreement and the last epoch) a
failure on one rank prints which rank failed and why and aborts every rank (``MPI_Abort``)
after :data:`ABORT_GRACE` seconds.  Ctrl-C (SIGINT, which ``mpiexec`` delivers to each rank at
its own moment) is noted, not raised: the ranks agree on it at the end of the epoch and all
roll back to its start and return ``"interrupted"``; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Iterator, Sequence

from ..backends import libraries
from ..training.callbacks import DivergenceError
from ..training.comm import Communicator, Interrupted
from ..training.sources import Source
from ..training.stream_ranks import prepare_stream_share
from .sharded import prepare_shard
from .transports import choose_transport

__all__ = ["MPICommunicator", "shard", "world", "DistributedError", "LAUNCHER_VARIABLES", "ABORT_GRACE"]

#: Variables an MPI launcher sets in every process it starts (MPICH/Hydra, Open MPI, Slurm's PMI).
LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")
#: Seconds a failing rank waits after its message before it aborts every rank (so the launcher
#: forwards the message first): the bound on a failure inside the training loop is this plus
#: the launcher's teardown, under 3 s.
ABORT_GRACE = 1.0


class DistributedError(RuntimeError):
    """The ranks of a data-parallel run disagree, or some of them failed (named, with their messages)."""


#: Errors every rank raises at the same point (decided from the same numbers): no rank waits alone.
_COLLECTIVE = (DistributedError, DivergenceError, Interrupted)


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError("data-parallel training needs mpi4py and an MPI library: pip install 'xpmlp[mpi]'") from exc
    return MPI


def shard(n: int, rank: int, size: int) -> slice:
    """The rows of ``range(n)`` rank ``rank`` of ``size`` holds: contiguous, sizes differing by at most 1
    (with ``n < size`` the last ranks hold none, and still train)."""
    per, extra = divmod(n, size)
    start = rank * per + min(rank, extra)
    return slice(start, start + per + (rank < extra))


def world() -> "MPICommunicator | None":
    """The communicator of all processes when this one was started by ``mpiexec -n P`` with P > 1,
    else None (and mpi4py is not even imported).  One per process: later calls return the same,
    so its transports (an NCCL communicator, a torch process group) serve every fit."""
    if not any(v in os.environ for v in LAUNCHER_VARIABLES):
        return None
    if not _WORLD:
        _WORLD.append(MPICommunicator())
    return _WORLD[0] if _WORLD[0].size > 1 else None


_WORLD: list["MPICommunicator"] = []


class MPICommunicator(Communicator):
    """The communicator of a data-parallel fit over MPI (default: ``MPI.COMM_WORLD``).

    Create it in every rank (it is collective), before building the model: it makes GPU
    ``local_rank % count`` the default for CuPy and torch in this process.
    """

    def __init__(self, comm: Any = None) -> None:
        self.MPI = _mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)  # the ranks of this host
        self.local_rank = node.Get_rank()
        node.Free()
        libraries.set_default_gpu(self.local_rank)
        self._transports: dict[tuple, Any] = {}
        self._transport: Any = None
        self._critical = 0  # > 0 inside the training loop: a failure there aborts every rank
        self._guards = 0
        self.interrupt_requested = False
        self._raised: BaseException | None = None  # the last error every rank raised together

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("an MPICommunicator belongs to its processes and cannot be pickled")

    # -- the loop's seam ---------------------------------------------------------------------
    def allreduce_(self, arrays: Sequence[Any]) -> None:
        """Sum every array over the ranks, in place: one all-reduce for the whole list."""
        if self._transport is None:
            raise DistributedError("the communicator was not prepared for a model (fit calls prepare)")
        self._transport.allreduce_(list(arrays))

    def prepare(self, net: Any, X: Any, T: Any, **kwargs: Any) -> Any:
        """Check that every rank agrees and every shard is clean, choose how arrays travel (once per
        library and device, reused by later fits), then shard the fit's data (or, streamed, read this rank's
        share of a source's chunks: :mod:`xpmlp.training.stream_ranks`)."""
        key = (net.backend.name, str(net.backend.device))
        if key not in self._transports:
            self._transports[key] = choose_transport(self, net.backend)
        self._transport = self._transports[key]
        if isinstance(X, Source):  # a streamed fit: this rank's share of the chunks
            return prepare_stream_share(self, net, X, **kwargs)
        return prepare_shard(self, net, X, T, **kwargs)

    def agree(self, what: dict[str, Any]) -> None:
        """Raise :class:`DistributedError` on every rank if ``what`` (JSON-able) differs between ranks."""
        mine = {k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest() for k, v in what.items()}
        everyone = self.exchange(mine)
        odd = {r: sorted(k for k in mine if theirs.get(k) != everyone[0].get(k)) for r, theirs in enumerate(everyone)}
        odd = {r: keys for r, keys in odd.items() if keys}
        if odd:
            detail = "; ".join(f"rank {r} in {', '.join(keys)}" for r, keys in odd.items())
            raise DistributedError(f"the ranks disagree with rank 0 ({detail}): every rank must build the same "
                                   "model with the same seed and settings")

    def consensus(self, values: dict[str, float]) -> dict[str, float]:
        """Rank 0's epoch numbers on every rank; :class:`Interrupted` everywhere if Ctrl-C reached any rank."""
        everyone = self.exchange((values, self.interrupt_requested))
        if any(flag for _, flag in everyone):
            raise Interrupted(f"Ctrl-C reached rank(s) {[r for r, (_, f) in enumerate(everyone) if f]}")
        return everyone[0][0]

    # -- the fault protocol ------------------------------------------------------------------
    def exchange(self, payload: Any, error: BaseException | None = None) -> list:
        """Collective: every rank's ``payload``, in rank order.  If any rank brought an ``error``,
        every rank raises instead: its own exception where every rank failed alike, else
        :class:`DistributedError` naming each failed rank and its message."""
        report = None if error is None else (type(error).__name__, str(error))
        everyone = self.comm.allgather((report, payload))
        failed = [(r, rep) for r, (rep, _) in enumerate(everyone) if rep is not None]
        if not failed:
            return [p for _, p in everyone]
        if error is not None and len(failed) == self.size and len({rep for _, rep in failed}) == 1:
            self._raised = error
            raise error  # every rank failed the same way: the error one process would raise
        detail = "; ".join(f"rank {r}: {kind}: {msg}" for r, (kind, msg) in failed)
        raise DistributedError(f"{len(failed)} of {self.size} ranks failed ({detail})")

    def raised_together(self, error: BaseException) -> bool:
        """Whether every rank raised ``error`` at the same step (so none waits for another): a
        :class:`DistributedError`, divergence, or an error every rank brought to an exchange."""
        return isinstance(error, _COLLECTIVE) or error is self._raised

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """A fit (or an estimator's fit) runs inside; see the module docstring."""
        self._guards += 1
        try:
            yield
        except _COLLECTIVE:
            raise  # raised on every rank alike
        except BaseException as exc:
            self.exchange(None, error=exc)  # joins the collective step the others wait in, and raises there as all do
        else:
            self.exchange(None)  # the last step: a rank that failed after the others finished is reported to all
        finally:
            self._guards -= 1

    @contextlib.contextmanager
    def loop(self) -> Iterator[None]:
        """The training loop runs inside: a failure aborts every rank, Ctrl-C is noted (module docstring)."""
        self._critical += 1
        previous = self._catch_interrupts()
        try:
            yield
        except _COLLECTIVE:
            raise
        except BaseException as exc:
            self.abort(exc)  # the others wait in a collective step of the loop that this rank will not reach
        finally:
            self._critical -= 1
            self.interrupt_requested = False
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A step collective outside MPI (NCCL's initialisation): a failure inside aborts every rank."""
        self._critical += 1
        try:
            yield
        except BaseException as exc:
            self.abort(exc)
        finally:
            self._critical -= 1

    def _catch_interrupts(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return None

        def note(signum: int, frame: Any) -> None:
            if self.interrupt_requested:
                raise KeyboardInterrupt  # the second Ctrl-C: at once (every rank aborts)
            self.interrupt_requested = True

        return signal.signal(signal.SIGINT, note)

    def abort(self, error: BaseException) -> None:
        """For an error on this rank alone inside the loop: say which rank failed, then end every rank."""
        print(f"xpmlp: rank {self.rank} of {self.size} failed: {type(error).__name__}: {error}; aborting all ranks",
              file=sys.stderr, flush=True)
        time.sleep(ABORT_GRACE)  # let mpiexec forward the line before the abort tears the job down
        self.comm.Abort(1)
