"""The estimators' ``fit`` on data read as it trains: a path, a Dask collection, batches.

``fit(X, y=None, sample_weight=None)`` streams ``X`` where :func:`xpmlp.training.fit` would (what
:func:`~xpmlp.training.sources.is_source_like` says: a :class:`~xpmlp.training.sources.Source`, a
path, a Dask collection, an iterable of batches or a function returning one); arrays, lists,
DataFrames and sparse matrices are validated and trained in memory as before.  ``y`` and
``sample_weight`` say what :func:`~xpmlp.training.sources.as_source` takes beside ``X``:

* a ``.npy`` path, a Dask array: ``y`` a ``.npy`` path or an array (a Dask array), ``sample_weight``
  an array (a Dask array) or None;
* a Parquet file or directory, a delimited text file, a Dask DataFrame: ``y`` the target column(s),
  ``sample_weight`` the weight column's name or None;
* batches ``(X, y[, sample_weight])``, a :class:`~xpmlp.training.sources.Source`: ``y`` and
  ``sample_weight`` None (the batches carry them).

One pass over the source comes first (:func:`~xpmlp.training.streaming.count_rows`): each chunk's
rows, the columns (``n_features_in_``) and the inputs' dtype (float32 inputs make a float32 model,
as in memory), a classifier's labels with their counts and weights (``classes_``, and
``class_weight="balanced"``), a regressor's outputs, the sample weights' sum.  Then
:func:`xpmlp.training.fit` trains on the source, each chunk's labels encoded as ``LabelBinarizer``
encodes them (one column for two classes), class weights folded into its sample weights.  A
source's chunks are read once per epoch and never all at once.

Where the shuffle window covers every chunk (at most ``DEFAULT_WINDOW`` = 8 chunks, or a source of
fewer) and without ``early_stopping``, the fit is the in-memory fit of the same rows: the same
batches, so the same weights (bitwise without sample weights; with them, to rounding, their mean
being summed chunk by chunk).  ``early_stopping`` draws its validation rows at random by row
number (:func:`~xpmlp.training.data.split_validation`), not scikit-learn's stratified
``train_test_split``.  Refused, each in one line: ``partial_fit`` (a source trains through
``fit``), ``solver="lbfgs"`` (every row at each step), ``distributed=True``, an iterator that can
be read only once (a pass to count, then one per epoch: give a function returning a fresh one),
and ``y``/``sample_weight`` where the source carries its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state

from . import _dispatch
from ._params import hidden_sizes
from ..training.class_weight import _per_class
from ..training.sources import Source, as_source
from ..training.streaming import count_rows

__all__ = ["fit_source", "check_validation_size"]


def check_validation_size(n_validation: int) -> None:
    """scikit-learn's refusal of a validation split of fewer than 2 rows."""
    if n_validation < 2:
        raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of your "
                         "dataset.")


def fit_source(est: Any, X: Any, y: Any, sample_weight: Any, incremental: bool) -> None:
    """``est.fit(X, y, sample_weight)`` for a streamed ``X`` (see the module docstring)."""
    _refuse(est, incremental)
    source = _source(X, y, sample_weight)
    seen = _Seen(is_classifier(est))
    rows, total, weighted = count_rows(source, seen.look)
    if not sum(rows):
        raise ValueError(f"{source.description} holds no rows")
    first = not hasattr(est, "coefs_") or not est.warm_start
    encode, weigh, total = (_classes if seen.classifier else _outputs)(est, seen, first, total if weighted else None)
    n, k = sum(rows), encode(seen.probe).shape[1]
    rs = check_random_state(est.random_state)
    X0, Y0 = np.empty((0, seen.features), dtype=seen.dtype), np.empty((0, k))
    if first:
        est._initialize(X0, Y0, hidden_sizes(est.hidden_layer_sizes), rs, _dispatch.HOST)
        est.n_features_in_ = seen.features
        est.__dict__.pop("feature_names_in_", None)
    else:
        if seen.features != est.n_features_in_:
            raise ValueError(f"X has {seen.features} features, but {type(est).__name__} is expecting "
                             f"{est.n_features_in_} features as input.")
        est._resume(seen.features, Y0, _dispatch.HOST)
    fraction = est.validation_fraction if est.early_stopping else None
    held = int(round(fraction * n)) if fraction else 0
    if fraction:
        check_validation_size(held)
    streamed = _Targets(source, rows, encode, weigh, total)
    est._descend(streamed, None, n - held, 1.0 if total is None else total / n, False, rs, None, _dispatch.HOST,
                 validation_fraction=fraction)


