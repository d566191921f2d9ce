"""Training data on the device: the boundary checks, the validation split, and the minibatches.

:func:`prepare` is the one place where a fit's data crosses to the backend:
inputs, targets and sample weights are checked and moved once, the
validation split (if any) is taken on the device, and :class:`TrainingData`
then yields each epoch's minibatches without further transfers except the
shuffled row order (one host-to-device copy of ``n`` integers per epoch, from
a seeded host generator, so every backend sees the same batches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..backends import sparse
from ..backends.arrays import ops_for
from ..backends.backend import Backend
from ..backends.boundary import normalized_sample_weight
from ..nn.network import MLP

__all__ = [
    "TrainingData",
    "prepare",
    "batch_slices",
    "resolve_batch_size",
    "split_validation",
]


def batch_slices(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in batches; the last may be short."""
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def resolve_batch_size(batch_size: "int | str | None", n: int) -> int:
    """``"full"`` or ``None`` -> n (full batch); 1 -> online; else clipped to n."""
    if batch_size is None or batch_size == "full":
        return n
    if isinstance(batch_size, (str, float, bool)) or int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive int, 'full' or None, got {batch_size!r}")
    return min(int(batch_size), n)


def split_validation(n: int, fraction: float, rng: np.random.Generator, strata: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Host index arrays ``(train, validation)``; validation holds about ``fraction`` of the rows.

    With ``strata`` (one label per row) the ``round(fraction * n)`` validation rows are
    shared among the labels in proportion to their counts (largest remainder), so the
    classes keep their proportions.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction!r}")
    if strata is None:
        order = rng.permutation(n)
        k = int(round(fraction * n))
        val, tr = order[:k], order[k:]
    else:
        strata = np.asarray(strata)
        if strata.shape[0] != n:
            raise ValueError(f"stratify has {strata.shape[0]} labels for {n} samples")
        labels, counts = np.unique(strata, return_counts=True)
        quota = fraction * counts  # each label's share of round(fraction * n), by largest remainder
        take = np.floor(quota).astype(int)
        extra = int(round(fraction * n)) - int(take.sum())
        take[np.argsort(-(quota - take), kind="stable")[:max(extra, 0)]] += 1
        val_parts = [rng.permutation(np.flatnonzero(strata == label))[:k] for label, k in zip(labels, take)]
        val = np.sort(np.concatenate(val_parts))
        tr = rng.permutation(np.setdiff1d(np.arange(n), val))
    if val.size < 2 or tr.size < 1:
        raise ValueError(
            f"validation split of {n} samples with validation_fraction={fraction} leaves "
            f"{val.size} validation and {tr.size} training samples; need >= 2 and >= 1 "
            "(increase validation_fraction or the data)"
        )
    return np.sort(tr), val


