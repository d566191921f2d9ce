"""Training data streamed from a :class:`~xpmlp.training.sources.Source`: the rows stay where they are.

:func:`prepare_stream` is :func:`xpmlp.training.data.prepare` for a source: it learns what it
must before training (rows per chunk, where unknown; the weights' mean; the validation rows,
drawn by row number exactly as in memory and kept on the device) in at most two passes, and
returns a :class:`StreamingData`, whose epochs are read from the source by a background
:class:`~xpmlp.training.feeder.Feeder`.

Shuffling
    Each epoch the chunks are read in an order drawn from the fit's generator (where the source
    can read them in any order), ``window`` chunks at a time; the rows of a window are shuffled
    together and cut into batches, a batch's leftover rows carried into the next window, so an
    epoch has as many batches as in memory.  When one window holds every chunk, the epoch's row
    order is the in-memory fit's ``rng.permutation(n)``: the same batches, bitwise the same fit.
    Smaller windows shuffle less (rows of chunks far apart never share a batch); that is the
    price of holding ``window`` chunks in host memory instead of all of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from ..backends.backend import Backend, resolve
from ..backends.boundary import check_finite_host, check_sample_weight
from ..backends.staging import Staging
from ..nn.network import MLP
from ..nn.targets import as_target_matrix
from .data import _validation_arrays, resolve_batch_size, split_validation
from .feeder import Feeder
from .sources import DEFAULT_CHUNK_ROWS, Source
from . import spill

__all__ = ["StreamingData", "prepare_stream", "DEFAULT_WINDOW"]

logger = logging.getLogger("xpmlp.training")

#: Chunks whose rows are shuffled together (host memory: this many chunks).
DEFAULT_WINDOW = 8


@dataclass
class StreamingData:
    """A fit's training rows read from ``source`` epoch by epoch (see the module docstring).

    ``keep``: host bools, one per row of the source, False for the validation rows (or None);
    ``weight_mean``: the mean of the source's sample weights (each weight is divided by it);
    ``validation``: ``(X_val, T_val, w_val)`` on the device, or None; ``note``: what it does, in words.
    """

    net: MLP
    source: Source
    batch_size: int
    shuffle: bool
    window: int
    n_total: int
    keep: np.ndarray | None = None
    weight_mean: float | None = None
    validation: tuple | None = None
    feed_rows: int = DEFAULT_CHUNK_ROWS
    X: Any = None  # nothing in memory (``run.data.X`` is asked whether it is sparse)
    note: str = ""
    batch_rows: list[int] | None = None  #: several processes: every batch's rows in all of them
    rank: int | None = None
    _feeder: Feeder | None = field(default=None, repr=False)
    _read: bool = False
    _buffer: np.ndarray | None = field(default=None, repr=False)  #: a window's inputs, read in place
    _checked_chunks: set = field(default_factory=set)

    def minibatches(self, rng: np.random.Generator) -> Iterator[tuple[Any, Any, Any, int]]:
        """One epoch's minibatches ``(X_b, T_b, w_b, |B|)``, device arrays, read as the loop trains."""
        be, b = self.net.backend, self.batch_size
        if self._feeder is None:
            widths = (self.net.sizes[0], self.net.sizes[-1])
            self._feeder = Feeder(Staging(be), self.feed_rows, widths, be.dtype_name, self.weight_mean is not None)
        if self._read and not self.source.repeatable:
            raise ValueError(f"{self.source.description} can be read once: one epoch; pass a function that returns "
                             "a fresh iterator (or a list, a DataLoader) to train for more")
        order, plan = self._plan(rng)
        rows, self._read = 0, True
        sizes = None if self.batch_rows is None else iter(self.batch_rows)  # several processes: each batch's rows
        for X, T, w, m in self._feeder.epoch(lambda: self._blocks(order, plan)):
            for a in range(0, m, b):
                B = min(b, m - a) if sizes is None else next(sizes)
                yield X[a:a + b, ...], T[a:a + b, ...], None if w is None else w[a:a + b], B
            rows += m
        if sizes is None:
            self.n_total = rows  # an iterator's rows are counted as they pass
        for B in sizes or ():  # this process's rows are done, the others' go on: batches of none of its rows
            yield (*(be.xp.zeros((0, k), dtype=be.dtype, device=be.device) for k in (self.net.sizes[0], self.net.sizes[-1])),
                   None if self.weight_mean is None else be.xp.zeros((0,), dtype=be.dtype, device=be.device), B)

    def _plan(self, rng: np.random.Generator) -> tuple[list[int] | None, Any]:
        """The epoch's chunk order and the rows' shuffle: one permutation of every row (one window), a
        generator drawn from ``rng`` (several windows), or None (no shuffle)."""
        src = self.source
        if not self.shuffle:
            return None, None
        if src.n_chunks is not None and self.window >= src.n_chunks and self.rank is None:
            return None, rng.permutation(self.n_total)  # as in memory
        child = np.random.default_rng([int(rng.integers(2 ** 63)), self.rank or 0])  # each process its own
        order = list(child.permutation(src.n_chunks)) if src.random_access and src.n_chunks else None
        return order, child

    def _blocks(self, order: list[int] | None, plan: Any) -> Iterator[tuple]:
        """The epoch's rows as host blocks ``(X, T, w)`` in training order (run on the reader thread)."""
        window, rows = [], 0
        for X, T, w in self._training_rows(order):
            window.append((self._in_window(X, rows), T, w))
            rows += X.shape[0]
            if len(window) == self.window:
                yield self._shuffled(window, plan, rows)
                window, rows = [], 0
        if window:
            yield self._shuffled(window, plan, rows)

    def _in_window(self, X: np.ndarray, offset: int) -> np.ndarray:
        """A block's inputs in the window's buffer from row ``offset`` on (copied, unless read there): a window
        takes the memory of its rows once, whatever its blocks' own arrays."""
        if self._buffer is not None and X.base is self._buffer:
            return X
        if self._buffer is None or self._buffer.shape[0] < offset + X.shape[0]:
            chunks = self.source.chunk_rows
            need = sum(sorted(chunks)[-min(self.window, len(chunks)):]) if chunks else 0
            held = 0 if self._buffer is None else self._buffer.shape[0]
            grown = np.empty((max(need, offset + X.shape[0], 2 * held), X.shape[1]), dtype=X.dtype)
            if offset:
                grown[:offset] = self._buffer[:offset]
            self._buffer = grown
        self._buffer[offset:offset + X.shape[0]] = X
        return self._buffer[offset:offset + X.shape[0]]

    def _shuffled(self, window: list[tuple], plan: Any, rows: int) -> tuple:
        """A window's rows ``(X, T, w, order)``: the reader gathers them in ``order`` (None: as they are)
        straight into its host buffers."""
        T = np.concatenate([blk[1] for blk in window])
        w = None if window[0][2] is None else np.concatenate([blk[2] for blk in window])
        X = self._buffer[:rows]
        if plan is None:
            return X, T, w, None
        return X, T, w, plan if isinstance(plan, np.ndarray) else plan.permutation(X.shape[0])

    def _into_buffer(self, order: list[int] | None) -> Iterator[tuple]:
        """``(i, (X, T, w))`` with each window's inputs read into one buffer, where the source can (arrays, ``.npy``
        of the model's dtype, no rows held out), else as the source gives them."""
        src, dtype = self.source, np.dtype(self.net.backend.dtype_name)
        if self.keep is not None or not hasattr(src, "read_into") or getattr(src.X, "dtype", None) != dtype:
            yield from zip(order if order is not None else range(2 ** 62), src.chunks(order))
            return
        if self._buffer is None:
            largest = sorted(src.chunk_rows)[-min(self.window, src.n_chunks):]
            self._buffer = np.empty((sum(largest), self.net.sizes[0]), dtype=dtype)
        offset = 0
        for k, i in enumerate(order if order is not None else range(src.n_chunks)):
            offset = 0 if k % self.window == 0 else offset
            X = self._buffer[offset:offset + src.chunk_rows[i]]
            offset += X.shape[0]
            yield i, (X, *src.read_into(i, X))

    def _training_rows(self, order: list[int] | None) -> Iterator[tuple]:
        """Each chunk's training rows, checked and converted (targets as the model's matrix, weights / mean)."""
        starts = None if self.source.chunk_rows is None else self.source.chunk_starts()
        position = 0
        for i, (X, T, w) in self._into_buffer(order):
            start = starts[i] if starts is not None else position
            position += X.shape[0]
            X, T, w = self._checked(i, X, T, w)
            if self.keep is not None:
                rows = self.keep[start:start + X.shape[0]]
                X, T, w = X[rows], T[rows], None if w is None else w[rows]
            yield X, T, w

    def _checked(self, i: int, X: np.ndarray, T: np.ndarray, w: Any) -> tuple:
        """Chunk ``i`` checked (once: a repeatable source's chunks are checked in the first epoch) and in
        the model's dtype."""
        dtype = self.net.backend.dtype_name
        if i in self._checked_chunks:
            T = as_target_matrix(T, self.net.sizes[-1], self.net.output_activation.name)
            return X.astype(dtype, copy=False), np.asarray(T, dtype=dtype), None if w is None else \
                (np.asarray(w, dtype=np.float64) / self.weight_mean).astype(dtype)
        X, T, w = _checked_chunk(self.net, X, T, w, self.weight_mean)
        if self.source.repeatable and self.source.random_access:
            self._checked_chunks.add(i)
        return X.astype(dtype, copy=False), T.astype(dtype), None if w is None else w.astype(dtype)


