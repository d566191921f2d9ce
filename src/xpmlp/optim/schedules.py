"""Learning-rate schedules: the learning rate each epoch trains with.

A schedule is host-side bookkeeping: its rate is a Python float handed to the
optimizer with every step, so changing it never touches the device.  The
training loop calls :meth:`Schedule.epoch_end` after every epoch and
:meth:`Schedule.on_stall` when the monitored quantity (training loss or
validation score) has failed to improve for ``patience`` epochs.

==============  ===================================================================
``constant``    ``eta = eta_0``
``invscaling``  ``eta = eta_0 / (t + 1)^power_t`` with ``t`` the number of training
                samples seen so far, updated after each epoch (scikit-learn's rule)
``adaptive``    ``eta = eta_0`` until progress stalls, then ``eta <- factor * eta``
                (``factor = 1/5``); once ``eta <= min_learning_rate`` a further
                stall stops training
``coslog``      ``eta = eta_0 (1 - cos(2 pi log2(1 + (2^c - 1) t))) / 2`` at ``t`` =
                (epoch + 1/2) / epochs: ``c`` cosine cycles (4 by default), each
                rising from 0 and falling back, ever longer on a log scale, the last
                ending the run near 0 (RealMLP's "coslog4"); stalls stop nothing
==============  ===================================================================
"""

from __future__ import annotations

import math
from typing import Any

from ..registry import Registry

__all__ = ["Schedule", "Constant", "InvScaling", "Adaptive", "CosLog", "SCHEDULES", "make_schedule"]


class Schedule:
    """A learning rate that may change between epochs.

    Attributes
    ----------
    learning_rate_init : float
        ``eta_0``.
    learning_rate : float
        The rate the next epoch uses.
    """

    name: str = ""

    def __init__(self, learning_rate_init: float = 0.001) -> None:
        if not learning_rate_init > 0.0:
            raise ValueError(f"learning_rate_init must be > 0, got {learning_rate_init!r}")
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = self.learning_rate_init

    def epoch_end(self, samples_seen: int) -> None:
        """Called after every epoch with the number of training samples seen so far."""

    def on_stall(self) -> bool:
        """Progress stalled: return True to keep training (having adapted the rate), False to stop."""
        return False

    def config(self) -> dict[str, Any]:
        """Hyperparameters (``make_schedule(name, **config)`` rebuilds the schedule)."""
        return {"learning_rate_init": self.learning_rate_init}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args}; now {self.learning_rate:g})"


class Constant(Schedule):
    """``eta = eta_0`` throughout."""

    name = "constant"


class InvScaling(Schedule):
    """``eta = eta_0 / (t + 1)^power_t``, ``t`` = training samples seen, updated per epoch."""

    name = "invscaling"

    def __init__(self, learning_rate_init: float = 0.001, power_t: float = 0.5) -> None:
        super().__init__(learning_rate_init)
        if not power_t >= 0.0:
            raise ValueError(f"power_t must be >= 0, got {power_t!r}")
        self.power_t = float(power_t)

    def epoch_end(self, samples_seen):
        self.learning_rate = self.learning_rate_init / (samples_seen + 1) ** self.power_t

    def config(self):
        return {**super().config(), "power_t": self.power_t}


class Adaptive(Schedule):
    """Keep ``eta`` while training progresses; multiply it by ``factor`` when it stalls.

    A stall at ``eta <= min_learning_rate`` stops training.
    """

    name = "adaptive"

    def __init__(self, learning_rate_init: float = 0.001, factor: float = 0.2, min_learning_rate: float = 1e-6) -> None:
        super().__init__(learning_rate_init)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.factor, self.min_learning_rate = float(factor), float(min_learning_rate)

    def on_stall(self):
        if self.learning_rate <= self.min_learning_rate:
            return False
        self.learning_rate *= self.factor
        return True

    def config(self):
        return {**super().config(), "factor": self.factor, "min_learning_rate": self.min_learning_rate}


class CosLog(Schedule):
    """``c`` cosine cycles over ``epochs`` epochs on a log time scale (see the module docstring):
    warm restarts, each cycle twice as long as the one before, the rate near 0 at the end."""

    name = "coslog"

    def __init__(self, learning_rate_init: float = 0.001, epochs: int = 100, cycles: int = 4, epoch: int = 0) -> None:
        super().__init__(learning_rate_init)
        if int(epochs) < 1 or int(cycles) < 1 or int(epoch) < 0:
            raise ValueError(f"coslog needs epochs >= 1, cycles >= 1 and epoch >= 0, got {epochs!r}, {cycles!r} "
                             f"and {epoch!r}")
        self.epochs, self.cycles, self.epoch = int(epochs), int(cycles), int(epoch)  # epoch: those done so far
        self.learning_rate = self.rate(self.epoch)

    def rate(self, epoch: int) -> float:
        """The rate of epoch ``epoch`` (0-based); past ``epochs`` the last one's."""
        t = (min(epoch, self.epochs - 1) + 0.5) / self.epochs
        return self.learning_rate_init * 0.5 * (1.0 - math.cos(2.0 * math.pi * math.log2(1.0 + (2 ** self.cycles - 1) * t)))

    def epoch_end(self, samples_seen):
        self.epoch += 1
        self.learning_rate = self.rate(self.epoch)

    def config(self):
        return {**super().config(), "epochs": self.epochs, "cycles": self.cycles, "epoch": self.epoch}


#: Name -> schedule class.
SCHEDULES: Registry[type[Schedule]] = Registry(
    "learning-rate schedule", {cls.name: cls for cls in (Constant, InvScaling, Adaptive, CosLog)}, base=Schedule
)


def make_schedule(name: "str | Schedule", learning_rate_init: float = 0.001, **config: Any) -> Schedule:
    """A schedule by name (``constant``, ``invscaling``, ``adaptive``, ``coslog``); a :class:`Schedule`
    is returned as it is (with its own rate)."""
    return SCHEDULES.make(name, learning_rate_init, **config)
