"""The command line: ``xpmlp train | predict | evaluate | info | export | backends | selftest``.

``xpmlp train --dataset digits`` (the main job) trains on a dataset bundled with
scikit-learn; ``xpmlp train DATA --target COLUMN`` on your own delimited text
(CSV, TSV, TXT: the delimiter detected), NPY/NPZ or Parquet file, with number and
text columns and gaps.  A model saved with ``--save`` carries its preprocessing,
so ``xpmlp predict MODEL DATA`` and ``xpmlp evaluate MODEL DATA`` take raw rows;
``xpmlp info MODEL`` shows it.  The commands themselves are in
:mod:`xpmlp.app.commands`.  Bad input prints one line and exits with status 2;
Ctrl-C ends training cleanly (the model rolled back to its last whole epoch,
saved if asked) with status 130.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import Sequence

import numpy as np

from .._version import __version__
from ..backends.backend import BackendError
from ..distributed.mpi import DistributedError
from ..io.model import MAX_ACTIVATION_PARAMETER
from ..nn.activations import ACTIVATIONS, HIDDEN, TRAINABLE, get_activation
from ..nn.front import KINDS, get_input_layer
from ..training.callbacks import DivergenceError
from .cells import printable
from .commands import COMMANDS, EXIT_BAD_INPUT, EXIT_INTERRUPTED, rank
from . import limits
from .limits import Limits
from .ranks import Ranks
from .recipe import CLI_DEFAULTS as R
from .workflows import DATASETS

__all__ = ["build_parser", "main"]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default once: not where the help text already says it, nor for None, [] or a flag."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == [] or action.nargs == 0 or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


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
    if act is not None and any(abs(v) > MAX_ACTIVATION_PARAMETER for v in act.config().values()):
        raise argparse.ArgumentTypeError(f"{text!r}: parameters must lie within +-{MAX_ACTIVATION_PARAMETER:g}")
    if act is None or act.name not in ACTIVATION_CHOICES:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(ACTIVATION_CHOICES)}; "
                                         "leaky_relu and elu take a parameter: leaky_relu:slope=0.2, elu:alpha=0.5)")
    return act.spec


def _parse_front(text: str) -> tuple[str, ...]:
    """``--front``: input layers' specs, in order, separated by commas (a ``key=value`` after a comma is
    a setting of the spec before it: ``scale,periodic:frequencies=16,width=4``); ``none``: none."""
    specs: list[str] = []
    for piece in filter(None, (p.strip() for p in text.split(","))):
        if "=" in piece and ":" not in piece and specs:
            specs[-1] += f",{piece}"
        else:
            specs.append(piece)
    if [s.lower() for s in specs] in ([], ["none"]):
        return ()
    for spec in specs:
        try:
            get_input_layer(spec, 1 << 30)  # the kind and its settings; columns= is checked against the data
        except (ValueError, OverflowError) as exc:
            raise argparse.ArgumentTypeError(f"--front {text!r}: {exc}") from None
    return tuple(specs)


def build_parser() -> argparse.ArgumentParser:
    fmt = _HelpFormatter
    p = argparse.ArgumentParser(prog="xpmlp", formatter_class=fmt,
                                description="Train multilayer perceptrons on NumPy, CuPy or PyTorch.")
    p.add_argument("--version", action="version", version=f"xpmlp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train(sub.add_parser("train", formatter_class=fmt, help="train on your data file or a bundled dataset"))
    pr = sub.add_parser("predict", formatter_class=fmt, help="predict with a saved model on raw rows")
    pr.add_argument("model", help="a model file saved by `xpmlp train --save`")
    pr.add_argument("data", help="rows with the training feature columns (any format train reads)")
    pr.add_argument("-o", "--output", metavar="OUT.csv", help="write the predictions here; '-' or none: standard "
                    "output")
    pr.add_argument("--proba", action="store_true", help="also write each class's probability")
    pr.add_argument("--stream", action="store_true", help="read a Parquet or delimited text file and write the "
                    "predictions a chunk at a time")
    pr.add_argument("--raw-cells", action="store_true", help="write text cells as they are (default: a cell "
                    "starting with = + - @ that is not a number gets a ' first, so spreadsheets show it as text)")
    pr.add_argument("--id", action="append", default=[], metavar="COL", help="write this column first to join the "
                    "predictions back (repeatable; default: the model's ID columns where the file has them, else "
                    "the row number)")
    ev = sub.add_parser("evaluate", formatter_class=fmt, help="score a saved model on rows with targets")
    ev.add_argument("model")
    ev.add_argument("data")
    ev.add_argument("--target", help="target column (default: the one the model was trained on)")
    for cmd in (pr, ev):
        _add_file_options(cmd)
    info = sub.add_parser("info", formatter_class=fmt, help="what a saved model is and does to a row")
    info.add_argument("model")
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


def _add_file_options(p: argparse.ArgumentParser, train: bool = False) -> None:
    model = "" if train else " (default: as the model's training file was read)"
    p.add_argument("--sep", metavar="SEP", help="a text file's delimiter: , ; tab | space or any one character "
                   "(default: detected; tab for .tsv)")
    p.add_argument("--no-header", dest="header", action="store_const", const=False, help="the text file has no "
                   "header row: columns are named by position, 0, 1, ..." + model)
    if not train:
        p.add_argument("--header", dest="header", action="store_const", const=True, help="the file has a header "
                       "row, though the model's training file had none")
    p.set_defaults(header=True if train else None)
    p.add_argument("--decimal", choices=[".", ","], metavar="MARK", help="a text file's decimal mark: '.' or ',' "
                   "(3,14)" + (model or " (default: ',' where the delimiter is not a comma, cells like 3,14 occur and "
                               "none like 3.14)"))
    p.add_argument("--encoding", metavar="ENC", help="a text file's encoding, e.g. cp1252, latin-1, utf-16 (default: "
                   "UTF-8, else Windows-1252 with a note)")
    p.add_argument("--na-values", action="extend", type=lambda text: text.split(","), metavar="A,B",
                   help="more cells that mark a gap (repeatable), besides the empty cell and NA, N/A, #N/A, NULL, "
                   "None, NaN, nan, -NaN, <NA>, n/a, na, null, ?, - ..." + model)
    p.add_argument("--no-default-na", action="store_true", help="only the empty cell and --na-values mark gaps")
    p.add_argument("--max-columns", type=_positive, default=Limits.max_columns, metavar="N",
                   help="refuse a table of more columns")
    p.add_argument("--max-cell-length", type=_positive, default=Limits.max_cell_length, metavar="N",
                   help="refuse a cell of more characters (and a line of 64 MiB more bytes)")


def _add_recipe(t: argparse.ArgumentParser) -> None:
    """The tabular recipe's own options (:mod:`xpmlp.app.recipe`): schedule, scaling, best-epoch judge."""
    t.add_argument("--schedule", default=R["schedule"], choices=["constant", "coslog"], help="the learning rate per "
                   "epoch: constant, or coslog: four cosine cycles over --epochs, each longer than the last")
    t.add_argument("--scaling", default=R["scaling"], choices=["robust", "clip", "standard"],
                   help="inputs: robust (centered on the median, scaled by the quartiles), clip (robust, then "
                   "clipped smoothly at +-3) or standard (mean and standard deviation)")
    t.add_argument("--judge-by", default=R["judge_by"], choices=["auto", "loss"], help="what picks the best epoch "
                   "on the validation rows: loss (log loss or squared error) or auto (accuracy or R^2 where 50 rows "
                   "or more are held out)")


