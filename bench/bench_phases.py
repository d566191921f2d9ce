"""Where a NumPy training step's time goes, phase by phase: the rows gathered, the forward pass, the
batch loss, the backward pass (with the gradient products), the update.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/bench_phases.py --layers 64,100,10 --batch 200

Each phase is timed with ``time.perf_counter`` around xpmlp's own functions, as the training loop
calls them (plain SGD, the learning rate folded into delta^L), over ``--steps`` steps after as many
warm-up steps; the GEMMs of the step are timed alone too, for the share that is not matrix products.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import xpmlp
from xpmlp.nn.backprop import Workspace, backward, forward
from xpmlp.nn.objective import batch_loss
from xpmlp.optim.optimizers import SGD


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", default="64,100,10")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    sizes, b = [int(s) for s in args.layers.split(",")], args.batch
    rng = np.random.default_rng(0)
    n = 100 * b
    X = rng.normal(size=(n, sizes[0])).astype(np.float32)
    T = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    net = xpmlp.MLP(sizes, backend="numpy", seed=0)
    xp, ops = net.xp, net.ops
    ws, grads, opt = Workspace(net.sizes, xp, np.float32, None, b), net.parameters.like(), SGD().bind(net.backend)
    bX, bT, order = np.empty((b, sizes[0]), np.float32), np.empty((b, sizes[-1]), np.float32), rng.permutation(n)
    spent = dict.fromkeys(("gather", "forward", "loss", "backward", "update"), 0.0)
    for step in range(2 * args.steps):
        if step == args.steps:
            spent = dict.fromkeys(spent, 0.0)  # the first half warmed up
        rows = order[(step % 100) * b:(step % 100 + 1) * b]
        t0 = time.perf_counter()
        Xb, Tb = ops.take_rows(X, rows, bX), ops.take_rows(T, rows, bT)
        t1 = time.perf_counter()
        trace = forward(net.Ws, net.bs, net.activations, Xb, xp, ops, ws)
        t2 = time.perf_counter()
        batch_loss(net, trace, Tb, None)
        t3 = time.perf_counter()
        backward(net.Ws, net.activations, net.loss, trace, Tb, xp, scale=0.01 / b, grads=grads, ops=ops, ws=ws)
        t4 = time.perf_counter()
        opt.step(net.parameters, grads, 1.0)
        t5 = time.perf_counter()
        for name, a, c in (("gather", t0, t1), ("forward", t1, t2), ("loss", t2, t3), ("backward", t3, t4),
                           ("update", t4, t5)):
            spent[name] += c - a
    gemm = _gemms(net, ws, grads, bX, b, args.steps)
    total = sum(spent.values())
    print(f"{args.layers}, batch {b}: {1e6 * total / args.steps:.1f} us a step, of which the GEMMs alone "
          f"{1e6 * gemm:.1f} us")
    for name, t in spent.items():
        print(f"  {name:9s} {1e6 * t / args.steps:7.1f} us")


def _gemms(net, ws, grads, Xb, b, steps) -> float:
    """Seconds per step of the step's matrix products alone (forward, dW, dX), into the same arrays."""
    Ws, z, a = net.Ws, ws.z, [Xb] + ws.a[:-1]
    L = len(Ws)
    start = time.perf_counter()
    for _ in range(steps):
        for l in range(L):
            np.matmul(a[l], Ws[l], out=z[l])
        for l in range(L - 1, -1, -1):
            np.matmul(a[l].T, z[l], out=grads.Ws[l])
            if l:
                np.matmul(z[l], Ws[l].T, out=ws.g[l])
    return (time.perf_counter() - start) / steps


if __name__ == "__main__":
    main()
