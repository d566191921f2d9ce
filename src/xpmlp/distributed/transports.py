"""How each library's arrays are all-reduced across the ranks: one transport per library, chosen collectively.

==================  ==========================================================================
library             transport
==================  ==========================================================================
``numpy``           :class:`HostTransport`: packed into one reused host buffer, MPI all-reduce in place
``torch``           :class:`TorchDistributed`: ``torch.distributed`` (gloo on the CPU, NCCL on CUDA),
                    its process group set up from the MPI ranks, for both device types at once
``cupy``            :class:`NcclTransport` (``cupy.cuda.nccl``) where every rank has NCCL and a GPU of
                    its own; :class:`CudaAwareMpi` where every rank says its MPI is CUDA-aware
                    (``XPMLP_MPI_CUDA_AWARE=1``); else :class:`HostStaging`
other               :class:`HostStaging`: copied through host memory
==================  ==========================================================================

:func:`choose_transport` runs on every rank: each probes what it has (NCCL, torch.distributed,
its host and GPU), the probes are exchanged, and every rank derives the same choice from all of
them, so no rank waits in a collective another rank skipped; a fallback is said once, on rank 0.
A library's collective initialisation (NCCL's, torch.distributed's rendezvous) runs inside
:meth:`~xpmlp.distributed.mpi.MPICommunicator.critical`: a failure there ends every rank.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import socket
from typing import Any

import numpy as np

__all__ = ["choose_transport", "HostTransport", "HostStaging", "NcclTransport", "CudaAwareMpi", "TorchDistributed"]

logger = logging.getLogger("xpmlp.distributed")
#: How long torch.distributed waits for a peer before it gives up (its default is 30 minutes).
TORCH_TIMEOUT = datetime.timedelta(seconds=60)


class HostTransport:
    """NumPy arrays: packed into one reused host buffer, all-reduced in place, unpacked."""

    def __init__(self, comm: Any, backend: Any) -> None:
        self.comm, self.backend, self.buffer = comm, backend, None

    def allreduce_(self, arrays: list) -> None:
        if len(arrays) == 1 and arrays[0].flags.c_contiguous:  # the flat gradient buffer: summed where it is
            self.comm.comm.Allreduce(self.comm.MPI.IN_PLACE, arrays[0], op=self.comm.MPI.SUM)
            return
        n = sum(a.size for a in arrays)
        if self.buffer is None or self.buffer.size != n or self.buffer.dtype != arrays[0].dtype:
            self.buffer = np.empty(n, dtype=arrays[0].dtype)
        offset = 0
        for a in arrays:
            self.buffer[offset:offset + a.size] = a.reshape(-1)
            offset += a.size
        self.comm.comm.Allreduce(self.comm.MPI.IN_PLACE, self.buffer, op=self.comm.MPI.SUM)
        offset = 0
        for a in arrays:
            a[...] = self.buffer[offset:offset + a.size].reshape(a.shape)
            offset += a.size


class HostStaging(HostTransport):
    """Any library: copied to host memory, all-reduced there, copied back (every step)."""

    def allreduce_(self, arrays: list) -> None:
        host = [np.array(self.backend.to_numpy(a)) for a in arrays]
        super().allreduce_(host)
        for a, h in zip(arrays, host):
            a[...] = self.backend.asarray(h, dtype=a.dtype)


def _bucket(xp: Any, arrays: list) -> Any:
    """The arrays' values in one flat device buffer: the array itself when it is one contiguous
    array (the flat gradient buffer), else a concatenated copy."""
    if len(arrays) == 1 and arrays[0].flags.c_contiguous:
        return arrays[0]
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])


def _unbucket(xp: Any, bucket: Any, arrays: list) -> None:
    if bucket is arrays[0]:
        return  # reduced in place
    offset = 0
    for a in arrays:
        size = math.prod(a.shape)
        a[...] = xp.reshape(bucket[offset:offset + size], a.shape)
        offset += size


class NcclTransport:
    """CuPy arrays, summed on the GPUs by NCCL: one communicator per fit's device, made with the device current."""

    def __init__(self, comm: Any, backend: Any) -> None:
        from cupy.cuda import nccl

        self.backend, self.nccl = backend, nccl
        with backend.activate():
            uid = comm.exchange(nccl.get_unique_id() if comm.rank == 0 else None)[0]
            with comm.critical():  # collective inside NCCL: a rank that fails here must not leave the others waiting
                self.nc = nccl.NcclCommunicator(comm.size, uid, comm.rank)
        self.kinds = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64, "float16": nccl.NCCL_FLOAT16}

    def allreduce_(self, arrays: list) -> None:
        import cupy

        xp = self.backend.xp
        bucket = _bucket(xp, arrays)
        self.nc.allReduce(bucket.data.ptr, bucket.data.ptr, bucket.size, self.kinds[str(bucket.dtype)],
                          self.nccl.NCCL_SUM, cupy.cuda.get_current_stream().ptr)
        _unbucket(xp, bucket, arrays)


