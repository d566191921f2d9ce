"""Streamed against in-memory training on the same data: the ratio of their epoch times.

The data (``--rows`` x ``--features`` float32, two classes) is written to a ``.npy`` file; the same
model trains on it for ``--epochs`` epochs in memory (``fit(net, X, y)``) and streamed from the file
(``fit(net, "X.npy", "y.npy")``: a background reader, ``--chunk`` rows a chunk, ``--window`` chunks
shuffled together), ``--repeats`` times each, alternating; the best of each is kept.  Target on the
CPU with data that fit in memory: streamed at most 10% slower (ratio <= 1.10).

    python bench/bench_stream.py --rows 200000 --features 100 --epochs 2 --blas-threads 1 --json stream.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import xpmlp
from xpmlp.training import fit


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--features", type=int, default=100)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--chunk", type=int, default=16_384)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backend", default="numpy")
    p.add_argument("--blas-threads", type=int, help="limit BLAS to this many threads (threadpoolctl); the reader "
                   "thread needs a core of its own to overlap")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    times: dict[str, list[float]] = {"in_memory": [], "streamed": []}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "X.npy", X)
        np.save(Path(tmp) / "y.npy", y)
        runs = {"in_memory": (X, y), "streamed": (str(Path(tmp) / "X.npy"), str(Path(tmp) / "y.npy"))}
        for _ in range(args.repeats):
            for name, (data, target) in runs.items():
                net = xpmlp.MLP([args.features, args.hidden, 2], "relu", seed=0,
                                backend=xpmlp.resolve(args.backend, dtype="float32"))
                extra = {"window": args.window} if name == "streamed" else {}
                if name == "streamed":
                    from xpmlp.training.sources import as_source

                    data, target = as_source(data, target, chunk_rows=args.chunk), None
                start = time.perf_counter()
                fit(net, data, target, epochs=args.epochs, batch_size=args.batch_size, patience=None, **extra)
                times[name].append((time.perf_counter() - start) / args.epochs)
    best = {name: min(t) for name, t in times.items()}
    result = {"config": vars(args) | {"json": None}, "epoch_seconds": best, "all_epoch_seconds": times,
              "ratio_streamed_to_in_memory": best["streamed"] / best["in_memory"]}
    print(f"epoch: in memory {best['in_memory']:.3f} s, streamed {best['streamed']:.3f} s, "
          f"ratio {result['ratio_streamed_to_in_memory']:.3f} (target <= 1.10 on the CPU)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
