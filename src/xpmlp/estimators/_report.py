"""What the estimators print and warn, in scikit-learn's words.

:class:`SklearnVerbose` is the ``verbose=True`` output: one ``Iteration k, loss = ...`` line per
epoch (``k`` counts the epochs of the current ``fit``/``partial_fit`` call), the validation score
with early stopping, and the line scikit-learn prints when the monitored value stalls.  It is a
training-loop callback, called after early stopping and the schedule have acted on the epoch.
:func:`warn_stop` turns the history's stop reason into scikit-learn's warnings.
"""

from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning

from ..training.callbacks import Callback, EpochLog
from ..history import History
from ..training.state import Run


__all__ = ["SklearnVerbose", "warn_stop", "STALLED"]

#: Stop reasons of a monitor that stopped improving.
STALLED = ("converged", "early_stopping", "lr_exhausted")


class SklearnVerbose(Callback):
    """Prints scikit-learn's per-iteration lines to standard output."""

    def __init__(self, tol: float, n_iter_no_change: float) -> None:
        self.tol, self.n_iter_no_change = tol, n_iter_no_change
        self.iteration = 0

    def on_fit_begin(self, run: Run) -> None:
        self.iteration = 0

    def on_epoch_end(self, run: Run, log: EpochLog) -> None:
        self.iteration += 1
        print("Iteration %d, loss = %.8f" % (self.iteration, log.loss))
        if log.validation_score is not None:
            print("Validation score: %f" % log.validation_score)
        stalled = run.stopping and run.history.stop_reason in STALLED
        cut = getattr(run.schedule, "name", "") == "adaptive" and run.schedule.learning_rate < log.learning_rate
        if stalled or cut:
            what = "Validation score" if log.validation_score is not None else "Training loss"
            msg = "%s did not improve more than tol=%f for %d consecutive epochs." % (
                what, self.tol, self.n_iter_no_change)
            if not stalled:
                print(msg + " Setting learning rate to %f" % run.schedule.learning_rate)
            elif run.history.stop_reason == "lr_exhausted":
                print(msg + " Learning rate too small. Stopping.")
            else:
                print(msg + " Stopping.")


def warn_stop(history: History, max_iter: int, incremental: bool) -> None:
    """scikit-learn's warnings for a stochastic fit that ended on ``max_iter`` or on Ctrl-C."""
    if history.stop_reason == "max_epochs" and not incremental:
        warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the optimization hasn't "
                      "converged yet." % max_iter, ConvergenceWarning, stacklevel=4)
    elif history.stop_reason == "interrupted":
        warnings.warn("Training interrupted by user.", stacklevel=4)
