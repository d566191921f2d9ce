"""Train the same MLP on the same data with several implementations and
compare seconds per epoch against the pure matrix-multiply floor.

    python bench/bench_train.py --config small
    python bench/bench_train.py --config all --repeats 3 --json out.json --plot out.png
    python bench/bench_train.py --samples 20000 --layers 64,100,10 --batch 200

Contenders run in one process, interleaved round by round: round 0 is the
warm-up epoch, rounds 1..repeats are timed, and the median is reported.
Every training contender starts from the same host-drawn weights and runs
the same number of epochs; its final weights are scored by one NumPy
evaluator (bench/_common.py: mean_cross_entropy) so that a contender that
skips work shows up as a loss far from the others.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


# --------------------------------------------------------------------------
# Contenders other than the floor and xpmlp (those live in _common)
# --------------------------------------------------------------------------

class NumpyHand:
    """The textbook NumPy MLP: shuffle, gather, forward, fused
    softmax/cross-entropy delta, backward, update. Not tuned."""

    trains, clock, device_kind = True, "cpu", "cpu"

    def __init__(self, name, cfg, X, T, Ws, bs, lr):
        self.name, self.cfg, self.X, self.T, self.lr = name, cfg, X, T, lr
        self.Ws, self.bs = C.copy_weights(Ws, bs)
        self.rng = np.random.default_rng(1)

    def run_epoch(self, epoch):
        n, b, L, lr = self.cfg.n_samples, self.cfg.batch_size, len(self.Ws), self.lr
        order = self.rng.permutation(n)
        for start in range(0, n, b):
            idx = order[start:start + b]
            x, t = self.X[idx], self.T[idx]
            acts = [x]
            for l in range(L):
                z = acts[-1] @ self.Ws[l] + self.bs[l]
                if l < L - 1:
                    acts.append(np.maximum(z, 0))
                else:
                    z = z - z.max(axis=1, keepdims=True)
                    e = np.exp(z)
                    acts.append(e / e.sum(axis=1, keepdims=True))
            delta = (acts[-1] - t) / x.shape[0]
            for l in range(L - 1, -1, -1):
                grad_W = acts[l].T @ delta
                grad_b = delta.sum(axis=0)
                if l > 0:
                    delta = (delta @ self.Ws[l].T) * (acts[l] > 0)
                self.Ws[l] -= lr * grad_W
                self.bs[l] -= lr * grad_b

    def weights(self):
        return self.Ws, self.bs


class Sklearn:
    """MLPClassifier with plain SGD. One epoch = one partial_fit call: with
    solver='sgd' that is exactly one shuffled pass over the data with no
    validation split, early-stopping bookkeeping or convergence warning,
    which max_iter=1 + warm_start would add. partial_fit re-validates X
    each call; that is part of sklearn's per-epoch cost and is counted."""

    trains, clock, device_kind = True, "cpu", "cpu"

    def __init__(self, name, cfg, X, y, Ws, bs, lr):
        from sklearn.neural_network import MLPClassifier
        if cfg.layers[-1] < 3:
            raise RuntimeError("sklearn uses a 1-unit logistic output for 2 classes")
        self.name, self.X, self.y = name, X, y
        self.clf = MLPClassifier(
            hidden_layer_sizes=cfg.layers[1:-1], activation="relu", solver="sgd",
            alpha=0.0, batch_size=cfg.batch_size, learning_rate="constant",
            learning_rate_init=lr, momentum=0.0, nesterovs_momentum=False,
            shuffle=True, random_state=0)
        # Build the model on one minibatch, then overwrite its weights in
        # place: its optimizer holds references to these very arrays.
        classes = np.arange(cfg.layers[-1])
        self.clf.partial_fit(X[:cfg.batch_size], y[:cfg.batch_size], classes=classes)
        for mine, W in zip(self.clf.coefs_ + self.clf.intercepts_, Ws + bs):
            if mine.dtype != np.float32:
                raise RuntimeError(f"sklearn kept {mine.dtype} weights, not float32")
            mine[...] = W

    def run_epoch(self, epoch):
        self.clf.partial_fit(self.X, self.y)

    def weights(self):
        return self.clf.coefs_, self.clf.intercepts_


