"""A per-epoch progress bar (tqdm, an optional extra: ``pip install 'xpmlp[progress]'``).

The bar advances once per epoch, after the epoch's single device-to-host read,
and shows the epoch's loss, validation score and learning rate.  Without tqdm
the bar is replaced by a one-time log message; training is unaffected.
"""

from __future__ import annotations

import logging
from typing import Any

from .callbacks import Callback

__all__ = ["EpochProgress", "ProgressBar"]

logger = logging.getLogger("xpmlp.training")


class EpochProgress:
    """A context manager: ``with EpochProgress(total, enabled) as bar: bar.update(...)``."""

    def __init__(self, total: int, enabled: bool = False, desc: str = "training") -> None:
        self._bar: Any = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            logger.warning("progress bar needs tqdm: pip install 'xpmlp[progress]'; training without one")
            return
        self._bar = tqdm(total=total, desc=desc, unit="epoch", leave=True, dynamic_ncols=True)

    def update(self, epoch: int, loss: float, score: float | None = None, learning_rate: float | None = None) -> None:
        """One epoch done: advance the bar and show its numbers."""
        if self._bar is None:
            return
        post = {"epoch": epoch, "loss": f"{loss:.4g}"}
        if score is not None:
            post["val"] = f"{score:.4g}"
        if learning_rate is not None:
            post["lr"] = f"{learning_rate:.3g}"
        self._bar.set_postfix(post, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "EpochProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ProgressBar(Callback):
    """The training loop's progress bar: one tick per epoch, with its loss, score and rate."""

    def __init__(self, desc: str = "training") -> None:
        self.desc = desc
        self._bar: EpochProgress | None = None

    def on_fit_begin(self, run):
        self._bar = EpochProgress(run.max_epochs, run.comm.rank == 0, self.desc)

    def on_epoch_end(self, run, log):
        if self._bar is not None:
            self._bar.update(log.epoch, log.loss, log.validation_score, log.learning_rate)

    def on_fit_end(self, run):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