def _checked_chunk(net: MLP, X: np.ndarray, T: np.ndarray, w: Any, weight_mean: float | None) -> tuple:
    """A chunk's host arrays as the in-memory fit would check and convert them."""
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.shape[1] != net.sizes[0]:
        raise ValueError(f"X has {X.shape[1]} columns but the network expects {net.sizes[0]}")
    check_finite_host(X, "X")
    T = np.asarray(as_target_matrix(T, net.sizes[-1], net.output_activation.name), dtype=np.float64)
    if T.shape != (X.shape[0], net.sizes[-1]):
        raise ValueError(f"T has shape {T.shape}; the network expects ({X.shape[0]}, {net.sizes[-1]})")
    check_finite_host(T, "T")
    bad = net.loss.invalid_targets(np, T)  # as the in-memory fit's check_targets, on the host
    if bad is not None and bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{net.loss.name} needs targets with {net.loss.target_rule}; row {row} of a chunk is "
                         f"{np.round(T[row], 6).tolist()}")
    if (w is None) != (weight_mean is None):
        raise ValueError("some chunks have sample weights and others not (or the batches of an iterator read once "
                         "carry weights, which need a pass to normalise: pass a function returning the iterator)")
    return X, T, None if w is None else check_sample_weight(_HOST, w, X.shape[0]) / weight_mean


