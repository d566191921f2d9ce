"""``cupy.cuda.nccl`` of the CuPy stand-in: NCCL's API over MPI (mpi4py), for one process per GPU.

``XPMLP_STANDIN_NCCL`` chooses what it is like:

* ``ok`` (default): a working NCCL.  ``NcclCommunicator(ndev, uid, rank)`` is collective, like
  ``ncclCommInitRank``: it returns when every rank has joined (a rank that never joins leaves
  the others waiting, as NCCL does); two ranks on one GPU of one host fail with NCCL's
  "Duplicate GPU detected", GPUs told apart by PCI bus id as NCCL does (``busId`` in its peer
  info), not by the device ordinal each process sees.  ``allReduce`` sums ``count`` elements of
  ``datatype`` at the given device addresses, whatever the buffers hold (a wrong datatype reduces
  garbage, as NCCL would), at once: the stand-in runs every kernel at once, so stream order holds,
  but NCCL's asynchrony (the sum visible after the stream syncs) is not modelled;
* ``missing``: CuPy from pip without NCCL: the module has ``available = False`` and nothing else;
* ``init-fails:R``: initialisation fails on rank R alone, before it joins (the others wait).
"""

from __future__ import annotations

import ctypes
import os
import socket
from typing import Any

import numpy as np

from .. import _standin

_MODE = os.environ.get("XPMLP_STANDIN_NCCL", "ok")
available = _MODE != "missing"

if available:
    NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN, NCCL_AVG = 0, 1, 2, 3, 4
    NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
    NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64, NCCL_BFLOAT16 = 6, 7, 8, 9
    NCCL_CHAR, NCCL_INT, NCCL_HALF, NCCL_FLOAT, NCCL_DOUBLE = 0, 2, 6, 7, 8
    _DTYPES = {0: np.int8, 1: np.uint8, 2: np.int32, 3: np.uint32, 4: np.int64, 5: np.uint64, 6: np.float16,
               7: np.float32, 8: np.float64}
    _ERRORS = {2: "ncclSystemError: System call (e.g. socket, malloc) or external library call failed",
               4: "ncclInvalidArgument: Invalid value for an argument",
               5: "ncclInvalidUsage: Duplicate GPU detected"}

    class NcclError(RuntimeError):
        def __init__(self, status: int) -> None:
            self.status = status
            super().__init__(_ERRORS.get(status, f"NCCL error {status}"))

    def get_version() -> int:
        return 22304

    def get_unique_id() -> bytes:
        return os.urandom(128)

    class NcclCommunicator:
        """One rank's communicator on the current device (see the module docstring)."""

        def __init__(self, ndev: int, commId: bytes, rank: int, config: Any = None) -> None:  # noqa: N803
            if len(commId) != 128:
                raise ValueError(f"commId length {len(commId)} != 128.")
            if _MODE == f"init-fails:{rank}":
                raise NcclError(2)
            from mpi4py import MPI

            self._device = _standin.current()
            self._mpi = MPI
            self._comm = MPI.COMM_WORLD.Dup()  # collective: every rank must come
            joined = self._comm.allgather((commId, socket.gethostname(), _standin.pci_bus_id(self._device), rank))
            if len({c[0] for c in joined}) != 1 or len(joined) != ndev:
                raise NcclError(4)
            if len({(host, bus) for _, host, bus, _ in joined}) != len(joined):
                raise NcclError(5)
            self._rank, self._ndev = rank, ndev

        def device_id(self) -> int:
            return self._device

        def rank_id(self) -> int:
            return self._rank

        def size(self) -> int:
            return self._ndev

        def allReduce(self, sendbuf: int, recvbuf: int, count: int, datatype: int, op: int,  # noqa: N802
                      stream: int) -> None:
            if datatype not in _DTYPES or op not in (NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN):
                raise NcclError(4)
            if _standin.current() != self._device:
                raise NcclError(4)  # the buffers must be on the communicator's device
            dtype = np.dtype(_DTYPES[datatype])
            nbytes = count * dtype.itemsize
            send = np.frombuffer((ctypes.c_char * nbytes).from_address(sendbuf), dtype=dtype).copy()
            recv = np.frombuffer((ctypes.c_char * nbytes).from_address(recvbuf), dtype=dtype)
            ops = {NCCL_SUM: self._mpi.SUM, NCCL_PROD: self._mpi.PROD, NCCL_MAX: self._mpi.MAX, NCCL_MIN: self._mpi.MIN}
            self._comm.Allreduce(send, recv, op=ops[op])

        def destroy(self) -> None:
            if getattr(self, "_comm", None) is not None:
                self._comm.Free()
                self._comm = None

        def abort(self) -> None:
            self.destroy()
