"""A short speed table on the GPU, timed with CUDA events (a step of ``bench/gpu_check.sh``).

    python bench/gpu_speed.py [--dry-run] [--json PATH] [--repeats N]

xpmlp on CuPy and on torch CUDA and PyTorch eager, in float32 and in mixed precision (xpmlp-CuPy
float16; xpmlp-torch and torch eager bfloat16), against the cuBLAS floor (only the forward, dX
and dW products, ``matmul(..., out=)``, through CuPy and through torch): seconds per epoch of
``mnist-like`` (60000 x 784-512-256-10, batch 256, plain SGD, TF32 off), the median of ``--repeats``
epochs after a warm-up one.  The contenders are ``bench/_contenders.py``'s (those of
``bench_train.py --device gpu``), run here in one process, one after the other; each one's line is
printed and appended to ``--json`` as it ends.  ``--dry-run``: the stand-ins on a small shape, their
"CUDA events" host clocks: a check that the step runs, no GPU speed.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

import _common as C
from _contenders import build
from gpu_common import CouldNotRun, Results, dry_run, label, usable

#: (contender, the floor it is measured against, the xpmlp backend it needs)
FIELD = [("floor-cupy", "floor-cupy", "cupy"), ("xpmlp-cupy", "floor-cupy", "cupy"),
         ("xpmlp-cupy-fp16", "floor-cupy", "cupy"), ("floor-torch-cuda", "floor-torch-cuda", "torch:cuda"),
         ("xpmlp-torch-cuda", "floor-torch-cuda", "torch:cuda"),
         ("xpmlp-torch-cuda-bf16", "floor-torch-cuda", "torch:cuda"),
         ("torch-cuda", "floor-torch-cuda", "torch:cuda"), ("torch-cuda-bf16", "floor-torch-cuda", "torch:cuda")]
LR = 0.1


def time_one(name: str, backend: str, cfg: C.Config, data: tuple, repeats: int, dry: bool) -> float:
    """Median seconds per epoch of contender ``name`` (after one warm-up epoch)."""
    usable(backend)
    try:
        contender = build(name, cfg, LR, data)
    except (ValueError, TypeError) as exc:  # e.g. a mixed precision the library lacks
        raise CouldNotRun(f"unsupported: {exc}") from None
    except AssertionError as exc:
        if dry and "not compiled with CUDA" in str(exc):  # nn.Module.to("cuda"): beyond the stand-in
            raise CouldNotRun("torch eager moves an nn.Module to CUDA, which the torch-CUDA stand-in does not "
                              "simulate: it runs on a GPU only") from None
        raise
    times = [C.time_call(lambda e=e: contender.run_epoch(e), contender.clock) for e in range(repeats + 1)][1:]
    weights = contender.weights()
    if weights is not None and not all(np.isfinite(W).all() for W in weights[0]):
        raise AssertionError("non-finite weights after training")
    return statistics.median(times)


def main(argv: list[str]) -> int:
    dry = dry_run(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="append each contender's line to this file (JSON lines)")
    parser.add_argument("--repeats", type=int, default=1 if dry else 3)
    args = parser.parse_args(argv)
    cfg = C.Config("dry-run", 2000, (64, 100, 10), 200) if dry else C.CONFIGS["mnist-like"]
    if not dry:
        C.set_tf32(False)
    X, T, y = C.make_data(cfg.n_samples, cfg.layers[0], cfg.layers[-1])
    data = (X, T, y, *C.init_weights(cfg.layers))
    flops = C.flops_per_sample(cfg.layers) * cfg.n_samples
    results = Results(args.json, "speed", dry)
    print(f"speed on {label(dry)}: {cfg.describe()}, median of {args.repeats} epochs; CUDA events", flush=True)
    seconds: dict[str, float] = {}
    for name, floor, backend in FIELD:
        def check(name=name, floor=floor, backend=backend) -> str:
            seconds[name] = t = time_one(name, backend, cfg, data, args.repeats, dry)
            ratio = f", {t / seconds[floor]:.2f}x {floor}" if floor in seconds and floor != name else ""
            return f"{t:.4f} s/epoch, {cfg.n_samples / t:,.0f} samples/s, {flops / t / 1e9:,.0f} GFLOP/s{ratio}"
        results.run(name, check)
    print(C.format_table(["contender", "s/epoch", "GFLOP/s", "x floor"],
                         [[n, f"{t:.4f}", f"{flops / t / 1e9:,.0f}", f"{t / seconds[f]:.2f}" if f in seconds else "-"]
                          for (n, f, _) in FIELD if (t := seconds.get(n))]))
    return results.exit_status()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
