"""A streamed fit over several processes: each reads only its share of the source's chunks.

:func:`prepare_stream_share` is :func:`xpmlp.training.streaming.prepare_stream` for one process of a
data-parallel fit (its communicator's ``exchange`` and ``agree``; :mod:`xpmlp.distributed`): the
process's source is its share (``Source.shard``: chunks ``rank, rank + size, ...``), and the
processes swap what they counted so that every one knows the whole: the rows of every chunk, the
sample weights' global mean (each weight is divided by it, as in one process), the validation
rows (split by row number among all rows with the generator every process holds alike, then
gathered onto every process), and each process's training rows.

Batches
    An epoch has as many steps as one process would take, ``S = ceil(n / batch_size)``; process
    ``k`` with ``r_k`` training rows puts ``b_k = ceil(r_k / S)`` of them into each step (fewer in
    its last, none after), and each step's gradient is the mean over the ``sum_k`` rows all
    processes put in.  So a step holds about ``batch_size`` rows, every process steps together,
    and no process reads another's chunks.  Rows are shuffled within each process's windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.network import MLP
from .data import _validation_arrays, resolve_batch_size, split_validation
from .sources import Source
from .streaming import StreamingData, _checked_chunk, _in_memory, count_rows, in_dtype, logger, window_chunks

__all__ = ["prepare_stream_share", "step_rows"]


def step_rows(rows: list[int], batch_size: int) -> tuple[list[int], list[int]]:
    """``(per process's rows a step, every step's rows in all)`` for processes holding ``rows`` training rows."""
    n = sum(rows)
    steps = -(-n // batch_size)
    mine = [max(1, -(-r // steps)) for r in rows]
    total = [sum(min(b, max(0, r - j * b)) for b, r in zip(mine, rows)) for j in range(steps)]
    return mine, total


def _whole(comm: Any, source: Any) -> tuple[int, float | None]:
    """Every chunk's rows (set on the whole source) and the weights' global mean, from every share."""
    rows, total, weighted = count_rows(source)
    source.chunk_rows = rows
    facts = comm.exchange((source.mine, rows, total, weighted))
    kinds = {f[3] for f in facts} - {None}
    if len(kinds) > 1:
        raise ValueError("some processes' chunks have sample weights and others not")
    every = np.zeros(source.source.n_chunks, dtype=np.int64)
    for mine, counts, *_ in facts:
        every[mine] = counts
    source.source.chunk_rows = [int(c) for c in every]
    n = int(every.sum())
    if n == 0:
        raise ValueError(f"{source.description} holds no rows")
    if kinds == {True}:
        total = sum(f[2] for f in facts)
        if not total > 0:
            raise ValueError("sample_weight sums to 0 over every process: no sample would be trained on")
        return n, total / n
    return n, None


def _validation_rows(comm: Any, net: MLP, source: Any, va: np.ndarray, weight_mean: float | None) -> tuple:
    """The rows numbered ``va`` (in that order) on every process: each sends those of its chunks."""
    wanted = np.sort(va)
    mine: list[tuple] = []
    for start, (X, T, w) in zip(source.chunk_starts(), source.chunks()):
        lo, hi = np.searchsorted(wanted, [start, start + X.shape[0]])
        pick = wanted[lo:hi] - start
        if pick.size:
            mine.append((wanted[lo:hi], *in_dtype(net, _checked_chunk(net, X[pick], np.asarray(T)[pick],
                                                                      None if w is None else np.asarray(w)[pick],
                                                                      weight_mean))))
    parts = [p for share in comm.exchange(mine) for p in share]
    where = np.concatenate([p[0] for p in parts])
    back = np.argsort(where)[np.searchsorted(np.sort(where), va)]
    return tuple(None if parts[0][j] is None else np.concatenate([p[j] for p in parts])[back] for j in range(1, 4))


def prepare_stream_share(comm: Any, net: MLP, source: Source, *, batch_size: Any, shuffle: bool,
                         rng: np.random.Generator, window: int | None = None, validation_data: tuple | None = None,
                         validation_fraction: float | None = None, stratify: Any = None) -> StreamingData:
    """This process's :class:`~xpmlp.training.streaming.StreamingData` (see the module docstring)."""
    if validation_data is not None and validation_fraction:
        raise ValueError("give validation_data or validation_fraction, not both")
    if stratify is not None:
        raise ValueError("stratify needs every label in memory; a streamed fit splits validation rows at random")
    window_chunks(window)
    comm.agree({"sizes": net.sizes, "front": net.front.specs, "loss": net.loss.name, "rng": rng.bit_generator.state,
                "batch_size": batch_size,
                "shuffle": shuffle, "window": window, "validation_fraction": validation_fraction})
    n, weight_mean = _whole(comm, source)
    keep, validation, be = np.ones(n, dtype=bool), None, net.backend
    if validation_fraction:
        _, va = split_validation(n, validation_fraction, rng)  # the same rows on every process
        keep[va] = False
        validation = tuple(None if a is None else be.asarray(a)
                           for a in _validation_rows(comm, net, source, va, weight_mean))
    elif validation_data is not None:
        parts = comm.exchange((*_in_memory(net, validation_data), None)[:3])  # each process's share, gathered
        validation = _validation_arrays(net, tuple(None if parts[0][j] is None else np.concatenate([p[j] for p in parts])
                                                   for j in range(3)))
    mine = int(sum(keep[s:s + r].sum() for s, r in zip(source.chunk_starts(), source.chunk_rows)))
    counts = comm.exchange(mine)
    per_step, totals = step_rows(counts, resolve_batch_size(batch_size, sum(counts)))
    b = per_step[comm.rank]
    largest = max(source.chunk_rows, default=b)
    data = StreamingData(net, source, b, bool(shuffle), window_chunks(window), sum(counts), keep, weight_mean,
                         validation, b * max(1, -(-largest // b)), batch_rows=totals, rank=comm.rank)
    data.note = (f"streaming {source.description}, process {comm.rank} of {comm.size} reading its "
                 f"{source.n_chunks} chunks ({mine} rows, {b} a step of {len(totals)})")
    logger.info(data.note)
    return data
