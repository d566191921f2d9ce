"""Data-parallel scaling: samples per second with 1 and 2 MPI ranks, and what N GPUs would need.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_mpi.py --config small --config mnist-like

Runs the same training (xpmlp on NumPy, plain SGD, float32, global batch as in bench_train.py)
under ``mpiexec -n 1`` and ``mpiexec -n 2`` with one BLAS thread per rank, and reports
samples/s, the speedup, the bytes each step all-reduces (every parameter once, float32) and
the time those all-reduces took.  The note it prints estimates, for N GPUs, the ring
all-reduce time per step, ``latency + 2 (N-1)/N x bytes / bandwidth``, at NVLink (300 GB/s)
and InfiniBand (25 GB/s) rates, beside the step's GEMM time and kernel-launch time on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

LINKS = {"NVLink (300 GB/s)": 300e9, "InfiniBand HDR (25 GB/s)": 25e9}
GPU_FLOPS = 50e12  # a float32 GEMM rate an A100/H100-class GPU sustains on these shapes (order of magnitude)
LAUNCH_S = 5e-6  # one CUDA kernel launch, about: small networks are launch-bound on a GPU
LATENCY_S = {"NVLink (300 GB/s)": 10e-6, "InfiniBand HDR (25 GB/s)": 30e-6}  # NCCL all-reduce latency, about


def worker(cfg_name: str, epochs: int, seed: int) -> None:
    """Under mpiexec: train ``epochs`` epochs data-parallel; rank 0 prints one JSON line."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import xpmlp
    from xpmlp.distributed import MPICommunicator, shard

    cfg = C.CONFIGS[cfg_name]
    comm = MPICommunicator()
    X, T, _ = C.make_data(cfg.n_samples, cfg.layers[0], cfg.layers[-1], seed=seed)
    rows = shard(cfg.n_samples, comm.rank, comm.size)
    net = xpmlp.MLP(list(cfg.layers), backend="numpy", dtype="float32", seed=seed)
    spent = [0.0]
    reduce = comm.allreduce_

    def timed(arrays):  # how long the all-reduces take, inside the training time
        start = time.perf_counter()
        reduce(arrays)
        spent[0] += time.perf_counter() - start

    comm.allreduce_ = timed
    xpmlp.train(net, X[rows], T[rows], epochs=1, batch_size=cfg.batch_size, learning_rate=0.05, comm=comm)  # warm-up
    spent[0] = 0.0
    comm.comm.Barrier()
    start = time.perf_counter()
    xpmlp.train(net, X[rows], T[rows], epochs=epochs, batch_size=cfg.batch_size, learning_rate=0.05, comm=comm)
    seconds = time.perf_counter() - start
    if comm.rank == 0:
        params = sum(int(np.prod(p.shape)) for p in net.params)
        print(json.dumps({"ranks": comm.size, "seconds": seconds, "samples_per_s": epochs * cfg.n_samples / seconds,
                          "bytes_per_step": 4 * params, "allreduce_s_per_step": spent[0] / (epochs * cfg.n_steps)}))


def run(cfg_name: str, ranks: int, epochs: int, seed: int) -> dict:
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, __file__, "--worker", cfg_name,
                           "--epochs", str(epochs), "--seed", str(seed)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def paper_note(cfg: C.Config, bytes_per_step: int) -> list[str]:
    flops_step = C.flops_per_sample(cfg.layers) * cfg.batch_size
    lines = [f"  {cfg.name}: {bytes_per_step / 1e6:.2f} MB all-reduced per step; the step's GEMMs on one GPU "
             f"~{flops_step / GPU_FLOPS * 1e6:.1f} us at {GPU_FLOPS / 1e12:.0f} TFLOP/s, its ~40 kernel launches "
             f"~{40 * LAUNCH_S * 1e6:.0f} us"]
    for n in (2, 8, 64):
        cells = [f"{name}: {(2 * (n - 1) / n * bytes_per_step / bw + LATENCY_S[name]) * 1e6:.1f} us"
                 for name, bw in LINKS.items()]
        lines.append(f"    N={n:2d} GPUs (GEMMs {flops_step / n / GPU_FLOPS * 1e6:.2f} us each): " + ", ".join(cells))
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", action="append", choices=list(C.CONFIGS))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", metavar="CONFIG", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.epochs, args.seed)
        return 0
    C.print_environment(C.environment(1))
    rows, notes = [], []
    for name in args.config or ["small"]:
        one, two = (run(name, r, args.epochs, args.seed) for r in (1, 2))
        rows.append([name, f"{one['samples_per_s']:,.0f}", f"{two['samples_per_s']:,.0f}",
                     f"{two['samples_per_s'] / one['samples_per_s']:.2f}", f"{one['bytes_per_step'] / 1e6:.2f}",
                     f"{two['allreduce_s_per_step'] * 1e3:.3f}"])
        notes += paper_note(C.CONFIGS[name], one["bytes_per_step"])
    print(C.format_table(["config", "1 rank samples/s", "2 ranks samples/s", "speedup", "MB all-reduced/step",
                          "all-reduce ms/step (2 ranks)"], rows))
    print("\non paper, ring all-reduce 2(N-1)/N x bytes / bandwidth vs the step's compute:")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