def _refuse(est: Any, incremental: bool) -> None:
    """What a streamed fit cannot do, each in one line."""
    if incremental:
        raise ValueError("partial_fit takes arrays; to train from a path, a Dask collection or batches, call fit "
                         "(it reads them once per epoch)")
    if est.solver == "lbfgs":
        raise ValueError("solver='lbfgs' needs every row at each step; to train from a path, a Dask collection or "
                         "batches, use solver='adam', 'sgd' or 'adamw'")
    if est.distributed:
        raise ValueError("distributed=True takes each process's arrays; a streamed source is not shared among "
                         "processes by the estimators (xpmlp.training.fit(..., comm=) does that)")


def _source(X: Any, y: Any, sample_weight: Any) -> Source:
    """The source of ``fit``'s arguments (see the module docstring for what goes with what)."""
    if isinstance(X, Source) or (not isinstance(X, (str, os.PathLike)) and not type(X).__module__.startswith("dask")):
        if y is not None or sample_weight is not None:
            raise ValueError("a source of batches carries its own targets and sample weights: give y=None and "
                             "sample_weight=None, and yield (X, y) or (X, y, sample_weight) batches")
        source = as_source(X)
        if not source.repeatable:
            raise ValueError(f"{source.description} can be read once, and fit reads a source once to count its rows "
                             "and classes before training: pass a function that returns a fresh iterator, or a list")
        return source
    if y is None:
        raise ValueError("fit(X) with a path or a Dask collection needs y: the target column(s) of a table, or the "
                         "targets (.npy path or array) of a .npy or a Dask array")
    path = isinstance(X, (str, os.PathLike))
    table = (path and Path(X).suffix.lower() != ".npy") or (not path and hasattr(X, "columns"))
    if table and sample_weight is not None and not isinstance(sample_weight, str):
        raise ValueError("a table's sample weights are one of its columns: give sample_weight='column name'")
    if not table and isinstance(sample_weight, str):
        raise ValueError("sample_weight names a column, but X is not a table: give an array of weights")
    if table:
        return as_source(X, y, weight=sample_weight)
    return as_source(X, y, sample_weight)


class _Seen:
    """What the counting pass learns: the inputs' columns and dtype, a classifier's labels (each one's
    rows and weight) or a regressor's outputs, and a chunk's targets to probe the encoding with."""

    def __init__(self, classifier: bool) -> None:
        self.classifier, self.features, self.dtype, self.probe = classifier, None, None, None
        self.labels: dict = {}  # label: [rows, summed weight]
        self.indicator: int | None = None  # multilabel: the labels' count
        self.outputs: int | None = None
        self.negative = False  # a regressor's targets: some below 0

    def look(self, X: np.ndarray, y: np.ndarray, w: Any) -> None:
        if self.features is None:
            self.features, self.dtype = X.shape[1], np.float32 if _dispatch.is_float32(X.dtype) else np.float64
        elif X.shape[1] != self.features:
            raise ValueError(f"a chunk of X has {X.shape[1]} columns where the first had {self.features}")
        if len(y) != X.shape[0]:
            raise ValueError(f"a chunk has {X.shape[0]} rows of X but {len(y)} of y")
        self.probe = y[:1] if self.probe is None else self.probe
        if not self.classifier:
            self._numbers(y)
        elif y.ndim == 2 and y.shape[1] > 1:
            self.indicator = y.shape[1]
        else:
            distinct, inverse = np.unique(y.reshape(-1), return_inverse=True)
            counts = np.bincount(inverse, minlength=distinct.size)
            weights = counts if w is None else np.bincount(inverse, np.asarray(w, dtype=np.float64), distinct.size)
            for label, c, s in zip(distinct.tolist(), counts.tolist(), weights.tolist()):
                kept = self.labels.setdefault(label, [0, 0.0])
                kept[0], kept[1] = kept[0] + c, kept[1] + s

    def _numbers(self, y: np.ndarray) -> None:
        outputs = 1 if y.ndim == 1 else y.shape[1]
        if self.outputs not in (None, outputs):
            raise ValueError(f"a chunk of y has {outputs} outputs where the first had {self.outputs}")
        self.outputs = outputs
        try:
            self.negative = self.negative or bool(np.any(np.asarray(y, dtype=np.float64) < 0))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must hold numbers for a regressor: {exc}") from exc


