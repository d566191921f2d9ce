"""Streamed training on the GPU and the timeline of its copies (a step of ``bench/gpu_check.sh``; issue 28).

    python bench/gpu_stream.py [--dry-run] [--json PATH] [--timeline PATH] [--rows N]

For CuPy and for torch CUDA: ``--rows`` x 100 float32 rows written to a ``.npy`` file, then
``fit(net, source, window=8)`` on it, 16384 rows a chunk: the background reader fills page-locked
buffers, each chunk is copied on a side stream and the compute stream waits for it on the device
(``xpmlp.backends.staging``), while :func:`~xpmlp.backends.staging.recording` keeps each chunk's
CUDA events.  Each backend's line: the chunks, the milliseconds spent copying and those the compute
stream waited for a copy, and ``hidden``, the share of the copying it did not wait for (near 1 when
reading and transfer overlap compute, as designed; near 0 when the step loop waits for its data);
the epoch time beside the same fit from memory.  ``--timeline`` writes every chunk's ``copy`` start
and end and the compute stream's ``asked`` and ``ready`` times, in milliseconds, per backend (JSON).  ``--dry-run``: the stand-ins, host clocks:
a check that the step runs, no GPU timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gpu_common import Results, dry_run, gpu_backends, label, usable


def run(backend: str, tmp: Path) -> dict:
    """The streamed fit's timeline (``staging.timeline``) and both fits' seconds on ``backend``."""
    import xpmlp
    from xpmlp.backends import staging
    from xpmlp.training import fit
    from xpmlp.training.sources import as_source

    usable(backend)
    be = xpmlp.resolve(backend, dtype="float32")
    X = np.load(tmp / "X.npy", mmap_mode="r")
    seconds = {}
    for name in ("in_memory", "streamed"):
        net = xpmlp.MLP([X.shape[1], 256, 2], "relu", backend=be, seed=0)
        data = (np.asarray(X), np.load(tmp / "y.npy")) if name == "in_memory" else \
            (as_source(str(tmp / "X.npy"), str(tmp / "y.npy"), chunk_rows=16_384), None)
        with staging.recording() as records:
            start = time.perf_counter()
            fit(net, *data, epochs=1, batch_size=256, patience=None, **({"window": 8} if name == "streamed" else {}))
            seconds[name] = time.perf_counter() - start
    if not records:
        raise AssertionError("the streamed fit recorded no chunk copies: it did not stream through the side stream")
    if be.name == "cupy":
        import cupy

        elapsed = cupy.cuda.get_elapsed_time
    else:
        elapsed = lambda a, b: a.elapsed_time(b)  # noqa: E731 (torch: milliseconds)
    return {**staging.timeline(records, elapsed), "seconds": seconds}


def main(argv: list[str]) -> int:
    dry = dry_run(argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="append each backend's line to this file (JSON lines)")
    p.add_argument("--timeline", type=Path, help="write every chunk's copy and ready times here (JSON)")
    p.add_argument("--rows", type=int, default=40_000 if dry else 1_000_000)
    args = p.parse_args(argv)
    results = Results(args.json, "stream", dry)
    print(f"streamed training on {label(dry)}: {args.rows} x 100 float32 rows, 16384 a chunk; CUDA events", flush=True)
    timelines = {}
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(args.rows, 100)).astype(np.float32)
        np.save(Path(tmp) / "X.npy", X)
        np.save(Path(tmp) / "y.npy", (X[:, 0] + X[:, 1] > 0).astype(np.int64))
        del X
        for backend in gpu_backends():
            def check(backend=backend) -> str:
                t = timelines[backend] = run(backend, Path(tmp))
                hidden = "-" if t["hidden_fraction"] is None else f"{t['hidden_fraction']:.2f}"
                s = t["seconds"]
                return (f"{len(t['chunks'])} chunks, {t['copy_ms']:.1f} ms copying, {t['wait_ms']:.1f} ms waited for, "
                        f"hidden {hidden}; "
                        f"epoch {s['streamed']:.3f} s streamed, {s['in_memory']:.3f} s from memory")
            results.run(f"{backend} streamed", check)
    if args.timeline:
        args.timeline.write_text(json.dumps(timelines, indent=1))
    return results.exit_status()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
