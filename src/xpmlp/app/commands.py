"""What each ``xpmlp`` subcommand does, given its parsed arguments (:mod:`xpmlp.app.cli` parses them).

Every command checks what it can before it reads a file -- the backend first, so that an
unavailable ``--backend`` is refused at once -- and returns the exit status; a bad input
raises an exception whose message is the one line the user sees.  Warnings about the data
(categories a model never saw) are printed to standard error as ``xpmlp: warning: ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io as _io
import json
import os
import sys
import time
import warnings
from typing import Any, Iterator

import numpy as np

from .. import io
from ..backends.backend import available_backends, resolve
from ..io.files import check_outputs, replace_atomically, require_regular
from .cells import formula_safe, printable
from .features import UnseenCategoryWarning
from .reading import reuse
from .tables import read_table
from .workflows import (
    confusion,
    load_dataset,
    load_model,
    prediction_rows,
    predict_table,
    save_model,
    score,
    train_table,
)

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "rank"]

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


def _read(args: argparse.Namespace, target: Any = None, saved: Any = None, note: str = "xpmlp: note") -> Any:
    """Read ``args.data`` with the file options given, the rest from a model's ``saved`` reading
    record (:func:`~xpmlp.app.reading.reuse`); print what reading detected (``train`` on standard
    output, the others on standard error)."""
    require_regular(args.data, "data file")  # a FIFO would block for ever, /dev/zero fill the memory
    given = {"sep": args.sep, "header": args.header, "decimal": args.decimal, "encoding": args.encoding,
             "na_values": args.na_values, "default_na": False if args.no_default_na else None}
    table = read_table(args.data, target, options=reuse(given, saved or {}))
    for line in table.notes:
        print(printable(f"{note}: {line}"), file=sys.stdout if note == "note" else sys.stderr)
    return table


@contextlib.contextmanager
def _data_warnings() -> Iterator[None]:
    """Print the data's warnings (unseen categories) to standard error, one line each; any other
    warning is shown as Python shows it, once the recording has ended (shown while recording, it
    would be recorded again: the loop over the recorded warnings never ended)."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnseenCategoryWarning)
            yield
    finally:
        shown = set()
        for w in caught:
            if issubclass(w.category, UnseenCategoryWarning):
                if str(w.message) not in shown:  # once, though the same rows were encoded again
                    print(f"xpmlp: warning: {printable(str(w.message))}", file=sys.stderr)
                shown.add(str(w.message))
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def cmd_train(args: argparse.Namespace) -> int:
    if rank() != 0:  # data-parallel under mpiexec: rank 0 alone prints and writes files
        sys.stdout = open(os.devnull, "w")
        args.save = args.plot = None
        args.no_progress = True
    backend = resolve(args.backend, dtype=args.dtype)  # refused before any file is read
    if args.compute_dtype:
        backend.compute_dtype(args.compute_dtype)  # likewise
    if args.plot:
        from .plotting import require_matplotlib

        require_matplotlib()  # before training, not after
    if args.data and args.dataset:
        raise ValueError("give a data file or --dataset, not both")
    if args.data and args.target is None:
        raise ValueError(f"which column of {args.data} is the target? Give --target COLUMN")
    check_outputs({"--save": args.save, "--plot": args.plot}, [args.data] if args.data else [])  # before training
    if getattr(args, "stream", False) or _too_big(args.data):  # read as it trains: xpmlp.app.streamed
        return _train_streamed(args, backend)
    table = _read(args, args.target, note="note") if args.data else load_dataset(args.dataset or "digits")
    layout = f" ({table.layout})" if table.layout else ""
    print(f"{args.data or args.dataset or 'digits'}{layout}: {table.X.shape[0]} rows, {len(table.columns)} columns "
          f"besides the target {table.target!r}")
    shown: list[str] = []  # the decisions, printed before training

    def decided(note: str) -> None:
        shown.append(note)
        print(printable(f"note: {note}"))

    start = time.perf_counter()
    with _logs_beside_the_bar(), _data_warnings():
        model = train_table(
            table, task=args.task, hidden=args.hidden, activation=args.activation, test_size=args.test_size,
            validation_fraction=args.validation_fraction, optimizer=args.optimizer, momentum=args.momentum,
            backend=backend, dtype=args.dtype, compute_dtype=args.compute_dtype, dropout=args.dropout, seed=args.seed,
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, alpha=args.alpha,
            patience=args.patience, class_weight=args.class_weight, progress=not args.no_progress, ids=args.id,
            drop=args.drop, categories=args.category, keep=args.keep, dates=not args.no_dates,
            date_forms=dict(_date_option(d) for d in args.date), on_note=decided,
            schedule=args.schedule, scaling=args.scaling, judge_by=args.judge_by, front=args.front)
    _report(model, time.perf_counter() - start, len(shown))
    if args.save:
        print(f"saved to {save_model(args.save, model)}")
    if args.plot:
        from .plotting import plot_history

        plot_history(model.history, args.plot, title=str(args.data or args.dataset or "digits"))
        print(f"training curves drawn to {args.plot}")
    return EXIT_INTERRUPTED if model.history.stop_reason == "interrupted" else 0


