"""``xpmlp train FILE --target y --stream``: a Parquet or delimited text file trained on as it is read.

Four passes over the file, none holding more than a chunk of it (:mod:`~xpmlp.app.chunked`): the
target column alone (the task, the classes, the held-out test rows, drawn as
:func:`~xpmlp.app.tables.split_rows` draws them); the preprocessing statistics of the training rows
(:func:`fit_preprocessor`: a number column's mean and spread, its gaps and their fill, a text
column's categories with their cap); the validation rows, written to a temporary file; training
(:func:`xpmlp.training.fit` on a :class:`~xpmlp.training.sources.Source`, epoch by epoch); and the
scores.  What it keeps for every row of the file is 6 bytes (a text label's int32 code, or a
number's 8; whether the row trains, whether it validates), so memory stays near the chunks it reads.  A
number column's gap fill is the median of a seeded uniform sample of :data:`SAMPLE` of its values
(exact when it has fewer); text columns are categories (a column of numbers with a typo is not
told apart, as it is in memory); everything else is as in memory."""

from __future__ import annotations

import contextlib
import ctypes
import csv
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..nn.network import MLP
from ..nn.objective import objective
from ..optim.optimizers import make_optimizer
from ..training.loop import fit
from ..training.sources import Source
from .cells import formula_safe, printable
from .chunked import CHUNK_ROWS, labels, table_chunks
from .dates import detect
from .features import CATEGORY, ID_LIKE, MAX_CATEGORIES, MIN_ROWS_FOR_ID, NUMBER, Feature
from .preprocessing import Preprocessor
from .reading import ReadOptions, reuse
from .tables import DataError, Table, infer_task, split_rows
from .workflows import TrainedModel, front_specs

__all__ = ["train_streamed", "predict_streamed", "should_stream", "fit_preprocessor", "table_chunks", "SAMPLE",
           "STREAM_ABOVE"]

#: Chunks (of :data:`~xpmlp.app.chunked.CHUNK_ROWS` rows) shuffled together while training.
WINDOW = 16
#: Rows the scores' pass predicts at a time (input layers such as periodic embeddings widen a row many times).
SCORE_ROWS = 1024
#: Blocks of at least this many bytes are mapped on their own (:func:`_unmap_freed_chunks`).
MAP_ABOVE = 2 ** 20
#: Values of a number column kept (a seeded uniform sample) for its median.
SAMPLE = 10_000
#: ``train`` streams a Parquet or delimited text file (or directory) larger than this many bytes unasked.
STREAM_ABOVE = 2 * 2 ** 30


def should_stream(path: "str | None") -> bool:
    """Whether ``train`` reads ``path`` as it trains without ``--stream``: a Parquet or text file (or a
    directory of them) of more than :data:`STREAM_ABOVE` bytes."""
    if path is None or not Path(path).exists():
        return False
    p = Path(path)
    size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
    return size > STREAM_ABOVE and (p.is_dir() or p.suffix.lower() in (".parquet", ".pq", ".csv", ".tsv", ".txt"))


