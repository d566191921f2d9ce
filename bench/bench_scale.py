"""How xpmlp's cost grows: seconds per epoch and peak memory as the number
of samples, the width and the depth grow, for xpmlp on NumPy with the
matrix-multiply floor beside it for reference.

    python bench/bench_scale.py
    python bench/bench_scale.py --sweep width --repeats 5 --json scale.json

Time: median of --repeats epochs after a warm-up epoch, floor and xpmlp
interleaved round by round (wall clock, float32, plain SGD, as in
bench_train.py).

Memory: tracemalloc, which NumPy reports its array buffers to. Tracing
starts just before the contender is built, so "state" is what it keeps
(weights, preallocated buffers, any copy of the data it makes) and the
per-epoch peak is the most traced memory at any moment of that epoch;
the training data itself was allocated before tracing and is not
counted. Memory runs are separate from the timed runs (tracing slows
Python allocations). Three traced epochs are compared: if the peak or the
memory left after an epoch grows from epoch to epoch, it is flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
import _contenders as K  # noqa: E402

MB = 2 ** 20


def sweeps(batch):
    """{sweep: (parameter label, [(value, Config), ...])}."""
    return {
        "samples": ("samples", [
            (n, C.Config(f"n={n}", n, (64, 100, 10), batch))
            for n in (5000, 10000, 20000, 40000, 80000)]),
        "width": ("hidden width", [
            (h, C.Config(f"h={h}", 10000, (64, h, h, 10), batch))
            for h in (64, 128, 256, 512, 1024)]),
        "depth": ("hidden layers", [
            (d, C.Config(f"depth={d}", 10000, (64,) + (256,) * d + (10,), batch))
            for d in (1, 2, 4, 8)]),
    }


# The two contenders, by name: the floor, and xpmlp on NumPy.
FACTORIES = {
    "floor": lambda cfg, X, T, Ws, bs, lr: K.Floor("floor", cfg, X, Ws, lib="numpy"),
    "xpmlp-numpy": lambda cfg, X, T, Ws, bs, lr: K.XpmlpContender(
        "xpmlp-numpy", cfg, X, T, Ws, bs, lr, backend="numpy"),
}


def time_point(cfg, X, T, Ws, bs, lr, repeats):
    """Median seconds per epoch for each contender, interleaved."""
    contenders = [make(cfg, X, T, Ws, bs, lr) for make in FACTORIES.values()]
    times = {c.name: [] for c in contenders}
    for rnd in range(repeats + 1):                 # round 0 = warm-up
        for c in contenders:
            seconds = C.time_call(lambda: c.run_epoch(rnd), c.clock)
            if rnd > 0:
                times[c.name].append(seconds)
    return {name: C.median(t) for name, t in times.items()}


def memory_point(name, cfg, X, T, Ws, bs, lr, epochs=3):
    """tracemalloc: bytes kept after building the contender, then for each
    epoch the peak and the bytes still held at its end."""
    tracemalloc.start()
    try:
        c = FACTORIES[name](cfg, X, T, Ws, bs, lr)
        state = tracemalloc.get_traced_memory()[0]
        peaks, held = [], []
        for epoch in range(epochs):
            tracemalloc.reset_peak()
            c.run_epoch(epoch)
            current, peak = tracemalloc.get_traced_memory()
            peaks.append(peak)
            held.append(current)
    finally:
        tracemalloc.stop()
    return {"state_bytes": state, "epoch_peak_bytes": peaks, "epoch_end_bytes": held}


def grows(values, slack=64 * 1024):
    """True if a later epoch's value exceeds the first by more than 1% + slack."""
    return any(v > values[0] * 1.01 + slack for v in values[1:])


def run_sweep(sweep, label, points, args):
    print(f"\n== sweep over {label}")
    rows, records = [], []
    base = None
    for value, cfg in points:
        X, T, y = C.make_data(cfg.n_samples, cfg.layers[0], cfg.layers[-1], seed=args.seed)
        Ws, bs = C.init_weights(cfg.layers, seed=args.seed)
        t = time_point(cfg, X, T, Ws, bs, args.lr, args.repeats)
        mem = {name: memory_point(name, cfg, X, T, Ws, bs, args.lr)
               for name in FACTORIES}
        flops = C.flops_per_sample(cfg.layers) * cfg.n_samples
        if base is None:
            base = (flops, t["xpmlp-numpy"])
        xm = mem["xpmlp-numpy"]
        growth = grows(xm["epoch_peak_bytes"]) or grows(xm["epoch_end_bytes"])
        record = {"sweep": sweep, "value": value, "n_samples": cfg.n_samples,
                  "layers": list(cfg.layers), "batch_size": cfg.batch_size,
                  "flops_per_epoch": flops, "data_bytes": X.nbytes + T.nbytes,
                  "seconds_per_epoch": t, "memory": mem, "memory_grows": growth}
        records.append(record)
        rows.append([
            value, "-".join(map(str, cfg.layers)),
            f"{flops / base[0]:.1f}", f"{t['xpmlp-numpy'] / base[1]:.1f}",
            f"{t['floor']:.4f}", f"{t['xpmlp-numpy']:.4f}",
            f"{t['xpmlp-numpy'] / t['floor']:.2f}",
            f"{(t['xpmlp-numpy'] - t['floor']) / cfg.n_steps * 1e3:.3f}",
            f"{(X.nbytes + T.nbytes) / MB:.1f}",
            f"{mem['floor']['epoch_peak_bytes'][-1] / MB:.2f}",
            f"{xm['state_bytes'] / MB:.2f}",
            " / ".join(f"{p / MB:.2f}" for p in xm["epoch_peak_bytes"]),
            "YES" if growth else "no"])
        print(f"  {value}: floor {t['floor']:.4f}s, xpmlp {t['xpmlp-numpy']:.4f}s", flush=True)
    headers = [label, "layers", "flop x", "time x", "floor s", "xpmlp s", "x floor",
               "ovh ms/step", "data MB", "floor peak MB", "xpmlp state MB",
               "xpmlp peak MB ep1/2/3", "grows?"]
    print(f"\n{label}: s = median seconds per epoch; 'flop x'/'time x' = nominal flops "
          f"and xpmlp time relative to the first row; memory = tracemalloc "
          f"(data not counted)")
    print(C.format_table(headers, rows))
    return records


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sweep", action="append", choices=["samples", "width", "depth", "all"],
                   help="which sweep(s) to run (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs after the warm-up")
    p.add_argument("--batch", type=int, default=200, help="minibatch size")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=C.usable_cores())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    from threadpoolctl import threadpool_limits
    try:
        import xpmlp  # noqa: F401
    except ImportError as exc:
        print(f"bench_scale needs xpmlp: pip install -e . ({exc})")
        return 2
    names = args.sweep or ["all"]
    names = ["samples", "width", "depth"] if "all" in names else list(dict.fromkeys(names))
    results = []
    with threadpool_limits(limits=args.threads):
        env = C.environment(args.threads)
        C.print_environment(env)
        table = sweeps(args.batch)
        for name in names:
            label, points = table[name]
            results += run_sweep(name, label, points, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "points": results}, f, indent=1)
        print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