class CudaAwareMpi:
    """CuPy arrays handed to a CUDA-aware MPI by their device pointers."""

    def __init__(self, comm: Any, backend: Any) -> None:
        self.comm, self.backend = comm, backend

    def allreduce_(self, arrays: list) -> None:
        import cupy

        xp = self.backend.xp
        bucket = _bucket(xp, arrays)
        cupy.cuda.get_current_stream().synchronize()  # MPI does not follow CUDA streams
        self.comm.comm.Allreduce(self.comm.MPI.IN_PLACE, bucket, op=self.comm.MPI.SUM)
        _unbucket(xp, bucket, arrays)


class TorchDistributed:
    """torch tensors through ``torch.distributed``: gloo on the CPU, NCCL on CUDA.

    Its process group is made from the MPI ranks when there is none yet: rank 0 opens a
    ``TCPStore`` on a free port of its host and the address goes to every rank over MPI.  Where
    CUDA and NCCL are present it is made for both device types (``"cpu:gloo,cuda:nccl"``), so
    that a later fit on the other device type in the same process finds a backend for its tensors
    (an NCCL-only group refuses CPU tensors: "No backend type associated with device type cpu").
    """

    def __init__(self, comm: Any, backend: Any) -> None:
        import torch.distributed as dist

        self.dist, self.backend = dist, backend
        if not dist.is_initialized():
            store = None
            if comm.rank == 0:
                store = dist.TCPStore(_reachable_host(), 0, comm.size, is_master=True, timeout=TORCH_TIMEOUT,
                                      wait_for_workers=False)
            host, port = comm.exchange(None if store is None else (store.host, store.port))[0]
            with comm.critical():  # torch's rendezvous is collective: a failure here ends every rank
                if store is None:
                    store = dist.TCPStore(host, port, comm.size, is_master=False, timeout=TORCH_TIMEOUT)
                dist.init_process_group(_group_backend(dist), store=store, rank=comm.rank, world_size=comm.size,
                                        timeout=TORCH_TIMEOUT)

    def allreduce_(self, arrays: list) -> None:
        import torch

        if len(arrays) == 1 and arrays[0].is_contiguous():  # the flat gradient buffer: summed where it is
            self.dist.all_reduce(arrays[0])
            return
        bucket = torch.cat([a.reshape(-1) for a in arrays])
        self.dist.all_reduce(bucket)
        offset = 0
        for a in arrays:
            a.copy_(bucket[offset:offset + a.numel()].view_as(a))
            offset += a.numel()


def _torch_backend(backend: Any) -> str:
    return "nccl" if backend.device.type == "cuda" else "gloo"


def _group_backend(dist: Any) -> str:
    """The backend of the process group xpmlp makes: gloo for CPU tensors, and NCCL for CUDA
    tensors where this process has CUDA and NCCL (``device:backend`` pairs, torch 2.x)."""
    import torch

    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def _group_devices(name: str) -> set[str]:
    """The device types whose tensors a process group of backend ``name`` takes, as
    ``torch.distributed``'s ``BackendConfig`` reads it: ``"cpu:gloo,cuda:nccl"`` each device type
    named, ``"nccl"`` CUDA only, gloo (and MPI, UCC) both."""
    name = name.lower()
    if ":" in name:
        return {pair.split(":")[0] for pair in name.split(",")}
    return {"cuda"} if name == "nccl" else {"cpu", "cuda"}


