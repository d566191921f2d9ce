"""Early stopping: the monitored value, patience, and the best weights.

Without validation data the monitor is the training loss (lower is better);
with it, the validation score (higher is better), and the best-scoring weights
are restored when the fit ends.  An epoch that fails to improve the best value
by ``tol`` counts against ``patience``; once more than ``patience`` epochs in a
row have failed, an ``adaptive`` schedule may cut the learning rate and go on,
otherwise training stops (scikit-learn's ``n_iter_no_change`` rule).  The best
values and the counter live in the :class:`~xpmlp.history.History`, so a later
fit continues them.
"""

from __future__ import annotations

import logging
from typing import Any

from .callbacks import Callback, EpochLog
from .state import Run


__all__ = ["EarlyStopping"]

logger = logging.getLogger("xpmlp.training")


class EarlyStopping(Callback):
    """Track the best epoch; stop after ``patience`` + 1 epochs without improvement by ``tol``.

    Parameters
    ----------
    patience : int or None
        ``None`` records the best values (and restores the best weights) but never stops.
    tol : float
        The improvement an epoch must make on the best value so far.
    restore_best : bool
        With validation, end the fit on the best-scoring weights (device copies are kept).
    schedule : Schedule, optional
        Asked first on a stall (``schedule.on_stall()``): an adaptive schedule cuts its rate
        and training goes on; once it cannot, training stops with ``"lr_exhausted"``.
    """

    def __init__(self, patience: int | None = 10, tol: float = 1e-4, restore_best: bool = True,
                 schedule: Any = None) -> None:
        if patience is not None and patience < 0:
            raise ValueError(f"patience must be >= 0 or None, got {patience}")
        self.patience, self.tol, self.restore_best, self.schedule = patience, float(tol), bool(restore_best), schedule
        self._best: Any = None

    def on_fit_begin(self, run):
        self._best = None

    def on_epoch_end(self, run, log):
        h = run.history
        if log.validation_score is not None:
            improved = log.validation_score >= h.best_score + self.tol  # NaN never improves
            if log.validation_score > h.best_score:
                h.best_score, h.best_epoch = log.validation_score, log.epoch
                if self.restore_best:
                    self._best = run.net.xp.asarray(run.net.flat, copy=True)
        else:
            improved = log.loss <= h.best_loss - self.tol
            if log.loss < h.best_loss:
                h.best_epoch = log.epoch
        h.best_loss = min(h.best_loss, log.loss)
        h.no_improvement = 0 if improved else h.no_improvement + 1
        if self.patience is not None and h.no_improvement > self.patience:
            self._stall(run, log)

    def _stall(self, run: Run, log: EpochLog) -> None:
        what = "validation score" if log.validation_score is not None else "training loss"
        h = run.history
        if self.schedule is not None and self.schedule.on_stall():
            h.no_improvement = 0
            logger.info("%s did not improve by more than tol=%g in %d epochs (more than patience %d); "
                        "learning rate now %.3g", what, self.tol, self.patience + 1, self.patience,
                        self.schedule.learning_rate)
            return
        if getattr(self.schedule, "name", "") == "adaptive":
            reason = "lr_exhausted"
        else:
            reason = "early_stopping" if log.validation_score is not None else "converged"
        logger.info("%s did not improve by more than tol=%g in %d epochs (more than patience %d); "
                    "stopping after epoch %d", what, self.tol, self.patience + 1, self.patience, log.epoch)
        run.stop(reason)

    def on_fit_end(self, run):
        if self._best is not None and run.history.stop_reason != "diverged":  # a diverged fit keeps its rollback
            run.net.flat[...] = self._best
            self._best = None
