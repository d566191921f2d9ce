"""Command line: ``xpmlp train`` (the main job) and ``xpmlp backends``.

``xpmlp train`` trains a classifier on a dataset bundled with scikit-learn (no
download), shows a progress bar, and reports test accuracy.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Sequence

import numpy as np

from .backend import available_backends, resolve

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
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--learning-rate", type=float, default=0.1)
    t.add_argument("--backend", default=None, help="numpy, cupy, torch, array_api_strict or auto (default: $XPMLP_BACKEND or auto)")
    t.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--test-size", type=float, default=0.25)
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sub.add_parser("backends", help="list the backends and whether each can run here")
    return p


def cmd_train(args: argparse.Namespace) -> int:
    from .network import MLP
    from .training import train

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
    rng = np.random.default_rng(args.seed)
    epochs = range(args.epochs)
    bar = None
    if not args.no_progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=args.epochs, desc="training", unit="epoch")
        except ImportError:
            logging.warning("tqdm is not installed: no progress bar (pip install tqdm)")
    X_dev, T_dev = net.as_input(X_tr), net.as_target(T_tr, len(X_tr))  # host -> device once
    start = time.perf_counter()
    loss = float("nan")
    for _ in epochs:
        (loss,) = train(net, X_dev, T_dev, epochs=1, batch_size=args.batch_size, learning_rate=args.learning_rate, seed=rng)
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.update()
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    proba = be.to_numpy(net.predict(X_te))
    accuracy = float(np.mean(classes[np.argmax(proba, axis=1)] == y_te))
    print(f"final training loss {loss:.4f}; {elapsed:.2f} s on {be.describe()}")
    print(f"test accuracy: {accuracy:.4f}")
    return 0


def cmd_backends(_: argparse.Namespace) -> int:
    for name, status in available_backends().items():
        print(f"{name:17s} {status}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return {"train": cmd_train, "backends": cmd_backends}[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
