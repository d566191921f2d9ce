"""The math of the network, written once on the Array API: the seeds' equations.

Activations f and f' (``activations.py``), losses C and dC/da with fused output deltas
(``losses.py``), the MLP with its forward and backward passes (``network.py``), the batch
objective and its gradient (``objective.py``), validation scores (``metrics.py``), targets from
labels (``targets.py``) and initial weights (``init.py``).

May import: backends, registry.
"""

from .activations import ACTIVATIONS, NotDifferentiableError, get_activation
from .losses import LOSSES, get_loss
from .network import MLP, Gradients, Trace, backward, forward
from .objective import Objective

__all__ = ["ACTIVATIONS", "LOSSES", "MLP", "Gradients", "NotDifferentiableError", "Objective", "Trace", "backward",
           "forward", "get_activation", "get_loss"]
