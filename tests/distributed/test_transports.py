"""How arrays travel between ranks (``xpmlp.distributed.transports``), in one process: the transports
given several arrays (the loop passes one flat gradient buffer; a caller of ``allreduce_`` may pass a
list of any shapes and strides), and the collective choice of a transport with the other ranks' probes
given.  Each reduction here is over two ranks that hold the same arrays, played by an all-reduce that
doubles its buffer; the real reductions over MPI, gloo and the NCCL stand-in run under ``mpiexec``
in the other tests of this folder."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import xpmlp
from xpmlp.distributed import transports
from xpmlp.distributed.transports import (CudaAwareMpi, HostStaging, HostTransport, NcclTransport, TorchDistributed,
                                         choose_transport)

from standins import cupy_standin


class TwoAlike:
    """What a transport reads of an ``MPICommunicator``: ``comm.Allreduce`` over two ranks holding the
    same buffer (it doubles it, in place), ``MPI.IN_PLACE``, ``MPI.SUM``; ``exchange`` with the other
    rank's payload given (``others``)."""

    MPI = SimpleNamespace(IN_PLACE="IN_PLACE", SUM="SUM")

    def __init__(self, rank: int = 0, others: list | None = None) -> None:
        self.rank, self.others, self.reduced = rank, others or [], []
        self.size = 1 + len(self.others)
        self.comm = self

    def Allreduce(self, sendbuf, recvbuf, op):  # noqa: N802 (MPI's name)
        assert sendbuf == "IN_PLACE" and op == "SUM"
        self.reduced.append(recvbuf)
        recvbuf *= 2

    def exchange(self, payload):
        return [payload, *self.others] if self.rank == 0 else [*self.others, payload]

    def critical(self):
        return contextlib.nullcontext()


def several(xp, device=None, dtype=None):
    """A matrix, a vector and a strided view: the arrays, and their values on the host."""
    host = [np.arange(6.0).reshape(2, 3) + 1, np.array([-1.0, 0.5, 2.0]), np.arange(12.0).reshape(3, 4)]
    kw = {} if device is None else {"device": device}
    arrays = [xp.asarray(a.copy(), dtype=dtype, **kw) for a in host]
    arrays[2] = arrays[2][:, ::2]  # a strided view: written through to its base
    host[2] = host[2][:, ::2]
    return arrays, host


def test_host_transport_packs_several_numpy_arrays_into_one_reused_buffer():
    comm = TwoAlike()
    t = HostTransport(comm, xpmlp.resolve("numpy"))
    arrays, host = several(np, dtype=np.float64)
    base, untouched = arrays[2].base, arrays[2].base[:, 1::2].copy()
    t.allreduce_(arrays)
    for a, h in zip(arrays, host):
        np.testing.assert_array_equal(a, 2 * h)
    np.testing.assert_array_equal(base[:, 1::2], untouched)  # the strided view's sums went into its own elements
    assert len(comm.reduced) == 1 and comm.reduced[0].size == 6 + 3 + 6
    buffer = t.buffer
    t.allreduce_(arrays)
    assert t.buffer is buffer and comm.reduced[1] is buffer  # the same shapes: the buffer is reused
    np.testing.assert_array_equal(arrays[0], 4 * host[0])
    single = [np.ones((3, 4), dtype=np.float32)[:, ::2]]  # one array, but strided: packed too
    t.allreduce_(single)
    assert t.buffer is not buffer and t.buffer.dtype == np.float32
    pair = [np.ones((2, 3), dtype=np.float32)[:, ::2], np.full(3, 3.0, np.float32)]  # float32 again, 7 entries
    t.allreduce_(pair)
    assert t.buffer.size == 7 and comm.reduced[-1] is t.buffer  # a new size: a new buffer, never a part of the old
    np.testing.assert_array_equal(pair[1], np.full(3, 6.0, np.float32))
    np.testing.assert_array_equal(single[0], np.full((3, 2), 2.0, dtype=np.float32))


def test_host_staging_reduces_several_arrays_of_another_library_on_the_host():
    strict = pytest.importorskip("array_api_strict")
    be = xpmlp.resolve("array_api_strict", device="device1", dtype="float64")
    arrays, host = several(strict, be.device, strict.float64)
    arrays = arrays[:2]  # array-api-strict's slices are copies: the two whole arrays
    HostStaging(TwoAlike(), be).allreduce_(arrays)
    for a, h in zip(arrays, host):
        assert a.device == be.device
        np.testing.assert_array_equal(be.to_numpy(a), 2 * h)


