"""Data-parallel training over MPI: one process per GPU (or CPU), one all-reduce per step.

The communicator, sharding and faults (``mpi.py``), one rank's share of a fit's data
(``sharded.py``), and how each library's arrays are all-reduced (``transports.py``).

May import: backends, nn, training.
"""

from .mpi import DistributedError, MPICommunicator, shard, world
from .transports import choose_transport

__all__ = ["DistributedError", "MPICommunicator", "choose_transport", "shard", "world"]
