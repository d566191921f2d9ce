"""The training loop: epochs of online, mini-batch or full-batch gradient descent.

:func:`fit` is the loop; :func:`train` is its small, older form (SGD, returns
the per-epoch losses).

Device discipline
    Data, targets and sample weights move to the backend once, at the start.
    Inside an epoch's step loop nothing is read back to the host: the epoch's
    summed loss stays a device scalar, gradient clipping scales on the device,
    and the learning rate is a host float.  After each epoch one read brings
    back the loss, a finiteness check of the weights and the validation score
    together.  Shuffling indices come from a seeded host generator (so every
    backend sees the same batches) and travel to the device once per epoch.

Objective
    With ``reduction="mean"`` each step descends the batch cost

        ``C_B = (1/|B|) sum_{i in B} w_i C_i  +  (alpha / 2) sum_l ||W^l||_F^2``

    ``C_i`` is the per-sample loss, ``w_i`` the sample weights normalised to
    mean 1 over the training set (all 1 without ``sample_weight``), and the L2
    penalty covers the weights but not the biases.  Its gradient adds
    ``alpha * W^l`` to ``dC/dW^l`` whatever the batch size, so ``alpha`` means
    the same thing online, mini-batch and full batch (unlike scikit-learn,
    which divides it by the batch size for SGD/Adam and by n for L-BFGS).
    The recorded epoch loss is the sample-weighted mean of ``C_B`` over the
    epoch, each batch measured before its update.

Stopping
    Without validation data the monitor is the training loss (lower is
    better); with validation data (given, or split off with
    ``validation_fraction``, stratified when ``stratify`` labels are given) it
    is the validation score (higher is better), and the best weights are
    restored at the end.  An epoch that fails to improve the best value by
    ``tol`` counts against ``patience``; once more than ``patience`` epochs in a
    row have failed, the schedule may adapt (``adaptive``) or training stops.

Failure
    A non-finite loss or weight raises :class:`DivergenceError` with the model
    (and optimizer) restored to the start of the failing epoch.  Ctrl-C
    (``KeyboardInterrupt``) ends training cleanly: the interrupted epoch is
    rolled back, best weights are restored where validation is used, and
    ``History.stop_reason`` is ``"interrupted"``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .network import MLP, backward, forward
from .optimizers import SGD, Optimizer, clip_grad_norm, make_optimizer
from .progress import EpochProgress
from .schedules import Schedule, make_schedule

__all__ = [
    "train",
    "fit",
    "History",
    "DivergenceError",
    "batch_slices",
    "batch_gradients",
    "objective",
    "accuracy",
    "subset_accuracy",
    "r2_score",
    "default_score",
    "split_validation",
]

logger = logging.getLogger(__name__)

#: Score function: ``(xp, output (n, k), targets (n, k), weights (n,) or None) -> 0-d device array``.
ScoreFn = Callable[[Any, Any, Any, Any], Any]


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss; the model keeps its last good weights."""