def test_a_cuda_aware_mpi_sums_several_device_arrays_in_one_bucket():
    with cupy_standin() as cupy:
        be = xpmlp.resolve("cupy", device="1", dtype="float64")
        comm = TwoAlike()
        with be.activate():
            arrays, host = several(cupy, dtype=cupy.float64)
            flat = cupy.arange(4.0)
            CudaAwareMpi(comm, be).allreduce_(arrays)
            CudaAwareMpi(comm, be).allreduce_([flat])  # the flat gradient buffer: summed where it is
        assert comm.reduced[0].shape == (15,) and comm.reduced[1] is flat
        for a, h in zip(arrays, host):
            np.testing.assert_array_equal(cupy.asnumpy(a), 2 * h)
        np.testing.assert_array_equal(cupy.asnumpy(flat), 2 * np.arange(4.0))


def test_nccl_sums_on_the_current_stream_without_a_host_wait():
    """NCCL's all-reduce is queued on the current stream (the stand-in's, like ncclAllReduce, lands
    in stream order): the transport makes the host wait for nothing, the work that follows on the
    stream sees the sums, and a stream not ordered after it would race (one rank: sums equal inputs)."""
    with cupy_standin() as cupy:
        be = xpmlp.resolve("cupy", device="1", dtype="float64")
        with be.activate():
            t = NcclTransport(TwoAlike(), be)
            assert t.nc.device_id() == 1 and t.nc.size() == 1
            arrays, host = several(cupy, dtype=cupy.float64)
            flat = cupy.arange(4.0)
            t.allreduce_(arrays)  # a bucket, copied back by work on the stream
            t.allreduce_([flat])  # the flat gradient buffer: summed where it is, still queued
            assert sum(cupy._standin.SYNCS.values()) == 0
            with cupy.cuda.Stream(non_blocking=True), pytest.raises(RuntimeError, match="^race: .* ncclAllReduce"):
                flat + 0
            for a, h in zip(arrays, host):
                np.testing.assert_array_equal(cupy.asnumpy(a), h)
            np.testing.assert_array_equal(cupy.asnumpy(flat * 1), np.arange(4.0))


def test_torch_distributed_sums_several_tensors_in_one_bucket():
    torch = pytest.importorskip("torch")
    dist = pytest.importorskip("torch.distributed")
    if dist.is_initialized():
        pytest.skip("a process group exists already in this process")
    be = xpmlp.resolve("torch", device="cpu", dtype="float64")
    t = TorchDistributed(TwoAlike(), be)  # a process group of this one process (gloo, a TCPStore of its own)
    try:
        assert dist.get_world_size() == 1 and dist.get_backend() == "gloo"
        calls = []

        def all_reduce(tensor):  # the group's sum over this process, then the second rank's like share
            calls.append(tensor)
            dist.all_reduce(tensor)
            tensor.mul_(2)

        t.dist = SimpleNamespace(all_reduce=all_reduce)
        arrays, host = several(torch, "cpu", torch.float64)
        t.allreduce_(arrays)
        assert len(calls) == 1 and calls[0].shape == (15,)
        for a, h in zip(arrays, host):
            np.testing.assert_array_equal(a.numpy(), 2 * h)
    finally:
        dist.destroy_process_group()


def test_the_address_for_the_other_ranks_falls_back_to_the_loopback(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "node-that-does-not-resolve.invalid")

    def unresolved(host, port, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unresolved)
    assert transports._reachable_host() == "127.0.0.1"


def test_cupy_without_nccl_on_one_rank_is_staged_on_every_rank_and_said_once(monkeypatch, caplog):
    with cupy_standin():
        be = xpmlp.resolve("cupy", device="1", dtype="float32")
        with monkeypatch.context() as mp:  # undone inside the stand-in's block, which keeps its modules
            mp.delitem(sys.modules, "cupy.cuda.nccl", raising=False)
            mp.delattr(sys.modules["cupy.cuda"], "nccl", raising=False)
            mp.setitem(sys.modules, "cupy.cuda.nccl", None)  # `from cupy.cuda import nccl` raises ImportError
            mine = transports._probe(be)
            assert mine["nccl"] is False
            other = {**mine, "nccl": True, "device": "<CUDA Device 0>", "gpu": "0000:17:00.0"}  # another GPU, with NCCL
            with caplog.at_level(logging.WARNING, logger="xpmlp.distributed"):
                t = choose_transport(TwoAlike(others=[other]), be)
                choose_transport(TwoAlike(rank=1, others=[other]), be)  # the other rank: the same, silently
    assert type(t) is HostStaging
    assert [r.getMessage() for r in caplog.records] == [
        "cupy:1 float32 arrays are staged through host memory at every all-reduce: CuPy has no NCCL on some rank; "
        "install NCCL (pip install nvidia-nccl-cu12) or use a CUDA-aware MPI (XPMLP_MPI_CUDA_AWARE=1)"]


