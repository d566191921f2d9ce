"""Train the same MLP on the same data with several implementations and
compare seconds per epoch against the pure matrix-multiply floor.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_train.py --config small
    ... bench/bench_train.py --config all --repeats 3 --json out.json --plot out.png
    ... bench/bench_train.py --samples 20000 --layers 64,100,10 --batch 200
    ... bench/bench_train.py --config small --check-isolation

Each contender runs in a worker process of its own (only its libraries and
thread pools there; see _isolation.py), driven round by round from here:
round 0 is the warm-up epoch, rounds 1..repeats are timed, and the median
is reported.  ``--in-process`` runs them all in this process instead, to
show what sharing one process does to the timings.
Every training contender starts from the same host-drawn weights and runs
the same number of epochs; its final weights are scored by one NumPy
evaluator (bench/_common.py: mean_cross_entropy) so that a contender that
skips work shows up as a loss far from the others.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from _contenders import field  # noqa: E402
from _isolation import Local, Remote  # noqa: E402


# --------------------------------------------------------------------------
# Contenders other than the floor and xpmlp (those live in _common)
# --------------------------------------------------------------------------

# --------------------------------------------------------------------------
# One configuration
# --------------------------------------------------------------------------

def run_config(cfg, args):
    print(f"\n== {cfg.describe()}")
    X, T, y = C.make_data(cfg.n_samples, cfg.layers[0], cfg.layers[-1], seed=args.seed)
    Ws, bs = C.init_weights(cfg.layers, seed=args.seed)
    initial_loss = C.mean_cross_entropy(Ws, bs, X, y)
    names, skipped = field(args)
    contenders = start_contenders(names, cfg, args, skipped)
    for name, why in skipped:
        print(f"skip {name}: {why}")
    if not contenders:
        print("nothing to run")
        return None
    try:
        if args.check_isolation:
            check_isolation(contenders, args)
        times, failed, epochs = interleaved_rounds(contenders, args.repeats, args.min_turn)
        losses = {c.name: C.mean_cross_entropy(*c.weights(), X, y)
                  for c in contenders if c.trains and c.name not in failed}
        rows = result_rows(cfg, contenders, times, failed, losses, initial_loss, args)
        print_table(cfg, rows, initial_loss, epochs, args.loss_rtol)
        ops = operations_per_step(cfg)
        allocated = step_allocations(cfg)
        if args.profile:
            profile_contender(args, contenders, failed)
    finally:
        for c in contenders:
            c.close()
    return {"config": cfg.name, "n_samples": cfg.n_samples, "layers": list(cfg.layers),
            "batch_size": cfg.batch_size, "steps_per_epoch": cfg.n_steps,
            "flops_per_epoch": C.flops_per_sample(cfg.layers) * cfg.n_samples, "learning_rate": args.lr,
            "epochs_trained": epochs, "initial_loss": initial_loss, "loss_rtol": args.loss_rtol,
            "isolation": "in-process" if args.in_process else "one process per contender",
            "xpmlp_array_operations_per_step": ops, "xpmlp_numpy_step_allocation_bytes": allocated,
            "results": rows, "skipped": [{"name": n, "reason": r} for n, r in skipped],
            "failed": [{"name": n, "reason": r} for n, r in failed.items()]}


def operations_per_step(cfg):
    """xpmlp's array operations per step: ATen kernels with the torch fast paths (each a kernel
    launch on CUDA) and the generic code's operations (array-api-strict)."""
    try:
        from xpmlp import BackendError
        from xpmlp.diagnostics.opcount import ops_per_step
    except ImportError:
        return None
    ops = {}
    for backend in ("torch", "array_api_strict"):
        try:
            ops[backend] = sum(ops_per_step(list(cfg.layers), batch=8, steps=2, backend=backend).values())
        except (ImportError, BackendError) as exc:  # e.g. torch not installed
            print(f"skip {backend}'s array operation count: {str(exc).splitlines()[0]}")
    print("xpmlp array operations per step: " + ", ".join(f"{b} {n:.0f}" for b, n in ops.items())
          + " (torch: kernels, one launch each on a GPU; array_api_strict: the generic code)")
    return ops