class _Column:
    """One column's statistics over the chunks: numbers (count, mean, M2, gaps, a sample) or texts (counts)."""

    def __init__(self, seed: int) -> None:
        self.kind, self.rows, self.gaps, self.n, self.mean, self.m2 = None, 0, 0, 0, 0.0, 0.0
        self.sample_keys, self.sample, self.counts = np.zeros(0), np.zeros(0), Counter()
        self.rng = np.random.default_rng(seed)

    def add(self, cells: np.ndarray, name: str, source: str) -> None:
        """A chunk's cells of the column (float64 with NaN, or objects with ``None``, for gaps)."""
        if cells.dtype.kind == "f":  # a table of numbers: at array speed
            present = cells[~np.isnan(cells)]
        else:
            present = [c for c in cells.tolist() if c is not None and c == c]  # c != c: NaN
        self.rows, self.gaps = self.rows + len(cells), self.gaps + len(cells) - len(present)
        if not len(present):  # only gaps: no word on the column's kind
            return
        kind = NUMBER if isinstance(present, np.ndarray) or \
            all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in present) else CATEGORY
        if self.kind not in (None, kind):
            raise DataError(f"{source}: column {name!r} holds numbers in some chunks and text in others: give "
                            "--category or train without --stream")
        self.kind = kind
        if kind == CATEGORY:
            self.counts.update(str(c) for c in present)
            return
        values = np.asarray(present, dtype=np.float64)
        n, mean = values.size, float(values.mean())  # Chan's merge of (count, mean, M2)
        m2, delta, total = float(((values - mean) ** 2).sum()), mean - self.mean, self.n + values.size
        self.mean, self.m2 = self.mean + delta * n / total, self.m2 + m2 + delta ** 2 * self.n * n / total
        self.n = total
        keys = np.concatenate([self.sample_keys, self.rng.random(n)])  # a uniform sample: the smallest keys
        kept = np.argpartition(keys, SAMPLE - 1)[:SAMPLE] if keys.size > SAMPLE else slice(None)
        self.sample_keys, self.sample = keys[kept], np.concatenate([self.sample, values])[kept]

    def feature(self, name: str) -> tuple[Feature | None, str, list[tuple[float, float]]]:
        """``(feature or None, note, [(mean, variance) of each encoded input])``."""
        if self.kind is None:
            return None, "no values", []
        if self.kind == NUMBER:
            fill = float(np.median(self.sample))
            feature = Feature(name, NUMBER, fill, bool(self.gaps))
            n = self.rows  # gaps take the fill: fold them in as a group of equal values
            mean = (self.mean * self.n + fill * self.gaps) / n
            m2 = self.m2 + self.n * (self.mean - mean) ** 2 + self.gaps * (fill - mean) ** 2
            return feature, "", [(mean, m2 / n)] + self._indicator()
        if len(self.counts) == self.rows >= MIN_ROWS_FOR_ID:
            return None, ID_LIKE, []
        ranked = sorted(self.counts, key=lambda c: (-self.counts[c], c))
        feature = Feature(name, CATEGORY, ranked[0], bool(self.gaps), sorted(ranked[:MAX_CATEGORIES]))
        share = [(self.counts[c] + (self.gaps if c == ranked[0] else 0)) / self.rows for c in feature.categories]
        note = f"{len(self.counts)} categories" + ("" if len(self.counts) <= MAX_CATEGORIES else
                                                   f": the {MAX_CATEGORIES} most frequent one-hot encoded")
        return feature, note, [(p, p * (1 - p)) for p in share] + self._indicator()

    def _indicator(self) -> list[tuple[float, float]]:
        p = self.gaps / self.rows
        return [(p, p * (1 - p))] if self.gaps else []


def fit_preprocessor(chunks: Iterator[tuple[int, Table]], keep: np.ndarray, task: str, y: np.ndarray,
                     seed: int = 0, dates: bool = True) -> Preprocessor:
    """:meth:`Preprocessor.fit`'s statistics in one pass over ``chunks``, of the rows ``keep`` marks; a
    text column of dates is refused unless ``dates`` is False (then it is categories)."""
    columns: dict[str, _Column] = {}
    target, source = None, "the data"
    for start, table in chunks:
        rows = keep[start:start + len(table.X)]
        target, source = table.target, table.source
        for j, name in enumerate(table.columns):
            columns.setdefault(name, _Column(seed + j)).add(table.X[rows, j], name, table.source)
    pre = Preprocessor(task, [], np.zeros(0), np.ones(0), target, numbers_first=True)
    moments: list[tuple[float, float]] = []
    for name, column in columns.items():
        if dates and column.kind == CATEGORY and detect(sorted(column.counts)[:1000]):
            raise DataError(f"{source}: column {name!r} holds dates, which --stream does not read as dates: give "
                            "--no-dates (categories) or train without --stream")
        feature, note, stats = column.feature(name)
        if feature is None:
            pre.dropped[name] = note
            pre.notes.append(f"column {name!r} dropped: {note}")
            continue
        pre.features.append(feature)
        pre.notes += [f"column {name!r}: {note}"] if note else []
        moments += stats
    if not pre.features:
        raise DataError(f"{source}: no feature columns left to learn from")
    pre.mean = np.array([m for m, _ in moments])[pre.order]  # moments in column order -> the inputs' order
    pre.scale = np.sqrt(np.array([v for _, v in moments]))[pre.order]
    pre.scale[pre.scale == 0] = 1.0
    pre._fit_target(Table(np.zeros((len(y), 0)), [], y, target, source))
    return pre


