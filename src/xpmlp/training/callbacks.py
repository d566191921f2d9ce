"""Callbacks: the named pieces composed around the training loop.

The loop (:func:`xpmlp.training.run_epochs`) is only the algorithm: for each
epoch, for each minibatch, forward, backward, update; then the epoch's one
device-to-host read.  Everything else is a :class:`Callback`:

==========================  ======================================================================
:class:`Rollback`           divergence and Ctrl-C: back to the weights and optimizer state at the
                            start of the failing epoch (raises :class:`DivergenceError`)
:class:`RecordHistory`      appends the epoch to the :class:`~xpmlp.history.History`
:class:`LearningRateSchedule`  the rate each epoch trains with (:mod:`xpmlp.optim.schedules`)
:class:`GradientClipping`   clips the global gradient norm of every step, on the device
:class:`~xpmlp.training.stopping.EarlyStopping`  best values, patience, best-weight restore
:class:`EpochLogger`        one ``logging`` record per epoch
:class:`~xpmlp.training.progress.ProgressBar`    a tqdm bar
:class:`ModelCheckpoint`    the model, optimizer and history saved to a file every epoch
==========================  ======================================================================

Device discipline: the per-step hook :meth:`Callback.on_gradients` gets device
arrays and must not read them on the host; a callback that needs a device
value at the end of an epoch names it in :meth:`Callback.epoch_values`, and
the loop fetches all of them with the epoch's single read and hands every
``on_epoch_end`` host numbers (:class:`EpochLog`).  Distributed training
plugs in as the loop's communicator, not as a callback (see :mod:`xpmlp.training`).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

from .. import io
from ..optim.optimizers import clip_grad_norm
from .state import Run


__all__ = [
    "Callback",
    "CallbackList",
    "EpochLog",
    "DivergenceError",
    "Rollback",
    "RecordHistory",
    "LearningRateSchedule",
    "GradientClipping",
    "EpochLogger",
    "ModelCheckpoint",
]

logger = logging.getLogger("xpmlp.training")


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or weights; the model keeps its last good weights."""


@dataclass
class EpochLog:
    """One epoch's numbers, read from the device once (host Python floats).

    ``epoch`` is 1-based over the model's whole history; ``values`` holds what the
    callbacks asked for in :meth:`Callback.epoch_values`.
    """

    epoch: int
    loss: float
    learning_rate: float
    samples: int
    validation_score: float | None = None
    values: dict[str, float] = field(default_factory=dict)


class Callback:
    """A piece of training behaviour; every hook is optional.  ``run`` is the loop's
    :class:`~xpmlp.training.state.Run` (model, optimizer, schedule, history, data, ...)."""

    def on_fit_begin(self, run: Run) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, run: Run) -> None:
        """Before an epoch's first step."""

    def on_gradients(self, run: Run, grads: list) -> None:
        """After each step's gradients are complete, before the update: device arrays, no host reads."""

    def epoch_values(self, run: Run) -> dict[str, Any]:
        """0-d device arrays to fetch with the epoch's one read (they reach ``on_epoch_end``)."""
        return {}

    def on_epoch_end(self, run: Run, log: EpochLog) -> None:
        """After the epoch's read: host numbers only."""

    def on_interrupt(self, run: Run) -> None:
        """Ctrl-C (``KeyboardInterrupt``) arrived; the fit will end cleanly after the callbacks."""

    def on_fit_end(self, run: Run) -> None:
        """After the last epoch (also after an interrupt; not after an error)."""