@dataclass
class History:
    """What training records, one entry per epoch (host Python floats).

    Pass it back to :func:`fit` (``history=``) to continue where it stopped.
    """

    loss: list[float] = field(default_factory=list)
    validation_score: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    best_loss: float = math.inf
    best_score: float = -math.inf
    best_epoch: int | None = None  # 1-based epoch of the best monitored value
    no_improvement: int = 0  # epochs in a row without improvement by tol
    samples_seen: int = 0
    stop_reason: str = ""  # max_epochs | converged | early_stopping | lr_exhausted | interrupted

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (infinities as None)."""
        fin = lambda v: v if v is None or math.isfinite(v) else None  # noqa: E731
        return {
            "loss": list(self.loss),
            "validation_score": list(self.validation_score),
            "learning_rate": list(self.learning_rate),
            "best_loss": fin(self.best_loss),
            "best_score": fin(self.best_score),
            "best_epoch": self.best_epoch,
            "no_improvement": self.no_improvement,
            "samples_seen": self.samples_seen,
            "stop_reason": self.stop_reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on a malformed record."""
        try:
            floats = lambda k: [float(v) for v in d.get(k, [])]  # noqa: E731
            return cls(
                loss=floats("loss"),
                validation_score=floats("validation_score"),
                learning_rate=floats("learning_rate"),
                best_loss=math.inf if d.get("best_loss") is None else float(d["best_loss"]),
                best_score=-math.inf if d.get("best_score") is None else float(d["best_score"]),
                best_epoch=None if d.get("best_epoch") is None else int(d["best_epoch"]),
                no_improvement=int(d.get("no_improvement", 0)),
                samples_seen=int(d.get("samples_seen", 0)),
                stop_reason=str(d.get("stop_reason", "")),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed training history: {exc}") from exc


# -- batches ------------------------------------------------------------------------------


def batch_slices(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in batches; the last may be short."""
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def resolve_batch_size(batch_size: "int | str | None", n: int) -> int:
    """``"full"`` or ``None`` -> n (full batch); 1 -> online; else clipped to n."""
    if batch_size is None or batch_size == "full":
        return n
    if isinstance(batch_size, (str, float)) or int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive int, 'full' or None, got {batch_size!r}")
    return min(int(batch_size), n)


# -- scores, on the device ----------------------------------------------------------------


def _weighted_mean(xp: Any, values: Any, w: Any) -> Any:
    return xp.mean(values) if w is None else xp.sum(values * w) / xp.sum(w)


def accuracy(xp: Any, out: Any, T: Any, w: Any = None) -> Any:
    """Fraction of rows whose arg-max output matches the one-hot target's (softmax outputs)."""
    hit = xp.astype(xp.argmax(out, axis=1) == xp.argmax(T, axis=1), out.dtype)
    return _weighted_mean(xp, hit, w)


def subset_accuracy(xp: Any, out: Any, T: Any, w: Any = None) -> Any:
    """Fraction of rows with every logistic output on the target's side of 0.5 (binary, multilabel)."""
    hit = xp.astype(xp.all((out > 0.5) == (T > 0.5), axis=1), out.dtype)
    return _weighted_mean(xp, hit, w)


def r2_score(xp: Any, out: Any, T: Any, w: Any = None) -> Any:
    """Coefficient of determination, averaged over the outputs (scikit-learn's ``uniform_average``).

    An output with constant targets scores 1 if predicted exactly, else 0.
    """
    wc = xp.ones_like(T[:, :1]) if w is None else xp.reshape(w, (-1, 1))
    mean_T = xp.sum(wc * T, axis=0) / xp.sum(wc)
    ss_res = xp.sum(wc * (T - out) ** 2, axis=0)
    ss_tot = xp.sum(wc * (T - mean_T) ** 2, axis=0)
    ones, zeros = xp.ones_like(ss_tot), xp.zeros_like(ss_tot)
    safe = xp.where(ss_tot > 0, ss_tot, ones)
    r2 = xp.where(ss_tot > 0, 1.0 - ss_res / safe, xp.where(ss_res > 0, zeros, ones))
    return xp.mean(r2)


def default_score(net: MLP) -> ScoreFn:
    """Accuracy for softmax outputs, subset accuracy for logistic outputs, R^2 otherwise."""
    return {"softmax": accuracy, "logistic": subset_accuracy}.get(net.output_activation.name, r2_score)


# -- the objective and its gradient --------------------------------------------------------


def _penalty(xp: Any, Ws: Sequence[Any]) -> Any:
    sq = xp.sum(Ws[0] * Ws[0])
    for W in Ws[1:]:
        sq = sq + xp.sum(W * W)
    return sq  # sum_l ||W^l||_F^2


def batch_gradients(net: MLP, Xb: Any, Tb: Any, wb: Any = None, alpha: float = 0.0, reduction: str = "mean") -> tuple[Any, list]:
    """Forward and backward for one batch of backend arrays.

    Parameters
    ----------
    Xb, Tb : ``(b, sizes[0])``, ``(b, sizes[-1])``; wb : ``(b,)`` sample weights or None.
    alpha : L2 penalty (see the module docstring).

    Returns
    -------
    total : 0-d device array, ``b * C_B`` (the batch's summed objective, before the update)
    grads : gradients of ``C_B`` (``reduction="mean"``) or ``b * C_B`` (``"sum"``)
        in :attr:`MLP.params` order ``[dW^1, db^1, dW^2, ...]``
    """
    xp = net.xp
    trace = forward(net.Ws, net.bs, net.activations, Xb, xp)
    a = trace.a[-1]
    per = net.loss.value(xp, trace.z[-1], a, Tb)  # C_i, (b,)
    if wb is not None:
        per = per * wb
    total = xp.sum(per)
    grads = backward(net.Ws, net.activations, net.loss, trace, Tb, xp, reduction, sample_weight=wb)
    n_b = Xb.shape[0]
    if alpha:
        total = total + (0.5 * alpha * n_b) * _penalty(xp, net.Ws)
        k = alpha if reduction == "mean" else alpha * n_b
        for g, W in zip(grads.grad_W, net.Ws):
            g += k * W  # d/dW (alpha/2 ||W||^2) = alpha W
    return total, [g for pair in zip(grads.grad_W, grads.grad_b) for g in pair]


def objective(net: MLP, X: Any, T: Any, alpha: float = 0.0, sample_weight: Any = None) -> float:
    """The training objective at the current weights, as a host float.

    ``mean_i w_i C_i + (alpha/2) sum_l ||W^l||^2`` over all of ``X`` (weights normalised to mean 1).
    """
    X = net.as_input(X)
    T = net.as_target(T, X.shape[0])
    w = _sample_weights(net, sample_weight, X.shape[0])
    xp = net.xp
    trace = forward(net.Ws, net.bs, net.activations, X, xp)
    per = net.loss.value(xp, trace.z[-1], trace.a[-1], T)
    value = xp.mean(per if w is None else per * w)
    if alpha:
        value = value + (0.5 * alpha) * _penalty(xp, net.Ws)
    return float(net.backend.to_numpy(value))


def _sample_weights(net: MLP, sample_weight: Any, n: int) -> Any:
    """Host-checked weights, normalised to mean 1, on the device, shape ``(n,)``; None if not given."""
    if sample_weight is None:
        return None
    be = net.backend
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


# -- validation split ----------------------------------------------------------------------


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
        tr = np.setdiff1d(np.arange(n), val)
        tr = rng.permutation(tr)
    if val.size < 2 or tr.size < 1:
        raise ValueError(
            f"validation split of {n} samples with validation_fraction={fraction} leaves "
            f"{val.size} validation and {tr.size} training samples; need >= 2 and >= 1 "
            "(increase validation_fraction or the data)"
        )
    return np.sort(tr), val


# -- the loop ------------------------------------------------------------------------------


def fit(
    net: MLP,
    X: Any,
    T: Any,
    *,
    epochs: int = 200,
    batch_size: "int | str | None" = 32,
    optimizer: "Optimizer | str | None" = None,
    learning_rate: float = 0.001,
    schedule: "Schedule | str" = "constant",
    alpha: float = 0.0,
    shuffle: bool = True,
    seed: "int | np.random.Generator | None" = 0,
    sample_weight: Any = None,
    validation_data: "tuple | None" = None,
    validation_fraction: float | None = None,
    stratify: Any = None,
    patience: int | None = 10,
    tol: float = 1e-4,
    restore_best: bool = True,
    max_grad_norm: float | None = None,
    score: ScoreFn | None = None,
    progress: bool = False,
    history: History | None = None,
    reduction: str = "mean",
) -> History:
    """Train ``net`` in place; return its :class:`History`.

    Parameters
    ----------
    net : MLP
    X : ``(n, sizes[0])`` inputs; T : ``(n, sizes[-1])`` targets (one-hot or 0/1 for classification).
        NumPy arrays (moved to the backend once, here) or arrays of the net's backend.
    epochs : maximum passes over the training data.
    batch_size : 1 (online), k (mini-batch), or ``"full"``/``None`` (full batch).
    optimizer : an :class:`~xpmlp.optimizers.Optimizer` (its state carries over between calls)
        or a name; default Adam.
    learning_rate, schedule : the initial rate and ``constant``/``invscaling``/``adaptive``
        (or a :class:`~xpmlp.schedules.Schedule`, whose own rate is used).
    alpha : L2 penalty, ``(alpha/2) sum ||W||^2`` added to the mean per-sample loss.
    shuffle, seed : reshuffle every epoch, from a host generator seeded by ``seed``.
    sample_weight : ``(n,)`` non-negative host weights (normalised to mean 1).
    validation_data : ``(X_val, T_val)`` or ``(X_val, T_val, w_val)``.
    validation_fraction : split this fraction off ``X`` instead (``stratify``: labels per row).
    patience, tol : stop (or let an adaptive schedule cut the rate) once more than ``patience``
        epochs in a row fail to improve the monitor by ``tol``; ``patience=None`` never stops early.
    restore_best : with validation, end on the best-scoring weights.
    max_grad_norm : clip the global gradient norm of each step to this (on the device).
    score : validation score function (see :func:`default_score`), higher is better.
    progress : show a tqdm progress bar (epoch, loss, validation score).
    history : continue this record (warm start); counts and best values carry on.
    reduction : ``"mean"`` (default) or ``"sum"`` gradients over each batch.

    Raises
    ------
    DivergenceError
        If an epoch's loss or the weights after it are NaN or inf; the weights and the optimizer
        state are restored to those at the start of that epoch.
    """
    net._check_trainable()
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if patience is not None and patience < 0:
        raise ValueError(f"patience must be >= 0 or None, got {patience}")
    if not alpha >= 0.0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    if max_grad_norm is not None and not max_grad_norm > 0.0:
        raise ValueError(f"max_grad_norm must be > 0 or None, got {max_grad_norm!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if validation_data is not None and validation_fraction:
        raise ValueError("give validation_data or validation_fraction, not both")
    be, xp = net.backend, net.xp
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    X = net.as_input(X)  # host -> device, once
    T = net.as_target(T, X.shape[0])
    w = _sample_weights(net, sample_weight, X.shape[0])
    Xv = Tv = wv = None
    if validation_fraction:
        tr, va = split_validation(X.shape[0], validation_fraction, rng, stratify)
        tr_d, va_d = be.asarray(tr, dtype=xp.int64), be.asarray(va, dtype=xp.int64)
        Xv, Tv = xp.take(X, va_d, axis=0), xp.take(T, va_d, axis=0)
        X, T = xp.take(X, tr_d, axis=0), xp.take(T, tr_d, axis=0)
        if w is not None:
            wv, w = xp.take(w, va_d, axis=0), xp.take(w, tr_d, axis=0)
    elif validation_data is not None:
        if len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (X_val, T_val) or (X_val, T_val, sample_weight_val)")
        Xv = net.as_input(validation_data[0])
        Tv = net.as_target(validation_data[1], Xv.shape[0])
        if len(validation_data) == 3 and validation_data[2] is not None:
            wv = be.asarray(np.asarray(validation_data[2], dtype=np.float64))
    validating = Xv is not None
    score = score or default_score(net)

    n = X.shape[0]
    slices = batch_slices(n, resolve_batch_size(batch_size, n))
    optimizer = make_optimizer(optimizer) if optimizer is not None else make_optimizer("adam")
    schedule = make_schedule(schedule, learning_rate)
    hist = history if history is not None else History()
    params = net.params
    best: list | None = None
    zero = xp.zeros((), dtype=be.dtype, device=be.device)
    hist.stop_reason = "max_epochs"

    with EpochProgress(epochs, progress) as bar:
        for _ in range(epochs):
            epoch = hist.epochs + 1
            good = ([xp.asarray(p, copy=True) for p in params], optimizer.snapshot())  # last good state
            lr = schedule.learning_rate
            try:
                order = be.asarray(rng.permutation(n), dtype=xp.int64) if shuffle else None  # host -> device
                total = zero
                for start, stop in slices:
                    if order is None:
                        Xb, Tb = X[start:stop, ...], T[start:stop, ...]
                        wb = None if w is None else w[start:stop]
                    else:
                        idx = order[start:stop]
                        Xb, Tb = xp.take(X, idx, axis=0), xp.take(T, idx, axis=0)  # gather the minibatch
                        wb = None if w is None else xp.take(w, idx, axis=0)
                    batch_total, grads = batch_gradients(net, Xb, Tb, wb, alpha, reduction)
                    total = total + batch_total  # stays on the device
                    if max_grad_norm is not None:
                        clip_grad_norm(grads, max_grad_norm, xp)
                    optimizer.step(params, grads, lr)
                check = xp.sum(params[0])  # NaN or inf if any weight is
                for p in params[1:]:
                    check = check + xp.sum(p)
                val = score(xp, forward(net.Ws, net.bs, net.activations, Xv, xp).a[-1], Tv, wv) if validating else zero
                host = be.to_numpy(xp.stack([total, check, xp.astype(val, be.dtype)]))  # the epoch's one read
            except KeyboardInterrupt:
                _restore(params, optimizer, good)
                hist.stop_reason = "interrupted"
                logger.warning("training interrupted in epoch %d; rolled back to the end of epoch %d", epoch, epoch - 1)
                break
            epoch_loss, finite, val_score = float(host[0]) / n, math.isfinite(float(host[1])), float(host[2])
            if not (math.isfinite(epoch_loss) and finite):
                _restore(params, optimizer, good)
                hist.stop_reason = "diverged"
                raise DivergenceError(
                    f"loss became {epoch_loss} (weights finite: {finite}) in epoch {epoch}; weights restored "
                    f"to the start of that epoch (try a smaller learning_rate, or max_grad_norm)"
                )
            hist.loss.append(epoch_loss)
            hist.learning_rate.append(lr)
            hist.samples_seen += n
            if validating:
                hist.validation_score.append(val_score)
                improved = val_score >= hist.best_score + tol  # NaN never improves
                if val_score > hist.best_score:
                    hist.best_score, hist.best_epoch = val_score, epoch
                    best = [xp.asarray(p, copy=True) for p in params]
            else:
                improved = epoch_loss <= hist.best_loss - tol
                if epoch_loss < hist.best_loss:
                    hist.best_epoch = epoch
            hist.best_loss = min(hist.best_loss, epoch_loss)
            hist.no_improvement = 0 if improved else hist.no_improvement + 1
            schedule.epoch_end(hist.samples_seen)
            logger.debug("epoch %d: loss %.6g%s, learning rate %.3g", epoch, epoch_loss,
                         f", validation score {val_score:.6g}" if validating else "", lr)
            bar.update(epoch, epoch_loss, val_score if validating else None, lr)
            if patience is not None and hist.no_improvement > patience:
                what = "validation score" if validating else "training loss"
                if schedule.on_stall():
                    hist.no_improvement = 0
                    logger.info("%s stalled for %d epochs; learning rate now %.3g", what, patience + 1, schedule.learning_rate)
                    continue
                hist.stop_reason = ("early_stopping" if validating else "converged") if schedule.name != "adaptive" else "lr_exhausted"
                logger.info("%s did not improve by more than tol=%g for %d epochs; stopping after epoch %d",
                            what, tol, patience + 1, epoch)
                break
    if validating and restore_best and best is not None:
        for p, b in zip(params, best):
            p[...] = b
    return hist


def _restore(params: list, optimizer: Optimizer, good: tuple) -> None:
    saved, opt_snap = good
    for p, g in zip(params, saved):
        p[...] = g
    optimizer.restore(opt_snap)


def train(
    net: MLP,
    X: Any,
    T: Any,
    *,
    epochs: int = 1,
    batch_size: "int | str | None" = 32,
    learning_rate: float = 0.1,
    shuffle: bool = True,
    seed: "int | np.random.Generator | None" = 0,
    reduction: str = "mean",
    optimizer: Optimizer | None = None,
    **kwargs: Any,
) -> list[float]:
    """Train ``net`` in place by backpropagation and gradient descent (plain SGD by default).

    The same loop as :func:`fit` with no early stopping; ``kwargs`` go to :func:`fit`.

    Returns
    -------
    list of float
        The mean per-sample loss of each epoch, accumulated over its batches
        before each batch's update.

    Raises
    ------
    DivergenceError
        If an epoch's loss or the weights after it are NaN or inf; the weights are restored to those at
        the start of that epoch.
    """
    kwargs.setdefault("patience", None)
    return fit(
        net, X, T, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, shuffle=shuffle,
        seed=seed, reduction=reduction, optimizer=optimizer if optimizer is not None else SGD(), **kwargs,
    ).loss