class _Encoded(Source):
    """The training rows of the file's chunks, encoded by ``pre``, in ``dtype``: ``(X, T)`` host arrays.  Each
    chunk's rows are known from ``chunks`` (the target's pass) and ``keep``, so training needs no counting
    pass; its validation rows go to a temporary file (:mod:`xpmlp.training.spill`), not to memory."""

    random_access, weighted, keep_validation = False, False, False

    def __init__(self, path: Path, target: str, reading: ReadOptions, chunks: list[int], keep: np.ndarray,
                 pre: Preprocessor, dtype: Any = np.float64) -> None:
        self.args, self.keep, self.pre, self.dtype = (path, target, reading, max(chunks)), keep, pre, dtype
        kept = np.add.reduceat(keep, np.cumsum([0, *chunks[:-1]])) if len(keep) else np.zeros(0, dtype=np.int64)
        self.chunk_rows = [int(r) for r in kept if r]
        self.n_chunks = len(self.chunk_rows)
        self.description = f"{path.name} (read {max(chunks)} rows at a time)"

    def _all(self) -> Iterator[tuple]:
        for start, table in table_chunks(*self.args):
            rows = np.flatnonzero(self.keep[start:start + len(table.X)])
            if rows.size:
                part = table.take(rows)
                yield self.pre.transform(part).astype(self.dtype), self.pre.encode(part.y).astype(self.dtype)


def split(y: np.ndarray, task: str | None, test_size: float, seed: int) -> tuple[str, np.ndarray]:
    """``(task, keep)``: the task and a mask of the training rows (the rest are held out): the rows
    :func:`~xpmlp.app.tables.split_rows` holds out, drawn with the same generator calls but marked in the
    mask as they are drawn, so the pass holds 8 bytes a row at most (``split_rows`` returns both sides
    sorted: several times that).  An int32 ``y`` is taken as codes 0..k-1 of text labels
    (:func:`~xpmlp.app.chunked.labels`)."""
    task = task or infer_task(y)
    n, stratify = len(y), task == "classification"
    if not 0.0 < test_size < 1.0:
        split_rows(n, test_size, seed)  # its one-line refusal
    rng, keep = np.random.default_rng(seed), np.ones(n, dtype=bool)
    if not stratify:
        keep[rng.permutation(n)[:max(1, int(round(test_size * n)))]] = False
        return task, keep
    codes = y if y.dtype == np.int32 else np.unique(y, return_inverse=True)[1].reshape(-1)  # labels: their codes
    by_label = np.argsort(codes, kind="stable")  # each label's rows in order
    for rows in np.split(by_label, np.cumsum(np.bincount(codes))[:-1]):
        rows = rng.permutation(rows)
        keep[rows[:min(int(round(test_size * rows.size)), rows.size - 1) if rows.size > 1 else 0]] = False
    if keep.all() or not keep.any():
        split_rows(n, test_size, seed, y)  # its one-line refusal: too few rows per class
    return task, keep


