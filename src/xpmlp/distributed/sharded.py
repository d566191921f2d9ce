"""One rank's share of a data-parallel fit's data: its training rows of every global minibatch.

The rows of the whole run are the ranks' shards laid end to end in rank order.
:func:`prepare_shard` checks and places this rank's rows among them (``positions``,
``n_total``) in a :class:`~xpmlp.training.data.TrainingData`, whose minibatches
are then this rank's rows of every *global* batch, with the batch's global size,
as one process would draw them: the gradients summed over the ranks are one
process's.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ..backends.boundary import check_sample_weight
from ..backends.sparse import is_sparse
from ..training.data import TrainingData, resolve_batch_size, split_validation

__all__ = ["prepare_shard"]


def prepare_shard(comm: Any, net: Any, X: Any, T: Any, *, batch_size: Any, shuffle: bool,
                  rng: np.random.Generator, sample_weight: Any = None, validation_data: tuple | None = None,
                  validation_fraction: float | None = None, stratify: Any = None,
                  positions: Any = None) -> TrainingData:
    """This rank's :class:`~xpmlp.training.data.TrainingData`.  Every rank checks its shard (an error on
    one rank reaches every rank through the communicator's next exchange), the ranks agree on the
    model and settings, weights are normalised by the global mean, validation rows are split off
    globally or gathered.  ``positions`` (this rank's rows' places among all ranks' rows, a
    permutation of ``range(n)`` over the ranks; default: the ranks' rows end to end in rank order)
    say which rows one process training on all of them would see where.  A rank may hold no rows."""
    if validation_data is not None and validation_fraction:
        raise ValueError("give validation_data or validation_fraction, not both")
    Xh, Th, wh, strata = _host_shard(net, X, T, sample_weight, stratify)
    held = None
    if validation_data is not None:
        if len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (X_val, T_val) or (X_val, T_val, sample_weight_val)")
        held = _host_shard(net, validation_data[0], validation_data[1], (list(validation_data) + [None])[2])[:3]
    positions = None if positions is None else np.asarray(positions, dtype=np.int64).reshape(-1)
    facts = comm.exchange((Xh.shape[0], held is not None, None if wh is None else float(wh.sum()), positions))
    counts, given = [f[0] for f in facts], [r for r, f in enumerate(facts) if f[1]]
    if given and len(given) < comm.size:
        raise ValueError(f"validation_data was given on rank(s) {given} only: give every rank its share of the "
                         "validation rows (possibly none), or give it on no rank")
    n = sum(counts)
    if n == 0:
        raise ValueError("no rank holds a training row")
    mine = _positions_of(facts, counts, comm.rank)
    comm.agree({"sizes": net.sizes, "activations": [a.spec for a in net.activations], "loss": net.loss.name,
                "front": net.front.specs, "dtype": net.backend.dtype_name,
                "weights": _digest((*net.get_weights(), net.get_front())),
                "rng": rng.bit_generator.state, "batch_size": batch_size, "shuffle": shuffle,
                "validation_fraction": validation_fraction, "weighted": wh is not None})
    if wh is not None:
        total = sum(f[2] for f in facts)
        if not total > 0:
            raise ValueError("sample_weight sums to 0 over every rank: no sample would be trained on")
        wh = wh * (n / total)  # mean 1 over every rank's rows
    validation, rows = None, np.arange(Xh.shape[0])
    if validation_fraction:
        strata_all = None
        if strata is not None:  # every position's label, as one process holds them
            parts = comm.exchange((mine, np.asarray(strata)))
            where = np.concatenate([p[0] for p in parts])
            strata_all = np.concatenate([p[1] for p in parts])[np.argsort(where)]
        tr, va = split_validation(n, validation_fraction, rng, strata_all)  # sorted positions
        validation = _gather_rows(comm, Xh, Th, wh, mine, va)
        rows = np.flatnonzero(np.isin(mine, tr))
        mine, n = np.searchsorted(tr, mine[rows]), tr.size  # places among the training rows
    elif held is not None:
        validation = _gather_rows(comm, *held, None, None)
    be = net.backend
    if validation is not None:
        validation = tuple(None if a is None else be.asarray(a) for a in validation)
    w = None if wh is None else be.asarray(wh[rows])
    return TrainingData(be, be.asarray(Xh[rows]), be.asarray(Th[rows]), w, resolve_batch_size(batch_size, n),
                        bool(shuffle), validation, n_total=n, positions=mine)


def _positions_of(facts: list, counts: list[int], rank: int) -> np.ndarray:
    """This rank's positions: as every rank gave them (checked to cover ``0..n-1`` once), else its rows'
    places with the ranks' rows end to end in rank order."""
    given = [f[3] is not None for f in facts]
    if not any(given):
        offset = sum(counts[:rank])
        return np.arange(offset, offset + counts[rank])
    if not all(given):
        raise ValueError("positions were given on some ranks only: give every rank its rows' positions, or none")
    every = np.concatenate([f[3] for f in facts])
    if any(f[3].shape != (c,) for f, c in zip(facts, counts)) or not np.array_equal(np.sort(every), np.arange(every.size)):
        raise ValueError(f"positions must give each rank's rows one place each, covering 0..{every.size - 1} once")
    return facts[rank][3]


def _host_shard(net: Any, X: Any, T: Any, sample_weight: Any, stratify: Any = None) -> tuple:
    """The shard checked as one process checks its data, as host arrays of the model's dtype
    (a shard of no rows passes with the right number of columns)."""
    if is_sparse(X):
        raise ValueError("data-parallel training takes dense inputs (X is sparse); densify each rank's shard")
    be = net.backend
    if not be.is_device_array(X) and np.shape(X)[:1] == (0,):
        empty = [np.zeros((0, k), dtype=be.dtype_name) for k in (net.sizes[0], net.sizes[-1])]
        if np.ndim(X) != 2 or np.shape(X)[1] != net.sizes[0]:
            raise ValueError(f"X must be 2-D with {net.sizes[0]} columns, got shape {np.shape(X)}")
        return empty[0], empty[1], None if sample_weight is None else np.zeros(0), \
            None if stratify is None else np.asarray(stratify)
    Xd = net.as_input(X)
    Td = net.as_target(T, Xd.shape[0])
    w = None if sample_weight is None else check_sample_weight(be, sample_weight, Xd.shape[0])
    strata = None if stratify is None else np.asarray(stratify)
    return be.to_numpy(Xd), be.to_numpy(Td), w, strata


def _gather_rows(comm: Any, X: np.ndarray, T: np.ndarray, w: Any, mine: Any, rows: Any) -> tuple:
    """Every rank's rows on every rank: those at positions ``rows``, in that order (as one process
    takes them), where ``mine`` are this rank's rows' positions; or with ``rows=None`` all of
    them in rank order."""
    pick = np.arange(X.shape[0]) if rows is None else np.flatnonzero(np.isin(mine, rows))
    parts = comm.exchange((None if rows is None else mine[pick], X[pick], T[pick], None if w is None else w[pick]))
    order = slice(None) if rows is None else _positions(np.concatenate([p[0] for p in parts]), rows)
    Xv, Tv = np.concatenate([p[1] for p in parts])[order], np.concatenate([p[2] for p in parts])[order]
    wv = None if parts[0][3] is None else np.concatenate([p[3] for p in parts])[order]
    return Xv, Tv, wv


def _positions(idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``pick`` with ``idx[pick] == rows``: the gathered rows put in the order one process would take."""
    where = {int(g): k for k, g in enumerate(idx)}
    return np.array([where[int(r)] for r in rows], dtype=np.int64)


def _digest(weights: tuple) -> str:
    h = hashlib.sha256()
    for group in weights:
        for a in group:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()
