"""The command line: ``xpmlp train | predict | evaluate | export | backends | selftest``.

``xpmlp train --dataset digits`` (the main job) trains on a dataset bundled with
scikit-learn; ``xpmlp train DATA --target COLUMN`` on your own CSV, NPY/NPZ or
Parquet file.  A model saved with ``--save`` carries its preprocessing, so
``xpmlp predict MODEL DATA`` and ``xpmlp evaluate MODEL DATA`` take raw rows.
Bad input prints one line and exits with status 2; Ctrl-C ends training
cleanly (the model rolled back to its last whole epoch, saved if asked) with
status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import os
import sys
import time
from typing import Sequence

import numpy as np

from .._version import __version__
from ..backends.backend import BackendError, available_backends
from ..nn.activations import ACTIVATIONS, HIDDEN, TRAINABLE, get_activation
from ..training.callbacks import DivergenceError
from .tables import read_table
from .workflows import (
    DATASETS,
    confusion,
    load_dataset,
    load_model,
    predict_table,
    save_model,
    score,
    train_table,
)

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated ints, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be >= 1, got {text!r}")
    return sizes


#: What ``--activation`` offers: every activation a trained hidden layer may use.
ACTIVATION_CHOICES = tuple(name for name in HIDDEN if name in TRAINABLE)


def _parse_activation(text: str) -> str:
    """``--activation``: one of :data:`ACTIVATION_CHOICES` (or an alias), with parameters where it
    takes some (``leaky_relu:slope=0.2``); given to the network as its spec."""
    try:
        act = get_activation(text)
    except ValueError as exc:
        if text.partition(":")[0].strip().lower() in ACTIVATIONS:  # a known name, a bad parameter
            raise argparse.ArgumentTypeError(str(exc)) from None
        act = None
    if act is None or act.name not in ACTIVATION_CHOICES:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(ACTIVATION_CHOICES)}; "
                                         "leaky_relu and elu take a parameter: leaky_relu:slope=0.2, elu:alpha=0.5)")
    return act.spec


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(prog="xpmlp", formatter_class=fmt,
                                description="Train multilayer perceptrons on NumPy, CuPy or PyTorch.")
    p.add_argument("--version", action="version", version=f"xpmlp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train(sub.add_parser("train", formatter_class=fmt, help="train on your data file or a bundled dataset"))
    pr = sub.add_parser("predict", formatter_class=fmt, help="predict with a saved model on raw rows")
    pr.add_argument("model", help="a model file saved by `xpmlp train --save`")
    pr.add_argument("data", help="CSV, NPY, NPZ or Parquet rows with the training feature columns")
    pr.add_argument("-o", "--output", metavar="OUT.csv", help="write predictions here (default: standard output)")
    pr.add_argument("--proba", action="store_true", help="also write each class's probability")
    ev = sub.add_parser("evaluate", formatter_class=fmt, help="score a saved model on rows with targets")
    ev.add_argument("model")
    ev.add_argument("data")
    ev.add_argument("--target", help="target column (default: the one the model was trained on)")
    ex = sub.add_parser("export", formatter_class=fmt, help="write a saved model as ONNX (pip install 'xpmlp[onnx]')")
    ex.add_argument("model")
    ex.add_argument("output", metavar="OUT.onnx")
    for cmd in (pr, ev, ex):
        cmd.add_argument("--backend", default="numpy", help="where to run the model")
    sub.add_parser("backends", help="list the backends and whether each can run here")
    st = sub.add_parser("selftest", formatter_class=fmt, help="check every backend and device here against NumPy "
                        "(GPU users: run this first)")
    from ..diagnostics.selftest import add_arguments

    add_arguments(st)
    return p


def _add_train(t: argparse.ArgumentParser) -> None:
    t.add_argument("data", nargs="?", help="your data file: CSV (with a header), NPY, NPZ or Parquet")
    t.add_argument("--target", help="the column to predict (a name; for NPY/NPZ a column index)")
    t.add_argument("--dataset", choices=list(DATASETS), help="a dataset bundled with scikit-learn (default: digits "
                   "when no data file is given)")
    t.add_argument("--task", choices=["classification", "regression"], help="default: inferred from the target")
    t.add_argument("--hidden", type=_parse_sizes, default="100", help="hidden layer sizes, e.g. 128,64")
    t.add_argument("--activation", default="relu", type=_parse_activation,
                   metavar="{" + ",".join(ACTIVATION_CHOICES) + "}",
                   help="hidden layers' activation; leaky_relu and elu take a parameter: leaky_relu:slope=0.2, "
                   "elu:alpha=0.5 (leaky_relu alone: slope 0.01; elu: alpha 1)")
    t.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "adamw"], help="update rule")
    t.add_argument("--learning-rate", type=float, default=1e-3, help="initial step size")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD only (0: plain gradient descent)")
    t.add_argument("--epochs", type=int, default=100, help="maximum epochs (early stopping may end sooner)")
    t.add_argument("--batch-size", type=int, default=32, help="rows per update; 1 is online learning")
    t.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty (alpha/2)||W||^2 on the mean loss")
    t.add_argument("--validation-fraction", type=float, default=0.1,
                   help="held out for early stopping when that gives at least 50 rows (0: none)")
    t.add_argument("--patience", type=int, default=20, help="stop after more than this many epochs without progress")
    t.add_argument("--test-size", type=float, default=0.25, help="fraction of rows held out for the final score")
    t.add_argument("--backend", default=None, help="numpy, cupy, torch, array_api_strict or auto "
                   "(default: $XPMLP_BACKEND, else auto: CuPy with a GPU, else NumPy)")
    t.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="the model's float type")
    t.add_argument("--seed", type=int, default=0, help="seeds the split, the initial weights and shuffling")
    t.add_argument("--save", metavar="PATH", help="save the model with its preprocessing (.npz, no pickle)")
    t.add_argument("--plot", metavar="PNG", help="draw loss, validation score and learning rate per epoch "
                   "(pip install 'xpmlp[plot]')")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def cmd_train(args: argparse.Namespace) -> int:
    if _rank() != 0:  # data-parallel under mpiexec: rank 0 alone prints and writes files
        sys.stdout = open(os.devnull, "w")
        args.save = args.plot = None
        args.no_progress = True
    if args.plot:
        from .plotting import require_matplotlib

        require_matplotlib()  # before training, not after
    if args.data and args.dataset:
        raise ValueError("give a data file or --dataset, not both")
    if args.data and args.target is None:
        raise ValueError(f"which column of {args.data} is the target? Give --target COLUMN")
    table = read_table(args.data, args.target) if args.data else load_dataset(args.dataset or "digits")
    print(f"{args.data or args.dataset or 'digits'}: {table.X.shape[0]} rows, {len(table.columns)} features, "
          f"target {table.target!r}")
    start = time.perf_counter()
    with _logs_beside_the_bar():
        model = train_table(
            table, task=args.task, hidden=args.hidden, activation=args.activation, test_size=args.test_size,
            validation_fraction=args.validation_fraction, optimizer=args.optimizer, momentum=args.momentum,
            backend=args.backend, dtype=args.dtype, seed=args.seed, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, alpha=args.alpha, patience=args.patience,
            progress=not args.no_progress)
    _report(model, time.perf_counter() - start)
    if args.save:
        print(f"saved to {save_model(args.save, model)}")
    if args.plot:
        from .plotting import plot_history

        plot_history(model.history, args.plot, title=str(args.data or args.dataset or "digits"))
        print(f"training curves drawn to {args.plot}")
    return EXIT_INTERRUPTED if model.history.stop_reason == "interrupted" else 0


def _report(model, elapsed: float) -> None:
    h, metric = model.history, "accuracy" if model.preprocessor.task == "classification" else "R^2"
    for note in model.notes:
        print(f"note: {note}")
    print(f"model: {model.net}")
    if h.stop_reason == "interrupted":
        print(f"interrupted: kept the model as it was after epoch {h.epochs}" if h.epochs else
              "interrupted before the first epoch finished: the model is as initialised")
    best = f", best validation score {h.best_score:.4f} at epoch {h.best_epoch} (weights kept from there)" \
        if h.validation_score else ""
    print(f"{h.epochs} epochs ({h.stop_reason}) in {elapsed:.2f} s on {model.net.backend.describe()}{best}")
    print(f"the returned model: training loss {model.train_loss:.4f}, training {metric} {model.scores['train']:.4f}")
    if "test" in model.scores:
        print(f"test {metric}: {model.scores['test']:.4f}")


def cmd_predict(args: argparse.Namespace) -> int:
    net, pre = load_model(args.model, backend=args.backend)
    predicted, outputs = predict_table(net, pre, read_table(args.data, columns=pre.columns))
    header = [pre.target or "prediction"]
    rows = [[p] for p in predicted.tolist()]
    if args.proba and pre.task == "classification":
        header += [f"p({c})" for c in pre.classes]
        rows = [r + [f"{v:.6g}" for v in o] for r, o in zip(rows, outputs)]
    with (open(args.output, "w", newline="", encoding="utf-8") if args.output else contextlib.nullcontext(sys.stdout)) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    if args.output:
        print(f"{len(rows)} predictions written to {args.output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    net, pre = load_model(args.model, backend=args.backend)
    table = read_table(args.data, args.target or pre.target)
    value = score((net, pre), table)
    if pre.task == "regression":
        print(f"R^2: {value:.4f} on {len(table.y)} rows")
        return 0
    print(f"accuracy: {value:.4f} on {len(table.y)} rows")
    C = confusion(pre, table.y, predict_table(net, pre, table)[0])
    names = [str(c) for c in pre.classes]
    width = max(6, *(len(n) for n in names))
    print("confusion matrix (rows: true class, columns: predicted)")
    print(" " * width + "".join(f"  {n:>{width}}" for n in names))
    for name, row in zip(names, C):
        print(f"{name:>{width}}" + "".join(f"  {v:>{width}d}" for v in row))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import to_onnx

    net, pre = load_model(args.model, backend="numpy")
    to_onnx(net, args.output, preprocessor=pre)
    print(f"wrote {args.output}: input X (batch, {net.sizes[0]}) raw features in the order "
          f"{', '.join(pre.columns[:5])}{', ...' if len(pre.columns) > 5 else ''}; output Y (batch, {net.sizes[-1]})")
    return 0


def _rank() -> int:
    """This process's rank when started by an MPI launcher (0 otherwise), without importing MPI."""
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if var in os.environ:
            return int(os.environ[var])
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
    from ..diagnostics.selftest import selftest

    return 0 if selftest(args.backend, args.json, args.quick)["ok"] else 1


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "evaluate": cmd_evaluate, "export": cmd_export,
            "backends": cmd_backends, "selftest": cmd_selftest}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if _rank() == 0 else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("xpmlp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (BackendError, ValueError, OSError, ImportError, DivergenceError) as exc:  # one clear line
        parser.exit(EXIT_BAD_INPUT, f"xpmlp: error: {exc}\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
