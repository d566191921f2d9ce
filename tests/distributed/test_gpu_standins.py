"""The GPU data-parallel path, run on the CPU through the CuPy stand-in (``tests/standins``) under
``mpiexec``: NCCL (``cupy.cuda.nccl`` over MPI) equals one process, one GPU per rank by its local
rank; CuPy from pip without NCCL, two ranks on one GPU, a CUDA-aware MPI; and an NCCL that fails
to start on one rank, which ends every rank within the bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from mpirun import MPIEXEC, STANDINS, TIMEOUT, mpirun, ranks
from test_data_parallel import assert_like_one_process, single_process
from test_faults import BOUND

pytest.importorskip("mpi4py", reason="the data-parallel tests need mpi4py and an MPI library (pip install 'xpmlp[mpi]')")
STAGED = "staged through host memory"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_nccl_on_one_gpu_per_rank_equals_one_process(dtype, tmp_path):
    done = mpirun(2, "adam@cupy", dtype, tmp_path, standins=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert STAGED not in done.stderr  # NCCL carried it
    net, hist = single_process("adam", dtype)
    found = ranks(tmp_path, 2)
    assert_like_one_process(found, net, hist, dtype)
    assert [rank["backend"] for rank in found] == [f"cupy:0 {dtype}", f"cupy:1 {dtype}"]  # by local rank


@pytest.mark.parametrize("n_ranks,env,why", [
    (2, {"XPMLP_STANDIN_NCCL": "missing"}, "CuPy has no NCCL on some rank"),
    (3, {"XPMLP_STANDIN_GPUS": "2"}, "two ranks share a GPU"),  # local ranks 0 and 2 both on GPU 0
])
def test_without_nccl_every_rank_falls_back_together_and_says_so_once(n_ranks, env, why, tmp_path):
    done = mpirun(n_ranks, "momentum@cupy", "float64", tmp_path, env=env, standins=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count(STAGED) == 1 and why in done.stderr
    net, hist = single_process("momentum", "float64")
    assert_like_one_process(ranks(tmp_path, n_ranks), net, hist, "float64")


def test_a_cuda_aware_mpi_takes_the_device_buffers(tmp_path):
    env = {"XPMLP_STANDIN_NCCL": "missing", "XPMLP_MPI_CUDA_AWARE": "1"}
    done = mpirun(2, "momentum@cupy", "float64", tmp_path, env=env, standins=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert STAGED not in done.stderr
    net, hist = single_process("momentum", "float64")
    assert_like_one_process(ranks(tmp_path, 2), net, hist, "float64")


@pytest.mark.parametrize("n_ranks", [2, 3])
def test_nccl_failing_to_start_on_one_rank_ends_every_rank(n_ranks, tmp_path):
    env = {"XPMLP_STANDIN_NCCL": "init-fails:1", "XPMLP_STANDIN_GPUS": str(n_ranks)}
    start = time.time()
    done = mpirun(n_ranks, "adam@cupy", "float64", tmp_path, env=env, standins=True)
    assert done.returncode != 0
    assert f"rank 1 of {n_ranks} failed: NcclError: ncclSystemError" in done.stderr
    assert time.time() - start < 10 + BOUND  # start-up (imports on every rank) and the bound


def test_torch_cuda_tensors_travel_by_torch_distributed_on_one_gpu_per_rank(tmp_path):
    """torch on CUDA (the stand-in: CPU memory on "cuda:N") takes torch.distributed's NCCL branch
    (run by gloo here), each rank on its local rank's GPU."""
    pytest.importorskip("torch")
    done = mpirun(2, "momentum@torch:cuda", "float64", tmp_path, env={"XPMLP_STANDIN_TORCH_CUDA": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert STAGED not in done.stderr
    found = ranks(tmp_path, 2)
    net, hist = single_process("momentum", "float64")
    assert_like_one_process(found, net, hist, "float64")
    assert [rank["backend"] for rank in found] == ["torch:cuda:0 float64", "torch:cuda:1 float64"]


@pytest.mark.parametrize("visible,shared", [("0;1", False), ("0;0", True)], ids=["own-gpus", "one-gpu"])
def test_ranks_that_each_see_one_gpu_as_device_0_are_told_apart_by_pci_bus_id(visible, shared, tmp_path):
    """Each rank sees one GPU, as device 0 (a CUDA_VISIBLE_DEVICES of its own): two GPUs (two PCI bus
    ids) take NCCL; one GPU seen by both is staged through the host, and said so once."""
    done = mpirun(2, "momentum@cupy", "float64", tmp_path, env={"XPMLP_STANDIN_VISIBLE": visible}, standins=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count(STAGED) == shared and ("two ranks share a GPU" in done.stderr) == shared
    found = ranks(tmp_path, 2)
    assert [rank["backend"] for rank in found] == ["cupy:0 float64"] * 2
    net, hist = single_process("momentum", "float64")
    assert_like_one_process(found, net, hist, "float64")


def test_torch_ranks_on_their_own_device_0_take_nccl(tmp_path):
    pytest.importorskip("torch")
    env = {"XPMLP_STANDIN_TORCH_CUDA": "1", "XPMLP_STANDIN_VISIBLE": "1;0"}
    done = mpirun(2, "momentum@torch:cuda", "float64", tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert STAGED not in done.stderr
    found = ranks(tmp_path, 2)
    assert [rank["backend"] for rank in found] == ["torch:cuda:0 float64"] * 2


def test_a_torch_cpu_fit_after_a_cuda_fit_in_the_same_processes(tmp_path):
    """The process group made for the CUDA fit (NCCL for CUDA tensors) takes the CPU fit's (gloo):
    an NCCL-only group would end the run with "No backend type associated with device type cpu"."""
    pytest.importorskip("torch")
    done = mpirun(2, "cuda-then-cpu@torch:cuda", "float64", tmp_path, env={"XPMLP_STANDIN_TORCH_CUDA": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert STAGED not in done.stderr
    found = ranks(tmp_path, 2)
    assert [rank["backend"] for rank in found] == ["torch:cpu float64"] * 2
    net, hist = single_process("momentum", "float64")
    assert_like_one_process(found, net, hist, "float64")


STREAMS = """
import json
import sys
import cupy
from cupy.cuda import nccl
from mpi4py import MPI

world = MPI.COMM_WORLD
cupy.cuda.Device(world.rank).use()
comm = nccl.NcclCommunicator(world.size, world.bcast(nccl.get_unique_id() if world.rank == 0 else None), world.rank)
stream, found = cupy.cuda.Stream(non_blocking=True), {}
send, recv = cupy.arange(4.0) + 10 * world.rank, cupy.zeros(4)
comm.allReduce(send.data.ptr, recv.data.ptr, 4, nccl.NCCL_FLOAT64, nccl.NCCL_SUM, stream.ptr)
try:
    found["null stream"] = recv.get().tolist()
except RuntimeError as exc:
    found["null stream"] = str(exc).split(";")[0]
with stream:
    found["its stream"] = (recv * 1).get().tolist()
x = cupy.ones(3) * (world.rank + 1)
for _ in range(2):  # in place, on the null stream: the second sums the first's sums
    comm.allReduce(x.data.ptr, x.data.ptr, 3, nccl.NCCL_FLOAT64, nccl.NCCL_SUM, 0)
found["in place twice"] = x.get().tolist()
comm.destroy()
with open(f"{sys.argv[1]}/rank{world.rank}.json", "w") as f:  # stdout of two ranks may interleave
    json.dump(found, f)
"""


def test_the_nccl_standins_sum_over_two_ranks_lands_in_stream_order(tmp_path):
    """The stand-in's all-reduce over two ranks, as ncclAllReduce: queued on its stream, the ranks'
    sum read on that stream; read from the null stream before any wait, a race the stand-in refuses."""
    if MPIEXEC is None:
        pytest.skip("no mpiexec on this machine (pip install mpich)")
    script = tmp_path / "streams.py"
    script.write_text(STREAMS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(STANDINS), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(script), str(tmp_path)], capture_output=True,
                          text=True, timeout=TIMEOUT, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    for rank in range(2):
        found = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert found["null stream"].startswith("race: this memory is used on stream 0x0 of device ")
        assert found["its stream"] == [10.0, 12.0, 14.0, 16.0]
        assert found["in place twice"] == [6.0, 6.0, 6.0]