def step_allocations(cfg):
    """The most a NumPy training step of this shape holds beyond its reused arrays (tracemalloc)."""
    try:
        from xpmlp.diagnostics.allocations import step_allocations as measure
    except ImportError:
        return None
    got = measure(list(cfg.layers), batch=cfg.batch_size, steps=4)
    hidden = cfg.batch_size * max(cfg.layers[1:-1], default=cfg.layers[-1]) * 4
    print(f"xpmlp (NumPy) step allocations: at most {got['peak']} bytes held beyond its arrays, live memory "
          f"growing {got['growth']} bytes per step (one hidden layer's activations: {hidden} bytes)")
    return got


def start_contenders(names, cfg, args, skipped):
    """Each contender in its own worker process (or here, with --in-process)."""
    kind = Local if args.in_process else Remote
    started = []
    for name in names:
        try:
            started.append(kind(name, cfg, args.lr, args.seed, args.threads))
        except Exception as exc:
            skipped.append((name, str(exc).splitlines()[0]))
    return started


#: A contender's turn lasts at least about this long: short epochs repeat back to back within it.
MIN_TURN_S = 0.2


def interleaved_rounds(contenders, repeats, min_turn=MIN_TURN_S):
    """Round 0 warms up; rounds 1..repeats are timed, the contenders taking turns; a turn is
    ``per_turn`` epochs, the same for all, enough that the quickest turn lasts ``min_turn``."""
    times = {c.name: [] for c in contenders}
    failed, per_turn, epoch = {}, 1, 0
    for rnd in range(repeats + 1):
        this_round = {}
        for c in contenders:
            if c.name in failed:
                continue
            try:
                this_round[c.name] = c.timed_epochs(epoch, per_turn)
            except Exception as exc:
                failed[c.name] = f"{type(exc).__name__}: {exc}"
                print(f"fail {c.name}: {failed[c.name]}")
                continue
            if rnd > 0:
                times[c.name].append(this_round[c.name])
        label = "warm-up" if rnd == 0 else f"round {rnd}/{repeats} ({per_turn} epochs a turn)"
        print(f"  {label}: " + ", ".join(f"{n} {s:.4f}s" for n, s in this_round.items()), flush=True)
        epoch += per_turn
        if rnd == 0 and this_round:
            per_turn = turn_length(min(this_round.values()), min_turn)
    return times, failed, epoch


def turn_length(quickest_epoch_s, min_turn):
    """Epochs per turn: enough for ``min_turn`` seconds of the quickest contender (1 to 20)."""
    return max(1, min(20, round(min_turn / quickest_epoch_s))) if min_turn > 0 else 1


def check_isolation(contenders, args):
    """Each contender timed alone (the others idle), then side by side, with the same turns, and
    the medians printed."""
    warm = {c.name: c.timed_epochs(0) for c in contenders}
    per_turn = turn_length(min(warm.values()), args.min_turn)
    alone = {c.name: C.median([c.timed_epochs(1 + r * per_turn, per_turn) for r in range(args.repeats)])
             for c in contenders}
    together, _, _ = interleaved_rounds(contenders, args.repeats, args.min_turn)
    print(f"isolation check ({'one process' if args.in_process else 'a process per contender'}, "
          f"{per_turn} epochs a turn): median s/epoch alone vs side by side")
    for c in contenders:
        both = C.median(together[c.name])
        print(f"  {c.name:24s} alone {alone[c.name]:.4f}  side by side {both:.4f}  ratio {both / alone[c.name]:.2f}")


