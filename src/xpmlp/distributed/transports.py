"""How each library's arrays are all-reduced across the ranks: one transport per library.

The training loop all-reduces a list of gradient arrays once per step
(:meth:`~xpmlp.distributed.mpi.MPICommunicator.allreduce_`); :data:`TRANSPORTS`
picks how they travel for the model's library.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

__all__ = ["TRANSPORTS", "HostTransport", "HostStaging", "CupyTransport", "TorchTransport"]

logger = logging.getLogger("xpmlp.distributed")


class HostTransport:
    """Arrays whose memory NumPy can see (NumPy; torch on the CPU, zero-copy): packed into one
    reused host buffer, all-reduced in place."""

    def __init__(self, comm: Any, backend: Any) -> None:
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

    def __init__(self, comm: Any, backend: Any) -> None:
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

    def __init__(self, comm: Any, backend: Any) -> None:
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