@dataclass
class TrainingData:
    """A fit's training rows on the model's device, and how an epoch walks through them.

    ``X`` ``(n, n_in)`` (dense, or sparse in the backend's format: :mod:`xpmlp.backends.sparse`),
    ``T`` ``(n, n_out)``, ``w`` ``(n,)`` or None: this process's training rows.  The fit's rows
    are ``n_total`` positions; ``positions`` (host ints, ``(n,)``) says which of them this
    process holds, by default ``offset .. offset + n`` (one process: all of them; data-parallel
    training: its shard, :mod:`xpmlp.distributed`).  ``validation``: ``(X_val, T_val, w_val)``,
    the whole validation set, or None.
    """

    backend: Backend
    X: Any
    T: Any
    w: Any
    batch_size: int
    shuffle: bool
    validation: tuple | None = None
    n_total: int = -1
    offset: int = 0
    positions: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_local = int(self.X.shape[0])
        if self.n_total < 0:
            self.n_total = n_local
        if self.positions is None:
            self.positions = np.arange(self.offset, self.offset + n_local)
        self._contiguous = bool(np.array_equal(self.positions, np.arange(self.offset, self.offset + n_local)))
        self._local = np.full(self.n_total, -1, dtype=np.int64)  # position -> this process's row, or -1
        self._local[self.positions] = np.arange(n_local)
        self._take_X = sparse.row_taker(self.X)  # a sparse X has its own row selection; None: dense
        self._ops = ops_for(self.backend.xp, self.backend.name)
        self._buffers: tuple | None = None  # each gathered batch goes here: (X, T, w), batch_size rows

    def minibatches(self, rng: np.random.Generator) -> Iterator[tuple[Any, Any, Any, int]]:
        """One epoch's minibatches ``(X_b, T_b, w_b, |B|)``: of every global batch of the ``n_total``
        positions, in an order drawn from ``rng``, this process's rows (possibly none); ``|B|``
        counts the batch's rows in every process (the mean's denominator)."""
        slices = batch_slices(self.n_total, self.batch_size)
        if not self.shuffle and self._contiguous:  # in order: this process's rows of a batch are a slice
            for a, b in slices:
                lo, hi = max(a, self.offset) - self.offset, min(b, self.offset + self.X.shape[0]) - self.offset
                yield (*self._rows(slice(lo, max(lo, hi)), np.arange(lo, max(lo, hi))), b - a)
            return
        order = rng.permutation(self.n_total) if self.shuffle else np.arange(self.n_total)  # as one process
        mine = [rows[rows >= 0] for rows in (self._local[order[a:b]] for a, b in slices)]
        idx = self.backend.asarray(np.concatenate(mine), dtype=self.backend.index_dtype)  # host -> device, once
        start = 0
        for (a, b), rows in zip(slices, mine):
            yield (*self._rows(idx[start:start + rows.size], rows), b - a)  # gathered on the device
            start += rows.size

    def _rows(self, rows: Any, host_rows: np.ndarray) -> tuple[Any, Any, Any]:
        """``(X, T, w)`` at ``rows``: a slice (views), or a 1-D index array on the device (``host_rows``
        on the host), gathered into buffers reused from batch to batch."""
        if isinstance(rows, slice):
            Xb = self.X[rows, ...] if self._take_X is None else self._take_X(rows, host_rows)
            return Xb, self.T[rows, ...], None if self.w is None else self.w[rows]
        n, take = host_rows.size, self._ops.take_rows
        if not self._ops.in_place:  # a library without out=: the gathered rows as they come
            Xb = take(self.X, rows) if self._take_X is None else self._take_X(rows, host_rows)
            return Xb, take(self.T, rows), None if self.w is None else take(self.w, rows)
        bX, bT, bw = self._buffers or self._make_buffers()
        Xb = take(self.X, rows, bX[:n, ...]) if self._take_X is None else self._take_X(rows, host_rows)
        return Xb, take(self.T, rows, bT[:n, ...]), None if self.w is None else take(self.w, rows, bw[:n])

    def _make_buffers(self) -> tuple:
        xp, be, b = self.backend.xp, self.backend, self.batch_size
        empty = lambda *shape: xp.empty(shape, dtype=be.dtype, device=be.device)  # noqa: E731
        self._buffers = (None if self._take_X is not None else empty(b, self.X.shape[1]), empty(b, self.T.shape[1]),
                         None if self.w is None else empty(b))
        return self._buffers


def _validation_arrays(net: MLP, validation_data: tuple) -> tuple:
    if len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be (X_val, T_val) or (X_val, T_val, sample_weight_val)")
    Xv = net.as_input(validation_data[0])
    Tv = net.as_target(validation_data[1], Xv.shape[0])
    wv = None
    if len(validation_data) == 3 and validation_data[2] is not None:
        wv = normalized_sample_weight(net.backend, validation_data[2], Xv.shape[0])
    return Xv, Tv, wv


def prepare(
    net: MLP, X: Any, T: Any, *, batch_size: "int | str | None", shuffle: bool, rng: np.random.Generator,
    sample_weight: Any = None, validation_data: tuple | None = None, validation_fraction: float | None = None,
    stratify: Any = None, positions: Any = None,
) -> TrainingData:
    """Check the data and move it to the model's device, once; split off the validation rows.

    ``X`` ``(n, sizes[0])`` and ``T`` ``(n, sizes[-1])`` are host arrays or arrays of the model's
    library; ``stratify`` holds one label per row for a stratified ``validation_fraction`` split.
    """
    if validation_data is not None and validation_fraction:
        raise ValueError("give validation_data or validation_fraction, not both")
    if positions is not None:
        raise ValueError("positions place a process's rows among several processes' (comm=...); one process "
                         "holds its rows in their order")
    be, xp = net.backend, net.xp
    X = net.as_input(X)  # host -> device, once
    T = net.as_target(T, X.shape[0])
    w = normalized_sample_weight(be, sample_weight, X.shape[0])
    validation = None
    if validation_fraction:
        tr, va = split_validation(X.shape[0], validation_fraction, rng, stratify)
        tr_d, va_d = be.asarray(tr, dtype=be.index_dtype), be.asarray(va, dtype=be.index_dtype)
        take = lambda a, rows: None if a is None else xp.take(a, rows, axis=0)  # noqa: E731
        sparse_rows = sparse.row_taker(X)
        take_X = (lambda a, rows, host: take(a, rows)) if sparse_rows is None else (lambda a, rows, host: sparse_rows(rows, host))
        validation = (take_X(X, va_d, va), take(T, va_d), take(w, va_d))
        X, T, w = take_X(X, tr_d, tr), take(T, tr_d), take(w, tr_d)
    elif validation_data is not None:
        validation = _validation_arrays(net, validation_data)
    return TrainingData(be, X, T, w, resolve_batch_size(batch_size, X.shape[0]), bool(shuffle), validation)