def _too_big(path: Any) -> bool:
    from .streamed import STREAM_ABOVE, should_stream

    if should_stream(path):
        print(f"note: {path} is larger than {STREAM_ABOVE / 2 ** 30:g} GiB: read as it trains, as with --stream")
        return True
    return False


def _train_streamed(args: argparse.Namespace, backend: Any) -> int:
    from .streamed import train_streamed

    if not args.data:
        raise ValueError("--stream reads a data file: give one (a bundled --dataset is small)")
    with _logs_beside_the_bar(), _data_warnings():
        model, elapsed = train_streamed(args, backend)
    _report(model, elapsed)
    if args.save:
        print(f"saved to {save_model(args.save, model)}")
    if args.plot:
        from .plotting import plot_history

        plot_history(model.history, args.plot, title=str(args.data))
        print(f"training curves drawn to {args.plot}")
    return EXIT_INTERRUPTED if model.history.stop_reason == "interrupted" else 0


def _date_option(text: str) -> tuple[str, Any]:
    """``--date COL`` (its form found) or ``--date COL=DD.MM.YYYY``."""
    name, _, form = text.rpartition("=") if "=" in text else (text, "", "")
    return name, form or True


def _report(model: Any, elapsed: float, shown: int = 0) -> None:
    h, metric = model.history, "accuracy" if model.preprocessor.task == "classification" else "R^2"
    for note in model.notes[shown:]:  # what training found after the decisions were printed
        print(printable(f"note: {note}"))
    print(f"model: {model.net}")
    if h.stop_reason == "interrupted":
        print(f"interrupted: kept the model as it was after epoch {h.epochs}" if h.epochs else
              "interrupted before the first epoch finished: the model is as initialised")
    judged = f"validation {model.validation_loss} {-h.best_score:.4f}" if model.validation_loss else \
        f"validation score {h.best_score:.4f}"
    best = f", best {judged} at epoch {h.best_epoch} (weights kept from there)" if h.validation_score else ""
    print(f"{h.epochs} epochs ({h.stop_reason}) in {elapsed:.2f} s on {model.net.backend.describe()}{best}")
    print(f"the returned model: training loss {model.train_loss:.4f}, training {metric} {model.scores['train']:.4f}")
    if "test" in model.scores:
        print(f"test {metric}: {model.scores['test']:.4f}")
    if "test_log_loss" in model.scores:
        print(f"test log loss: {model.scores['test_log_loss']:.4f} (of the predicted probabilities; 0 is perfect, "
              f"{np.log(len(model.preprocessor.classes)):.4f} is a uniform guess)")


