"""The ``xpmlp`` command's processes under ``mpiexec -n P``: they start together and fail together.

``xpmlp train`` started by an MPI launcher with P > 1 processes initialises MPI first
(:meth:`Ranks.start`), before it reads a file or checks an argument, so that no rank can end
while another waits for it in ``MPI_Init``.  Then :meth:`Ranks.fail` decides how an error ends
the job:

* an error every rank raised together (the ranks' tables differ, a fault the fit's guard
  handed to all, divergence): rank 0 prints its line and every rank exits with status 2;
* an error on this rank alone (its file missing or not UTF-8, an argument refused, saving
  after training): the rank prints one line naming itself and, :data:`GRACE` seconds later,
  aborts every rank (``MPI_Abort``).  A rank other than 0 waits :data:`GRACE` seconds before
  its line, so that where every rank failed alike, rank 0's line is the one shown.

Every rank has ended within ``2 * GRACE`` seconds of a failure, plus the launcher's teardown
(under 5 s in all).
"""

from __future__ import annotations

import sys
import time
from typing import Any, NoReturn

__all__ = ["Ranks", "GRACE", "EXIT_ABORTED"]

#: Seconds between a failing rank's line and its abort (so the launcher forwards the line first).
GRACE = 1.0
#: The status a failing rank aborts every rank with.
EXIT_ABORTED = 2


class Ranks:
    """This process among the command's processes: ``comm`` the world communicator, or None
    when one process runs alone."""

    def __init__(self, comm: Any = None) -> None:
        self.comm = comm

    @classmethod
    def start(cls) -> "Ranks":
        """Initialise MPI when an MPI launcher started more than one process (collective: every
        rank does it first, before anything can fail); otherwise MPI is not touched."""
        from ..distributed.mpi import world

        return cls(world())

    def where(self) -> str:
        """``"rank 1 of 3: "`` under ``mpiexec``, else ``""``: how an error line names this process."""
        return "" if self.comm is None else f"rank {self.comm.rank} of {self.comm.size}: "

    def fail(self, message: str, error: BaseException, status: int) -> NoReturn:
        """Print ``message`` (one line) and end: this process with ``status``, or under ``mpiexec``
        every rank (see the module docstring)."""
        comm = self.comm
        if comm is None:
            print(message, file=sys.stderr, flush=True)
            raise SystemExit(status)
        if comm.raised_together(error):
            if comm.rank == 0:
                print(message, file=sys.stderr, flush=True)
            raise SystemExit(status)
        if comm.rank:
            time.sleep(GRACE)  # rank 0, failing alike, speaks first
        print(message.replace("xpmlp: error: ", f"xpmlp: error: {self.where()}", 1), file=sys.stderr, flush=True)
        time.sleep(GRACE)
        comm.comm.Abort(EXIT_ABORTED)
