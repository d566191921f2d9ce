"""The state of one fit: the :class:`Run` the training loop and its callbacks share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .comm import Communicator, SingleProcess
from .data import TrainingData
from ..history import History
from ..nn.metrics import ScoreFn
from ..nn.network import MLP
from ..nn.objective import Objective
from ..optim.optimizers import Optimizer
from ..optim.schedules import Schedule

__all__ = ["Run"]


@dataclass
class Run:
    """Everything one fit works with; callbacks read it and may call :meth:`stop`.

    ``learning_rate`` is the host float the current epoch trains with; ``epoch_open`` is
    True from an epoch's first step until its record is in ``history``.
    """

    net: MLP
    optimizer: Optimizer
    schedule: Schedule
    history: History
    data: TrainingData
    rng: np.random.Generator
    max_epochs: int
    objective: Objective = Objective()
    score: ScoreFn | None = None
    comm: Communicator = SingleProcess()
    learning_rate: float = 0.0
    epoch_open: bool = False
    stopping: bool = False
    #: The flat gradient buffer every step writes into (the model's layout).
    grads: Any = None
    #: The arrays every step's forward and backward passes reuse (:class:`~xpmlp.nn.backprop.Workspace`).
    workspace: Any = None
    #: Mixed precision's step (:class:`~xpmlp.training.precision.MixedPrecision`), None in the model's dtype.
    precision: Any = None
    #: Dropout's per-step masks (:class:`~xpmlp.training.dropout.DropoutMasks`), None without dropout.
    dropout: Any = None

    def stop(self, reason: str) -> None:
        """End the fit after the current epoch, recording ``reason`` in the history."""
        self.stopping, self.history.stop_reason = True, reason