_HOST: Backend = resolve("numpy", dtype="float64")


def in_dtype(net: MLP, arrays: tuple) -> tuple:
    """Host arrays in the model's dtype (the rows kept, e.g. for validation, take no more memory than that)."""
    return tuple(None if a is None else a.astype(net.backend.dtype_name, copy=False) for a in arrays)


def count_rows(source: Source, look: Any = None) -> tuple[list[int], float, bool | None]:
    """One pass over ``source``: each chunk's rows, the checked sample weights' sum, and whether it
    is weighted (None: it holds no rows).  Every chunk weighted, or none.  ``look(X, T, w)``, if given,
    sees each chunk on the way (what else the pass should learn: the classes, the columns)."""
    rows, total, weighted = [], 0.0, None
    for X, T, w in source.chunks():
        if look is not None:
            look(X, T, w)
        rows.append(int(X.shape[0]))
        if weighted is not None and weighted != (w is not None):
            raise ValueError("some chunks have sample weights and others not")
        weighted = w is not None
        if weighted:
            total += float(check_sample_weight(_HOST, w, X.shape[0]).sum())
    return rows, total, weighted


def _scan(source: Source) -> tuple[list[int], float | None]:
    """One pass: each chunk's rows and the sample weights' mean (None without weights)."""
    rows, total, weighted = count_rows(source)
    if not rows:
        raise ValueError(f"{source.description} holds no rows")
    if weighted and not total > 0:
        raise ValueError("sample_weight sums to 0: no sample would be trained on")
    return rows, (total / sum(rows) if weighted else None)


