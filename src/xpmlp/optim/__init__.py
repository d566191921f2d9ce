"""How a gradient moves the parameters: update rules, optimizers with their state, learning-rate schedules.

The generic update rules (``updates.py``, the specification the fast paths are held to),
the optimizers that keep state and pick their library's fast path (``optimizers.py``), and
the schedules that set each epoch's learning rate (``schedules.py``).

May import: backends, registry.
"""

from .optimizers import SGD, Adam, AdamW, Optimizer, clip_grad_norm, make_optimizer
from .schedules import Adaptive, Constant, InvScaling, Schedule, make_schedule

__all__ = ["SGD", "Adam", "AdamW", "Adaptive", "Constant", "InvScaling", "Optimizer", "Schedule", "clip_grad_norm",
           "make_optimizer", "make_schedule"]
