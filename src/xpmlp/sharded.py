"""One rank's share of a data-parallel fit's data: its training rows of every global minibatch.

The rows of the whole run are the ranks' shards laid end to end in rank order.
Every rank draws the same row order from the same seed (the order one process
would draw for all the rows), and :meth:`ShardedData.minibatches` yields, for
each global batch, only this rank's rows of it with the batch's *global* size,
so the gradients summed over the ranks are one process's.  Which of the
rank's rows each batch takes is worked out on the host once per epoch and
moved to the device in one copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from .backend import Backend
from .data import batch_slices, resolve_batch_size, split_validation
from .sparse import is_sparse

__all__ = ["ShardedData"]


@dataclass
class ShardedData:
    """This rank's training rows ``X``, ``T``, ``w`` (device arrays), at global positions
    ``offset .. offset + len(X)`` of the run's ``n_total`` rows; ``validation`` is the whole
    validation set, the same on every rank."""

    backend: Backend
    X: Any
    T: Any
    w: Any
    batch_size: int
    shuffle: bool
    n_total: int
    offset: int
    validation: tuple | None = None

    def minibatches(self, rng: np.random.Generator) -> Iterator[tuple[Any, Any, Any, int]]:
        """This rank's part of every global minibatch, ``(X_b, T_b, w_b, |B|)``; parts may be empty."""
        be, n_local = self.backend, int(self.X.shape[0])
        order = rng.permutation(self.n_total) if self.shuffle else np.arange(self.n_total)  # as one process
        slices = batch_slices(self.n_total, self.batch_size)
        mine = [order[a:b][(order[a:b] >= self.offset) & (order[a:b] < self.offset + n_local)] - self.offset
                for a, b in slices]
        idx = be.asarray(np.concatenate(mine), dtype=be.index_dtype)  # host -> device, once per epoch
        start = 0
        for (a, b), rows in zip(slices, mine):
            take = idx[start:start + rows.size]
            start += rows.size
            wb = None if self.w is None else be.xp.take(self.w, take, axis=0)
            yield be.xp.take(self.X, take, axis=0), be.xp.take(self.T, take, axis=0), wb, b - a

    @classmethod
    def prepare(cls, comm: Any, net: Any, X: Any, T: Any, *, batch_size: Any, shuffle: bool,
                rng: np.random.Generator, sample_weight: Any = None, validation_data: tuple | None = None,
                validation_fraction: float | None = None, stratify: Any = None) -> "ShardedData":
        """Check every rank's shard (errors are reported on every rank, naming the rank), agree on
        the model and settings, normalise weights by the global mean, split or gather validation."""
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
        return cls(be, be.asarray(Xh[rows]), be.asarray(Th[rows]), w, resolve_batch_size(batch_size, n), bool(shuffle),
                   n, offset, validation)


def _host_shard(net: Any, X: Any, T: Any, sample_weight: Any, stratify: Any = None) -> tuple:
    """The shard checked as one process checks its data, as host arrays of the model's dtype."""
    if is_sparse(X):
        raise ValueError("data-parallel training takes dense inputs (X is sparse); densify each rank's shard")
    be = net.backend
    Xd = net.as_input(X)
    Td = net.as_target(T, Xd.shape[0])
    w = None
    if sample_weight is not None:
        w = np.asarray(be.to_numpy(sample_weight) if be.is_device_array(sample_weight) else sample_weight, np.float64)
        if w.shape != (Xd.shape[0],) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"sample_weight must be finite, >= 0 and of shape ({Xd.shape[0]},)")
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