class TorchEager:
    """nn.Sequential + CrossEntropyLoss (mean) + optim.SGD, eager mode."""

    trains = True

    def __init__(self, name, cfg, X, y, Ws, bs, lr, device="cpu"):
        import torch
        from torch import nn
        self.torch, self.name, self.cfg = torch, name, cfg
        self.device_kind = "cpu" if device == "cpu" else "gpu"
        self.clock = "cpu" if device == "cpu" else "torch-cuda"
        layers = []
        for l, W in enumerate(Ws):
            linear = nn.Linear(*W.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T.copy()))
                linear.bias.copy_(torch.from_numpy(bs[l]))
            layers += [linear, nn.ReLU()] if l < len(Ws) - 1 else [linear]
        self.model = nn.Sequential(*layers).to(device)
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.0)
        self.X = torch.from_numpy(X).to(device)
        self.y = torch.from_numpy(y).to(device)
        self.gen = torch.Generator(device=device).manual_seed(1)
        self.device = device

    def run_epoch(self, epoch):
        n, b = self.cfg.n_samples, self.cfg.batch_size
        order = self.torch.randperm(n, generator=self.gen, device=self.device)
        for start in range(0, n, b):
            idx = order[start:start + b]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(self.X[idx]), self.y[idx])
            loss.backward()
            self.opt.step()

    def weights(self):
        linears = [m for m in self.model if hasattr(m, "weight")]
        return ([m.weight.detach().cpu().numpy().T.copy() for m in linears],
                [m.bias.detach().cpu().numpy().copy() for m in linears])


# --------------------------------------------------------------------------
# Building the field
# --------------------------------------------------------------------------

def build_contenders(cfg, args, X, T, y, Ws, bs):
    """Return (contenders, skipped) where skipped is a list of (name, reason)."""
    wanted = set(args.only.split(",")) if args.only else None
    use_cpu = args.device in ("cpu", "all", "auto")
    use_gpu = args.device in ("gpu", "all", "auto")
    contenders, skipped = [], []

    def add(name, factory):
        if wanted is not None and name not in wanted:
            return
        try:
            contenders.append(factory(name))
        except Exception as exc:
            skipped.append((name, f"{type(exc).__name__}: {exc}"))

    lr = args.lr
    backends = C.xpmlp_backends()
    xpmlp_missing = "xpmlp not importable" if not backends else None

    if use_cpu:
        add("floor", lambda n: C.Floor(n, cfg, X, Ws, lib="numpy"))
        for backend in ("numpy", "torch", "array_api_strict"):
            name = f"xpmlp-{backend}"
            if backend == "array_api_strict" and not args.strict:
                if wanted is None or name in wanted:
                    skipped.append((name, "slow; pass --strict to include it"))
                continue
            if xpmlp_missing:
                skipped.append((name, xpmlp_missing))
            elif backends.get(backend) != "ok":
                skipped.append((name, backends.get(backend, "not an xpmlp backend")))
            else:
                add(name, lambda n, be=backend: C.XpmlpContender(n, cfg, X, T, Ws, bs, lr,
                                                                 backend=be))
        add("sklearn", lambda n: Sklearn(n, cfg, X, y, Ws, bs, lr))
        add("torch", lambda n: TorchEager(n, cfg, X, y, Ws, bs, lr))
        add("numpy-hand", lambda n: NumpyHand(n, cfg, X, T, Ws, bs, lr))

    if use_gpu:
        cupy, cupy_why = C.cupy_status()
        torch_cuda, torch_why = C.torch_cuda_status()
        if cupy is None:
            for name in ("floor-cupy", "xpmlp-cupy"):
                skipped.append((name, cupy_why))
        else:
            add("floor-cupy", lambda n: C.Floor(n, cfg, X, Ws, lib="cupy"))
            if xpmlp_missing:
                skipped.append(("xpmlp-cupy", xpmlp_missing))
            else:
                add("xpmlp-cupy", lambda n: C.XpmlpContender(
                    n, cfg, X, T, Ws, bs, lr, backend="cupy", clock="cupy"))
        if torch_cuda is None:
            for name in ("floor-torch-cuda", "xpmlp-torch-cuda", "torch-cuda"):
                skipped.append((name, torch_why))
        else:
            add("floor-torch-cuda", lambda n: C.Floor(n, cfg, X, Ws, lib="torch", device="cuda"))
            if xpmlp_missing:
                skipped.append(("xpmlp-torch-cuda", xpmlp_missing))
            else:
                add("xpmlp-torch-cuda", lambda n: C.XpmlpContender(
                    n, cfg, X, T, Ws, bs, lr, backend="torch", device="cuda",
                    clock="torch-cuda"))
            add("torch-cuda", lambda n: TorchEager(n, cfg, X, y, Ws, bs, lr, device="cuda"))
    if wanted is not None:
        skipped = [(n, r) for n, r in skipped if n in wanted]
    return contenders, skipped