def cmd_predict(args: argparse.Namespace) -> int:
    resolve(args.backend)  # refused before any file is read
    to_file = args.output not in (None, "-")
    check_outputs({"-o": args.output if to_file else None}, [args.model, args.data])
    net, pre = load_model(args.model, backend=args.backend)
    if getattr(args, "stream", False):  # a chunk at a time: xpmlp.app.streamed
        from .streamed import predict_streamed

        with _data_warnings():
            return predict_streamed(args, net, pre)
    table = _read(args, saved=pre.reading)
    ids = args.id or [c for c in pre.ids if c in table.columns]
    for name in args.id:
        table.column(name)  # a DataError naming the columns there are
    with _data_warnings():
        predicted, outputs = predict_table(net, pre, table)
    header, rows = prediction_rows(pre, table, predicted, outputs, ids, args.proba)
    if not args.raw_cells:  # no cell a spreadsheet would run as a formula
        header, rows = [formula_safe(c) for c in header], [[formula_safe(c) for c in row] for row in rows]
    if to_file:  # whole or not at all: a full disk leaves no partial file
        replace_atomically(args.output, lambda f: _write_csv(f, header, rows))
        print(printable(f"{len(rows)} predictions written to {args.output} (columns {', '.join(header)})"))
    else:
        if sys.stdout.isatty():  # no label drives the terminal
            header, rows = [printable(str(c)) for c in header], [[printable(str(c)) for c in row] for row in rows]
        csv.writer(sys.stdout, lineterminator="\n").writerows([header, *rows])
    return 0


def _write_csv(f: Any, header: list, rows: list) -> None:
    text = _io.TextIOWrapper(f, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text.flush()
    text.detach()  # the caller fsyncs and closes the file


def cmd_evaluate(args: argparse.Namespace) -> int:
    resolve(args.backend)  # refused before any file is read
    net, pre = load_model(args.model, backend=args.backend)
    table = _read(args, args.target or pre.target, pre.reading)
    with _data_warnings():
        value = score((net, pre), table)
        predicted = predict_table(net, pre, table)[0] if pre.task == "classification" else None
    if pre.task == "regression":
        print(f"R^2: {value:.4f} on {len(table.y)} rows")
        return 0
    print(f"accuracy: {value:.4f} on {len(table.y)} rows")
    C = confusion(pre, table.y, predicted)
    names = [printable(str(c)) for c in pre.classes]
    width = max(6, *(len(n) for n in names))
    print("confusion matrix (rows: true class, columns: predicted)")
    print(" " * width + "".join(f"  {n:>{width}}" for n in names))
    for name, row in zip(names, C):
        print(f"{name:>{width}}" + "".join(f"  {v:>{width}d}" for v in row))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    ck = io.load(args.model, backend="numpy")
    print(printable(f"{args.model}: {ck.net}"))
    if ck.history is not None and ck.history.epochs:
        print(f"trained {ck.history.epochs} epochs ({ck.history.stop_reason})")
    if "preprocessing" not in ck.extra:
        print("no preprocessing record: the model takes rows of numbers as they are")
        return 0
    _, pre = load_model(args.model, backend="numpy")
    for line in pre.describe():
        print(printable(line))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import to_onnx

    resolve(args.backend)
    check_outputs({"output": args.output}, [args.model])
    net, pre = load_model(args.model, backend="numpy")
    to_onnx(net, args.output, preprocessor=pre)
    shown = ", ".join(f"{f.name!r} ({'double, NaN' if f.kind == 'number' else 'string, empty'} for a gap)"
                      for f in pre.features[:4])
    print(printable(f"wrote {args.output}: one input per column, each (batch, 1): {shown}"
          f"{', ...' if len(pre.features) > 4 else ''}; output Y (batch, {net.sizes[-1]})"
          + (f": the probabilities of {', '.join(map(str, pre.classes))}" if pre.task == "classification" else "")))
    return 0


def rank() -> int:
    """This process's rank when started by an MPI launcher (0 otherwise), without importing MPI."""
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def _logs_beside_the_bar() -> Any:
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

    check_outputs({"--json": args.json}, [])  # before the checks run, not after
    report = selftest(args.backend, None, args.quick)
    if args.json:  # whole or not at all
        replace_atomically(args.json, lambda f: f.write(json.dumps(report, indent=2).encode("utf-8")))
    return 0 if report["ok"] else 1


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "evaluate": cmd_evaluate, "info": cmd_info,
            "export": cmd_export, "backends": cmd_backends, "selftest": cmd_selftest}
