"""``cupy.cuda.nccl`` of the CuPy stand-in: NCCL's API over MPI (mpi4py), for one process per GPU.

``XPMLP_STANDIN_NCCL`` chooses what it is like:

* ``ok`` (default): a working NCCL.  ``NcclCommunicator(ndev, uid, rank)`` is collective, like
  ``ncclCommInitRank``: it returns when every rank has joined (a rank that never joins leaves
  the others waiting, as NCCL does; a communicator of one rank needs no MPI); two ranks on one GPU
  of one host fail with NCCL's "Duplicate GPU detected", GPUs told apart by PCI bus id as NCCL
  does (``busId`` in its peer info), not by the device ordinal each process sees.  ``allReduce``
  reduces ``count`` elements of ``datatype`` at the given device addresses, whatever the buffers
  hold (a wrong datatype reduces garbage, as NCCL would), and is asynchronous as
  ``ncclAllReduce`` is: it is queued on the given stream and returns at once (the ranks' sum runs
  as an MPI ``Iallreduce`` of the send buffer as it is after the work queued before it on that
  stream); the sum lands in the receive buffer when something is ordered after it (a later kernel
  or copy on that stream, a wait for that stream or for an event recorded after it on that
  stream, ``Stream.wait_event`` of such an event; :mod:`cupy._standin`), and a kernel or copy on
  another stream that uses the receive buffer before then is a race the stand-in refuses with a
  ``RuntimeError`` naming the missing wait (on a GPU it would read stale or torn data).  The legacy
  null stream's implicit ordering is kept: a blocking stream's work waits for the null stream's,
  and the null stream's for every blocking stream's; a ``non_blocking`` stream's for neither.
  Not modelled: a write to the send buffer from another stream before the sum has read it (a race
  on a GPU too); a race after the sum has landed for someone (``Stream.wait_event`` lands it for
  every stream, so a third stream not ordered after it goes unnoticed).  ``destroy`` waits for the
  communicator's queued work and lands it (``ncclCommDestroy`` finalizes: it flushes uncompleted
  operations); ``abort`` drops it unlanded;
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
            self._device, self._comm = _standin.current(), None
            if ndev != 1:  # one rank reduces alone: no MPI
                from mpi4py import MPI

                self._comm = MPI.COMM_WORLD.Dup()  # collective: every rank must come
                self._ops = {NCCL_SUM: MPI.SUM, NCCL_PROD: MPI.PROD, NCCL_MAX: MPI.MAX, NCCL_MIN: MPI.MIN}
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
            key = (self._device, int(stream))
            send = np.frombuffer((ctypes.c_char * nbytes).from_address(sendbuf), dtype=dtype)
            recv = np.frombuffer((ctypes.c_char * nbytes).from_address(recvbuf), dtype=dtype)
            _standin.use(send, key)  # after the work queued before it on its stream; a race with another's
            _standin.use(recv, key)
            send = send.copy()
            result, request = send, None  # one rank: its own values
            if self._comm is not None:
                result = np.empty_like(send)
                request = self._comm.Iallreduce(send, result, op=self._ops[op])
            keep = (_standin.OWNERS.get(sendbuf), _standin.OWNERS.get(recvbuf))  # the buffers live until it lands

            def land(_keep: tuple = keep) -> None:
                if request is not None:
                    request.Wait()
                recv[...] = result

            queued = _standin.defer(key, recvbuf, recvbuf + nbytes, land, f"ncclAllReduce of {count} {dtype}", self)
            queued.request = request

        def destroy(self) -> None:
            for queued in _standin.drop(self):
                queued.land()
            self._free()

        def abort(self) -> None:
            for queued in _standin.drop(self):  # dropped unlanded; MPI cannot cancel a collective it started,
                if queued.request is not None:  # and its buffers must outlive it
                    queued.request.Wait()
            self._free()

        def _free(self) -> None:
            if getattr(self, "_comm", None) is not None:
                self._comm.Free()
                self._comm = None