def _picked(net: MLP, source: Source, wanted: np.ndarray, weight_mean: float | None) -> Iterator[tuple]:
    """The source's rows numbered ``wanted`` (sorted), checked and in the model's dtype: host parts
    ``(X, T, w)`` in row order, in one pass."""
    start = 0
    for X, T, w in source.chunks():
        lo, hi = np.searchsorted(wanted, [start, start + X.shape[0]])
        if hi > lo:
            pick = wanted[lo:hi] - start
            yield in_dtype(net, _checked_chunk(net, X[pick], np.asarray(T)[pick],
                                               None if w is None else np.asarray(w)[pick], weight_mean))
        start += X.shape[0]


def _gather(net: MLP, source: Source, rows: np.ndarray, weight_mean: float | None) -> tuple:
    """The source's rows numbered ``rows`` (in that order), as host arrays, in one pass."""
    wanted = np.sort(rows)
    parts = list(_picked(net, source, wanted, weight_mean))
    back = np.searchsorted(wanted, rows)
    return tuple(None if parts[0][j] is None else np.concatenate([p[j] for p in parts])[back] for j in range(3))


def _validation(net: MLP, source: Source, rows: np.ndarray, weight_mean: float | None) -> tuple:
    """The rows numbered ``rows`` for validation, ``(X, T, w)`` on the device: all of them, or (a source that
    asks so, or inputs over :data:`~xpmlp.training.spill.HOLD_BYTES`) ``X`` in a temporary file, in row order."""
    be = net.backend
    keep = source.keep_validation
    if keep is None:
        keep = rows.size * net.sizes[0] * np.dtype(be.dtype_name).itemsize <= spill.HOLD_BYTES
    if keep:
        Xv, Tv, wv = _gather(net, source, rows, weight_mean)
        return be.asarray(Xv), be.asarray(Tv), None if wv is None else be.asarray(wv)
    Xv, Tv, wv = spill.spill(_picked(net, source, np.sort(rows), weight_mean), net.sizes[0], be.dtype_name)
    return Xv, be.asarray(Tv), None if wv is None else be.asarray(wv)