# --------------------------------------------------------------------------
# One configuration
# --------------------------------------------------------------------------

def run_config(cfg, args):
    print(f"\n== {cfg.describe()}")
    X, T, y = C.make_data(cfg.n_samples, cfg.layers[0], cfg.layers[-1], seed=args.seed)
    Ws, bs = C.init_weights(cfg.layers, seed=args.seed)
    initial_loss = C.mean_cross_entropy(Ws, bs, X, y)

    contenders, skipped = build_contenders(cfg, args, X, T, y, Ws, bs)
    for name, why in skipped:
        print(f"skip {name}: {why}")
    if not contenders:
        print("nothing to run")
        return None

    times = {c.name: [] for c in contenders}
    failed = {}
    for rnd in range(args.repeats + 1):          # round 0 = warm-up
        this_round = {}
        for c in contenders:
            if c.name in failed:
                continue
            try:
                this_round[c.name] = C.time_call(lambda: c.run_epoch(rnd), c.clock)
            except Exception as exc:
                failed[c.name] = f"{type(exc).__name__}: {exc}"
                print(f"fail {c.name}: {failed[c.name]}")
                continue
            if rnd > 0:
                times[c.name].append(this_round[c.name])
        label = "warm-up" if rnd == 0 else f"round {rnd}/{args.repeats}"
        print(f"  {label}: " + ", ".join(f"{n} {s:.3f}s" for n, s in this_round.items()),
              flush=True)

    epochs = args.repeats + 1
    flops_epoch = C.flops_per_sample(cfg.layers) * cfg.n_samples
    losses = {}
    for c in contenders:
        if c.trains and c.name not in failed:
            Wc, bc = c.weights()
            losses[c.name] = C.mean_cross_entropy(Wc, bc, X, y)
    checks = loss_checks(losses, initial_loss, args.loss_rtol)

    floors = {}                                  # the fastest floor on each device
    for c in contenders:
        if not c.trains and times[c.name]:
            floors[c.device_kind] = min(C.median(times[c.name]),
                                        floors.get(c.device_kind, float("inf")))
    rows = []
    for c in contenders:
        if c.name in failed or not times[c.name]:
            continue
        med = C.median(times[c.name])
        floor = floors.get(c.device_kind)
        rows.append({
            "name": c.name, "device": c.device_kind, "times_s": times[c.name],
            "median_s": med, "samples_per_s": cfg.n_samples / med,
            "gflops": flops_epoch / med / 1e9,
            "ratio_to_floor": med / floor if floor else None,
            "overhead_ms_per_step": (med - floor) / cfg.n_steps * 1e3 if floor else None,
            "final_loss": losses.get(c.name), "loss_check": checks.get(c.name, "n/a"),
        })
    print_table(cfg, rows, initial_loss, epochs, args.loss_rtol)
    if args.profile:
        profile_contender(cfg, args, contenders, failed)
    return {"config": cfg.name, "n_samples": cfg.n_samples, "layers": list(cfg.layers),
            "batch_size": cfg.batch_size, "steps_per_epoch": cfg.n_steps,
            "flops_per_epoch": flops_epoch, "learning_rate": args.lr,
            "epochs_trained": epochs, "initial_loss": initial_loss,
            "loss_rtol": args.loss_rtol, "results": rows,
            "skipped": [{"name": n, "reason": r} for n, r in skipped],
            "failed": [{"name": n, "reason": r} for n, r in failed.items()]}


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


def profile_contender(cfg, args, contenders, failed):
    """One extra epoch of the named contender under cProfile."""
    by_name = {c.name: c for c in contenders if c.name not in failed}
    c = by_name.get(args.profile)
    if c is None:
        print(f"\n--profile {args.profile}: no such contender in this run")
        return
    profiler = cProfile.Profile()
    profiler.enable()
    C.time_call(lambda: c.run_epoch(args.repeats + 1), c.clock)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(args.profile_top)
    print(f"\ncProfile of one epoch of {c.name} (by own time):")
    print("\n".join(out.getvalue().splitlines()[:args.profile_top + 12]))


# --------------------------------------------------------------------------
# Plot and main
# --------------------------------------------------------------------------

def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot {path}: matplotlib is not installed; "
              "`pip install matplotlib` to get the plot (tables and JSON are unaffected)")
        return
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
    args = p.parse_args(argv)
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