def _gpu_identity(backend: Any) -> str:
    """The model's GPU as NCCL tells GPUs apart: its PCI bus id (``domain:bus:device``), so that
    ranks that each see their own GPU as device 0 (a ``CUDA_VISIBLE_DEVICES`` of their own) are not
    taken for ranks sharing one; the device's name on the CPU or where no bus id is exposed."""
    if backend.name == "cupy":
        return str(backend.device.pci_bus_id).lower()  # cupy.cuda.Device (cupy/cuda/device.pyx)
    if backend.name == "torch" and backend.device.type == "cuda":
        import torch

        props = torch.cuda.get_device_properties(backend.device.index or 0)
        if hasattr(props, "pci_bus_id"):  # torch 2.x (torch/numa/binding.py reads the three)
            return f"{props.pci_domain_id:04x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}"
        return str(getattr(props, "uuid", backend.device))  # older torch: the GPU's UUID, one per GPU too
    return str(backend.device)


def _reachable_host() -> str:
    """This host's address for the other ranks (its name where it resolves, else the loopback)."""
    name = socket.gethostname()
    try:
        socket.getaddrinfo(name, None)
        return name
    except OSError:
        return "127.0.0.1"


def _probe(backend: Any) -> dict[str, Any]:
    """What this rank can offer for its model's library."""
    found: dict[str, Any] = {"host": socket.gethostname(), "device": str(backend.device), "gpu": _gpu_identity(backend),
                             "cuda_aware": os.environ.get("XPMLP_MPI_CUDA_AWARE") == "1"}
    if backend.name == "cupy":
        try:
            from cupy.cuda import nccl

            found["nccl"] = bool(getattr(nccl, "available", False)) and hasattr(nccl, "get_unique_id")
        except ImportError:
            found["nccl"] = False
    if backend.name == "torch":
        import torch.distributed as dist

        wanted = _torch_backend(backend)
        found["torch"] = dist.is_available() and (wanted == "gloo" and dist.is_gloo_available()
                                                  or wanted == "nccl" and dist.is_nccl_available())
        if found["torch"] and dist.is_initialized() and backend.device.type not in _group_devices(str(dist.get_backend())):
            found["group"] = str(dist.get_backend())  # a group made elsewhere, without this device type's backend
    return found


def _decide(library: str, probes: list[dict[str, Any]]) -> tuple[type, str]:
    """The transport every rank takes, from every rank's probe, and why (empty: the library's own)."""
    own_gpu = len({(p["host"], p["gpu"]) for p in probes}) == len(probes)  # GPUs told apart by PCI bus id
    if library == "numpy":
        return HostTransport, ""
    if library == "torch":
        if not all(p["torch"] for p in probes):
            return HostStaging, "torch.distributed (gloo on the CPU, NCCL on CUDA) is missing on some rank"
        group = next((p["group"] for p in probes if "group" in p), None)
        if group is not None:
            return HostStaging, f"the process group's backend ({group}) takes no {probes[0]['device'].split(':')[0]} " \
                                "tensors: make it with init_process_group(\"cpu:gloo,cuda:nccl\")"
        if probes[0]["device"].startswith("cuda") and not own_gpu:
            return HostStaging, "two ranks share a GPU, which NCCL refuses: start one rank per GPU"
        return TorchDistributed, ""
    if library == "cupy":
        if all(p["nccl"] for p in probes) and own_gpu:
            return NcclTransport, ""
        if all(p["cuda_aware"] for p in probes):
            return CudaAwareMpi, ""
        why = "two ranks share a GPU, which NCCL refuses" if not own_gpu else "CuPy has no NCCL on some rank"
        return HostStaging, f"{why}; install NCCL (pip install nvidia-nccl-cu12) or use a CUDA-aware MPI " \
                            "(XPMLP_MPI_CUDA_AWARE=1)"
    return HostStaging, f"{library} arrays have no device transport"


def choose_transport(comm: Any, backend: Any) -> Any:
    """The transport for ``backend``'s arrays, the same on every rank (see the module docstring)."""
    kind, why = _decide(backend.name, comm.exchange(_probe(backend)))
    if why and comm.rank == 0:
        logger.warning("%s arrays are staged through host memory at every all-reduce: %s", backend.describe(), why)
    return kind(comm, backend)