def _add_train(t: argparse.ArgumentParser) -> None:
    t.add_argument("data", nargs="?", help="your data file: .csv/.tsv/.txt (delimited text), .npy, .npz or .parquet")
    t.add_argument("--target", help="the column to predict (a name; with --no-header or NPY/NPZ a column number)")
    _add_file_options(t, train=True)
    t.add_argument("--id", action="append", default=[], metavar="COL", help="an ID column: not an input; predict "
                   "writes it beside the predictions (repeatable; a text column unique per row is found anyway)")
    t.add_argument("--keep", action="append", default=[], metavar="COL", help="use this column as an input though "
                   "it looks like row numbers (distinct integers, sorted or consecutive) (repeatable)")
    t.add_argument("--date", action="append", default=[], metavar="COL[=FORM]", help="read this column as dates, "
                   "in FORM (YYYY-MM-DD, DD.MM.YYYY, DD-MM-YYYY, DD/MM/YYYY, MM/DD/YYYY) or the one found "
                   "(repeatable; columns that are all dates are found anyway)")
    t.add_argument("--no-dates", action="store_true", help="do not look for date columns: text stays text")
    t.add_argument("--drop", action="append", default=[], metavar="COL", help="leave this column out (repeatable)")
    t.add_argument("--category", action="append", default=[], metavar="COL", help="one-hot encode this column "
                   "of numbers like a text column (repeatable)")
    t.add_argument("--dataset", choices=list(DATASETS), help="a dataset bundled with scikit-learn (default: digits "
                   "when no data file is given)")
    t.add_argument("--task", choices=["classification", "regression"], help="default: inferred from the target")
    t.add_argument("--max-classes", type=_positive, default=Limits.max_classes, metavar="N",
                   help="refuse a classification target of more classes")
    t.add_argument("--hidden", type=_parse_sizes, default=",".join(map(str, R["hidden"])),
                   help="hidden layer sizes, e.g. 128,64")
    t.add_argument("--activation", default=R["activation"], type=_parse_activation,
                   metavar="{" + ",".join(ACTIVATION_CHOICES) + "}",
                   help="hidden layers' activation; leaky_relu and elu take a parameter: leaky_relu:slope=0.2, "
                   "elu:alpha=0.5 (leaky_relu alone: slope 0.01; elu: alpha 1)")
    t.add_argument("--optimizer", default=R["optimizer"], choices=["adam", "sgd", "adamw"], help="update rule")
    t.add_argument("--learning-rate", type=float, default=R["learning_rate"], help="initial (coslog: peak) step size")
    _add_recipe(t)
    t.add_argument("--momentum", type=float, default=R["momentum"], help="SGD only (0: plain gradient descent)")
    t.add_argument("--epochs", type=int, default=R["epochs"], help="maximum epochs (early stopping may end sooner)")
    t.add_argument("--batch-size", type=int, default=R["batch_size"], help="rows per update; 1 is online learning")
    t.add_argument("--alpha", type=float, default=R["alpha"], help="L2 penalty (alpha/2)||W||^2 on the mean loss")
    t.add_argument("--validation-fraction", type=float, default=R["validation_fraction"],
                   help="training rows held out to judge early stopping (0: none); where that is under 50 rows, "
                   "up to 50 (at most a fifth) are held out and judged by their loss")
    t.add_argument("--patience", type=int, default=R["patience"], help="stop after more than this many epochs without "
                   "progress (default: never; the best epoch's weights are kept)" if R["patience"] is None else
                   "stop after more than this many epochs without progress")
    t.add_argument("--test-size", type=float, default=R["test_size"], help="fraction of rows held out for the final "
                   "score; 0 trains on every row")
    t.add_argument("--backend", default=None, help="numpy, cupy, torch, array_api_strict or auto "
                   "(default: $XPMLP_BACKEND, else auto: CuPy with a GPU, else NumPy)")
    t.add_argument("--dtype", default=R["dtype"], choices=["float32", "float64"], help="the model's float type")
    t.add_argument("--front", type=_parse_front, default=",".join(R["front"]) or "none", metavar="SPECS",
                   help=f"input layers in front of the first weights, in order ({', '.join(KINDS)}), e.g. "
                   "scale,periodic or periodic:frequencies=16,width=4; none: the columns go straight in")
    t.add_argument("--dropout", type=float, default=R["dropout"], metavar="P",
                   help="drop each hidden unit with probability P while training")
    t.add_argument("--class-weight", choices=["balanced"], default=None,
                   help="weigh each class by n / (classes x its rows): for imbalanced classes (classification)")
    t.add_argument("--compute-dtype", choices=["bfloat16", "float16"], default=None,
                   help="mixed precision: the products in this type, float32 weights (torch, cupy 14: both; cupy 13: float16)")
    t.add_argument("--seed", type=int, default=0, help="seeds the split, the initial weights and shuffling")
    t.add_argument("--stream", action="store_true", help="read a Parquet or delimited text file as it trains, a "
                   "chunk at a time, never whole in memory (README: Data larger than memory)")
    t.add_argument("--save", metavar="PATH", help="save the model with its preprocessing (.npz, no pickle)")
    t.add_argument("--plot", metavar="PNG", help="draw loss, validation score and learning rate per epoch "
                   "(pip install 'xpmlp[plot]')")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    ranks = _ranks(parser, argv[:1] == ["train"])  # MPI, under mpiexec, before anything can fail
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse said why; under mpiexec, a rank alone must not leave the others waiting
        if exc.code and ranks.comm is not None:
            ranks.fail("xpmlp: error: the arguments were refused (above)", exc, EXIT_BAD_INPUT)
        raise
    limits.LIMITS = Limits(**{k: getattr(args, k) for k in ("max_columns", "max_cell_length", "max_classes")
                              if hasattr(args, k)})
    logging.basicConfig(level=logging.INFO if rank() == 0 else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("xpmlp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `xpmlp predict ... | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (BackendError, ValueError, OSError, ImportError, DivergenceError, DistributedError) as exc:  # one line
        ranks.fail(f"xpmlp: error: {printable(str(exc))}", exc, EXIT_BAD_INPUT)
    except MemoryError as exc:
        ranks.fail(f"xpmlp: error: out of memory{f' ({exc})' if str(exc) else ''}: the input is too large for this "
                   "machine's memory (fewer rows or columns, or a smaller model)", exc, EXIT_BAD_INPUT)
    except RecursionError as exc:
        ranks.fail("xpmlp: error: the input is nested too deeply to read (a corrupt or crafted file?)", exc,
                   EXIT_BAD_INPUT)
    except Exception as exc:  # a bug: its traceback, and under mpiexec no rank left waiting
        if ranks.comm is None:
            raise
        traceback.print_exc()
        ranks.fail(f"xpmlp: error: {type(exc).__name__}: {printable(str(exc))}", exc, 1)


def _ranks(parser: argparse.ArgumentParser, train: bool) -> Ranks:
    """The command's processes: under an MPI launcher, ``train`` initialises MPI first (:mod:`.ranks`)."""
    try:
        return Ranks.start() if train else Ranks()
    except ImportError as exc:  # no mpi4py under mpiexec: every rank says so alike, none waits
        parser.exit(EXIT_BAD_INPUT, f"xpmlp: error: {exc}\n")