def _scores(net: MLP, pre: Preprocessor, chunks: Iterator[tuple[int, Table]], keep: np.ndarray,
            alpha: float) -> tuple[dict[str, float], float]:
    """``(scores, training loss)`` in one pass: accuracy or R^2 of the training and the held-out rows, the
    held-out log loss (classification), the objective on the training rows."""
    sums = {part: np.zeros(5) for part in ("train", "test")}  # rows, hits or (sum y, sum y^2, residual), log loss
    loss = 0.0
    for start, table in chunks:
        mine = keep[start:start + len(table.X)]
        X, T = pre.transform(table), pre.encode(table.y)
        out = np.asarray(net.backend.to_numpy(net.predict(X)), dtype=np.float64)
        if mine.any():
            loss += objective(net, X[mine], T[mine], alpha=alpha) * int(mine.sum())
        for part, rows in (("train", mine), ("test", ~mine)):
            s, o = sums[part], out[rows]
            s[0] += rows.sum()
            if pre.task == "classification":
                s[1] += np.sum(np.argmax(T[rows], axis=1) == np.argmax(o, axis=1))
                s[4] -= np.sum(np.log(np.maximum(np.sum(T[rows] * o, axis=1), 1e-300)))
            else:
                y = np.asarray(table.y[rows], dtype=np.float64)
                s[1:4] += (y.sum(), (y ** 2).sum(), ((y - pre.decode(o)) ** 2).sum())
    scores = {}
    for part, s in sums.items():
        if pre.task == "classification":
            scores[part] = s[1] / s[0]
        else:
            ss_tot = s[2] - s[1] ** 2 / s[0]
            scores[part] = 1.0 - s[3] / ss_tot if ss_tot > 0 else float(s[3] == 0)
    scores["test_log_loss"] = sums["test"][4] / sums["test"][0] if pre.task == "classification" else None
    return {k: float(v) for k, v in scores.items() if v is not None}, loss / int(keep.sum())


def _reading(args: Any, saved: "dict | None" = None) -> ReadOptions:
    """How ``--stream`` reads the file (the options given, else the model's ``saved`` ones): the delimiter
    and gap markers as in memory; what it cannot honour is refused, one line naming the options."""
    options = reuse({"sep": args.sep, "header": args.header, "decimal": args.decimal, "encoding": args.encoding,
                     "na_values": args.na_values, "default_na": False if args.no_default_na else None}, saved or {})
    refused = [flag for flag, given in (
        ("--no-header", options.header is False), ("--decimal ,", options.decimal not in (None, ".")),
        ("--encoding", options.encoding not in (None, "utf-8", "UTF-8")), ("--date", getattr(args, "date", [])),
        ("--keep", getattr(args, "keep", [])), ("--test-size 0", getattr(args, "test_size", 1) == 0)) if given]
    if refused:
        raise DataError(f"--stream reads text files with a header row, '.' decimals and UTF-8, holding test rows out: "
                        f"it cannot honour {', '.join(refused)}; leave them out or read the file whole (without --stream)")
    return options