class CallbackList:
    """Calls the hooks of several callbacks in order; per-step hooks only where overridden."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)
        self._grad_hooks = [cb for cb in self.callbacks if type(cb).on_gradients is not Callback.on_gradients]

    @property
    def reads_gradients(self) -> bool:
        """Whether some callback's :meth:`Callback.on_gradients` looks at every step's gradients."""
        return bool(self._grad_hooks)

    def on_fit_begin(self, run: Run) -> None:
        for cb in self.callbacks:
            cb.on_fit_begin(run)

    def on_epoch_begin(self, run: Run) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(run)

    def on_gradients(self, run: Run, grads: list) -> None:
        for cb in self._grad_hooks:
            cb.on_gradients(run, grads)

    def epoch_values(self, run: Run) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for cb in self.callbacks:
            out.update(cb.epoch_values(run))
        return out

    def on_epoch_end(self, run: Run, log: EpochLog) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(run, log)

    def on_interrupt(self, run: Run) -> None:
        for cb in self.callbacks:
            cb.on_interrupt(run)

    def on_fit_end(self, run: Run) -> None:
        for cb in self.callbacks:
            cb.on_fit_end(run)


class Rollback(Callback):
    """Keeps the state at the start of each epoch and returns to it when the epoch fails.

    Divergence: a non-finite epoch loss, or weights with a NaN or inf (checked as
    ``max |p|`` over every parameter, which cannot overflow where a sum of the weights
    can), restores the model and the optimizer and raises :class:`DivergenceError`; with
    ``on_divergence="continue"`` training goes on instead (the loss stays non-finite, so
    early stopping ends the fit on its best weights: scikit-learn's behaviour with
    ``early_stopping=True``).  Ctrl-C inside an epoch restores the state too, so an
    interrupted fit ends on whole epochs.
    """

    def __init__(self, on_divergence: str = "raise") -> None:
        if on_divergence not in ("raise", "continue"):
            raise ValueError(f"on_divergence must be 'raise' or 'continue', got {on_divergence!r}")
        self.on_divergence = on_divergence

    def on_epoch_begin(self, run):
        self._good = (run.net.xp.asarray(run.net.flat, copy=True), run.optimizer.snapshot())

    def epoch_values(self, run):
        xp = run.net.xp
        return {"weights_max_abs": xp.max(xp.abs(run.net.flat))}  # NaN or inf anywhere shows here

    def on_epoch_end(self, run, log):
        if math.isfinite(log.loss) and math.isfinite(log.values["weights_max_abs"]) or self.on_divergence == "continue":
            return
        self.restore(run)
        run.stop("diverged")
        raise DivergenceError(
            f"loss became {log.loss} (largest |weight| {log.values['weights_max_abs']}) in epoch {log.epoch}; "
            "weights restored to the start of that epoch (try a smaller learning_rate, or max_grad_norm)"
        )

    def on_interrupt(self, run):
        if run.epoch_open:
            self.restore(run)
            logger.warning("training interrupted in epoch %d; rolled back to the end of epoch %d",
                           run.history.epochs + 1, run.history.epochs)
        else:
            logger.warning("training interrupted after epoch %d", run.history.epochs)

    def restore(self, run: Run) -> None:
        """Copy the saved parameters and optimizer state back into the live arrays."""
        saved, opt_snap = self._good
        run.net.flat[...] = saved
        run.optimizer.restore(opt_snap)


class RecordHistory(Callback):
    """Appends each epoch's loss, learning rate and validation score to ``run.history``."""

    def on_epoch_end(self, run, log):
        h = run.history
        h.loss.append(log.loss)
        h.learning_rate.append(log.learning_rate)
        if log.validation_score is not None:
            h.validation_score.append(log.validation_score)
        h.samples_seen += log.samples
        run.epoch_open = False  # the epoch is whole: an interrupt from here on keeps it


class LearningRateSchedule(Callback):
    """Hands each epoch the schedule's rate and tells the schedule how many samples were seen."""

    def __init__(self, schedule: Any) -> None:
        self.schedule = schedule

    def on_epoch_begin(self, run):
        run.learning_rate = self.schedule.learning_rate

    def on_epoch_end(self, run, log):
        self.schedule.epoch_end(run.history.samples_seen)


class GradientClipping(Callback):
    """Scales every step's gradients so their global L2 norm is at most ``max_norm`` (on the device)."""

    def __init__(self, max_norm: float) -> None:
        if not max_norm > 0.0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {max_norm!r}")
        self.max_norm = float(max_norm)

    def on_gradients(self, run, grads):
        clip_grad_norm(grads, self.max_norm, run.net.xp)  # one norm over the flat gradient


class EpochLogger(Callback):
    """One DEBUG record per epoch on the ``xpmlp.training`` logger."""

    def on_epoch_end(self, run, log):
        score = "" if log.validation_score is None else f", validation score {log.validation_score:.6g}"
        logger.debug("epoch %d: loss %.6g%s, learning rate %.3g", log.epoch, log.loss, score, log.learning_rate)


class ModelCheckpoint(Callback):
    """Saves the model, optimizer, schedule and history to ``path`` after every ``every`` epochs
    and at the end of the fit (the model as the fit returns it), atomically (:func:`xpmlp.io.save`).

    Only the process of rank 0 writes (data-parallel runs hold identical models).
    """

    def __init__(self, path: "str | os.PathLike", every: int = 1, **save_kwargs: Any) -> None:
        if int(every) < 1:
            raise ValueError(f"checkpoint interval must be >= 1 epoch, got {every!r}")
        self.path, self.every, self.save_kwargs = path, int(every), save_kwargs

    def _save(self, run: Run) -> None:
        if run.comm.rank != 0:
            return
        io.save(self.path, run.net, optimizer=run.optimizer, schedule=run.schedule, history=run.history,
                **self.save_kwargs)

    def on_epoch_end(self, run, log):
        if log.epoch % self.every == 0:
            self._save(run)

    def on_fit_end(self, run):
        self._save(run)