@pytest.mark.parametrize("other,why", [
    ({"torch": False}, "torch.distributed (gloo on the CPU, NCCL on CUDA) is missing on some rank"),
    ({}, "two ranks share a GPU, which NCCL refuses: start one rank per GPU"),
], ids=["no-torch-distributed", "shared-gpu"])
def test_torch_falls_back_to_host_staging_on_every_rank_and_says_why(other, why, caplog):
    pytest.importorskip("torch")
    from standins.torch_cuda import torch_cuda

    with torch_cuda():
        be = xpmlp.resolve("torch", device="cuda:1", dtype="float32")
        mine = transports._probe(be)
        assert mine["torch"] is True and mine["device"] == "cuda:1"
        with caplog.at_level(logging.WARNING, logger="xpmlp.distributed"):
            t = choose_transport(TwoAlike(others=[{**mine, **other}]), be)  # the same host and GPU unless said
    assert type(t) is HostStaging
    assert [r.getMessage() for r in caplog.records] == [
        f"torch:cuda:1 float32 arrays are staged through host memory at every all-reduce: {why}"]


@contextlib.contextmanager
def _cuda_standin_group():
    """The torch-CUDA stand-in, with no process group before and none after the block."""
    pytest.importorskip("torch")
    import torch.distributed as dist
    from standins.torch_cuda import torch_cuda

    if dist.is_initialized():
        pytest.skip("a process group exists already in this process")
    try:
        with torch_cuda():
            yield dist
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_a_cpu_fit_after_a_cuda_fit_finds_a_backend_for_its_tensors():
    """The group made for a torch CUDA model takes CPU tensors too (gloo; NCCL for CUDA ones), so a
    later torch:cpu fit in the same process all-reduces through it."""
    import torch

    with _cuda_standin_group() as dist:
        TorchDistributed(TwoAlike(), xpmlp.resolve("torch", device="cuda:1", dtype="float64"))
        assert dist.get_backend() == "cpu:gloo,cuda:nccl"
        cpu = xpmlp.resolve("torch", device="cpu", dtype="float64")
        t = choose_transport(TwoAlike(), cpu)
        assert type(t) is TorchDistributed
        x, y = torch.arange(3.0), torch.arange(4.0, device="cuda:1")
        t.allreduce_([x])  # a group of this one process: the sum is the tensor
        t.allreduce_([y])
        np.testing.assert_array_equal(x.numpy(), np.arange(3.0))
        assert y.device == torch.device("cuda", 1)


def test_an_nccl_only_group_refuses_cpu_tensors_and_a_cpu_model_is_staged(caplog):
    """The stand-in's group made with "nccl" refuses a CPU tensor as PyTorch's does; xpmlp, given
    such a group made elsewhere, stages a CPU model's arrays through the host and says why."""
    import torch

    with _cuda_standin_group() as dist:
        store = dist.TCPStore("127.0.0.1", 0, 1, is_master=True, wait_for_workers=False)
        dist.init_process_group("nccl", store=store, rank=0, world_size=1)
        with pytest.raises(RuntimeError, match="No backend type associated with device type cpu"):
            dist.all_reduce(torch.ones(2))
        dist.all_reduce(torch.ones(2, device="cuda:0"))  # CUDA tensors: NCCL's
        cpu = xpmlp.resolve("torch", device="cpu", dtype="float32")
        with caplog.at_level(logging.WARNING, logger="xpmlp.distributed"):
            t = choose_transport(TwoAlike(), cpu)
    assert type(t) is HostStaging
    assert [r.getMessage() for r in caplog.records] == [
        "torch:cpu float32 arrays are staged through host memory at every all-reduce: the process group's backend "
        "(nccl) takes no cpu tensors: make it with init_process_group(\"cpu:gloo,cuda:nccl\")"]


@pytest.mark.parametrize("props,expected", [
    ({"pci_domain_id": 0, "pci_bus_id": 0x3B, "pci_device_id": 0, "uuid": "GPU-1"}, "0000:3b:00"),
    ({"uuid": "GPU-1"}, "GPU-1"),  # a torch without the PCI fields
    ({}, "cuda:0"),
], ids=["pci", "uuid", "neither"])
def test_a_torch_gpu_is_known_by_its_pci_address(monkeypatch, props, expected):
    torch = pytest.importorskip("torch")
    from standins.torch_cuda import torch_cuda

    with torch_cuda(), monkeypatch.context() as mp:  # undone inside the stand-in's block
        be = xpmlp.resolve("torch", device="cuda:0", dtype="float32")
        mp.setattr(torch.cuda, "get_device_properties", lambda i: SimpleNamespace(**props))
        assert transports._gpu_identity(be) == expected
