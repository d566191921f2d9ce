"""The training loop: epochs of online, mini-batch or full-batch gradient descent.

:func:`run_epochs` is the algorithm (seeds 01-04): for each epoch, for each
minibatch, forward, backward, update; then the epoch's one device-to-host read
and the callbacks.  :func:`fit` assembles a :class:`Run` and the standard
callbacks (:mod:`xpmlp.training.callbacks`, :mod:`xpmlp.training.stopping`, :mod:`xpmlp.training.progress`)
from its keyword arguments; :func:`train` is its small form (plain SGD, returns
the per-epoch losses).

Device discipline
    Data, targets and sample weights move to the backend once (:func:`xpmlp.training.data.prepare`).
    Inside an epoch nothing is read back to the host: the summed loss stays a
    device scalar, gradient hooks work on the device, and the learning rate is a
    host float.  After each epoch one read brings back the loss, the validation
    score and every value a callback asked for.

Objective
    See :mod:`xpmlp.nn.objective`: the sample-weighted mean loss plus
    ``(alpha/2) sum_l ||W^l||^2``; the recorded epoch loss is its mean over the
    epoch, each batch measured before its update.

Stopping and failure
    :class:`~xpmlp.training.stopping.EarlyStopping` (monitor, patience, best weights),
    :class:`~xpmlp.training.callbacks.Rollback` (a non-finite loss or weight raises
    :class:`DivergenceError` with the model and optimizer restored to the start
    of the failing epoch; Ctrl-C rolls the open epoch back, ends the fit
    cleanly and sets ``History.stop_reason = "interrupted"``).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from .callbacks import (
    Callback,
    CallbackList,
    DivergenceError,
    EpochLog,
    EpochLogger,
    GradientClipping,
    LearningRateSchedule,
    ModelCheckpoint,
    RecordHistory,
    Rollback,
)
from .comm import Communicator, Interrupted, SingleProcess
from ..history import History
from ..nn.metrics import ScoreFn, default_score
from ..backends.sparse import is_sparse
from ..nn.backprop import Workspace
from ..nn.network import MLP, forward
from ..nn.objective import Objective, batch_gradients
from ..optim.optimizers import SGD, Optimizer, make_optimizer
from .progress import ProgressBar
from .class_weight import class_row_weights
from .dropout import DropoutMasks
from .precision import MixedPrecision
from .state import Run
from ..optim.schedules import Schedule, make_schedule
from .stopping import EarlyStopping
from .sources import is_source_like
from .spill import SpilledRows
from .streaming import prepare_for_fit

__all__ = ["run_epochs", "fit", "train", "Run", "History", "DivergenceError"]

def run_epochs(run: Run, callbacks: CallbackList) -> History:
    """The training loop: ``run.max_epochs`` epochs of gradient descent on ``run.data``.

    Every step writes into the same arrays (``run.grads``, ``run.workspace``); plain SGD folds its
    learning rate into delta^L (unless a callback reads the gradients), so its update is ``W -= g``.
    """
    net, xp = run.net, run.net.xp
    fold = run.optimizer.folds_learning_rate and not callbacks.reads_gradients
    run.history.stop_reason = "max_epochs"
    callbacks.on_fit_begin(run)
    try:
        for _ in range(run.max_epochs):
            run.epoch_open = True
            callbacks.on_epoch_begin(run)
            loss = xp.zeros((), dtype=net.backend.dtype, device=net.backend.device)
            penalty = xp.zeros((), dtype=net.backend.dtype, device=net.backend.device)
            eta = run.learning_rate
            for Xb, Tb, wb, B in run.data.minibatches(run.rng):
                # forward, backward (delta^l -> dC/dW^l, dC/db^l), summed over processes, + alpha_B W^l
                step = _gradients(run, Xb, Tb, wb, B, eta if fold else 1.0)
                loss += step.loss  # sum_i w_i C_i, stays on the device
                if step.penalty is not None:
                    penalty += step.penalty  # |B| alpha_B ||W||^2, recorded
                callbacks.on_gradients(run, step.grads)  # e.g. clipping, on the device
                _update(run, step.grads, 1.0 if fold else eta)  # W <- W - eta dC/dW (or Adam)
            callbacks.on_epoch_end(run, _read_epoch(run, callbacks, loss, penalty))  # the epoch's one read
            if run.stopping:
                break
    except KeyboardInterrupt as exc:
        if run.comm.size > 1 and not isinstance(exc, Interrupted):
            raise  # Ctrl-C inside one process of several, outside the agreed stop: the guard ends them all
        run.stop("interrupted")
        callbacks.on_interrupt(run)
    finally:
        callbacks.on_fit_end(run)
    return run.history


def _gradients(run: Run, Xb: Any, Tb: Any, wb: Any, B: int, factor: float) -> Any:
    """One batch's objective and gradient (into ``run.grads``), in the model's dtype or mixed precision."""
    masks = None if run.dropout is None else run.dropout.draw(Xb.shape[0])  # on the device
    if run.precision is not None:
        return run.precision.batch_gradients(Xb, Tb, wb, run.objective, B, run.comm.allreduce_, run.grads, factor,
                                             masks)
    ws = None if run.workspace is None else run.workspace.rows(Xb.shape[0])
    return batch_gradients(run.net, Xb, Tb, wb, run.objective, rows=B, reduce=run.comm.allreduce_, grads=run.grads,
                           ws=ws, factor=factor, masks=masks)


def _update(run: Run, grads: Any, learning_rate: float) -> None:
    """The optimizer's step; float16 mixed precision undoes a non-finite one on the device."""
    if run.precision is not None:
        run.precision.before_update(run.optimizer)
    run.optimizer.step(run.net.parameters, grads, learning_rate)
    if run.precision is not None:
        run.precision.after_update(run.optimizer)