def result_rows(cfg, contenders, times, failed, losses, initial_loss, args):
    checks = loss_checks(losses, initial_loss, args.loss_rtol)
    flops_epoch = C.flops_per_sample(cfg.layers) * cfg.n_samples
    floors = {}  # the fastest floor on each device
    for c in contenders:
        if not c.trains and times[c.name]:
            floors[c.device_kind] = min(C.median(times[c.name]), floors.get(c.device_kind, float("inf")))
    rows = []
    for c in contenders:
        if c.name in failed or not times[c.name]:
            continue
        med, floor = C.median(times[c.name]), floors.get(c.device_kind)
        rows.append({
            "name": c.name, "device": c.device_kind, "times_s": times[c.name],
            "median_s": med, "samples_per_s": cfg.n_samples / med, "gflops": flops_epoch / med / 1e9,
            "ratio_to_floor": med / floor if floor else None,
            "overhead_ms_per_step": (med - floor) / cfg.n_steps * 1e3 if floor else None,
            "final_loss": losses.get(c.name), "loss_check": checks.get(c.name, "n/a"),
        })
    return rows


def loss_checks(losses, initial_loss, rtol):
    """'ok' when a contender's final loss is below the starting loss and
    within rtol x (the median contender's loss drop) of the median final
    loss. Measured against the drop rather than the loss itself, the check
    stays as sharp on a shape that learns slowly (wide) as on one that
    learns fast, while shuffle noise (each contender shuffles with its own
    generator) stays well inside it: under 3% of the drop here."""
    if not losses:
        return {}
    reference = C.median(list(losses.values()))
    drop = initial_loss - reference
    checks = {}
    for name, loss in losses.items():
        if not np.isfinite(loss):
            checks[name] = "FAIL (not finite)"
        elif loss >= initial_loss or drop <= 0:
            checks[name] = "FAIL (no progress)"
        elif abs(loss - reference) > rtol * drop:
            checks[name] = f"FAIL ({(loss - reference) / drop:+.0%} of the drop)"
        else:
            checks[name] = "ok"
    return checks


def print_table(cfg, rows, initial_loss, epochs, rtol):
    headers = ["contender", "s/epoch", "samples/s", "GFLOP/s", "x floor",
               "ovh ms/step", "final loss", "same loss?"]
    body = []
    for r in rows:
        body.append([
            r["name"], f"{r['median_s']:.4f}", f"{r['samples_per_s']:,.0f}",
            f"{r['gflops']:.1f}",
            f"{r['ratio_to_floor']:.2f}" if r["ratio_to_floor"] else "-",
            f"{r['overhead_ms_per_step']:.3f}" if r["overhead_ms_per_step"] is not None else "-",
            f"{r['final_loss']:.4f}" if r["final_loss"] is not None else "-",
            r["loss_check"]])
    print(f"\n{cfg.name}: median of timed epochs; GFLOP/s counts "
          f"6 x sum(fan_in x fan_out) = {C.flops_per_sample(cfg.layers):,} flop/sample; "
          f"ovh = (t - t_floor) / {cfg.n_steps} steps")
    print(f"loss: one NumPy evaluator on the training set after {epochs} epochs "
          f"(start {initial_loss:.4f}); same loss = within {rtol:.0%} of the loss drop "
          f"of the median contender")
    print(C.format_table(headers, body))


def profile_contender(args, contenders, failed):
    """One extra epoch of the named contender under cProfile (in its own process)."""
    by_name = {c.name: c for c in contenders if c.name not in failed}
    c = by_name.get(args.profile)
    if c is None:
        print(f"\n--profile {args.profile}: no such contender in this run")
        return
    print(f"\ncProfile of one epoch of {c.name} (by own time):")
    print(c.profile(args.profile_top))


# --------------------------------------------------------------------------
# Plot and main
# --------------------------------------------------------------------------