def _unmap_freed_chunks() -> None:
    """Have glibc's ``malloc`` map every block of :data:`MAP_ABOVE` bytes or more on its own, and unmap it when
    it is freed (``mallopt(M_MMAP_THRESHOLD)``).  By default that threshold rises to the largest block freed
    so far (up to 32 MiB), after which each pass's freed chunks stay in the process's heaps, and the next
    pass, on the reader thread and so in another heap, takes as much again (60 MB more at the peak,
    measured).  Elsewhere than Linux: nothing."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None) if sys.platform.startswith("linux") else None
    if mallopt is not None:
        mallopt(-3, MAP_ABOVE)  # -3: M_MMAP_THRESHOLD


def train_streamed(args: Any, backend: Any) -> tuple[TrainedModel, float]:
    """``xpmlp train FILE --target y --stream``: ``(the trained model, seconds)``; see the module docstring."""
    _unmap_freed_chunks()
    reading = _reading(args)
    path, target, rows = Path(args.data), str(args.target), CHUNK_ROWS
    start = time.perf_counter()
    y = labels(path, target, reading, rows)  # compact: text labels as codes
    task, keep = split(y.values, args.task or ("classification" if y.names is not None else None), args.test_size,
                       args.seed)
    pre = fit_preprocessor(table_chunks(path, target, reading, rows), keep, task, y.for_fit(keep, task), args.seed,
                           not args.no_dates)
    pre.reading = reading.to_dict()  # predict and evaluate read their files the same way
    print(f"{path}: {len(y.values)} rows, {len(pre.features) + len(pre.dropped)} columns besides the target {target!r}, "
          "read as it trains (--stream)")
    out, loss = ("softmax", "cross_entropy") if task == "classification" else ("identity", "squared_error")
    layers: list[str] = []  # notes on the input layers
    net = MLP([len(pre.encoded), *args.hidden, pre.n_outputs], args.activation, out, loss, backend=backend,
              dtype=args.dtype, seed=args.seed, compute_dtype=args.compute_dtype, dropout=args.dropout,
              front=front_specs(getattr(args, "front", ()), pre, layers, args.compute_dtype))
    opt = make_optimizer(args.optimizer, **({"momentum": args.momentum} if args.optimizer == "sgd" else {}))
    source = _Encoded(path, target, reading, y.chunks, keep, pre, net.backend.dtype_name)
    del y
    history = fit(net, source, None, optimizer=opt, seed=args.seed, validation_fraction=args.validation_fraction or None,
                  epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, alpha=args.alpha,
                  patience=args.patience, class_weight=args.class_weight, progress=not args.no_progress, window=WINDOW,
                  schedule=args.schedule)
    scores, train_loss = _scores(net, pre, table_chunks(path, target, reading, SCORE_ROWS), keep, args.alpha)
    notes = [*pre.notes, *layers, f"streamed: {rows} rows a chunk, rows shuffled within {WINDOW} chunks, in 4 passes "
             f"over the file and one per epoch, validation rows in a temporary file; gap fills are medians of up to "
             f"{SAMPLE} values a column; a validation split "
             "drawn at random, not by class, its score (not its loss) picking the best epoch; inputs scaled by mean and "
             "standard deviation (--scaling is for files read whole)"]
    model = TrainedModel(net, pre, opt, history, train_loss, scores, notes)
    return model, time.perf_counter() - start


def predict_streamed(args: Any, net: MLP, pre: Preprocessor) -> int:
    """``xpmlp predict MODEL FILE --stream``: the predictions written a chunk at a time, to a temporary file
    beside ``--output`` renamed into place at the end (or to standard output)."""
    from .workflows import predict_table, prediction_rows

    reading = _reading(args, pre.reading)
    path, to_file, count, header = Path(args.data), args.output not in (None, "-"), 0, None
    out = Path(args.output).with_name(f".{Path(args.output).name}.partial") if to_file else None
    try:
        with (open(out, "w", newline="", encoding="utf-8") if to_file else contextlib.nullcontext(sys.stdout)) as f:
            writer = csv.writer(f, lineterminator="\n")
            for start, table in table_chunks(path, None, reading):
                ids = args.id or [c for c in pre.ids if c in table.columns]
                predicted, outputs = predict_table(net, pre, table)
                header, rows = prediction_rows(pre, table, predicted, outputs, ids, args.proba)
                if not ids:  # the row's number in the file, not in the chunk
                    rows = [[r[0] + start, *r[1:]] for r in rows]
                if not args.raw_cells:  # no cell a spreadsheet would run as a formula
                    header, rows = [formula_safe(c) for c in header], [[formula_safe(c) for c in r] for r in rows]
                writer.writerows([header] * (start == 0) + rows)
                count += len(rows)
        if to_file:
            os.replace(out, args.output)
            print(printable(f"{count} predictions written to {args.output} (columns {', '.join(header)}), a chunk at "
                            "a time"))
    finally:
        if out is not None and out.exists():
            out.unlink()
    return 0
