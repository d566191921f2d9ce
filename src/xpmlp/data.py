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

from . import sparse
from .backend import Backend
from .network import MLP

__all__ = [
    "TrainingData",
    "prepare",
    "batch_slices",
    "resolve_batch_size",
    "split_validation",
    "normalized_sample_weight",
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


def normalized_sample_weight(be: Backend, sample_weight: Any, n: int) -> Any:
    """Host-checked weights, normalised to mean 1, on the device, shape ``(n,)``; None if not given."""
    if sample_weight is None:
        return None
    w = be.to_numpy(sample_weight) if be.is_device_array(sample_weight) else sample_weight
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and >= 0")
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to 0: no sample would be trained on")
    return be.asarray(w / w.mean())


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
    """A fit's data on the model's device.

    ``X`` ``(n, n_in)`` (dense, or sparse in the backend's format: :mod:`xpmlp.sparse`),
    ``T`` ``(n, n_out)``, ``w`` ``(n,)`` or None: the training rows; ``validation``:
    ``(X_val, T_val, w_val)`` or None.  ``n_total`` counts the training rows of the whole
    fit (all processes, for data-parallel training).
    """

    backend: Backend
    X: Any
    T: Any
    w: Any
    batch_size: int
    shuffle: bool
    validation: tuple | None = None

    def __post_init__(self) -> None:
        self._take_X = sparse.row_taker(self.X)  # a sparse X has its own row selection; None: dense

    @property
    def n_total(self) -> int:
        """Training rows in one epoch (here: this process holds them all)."""
        return int(self.X.shape[0])

    def minibatches(self, rng: np.random.Generator) -> Iterator[tuple[Any, Any, Any, int]]:
        """One epoch's minibatches ``(X_b, T_b, w_b, |B|)`` in an order drawn from ``rng``; ``|B|``
        counts the batch's rows in every process (the mean's denominator)."""
        xp, n = self.backend.xp, self.n_total
        order = None  # host -> device below: the epoch's shuffled row order, once
        if self.shuffle:
            order = self.backend.asarray(rng.permutation(n), dtype=self.backend.index_dtype)
        for start, stop in batch_slices(n, self.batch_size):
            if order is None:
                rows = slice(start, stop)
                Xb = self.X[rows, ...] if self._take_X is None else self._take_X(self.X, rows)
                yield Xb, self.T[rows, ...], None if self.w is None else self.w[rows], stop - start
            else:
                idx = order[start:stop]  # gather the minibatch on the device
                wb = None if self.w is None else xp.take(self.w, idx, axis=0)
                Xb = xp.take(self.X, idx, axis=0) if self._take_X is None else self._take_X(self.X, idx)
                yield Xb, xp.take(self.T, idx, axis=0), wb, stop - start


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
    stratify: Any = None,
) -> TrainingData:
    """Check the data and move it to the model's device, once; split off the validation rows.

    ``X`` ``(n, sizes[0])`` and ``T`` ``(n, sizes[-1])`` are host arrays or arrays of the model's
    library; ``stratify`` holds one label per row for a stratified ``validation_fraction`` split.
    """
    if validation_data is not None and validation_fraction:
        raise ValueError("give validation_data or validation_fraction, not both")
    be, xp = net.backend, net.xp
    X = net.as_input(X)  # host -> device, once
    T = net.as_target(T, X.shape[0])
    w = normalized_sample_weight(be, sample_weight, X.shape[0])
    validation = None
    if validation_fraction:
        tr, va = split_validation(X.shape[0], validation_fraction, rng, stratify)
        tr_d, va_d = be.asarray(tr, dtype=be.index_dtype), be.asarray(va, dtype=be.index_dtype)
        take = lambda a, rows: None if a is None else xp.take(a, rows, axis=0)  # noqa: E731
        take_X = sparse.row_taker(X) or take
        validation = (take_X(X, va_d), take(T, va_d), take(w, va_d))
        X, T, w = take_X(X, tr_d), take(T, tr_d), take(w, tr_d)
    elif validation_data is not None:
        validation = _validation_arrays(net, validation_data)
    return TrainingData(be, X, T, w, resolve_batch_size(batch_size, X.shape[0]), bool(shuffle), validation)
