"""Command line: ``xpmlp train`` (the main job) and ``xpmlp backends``.

``xpmlp train`` trains a classifier on a dataset bundled with scikit-learn (no
download), shows a progress bar, and reports test accuracy.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from typing import Sequence

import numpy as np

from .backend import BackendError, available_backends, resolve
from .training import DivergenceError

DATASETS = ("digits", "iris", "breast_cancer", "wine")


def _load(name: str):
    try:
        from sklearn import datasets
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit("xpmlp train needs scikit-learn for its bundled datasets: pip install 'xpmlp[demo]'")
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return X, y, train_test_split


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated ints, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be >= 1, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xpmlp", description="Train multilayer perceptrons on NumPy, CuPy or PyTorch.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a classifier on a bundled scikit-learn dataset and report test accuracy")
    t.add_argument("--dataset", choices=DATASETS, default="digits")
    t.add_argument("--hidden", type=_parse_sizes, default=[64], help="hidden layer sizes, e.g. 128,64 (empty: none)")
    t.add_argument("--activation", default="relu", choices=["relu", "tanh", "logistic", "identity"])
    t.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw"])
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (0: plain gradient descent)")
    t.add_argument("--epochs", type=int, default=60, help="maximum epochs (early stopping may end sooner)")
    t.add_argument("--batch-size", type=int, default=32, help="1: online; the training-set size: full batch")
    t.add_argument("--learning-rate", type=float, default=0.05)
    t.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty (alpha/2)||W||^2 on the mean loss")
    t.add_argument("--validation-fraction", type=float, default=0.1, help="held out for early stopping (0: none)")
    t.add_argument("--patience", type=int, default=20)
    t.add_argument("--backend", default=None, help="numpy, cupy, torch, array_api_strict or auto (default: $XPMLP_BACKEND or auto)")
    t.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--test-size", type=float, default=0.25)
    t.add_argument("--save", metavar="PATH", help="save the trained model (.npz, no pickle)")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sub.add_parser("backends", help="list the backends and whether each can run here")
    st = sub.add_parser("selftest", help="check every backend and device here against NumPy (GPU users: run this first)")
    from .selftest import add_arguments

    add_arguments(st)
    return p


def cmd_train(args: argparse.Namespace) -> int:
    from . import io
    from .network import MLP
    from .optimizers import make_optimizer
    from .training import fit

    X, y, split = _load(args.dataset)
    X_tr, X_te, y_tr, y_te = split(X, y, test_size=args.test_size, random_state=args.seed, stratify=y)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std[std == 0] = 1.0
    X_tr, X_te = (X_tr - mean) / std, (X_te - mean) / std  # standardise on the training split
    classes = np.unique(y_tr)
    T_tr = (y_tr[:, None] == classes[None, :]).astype(np.float64)  # one-hot targets

    be = resolve(args.backend, dtype=args.dtype)
    net = MLP([X.shape[1], *args.hidden, len(classes)], args.activation, "softmax", "cross_entropy", backend=be, seed=args.seed)
    print(f"{args.dataset}: {len(X_tr)} train / {len(X_te)} test samples, {X.shape[1]} features, {len(classes)} classes")
    print(f"model: {net}")
    opt_kw = {"momentum": args.momentum} if args.optimizer == "sgd" else {}
    optimizer = make_optimizer(args.optimizer, **opt_kw)
    start = time.perf_counter()
    with _logs_beside_the_bar():
        history = fit(
            net, X_tr, T_tr,
            epochs=args.epochs, batch_size=args.batch_size, optimizer=optimizer, learning_rate=args.learning_rate,
            alpha=args.alpha, seed=args.seed, validation_fraction=args.validation_fraction or None, stratify=y_tr,
            patience=args.patience, progress=not args.no_progress,
        )
    elapsed = time.perf_counter() - start
    proba = be.to_numpy(net.predict(X_te))  # device -> host, once
    accuracy = float(np.mean(classes[np.argmax(proba, axis=1)] == y_te))
    print(f"{len(history.loss)} epochs ({history.stop_reason}), final training loss {history.loss[-1]:.4f}; "
          f"{elapsed:.2f} s on {be.describe()}")
    print(f"test accuracy: {accuracy:.4f}")
    if args.save:
        path = io.save(args.save, net, optimizer=optimizer, history=history,
                       extra={"classes": classes.tolist(), "mean": mean.tolist(), "std": std.tolist()})
        print(f"saved to {path}")
    return 0


def _logs_beside_the_bar():
    """Route log records through tqdm, so that they do not break the progress bar's line."""
    try:
        from tqdm.contrib.logging import logging_redirect_tqdm
    except ImportError:
        return contextlib.nullcontext()
    return logging_redirect_tqdm()


def cmd_backends(_: argparse.Namespace) -> int:
    for name, status in available_backends().items():
        print(f"{name:17s} {status}")
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from .selftest import selftest

    return 0 if selftest(args.backend, args.json, args.quick)["ok"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return {"train": cmd_train, "backends": cmd_backends, "selftest": cmd_selftest}[args.command](args)
    except (BackendError, ValueError, DivergenceError) as exc:  # a clear line, not a traceback
        parser.exit(2, f"xpmlp: error: {exc}\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