def _classes(est: Any, seen: _Seen, first: bool, total: float | None) -> tuple[Callable, Any, float | None]:
    """A classifier's ``classes_`` (or their check against the last fit's, warm-started), how a chunk's labels
    become targets, and its class weights (a function of a chunk's labels and weights) with their sum."""
    classes = np.arange(seen.indicator) if seen.indicator else np.array(sorted(seen.labels))
    if first:
        lb = LabelBinarizer().fit(np.eye(seen.indicator, dtype=int) if seen.indicator else classes)
        est._label_binarizer, est.classes_ = lb, lb.classes_
    elif set(_dispatch.to_host(est.classes_).tolist()) != set(classes.tolist()):
        raise ValueError("warm_start can only be used where `y` has the same classes as in the previous call to fit. "
                         f"Previously got {est.classes_}, `y` has {classes}")
    lb = est._label_binarizer
    encode = (lambda y: lb.transform(y).astype(np.float64)) if seen.indicator else \
        (lambda y: lb.transform(np.asarray(y).reshape(-1)).astype(np.float64))
    if est.class_weight is None:
        return encode, None, total
    if seen.indicator:
        raise ValueError("class_weight is not supported for multilabel targets")
    known = est.classes_.tolist()
    cw = est.class_weight
    if isinstance(cw, dict):
        unknown = [label for label in cw if label not in known]
        if unknown:
            raise ValueError(f"class_weight names {unknown!r}, which are not among the classes {known}")
        cw = {known.index(label): weight for label, weight in cw.items()}
    per_class = _per_class(cw, len(known), np.array([seen.labels[c][0] for c in known], dtype=np.float64))
    summed = float(per_class @ np.array([seen.labels[c][1] for c in known]))

    def weigh(y: np.ndarray, w: Any) -> np.ndarray:
        rows = per_class[np.searchsorted(est.classes_, np.asarray(y).reshape(-1))]
        return rows if w is None else rows * np.asarray(w, dtype=np.float64)
    return encode, weigh, summed


def _outputs(est: Any, seen: _Seen, first: bool, total: float | None) -> tuple[Callable, Any, float | None]:
    """A regressor's targets ``(m, outputs)`` of a chunk's ``y`` (Poisson: refusing negative ones)."""
    if est.loss == "poisson" and seen.negative:
        raise ValueError("Some value(s) of y are negative which is not allowed for loss='poisson'.")
    return (lambda y: np.asarray(y, dtype=np.float64).reshape(len(y), -1)), None, total


class _Targets(Source):
    """``source``'s chunks with their labels encoded as the network's targets and class weights folded into
    their sample weights; the counting pass's rows and weights' sum known (no second pass)."""

    def __init__(self, source: Source, rows: list[int], encode: Callable, weigh: Any, total: float | None) -> None:
        self.source, self.encode, self.weigh = source, encode, weigh
        self.chunk_rows, self.n_chunks = rows, len(rows)
        self.random_access, self.repeatable = source.random_access, source.repeatable
        self.weighted, self.weight_sum = total is not None, total
        self.description, self.keep_validation = source.description, source.keep_validation

    def _read(self, i: int) -> tuple:
        return self._encoded(*next(self.source.chunks([i])))

    def _all(self) -> Any:
        return (self._encoded(*chunk) for chunk in self.source.chunks())

    def _encoded(self, X: np.ndarray, y: np.ndarray, w: Any) -> tuple:
        return X, self.encode(y), w if self.weigh is None else self.weigh(y, w)