def prepare_stream(
    net: MLP, source: Source, *, batch_size: "int | str | None", shuffle: bool, rng: np.random.Generator,
    window: int | None = None, validation_data: tuple | None = None, validation_fraction: float | None = None,
    stratify: Any = None,
) -> StreamingData:
    """The fit's data read from ``source`` as it trains (see the module docstring); ``window``: chunks
    whose rows shuffle together (default :data:`DEFAULT_WINDOW`; ``0`` or more than the chunks: all)."""
    if validation_data is not None and validation_fraction:
        raise ValueError("give validation_data or validation_fraction, not both")
    if stratify is not None:
        raise ValueError("stratify needs every label in memory; a streamed fit splits validation rows at random")
    window = window_chunks(window)
    weight_mean = _known_weight_mean(source)
    if source.repeatable and (source.chunk_rows is None or weight_mean is False):
        rows, weight_mean = _scan(source)  # one pass: rows per chunk, the weights' mean
        source.chunk_rows, source.n_chunks = source.chunk_rows or rows, len(source.chunk_rows or rows)
    elif not source.repeatable:
        if validation_fraction or batch_size in (None, "full"):
            raise ValueError(f"{source.description} can be read once: pass a function that returns a fresh "
                             "iterator for validation_fraction or a full batch")
        weight_mean = None  # a weighted chunk is refused: weights a pass cannot normalise
    n = source.n_rows
    if n == 0:
        raise ValueError(f"{source.description} holds no rows")
    keep, validation = None, None
    if validation_fraction:
        tr, va = split_validation(n, validation_fraction, rng)
        keep = np.ones(n, dtype=bool)
        keep[va] = False
        validation = _validation(net, source, va, weight_mean)
        n = int(tr.size)
    elif validation_data is not None:
        validation = _validation_arrays(net, _in_memory(net, validation_data))
    size = resolve_batch_size(batch_size, n if n is not None else DEFAULT_CHUNK_ROWS)
    largest = max(source.chunk_rows) if source.chunk_rows else DEFAULT_CHUNK_ROWS
    feed = size * max(1, -(-largest // size))  # the device's chunks: about the source's, whole batches
    data = StreamingData(net, source, size, bool(shuffle), window, n if n is not None else -1, keep,
                         weight_mean, validation, feed)
    data.note = (f"streaming {source.description}: {feed} rows a chunk, at most 2 chunks on the device, rows "
                 f"shuffled within {'all chunks' if data.window >= (source.n_chunks or 2 ** 62) else f'{window} chunks'}")
    logger.info(data.note)
    return data


def window_chunks(window: int | None) -> int:
    """The chunks a shuffle window holds: ``window``, :data:`DEFAULT_WINDOW` for None, every chunk for 0."""
    window = DEFAULT_WINDOW if window is None else int(window)
    if window < 0:
        raise ValueError(f"window must be >= 0 chunks, got {window}")
    return window or 2 ** 62


def _known_weight_mean(source: Source) -> "float | None | bool":
    """The weights' mean where it is known without a pass (arrays: exactly the in-memory fit's), None
    without weights, False where a pass must find out."""
    from .sources import ArraySource

    if isinstance(source, ArraySource) and not hasattr(source.X, "path"):
        if source.w is None:
            return None
        w = check_sample_weight(_HOST, source.w, int(source.X.shape[0]))
        _mean_weight(float(w.sum()), w.size)
        return float(w.mean())  # exactly the in-memory fit's
    if source.weighted is False:
        return None
    if source.weighted and source.weight_sum is not None and source.chunk_rows is not None:
        return _mean_weight(source.weight_sum, source.n_rows)
    return False


def _mean_weight(total: float, n: int) -> float:
    if not total > 0:
        raise ValueError("sample_weight sums to 0: no sample would be trained on")
    return total / n


def _in_memory(net: MLP, validation_data: tuple) -> tuple:
    """``validation_data`` as arrays: a source (or anything ``fit`` streams) read whole."""
    from .sources import as_source, is_source_like

    if not isinstance(validation_data, tuple) or not is_source_like(validation_data[0]):
        return validation_data
    source = as_source(*validation_data)
    parts = list(source.chunks())
    return tuple(None if parts[0][j] is None else np.concatenate([p[j] for p in parts]) for j in range(3))


def prepare_for_fit(net: MLP, X: Any, T: Any, *, comm: Any, class_weight: Any, sample_weight: Any, positions: Any,
                    **kwargs: Any) -> StreamingData:
    """``fit``'s arguments for a streamed ``X`` (a source, a path, a Dask collection, batches): the source
    (:func:`~xpmlp.training.sources.as_source`) and :func:`prepare_stream`."""
    from .sources import as_source

    if class_weight is not None:
        raise ValueError("class_weight needs the class counts of every row; for a streamed fit give each chunk "
                         "its rows' weights (sample weights) instead")
    if positions is not None:
        raise ValueError("positions place in-memory rows among processes; a streamed source is shared by chunk")
    source = as_source(X, T, sample_weight)
    if comm.size > 1:  # each process reads its share of the chunks (xpmlp.training.stream_ranks)
        return comm.prepare(net, source.shard(comm.rank, comm.size), None, **kwargs)
    return prepare_stream(net, source, **kwargs)
