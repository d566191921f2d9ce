"""What training records: one entry per epoch, as host Python numbers.

A :class:`History` is plain data: the training loop appends to it once per
epoch (after the epoch's one device-to-host read), early stopping keeps its
best values and counters in it so that a later ``fit(history=...)`` continues
where the last one stopped, and :mod:`xpmlp.io` saves it as JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["History", "STOP_REASONS"]

#: Why a fit ended (``History.stop_reason``).
STOP_REASONS = ("max_epochs", "converged", "early_stopping", "lr_exhausted", "interrupted", "diverged", "callback")


@dataclass
class History:
    """Per-epoch records of a model's training, continued across ``fit`` calls.

    Attributes
    ----------
    loss : the epoch's mean training objective, each batch measured before its update
    validation_score : the score on the validation data after the epoch (empty without validation)
    learning_rate : the rate the epoch trained with
    best_loss, best_score : the best training loss and validation score so far
    best_epoch : 1-based epoch of the best monitored value (validation score if any, else loss)
    no_improvement : epochs in a row that failed to improve the monitor by ``tol``
    samples_seen : training samples processed so far (scikit-learn's ``t_``)
    stop_reason : why the last fit ended, one of :data:`STOP_REASONS` (``""`` before any)
    """

    loss: list[float] = field(default_factory=list)
    validation_score: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    best_loss: float = math.inf
    best_score: float = -math.inf
    best_epoch: int | None = None
    no_improvement: int = 0
    samples_seen: int = 0
    stop_reason: str = ""

    @property
    def epochs(self) -> int:
        """Epochs recorded."""
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

    def __repr__(self) -> str:
        if not self.loss:
            return "History(no epochs)"
        parts = [f"{self.epochs} epochs", f"loss {self.loss[0]:.4g} -> {self.loss[-1]:.4g}"]
        if self.validation_score:
            parts.append(f"best validation score {self.best_score:.4g} at epoch {self.best_epoch}")
        if self.stop_reason:
            parts.append(f"stopped: {self.stop_reason}")
        return f"History({', '.join(parts)})"
