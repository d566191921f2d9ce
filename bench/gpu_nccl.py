"""NCCL on one GPU: a 1-rank all-reduce through CuPy's ``cupy.cuda.nccl`` and through
``torch.distributed`` (the nccl backend, world size 1) (a step of ``bench/gpu_check.sh``).

    python bench/gpu_nccl.py [--dry-run] [--json PATH]

With one rank an all-reduce of a sum returns its input: each check sends ``0, 1, ..., 1023`` in
float32 and wants them back exactly, and prints the NCCL version it ran on.  A library without NCCL
is reported as could not run, with the reason.  ``--dry-run``: the stand-ins (CuPy's NCCL over MPI,
torch's nccl backend run by gloo on the CPU); not a GPU result.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gpu_common import CouldNotRun, Results, dry_run, label, usable

N = 1024


def cupy_nccl() -> str:
    usable("cupy")
    import cupy
    from cupy.cuda import nccl

    if not getattr(nccl, "available", False):
        raise CouldNotRun("CuPy has no NCCL here (pip install nvidia-nccl-cu12, or the image's libnccl.so.2)")
    comm = nccl.NcclCommunicator(1, nccl.get_unique_id(), 0)
    try:
        x = cupy.arange(N, dtype=cupy.float32)
        y = cupy.zeros_like(x)
        stream = cupy.cuda.get_current_stream()
        comm.allReduce(x.data.ptr, y.data.ptr, N, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, stream.ptr)
        stream.synchronize()
        got = cupy.asnumpy(y)
    finally:
        comm.destroy()
    np.testing.assert_array_equal(got, np.arange(N, dtype=np.float32))
    return f"NCCL {nccl.get_version()}, {N} float32 summed over 1 rank, exact"


def torch_nccl() -> str:
    usable("torch:cuda")
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_nccl_available()):
        raise CouldNotRun("this PyTorch has no NCCL backend")
    dist.init_process_group("nccl", store=dist.HashStore(), rank=0, world_size=1)
    try:
        backend = dist.get_backend()
        x = torch.arange(N, dtype=torch.float32, device="cuda")
        dist.all_reduce(x)
        got = x.cpu().numpy()
    finally:
        dist.destroy_process_group()
    np.testing.assert_array_equal(got, np.arange(N, dtype=np.float32))
    try:
        version = torch.cuda.nccl.version()
    except (AttributeError, RuntimeError):  # a CPU-only build (the dry run's stand-in)
        version = "unknown"
    return f"torch.distributed backend {backend}, NCCL {version}, {N} float32 summed over 1 rank, exact"


def main(argv: list[str]) -> int:
    dry = dry_run(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="append each check's result to this file (JSON lines)")
    args = parser.parse_args(argv)
    results = Results(args.json, "nccl", dry)
    print(f"NCCL, one rank, on {label(dry)}", flush=True)
    results.run("cupy.cuda.nccl 1-rank all-reduce", cupy_nccl)
    results.run("torch.distributed nccl 1-rank all-reduce", torch_nccl)
    return results.exit_status()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
