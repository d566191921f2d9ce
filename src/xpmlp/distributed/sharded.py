"""One rank's share of a data-parallel fit's data: its training rows of every global minibatch.

The rows of the whole run are the ranks' shards laid end to end in rank order.
:func:`prepare_shard` checks and places this rank's rows among them (``offset``,
``n_total``) in a :class:`~xpmlp.training.data.TrainingData`, whose minibatches
are then this rank's rows of every *global* batch, with the batch's global size,
as one process would draw them: the gradients summed over the ranks are one
process's.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

import numpy as np

from ..backends.boundary import check_sample_weight
from ..backends.sparse import is_sparse
from ..training.data import TrainingData, resolve_batch_size, split_validation

__all__ = ["prepare_shard"]


def prepare_shard(comm: Any, net: Any, X: Any, T: Any, *, batch_size: Any, shuffle: bool,
                  rng: np.random.Generator, sample_weight: Any = None, validation_data: tuple | None = None,
                  validation_fraction: float | None = None, stratify: Any = None) -> TrainingData:
    """This rank's :class:`~xpmlp.training.data.TrainingData`: every rank's shard checked (errors are
    reported on every rank, naming the rank), the model and settings agreed, weights normalised by
    the global mean, validation split off globally or gathered; ``offset`` and ``n_total`` place
    this rank's rows among every rank's."""
    if validation_data is not None and validation_fraction:
        raise ValueError("give validation_data or validation_fraction, not both")
    error, local = None, None
    try:
        local = _host_shard(net, X, T, sample_weight, stratify)
    except Exception as exc:  # reported collectively below
        error = exc
    comm.all_ok(error)
    Xh, Th, wh, strata = local
    counts = comm.comm.allgather(Xh.shape[0])
    n, offset = sum(counts), sum(counts[:comm.rank])
    comm.agree({"sizes": net.sizes, "activations": [a.name for a in net.activations], "loss": net.loss.name,
                "dtype": net.backend.dtype_name, "weights": _digest(net.get_weights()),
                "rng": rng.bit_generator.state, "batch_size": batch_size, "shuffle": shuffle,
                "validation_fraction": validation_fraction, "weighted": wh is not None})
    if wh is not None:
        wh = wh * (n / comm.comm.allreduce(float(wh.sum())))  # mean 1 over every rank's rows
    validation, rows = None, np.arange(Xh.shape[0])
    if validation_fraction:
        strata_all = None if strata is None else np.concatenate(comm.comm.allgather(strata))
        tr, va = split_validation(n, validation_fraction, rng, strata_all)
        validation = _gather_rows(comm, Xh, Th, wh, offset, va)
        rows = tr[(tr >= offset) & (tr < offset + Xh.shape[0])] - offset
        n, offset = tr.size, int(np.searchsorted(tr, offset))
    elif validation_data is not None:
        weights = validation_data[2] if len(validation_data) > 2 else None
        vX, vT, vw = _host_shard(net, validation_data[0], validation_data[1], weights)[:3]
        validation = _gather_rows(comm, vX, vT, vw, 0, None)
    be = net.backend
    if validation is not None:
        validation = tuple(None if a is None else be.asarray(a) for a in validation)
    w = None if wh is None else be.asarray(wh[rows])
    return TrainingData(be, be.asarray(Xh[rows]), be.asarray(Th[rows]), w, resolve_batch_size(batch_size, n),
                        bool(shuffle), validation, n_total=n, offset=offset)


def _host_shard(net: Any, X: Any, T: Any, sample_weight: Any, stratify: Any = None) -> tuple:
    """The shard checked as one process checks its data, as host arrays of the model's dtype."""
    if is_sparse(X):
        raise ValueError("data-parallel training takes dense inputs (X is sparse); densify each rank's shard")
    be = net.backend
    Xd = net.as_input(X)
    Td = net.as_target(T, Xd.shape[0])
    w = None if sample_weight is None else check_sample_weight(be, sample_weight, Xd.shape[0])
    strata = None if stratify is None else np.asarray(stratify)
    return be.to_numpy(Xd), be.to_numpy(Td), w, strata


def _gather_rows(comm: Any, X: np.ndarray, T: np.ndarray, w: Any, offset: int, rows: Any) -> tuple:
    """Every rank's rows on every rank: those with global indices ``rows``, in that order (as one
    process takes them), or with ``rows=None`` all of them in rank order."""
    mine = np.arange(X.shape[0]) if rows is None else rows[(rows >= offset) & (rows < offset + X.shape[0])] - offset
    parts = comm.comm.allgather((mine + offset, X[mine], T[mine], None if w is None else w[mine]))
    idx = np.concatenate([p[0] for p in parts]) if rows is not None else None
    pick = slice(None) if rows is None else _positions(idx, rows)
    Xv, Tv = np.concatenate([p[1] for p in parts])[pick], np.concatenate([p[2] for p in parts])[pick]
    wv = None if parts[0][3] is None else np.concatenate([p[3] for p in parts])[pick]
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