def _read_epoch(run: Run, callbacks: CallbackList, loss: Any, penalty: Any) -> EpochLog:
    """Fetch the epoch's numbers from the device in one read: the loss, the validation
    score and every callback's :meth:`~xpmlp.training.callbacks.Callback.epoch_values`."""
    net, xp, data = run.net, run.net.xp, run.data
    summed = xp.stack([loss])
    run.comm.allreduce_([summed])  # every process's share of the epoch's loss
    device = {"loss": summed[0], "penalty": penalty}
    if data.validation is not None:
        Xv, Tv, wv = data.validation  # inputs on the device, or a streamed fit's in a file (read a block at a time)
        out = Xv.outputs(net) if isinstance(Xv, SpilledRows) else \
            forward(net.Ws, net.bs, net.activations, Xv, xp, **net.front_args).a[-1]
        device["validation"] = xp.astype(run.score(xp, out, Tv, wv), net.backend.dtype)
    device.update(callbacks.epoch_values(run))
    host = dict(zip(device, (float(v) for v in net.backend.to_numpy(xp.stack(list(device.values()))))))
    host = run.comm.consensus(host)  # data-parallel: every process decides from the same numbers
    n = data.n_total
    return EpochLog(
        epoch=run.history.epochs + 1,
        loss=(run.objective.record_scale * host.pop("loss") + 0.5 * host.pop("penalty")) / n,
        learning_rate=run.learning_rate,
        samples=n,
        validation_score=host.pop("validation", None),
        values=host,
    )


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
    checkpoint: "str | os.PathLike | None" = None,
    callbacks: Sequence[Callback] = (),
    comm: Communicator | None = None,
    positions: Any = None,
    objective: Objective | None = None,
    on_divergence: str = "raise",
    dropout_masks: str = "device",
    class_weight: "str | dict | None" = None,
    window: int | None = None,
) -> History:
    """Train ``net`` in place; return its :class:`History`.

    Parameters
    ----------
    net : MLP
    X : ``(n, sizes[0])`` inputs; T : ``(n, sizes[-1])`` targets (one-hot or 0/1 for classification;
        :func:`xpmlp.one_hot` turns labels into one-hot rows).  NumPy arrays (moved to the backend
        once, here) or arrays of the net's backend.  Or data read as it trains
        (:mod:`xpmlp.training.streaming`): a ``.npy`` path (``T`` a ``.npy`` path or an array), a Parquet
        file or directory or a delimited text file (``T`` the target column(s)), a Dask array (``T`` one
        too) or DataFrame (``T`` its target column(s)), an iterable of ``(X, T[, w])`` batches or a
        function returning one, or a :class:`~xpmlp.training.sources.Source`.
    epochs : maximum passes over the training data.
    batch_size : 1 (online), k (mini-batch), or ``"full"``/``None`` (full batch).
    optimizer : an :class:`~xpmlp.optim.optimizers.Optimizer` (its state carries over between calls)
        or a name; default Adam.
    learning_rate, schedule : the initial rate (a float) and how it changes, ``constant``/
        ``invscaling``/``adaptive``/``coslog`` (over ``epochs``; or a
        :class:`~xpmlp.optim.schedules.Schedule`, whose own rate is used).
    alpha : L2 penalty, ``(alpha/2) sum ||W||^2`` added to the mean per-sample loss (shorthand for
        ``objective=Objective(alpha)``).
    shuffle, seed : reshuffle every epoch, from a host generator seeded by ``seed``.
    sample_weight : ``(n,)`` non-negative host weights (normalised to mean 1).
    validation_data : ``(X_val, T_val)`` or ``(X_val, T_val, w_val)``.
    validation_fraction : split this fraction off ``X`` instead (``stratify``: labels per row).
    patience, tol : stop (or let an adaptive schedule cut the rate) once more than ``patience``
        epochs in a row fail to improve the monitor by ``tol``; ``patience=None`` never stops early.
    restore_best : with validation, end on the best-scoring weights.
    max_grad_norm : clip the global gradient norm of each step to this (on the device).
    score : validation score function (see :func:`xpmlp.nn.metrics.default_score`), higher is better.
    progress : show a tqdm progress bar (epoch, loss, validation score).
    history : continue this record (warm start); counts and best values carry on.
    reduction : ``"mean"`` (default) or ``"sum"`` gradients over each batch (shorthand, as ``alpha``).
    checkpoint : save model, optimizer and history to this file after every epoch (atomically).
    callbacks : more :class:`~xpmlp.training.callbacks.Callback` objects, called after the standard ones.
    comm : a :class:`~xpmlp.training.comm.Communicator` for data-parallel training (default: one process).
    positions : data-parallel training only: the places of this process's rows among every process's
        (ints, ``(n,)``; together a permutation of all the rows), so that the minibatches are those one
        process would draw from the rows in that order; default: the processes' rows end to end in
        rank order (e.g. for strided shards ``X[rank::size]`` pass ``range(rank, n, size)``).
    on_divergence : ``"raise"``: a non-finite loss or weight raises :class:`DivergenceError` with the state of
        the start of that epoch; ``"continue"``: train on (with validation, early stopping then ends the fit
        on the best weights, as scikit-learn's estimators do with ``early_stopping=True``).
    objective : the whole :class:`~xpmlp.nn.objective.Objective` (L2 ``alpha`` and how it scales with
        the batch, the recorded loss's scale, the reduction), instead of ``alpha`` and ``reduction``;
        the estimators pass scikit-learn's.
    class_weight : ``"balanced"`` or ``{class index: weight}``: each row weighted by its class's
        weight (softmax or a single logistic output; see :mod:`xpmlp.training.class_weight`),
        times ``sample_weight``.
    dropout_masks : for a model with dropout: ``"device"`` (each library's generator on the model's
        device, seeded from ``seed``: a run repeats exactly on one backend) or ``"host"`` (one NumPy
        generator, the same masks on every backend; a host-to-device copy per step).
    window : a streamed ``X`` only: chunks whose rows are shuffled together (default 8; 0: all of them,
        the in-memory fit's batches).

    Raises
    ------
    DivergenceError
        If an epoch's loss or the weights after it are NaN or inf; the weights and the optimizer
        state are restored to those at the start of that epoch.
    """
    comm = comm or SingleProcess()
    # the model's device current (cupy:1 computes on GPU 1); a failure in one of several processes ends them all
    with net.backend.activate(), comm.guard():
        net._check_trainable()
        objective = _objective(objective, alpha, reduction)
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        if dropout_masks not in ("device", "host"):
            raise ValueError(f"dropout_masks must be 'device' or 'host', got {dropout_masks!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        opt = make_optimizer(optimizer if optimizer is not None else "adam").bind(net.backend)
        sched = make_schedule(schedule, learning_rate, **({"epochs": max(int(epochs), 1)} if schedule == "coslog" else {}))
        standard = _standard_callbacks(sched, max_grad_norm, patience, tol, restore_best, progress, checkpoint,
                                       on_divergence)
        data = _prepare(net, X, T, comm, class_weight, sample_weight, positions, batch_size=batch_size,
                        shuffle=shuffle, rng=rng, window=window, validation_data=validation_data,
                        validation_fraction=validation_fraction, stratify=stratify)
        with comm.loop(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            comm.agree({"epochs": epochs, "optimizer": [opt.name, opt.config(), opt.t], "objective": objective,
                        "schedule": [sched.name, sched.config()], "patience": patience, "tol": tol,
                        "max_grad_norm": max_grad_norm})
            run = Run(net, opt, sched, history if history is not None else History(), data, rng, int(epochs),
                      objective, score or default_score(net.output_activation.name), comm)
            _step_arrays(run, dropout_masks)
            return run_epochs(run, CallbackList([*standard, *callbacks]))  # divergence: Rollback raises


def _prepare(net: MLP, X: Any, T: Any, comm: Communicator, class_weight: Any, sample_weight: Any, positions: Any,
             **kwargs: Any) -> Any:
    """The fit's data: read as it trains (a path, a Dask collection, batches:
    :mod:`xpmlp.training.streaming`), or checked and moved to the device once (:mod:`xpmlp.training.data`)."""
    if is_source_like(X):
        return prepare_for_fit(net, X, T, comm=comm, class_weight=class_weight, sample_weight=sample_weight,
                               positions=positions, **kwargs)
    kwargs.pop("window")
    sample_weight = class_row_weights(net, T, class_weight, comm, sample_weight)  # with class_weight
    return comm.prepare(net, X, T, sample_weight=sample_weight, positions=positions, **kwargs)


def _step_arrays(run: Run, dropout_masks: str) -> None:
    """The arrays every step reuses: the gradient, the workspace or mixed precision's, dropout's masks."""
    net, rows = run.net, run.data.batch_size
    run.grads = net.parameters.like()
    if net.compute_dtype is not None:
        run.precision = MixedPrecision(net, rows)
    elif net.ops.in_place:  # a library that writes into out= (else each result would be copied in)
        run.workspace = Workspace(net.widths, net.xp, net.backend.dtype, net.backend.device, rows,
                                  front=net.front.scratch(net.ops, keep=True))
    if any(net.dropout):
        if net.dropout[0] and is_sparse(run.data.X):
            raise TypeError("input_dropout needs dense inputs; X is sparse")
        seed = int(run.rng.integers(2 ** 62)) + run.comm.rank  # each process drops units of its own rows
        dtype = None if run.precision is None else run.precision.dtype  # the layers' own dtype
        run.dropout = DropoutMasks(net, rows, seed, dtype, host=dropout_masks == "host")


def _standard_callbacks(schedule: Schedule, max_grad_norm: float | None, patience: int | None, tol: float,
                        restore_best: bool, progress: bool, checkpoint: Any, on_divergence: str) -> list[Callback]:
    """The callbacks ``fit``'s arguments ask for, in the order they must run (rollback first)."""
    standard: list[Callback] = [Rollback(on_divergence), RecordHistory(), LearningRateSchedule(schedule)]
    if max_grad_norm is not None:
        standard.append(GradientClipping(max_grad_norm))
    standard += [EarlyStopping(patience, tol, restore_best, schedule), EpochLogger()]
    if progress:
        standard.append(ProgressBar())
    if checkpoint is not None:
        standard.append(ModelCheckpoint(checkpoint))
    return standard


def _objective(objective: Objective | None, alpha: float, reduction: str) -> Objective:
    """``objective``, or one made of the ``alpha`` and ``reduction`` shorthands (not both)."""
    if objective is None:
        return Objective(alpha=float(alpha), reduction=reduction)
    if alpha or reduction != "mean":
        raise ValueError("give objective= or alpha=/reduction=, not both")
    return objective


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