def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(7, 2.2 + 0.45 * max(
        len(r["results"]) for r in results) * len(results)), squeeze=False)
    for ax, res in zip(axes[:, 0], results):
        names = [r["name"] for r in res["results"]]
        values = [r["median_s"] for r in res["results"]]
        colors = ["0.6" if n.startswith("floor") else
                  "tab:blue" if n.startswith("xpmlp") else "tab:orange" for n in names]
        ax.barh(names, values, color=colors)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("seconds per epoch (log scale, lower is better)")
        shape = "-".join(map(str, res["layers"]))
        ax.set_title(f"{res['config']}: {res['n_samples']} x {shape}, batch {res['batch_size']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", action="append", choices=[*C.CONFIGS, "all"],
                   help="named shape; repeat the flag for several, or 'all' "
                        "(default: small, unless --layers is given)")
    p.add_argument("--samples", type=int, help="custom shape: number of samples")
    p.add_argument("--layers", type=C.parse_layers, help="custom shape, e.g. 64,100,10")
    p.add_argument("--batch", type=int, default=200, help="custom shape: batch size")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs after the warm-up")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate")
    p.add_argument("--threads", type=int, default=C.usable_cores(),
                   help="threads for BLAS/OpenMP and torch (default: usable cores)")
    p.add_argument("--device", choices=["auto", "cpu", "gpu", "all"], default="auto",
                   help="auto: CPU contenders plus GPU ones when a CUDA device is found "
                        "(gpu: only GPU contenders)")
    p.add_argument("--strict", action="store_true",
                   help="also run xpmlp on array_api_strict (slow)")
    p.add_argument("--allow-tf32", action="store_true", help="allow TF32 matmuls on GPU")
    p.add_argument("--only", help="comma-separated contender names to run")
    p.add_argument("--loss-rtol", type=float, default=0.05,
                   help="same-loss check: allowed distance from the median final loss, "
                        "as a fraction of the median loss drop (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed for data and weights")
    p.add_argument("--profile", metavar="CONTENDER",
                   help="after timing, profile one more epoch of this contender")
    p.add_argument("--profile-top", type=int, default=20)
    p.add_argument("--json", metavar="PATH", help="write all results as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a bar chart (needs matplotlib)")
    p.add_argument("--in-process", action="store_true",
                   help="run every contender in this one process (shows how shared thread pools distort timings)")
    p.add_argument("--min-turn", type=float, default=MIN_TURN_S,
                   help="seconds a contender's turn lasts at least (short epochs repeat); 0: one epoch a turn")
    p.add_argument("--check-isolation", action="store_true",
                   help="first time each contender alone, then side by side, and print both")
    args = p.parse_args(argv)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            p.error("--plot needs matplotlib: pip install matplotlib (checked before the run, not after)")
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    if (args.samples is None) != (args.layers is None):
        p.error("a custom shape needs both --samples and --layers")
    return args


def selected_configs(args):
    names = args.config or ([] if args.layers else ["small"])
    if "all" in names:
        names = list(C.CONFIGS)
    configs = [C.CONFIGS[n] for n in dict.fromkeys(names)]
    if args.layers:
        configs.append(C.Config("custom", args.samples, args.layers, args.batch))
    return configs


def main(argv=None):
    args = parse_args(argv)
    C.set_tf32(args.allow_tf32)
    from threadpoolctl import threadpool_limits
    if args.in_process:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    results = []
    with threadpool_limits(limits=args.threads):
        env = C.environment(args.threads)
        C.print_environment(env)
        for cfg in selected_configs(args):
            res = run_config(cfg, args)
            if res is not None:
                results.append(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "configs": results}, f, indent=1)
        print(f"JSON written to {args.json}")
    if args.plot and results:
        plot(results, args.plot)
    flagged = [(res["config"], r["name"]) for res in results for r in res["results"]
               if r["loss_check"].startswith("FAIL")]
    for config, name in flagged:
        print(f"WARNING: {name} on {config} failed the same-loss check")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
