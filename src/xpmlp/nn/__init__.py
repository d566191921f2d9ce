"""The math of the network, written once on the Array API: the seeds' equations.

Activations f and f' (``activations.py``), losses C and dC/da with fused output deltas
(``losses.py``), the MLP with its forward and backward passes (``network.py``), the batch
objective and its gradient (``objective.py``), validation scores (``metrics.py``), targets from
labels (``targets.py``) and initial weights (``init.py``); input layers of other kinds in front of
``W^1`` (``front.py`` stacks them, ``input_layer.py`` says what each provides): a per-feature scale
(``scale.py``) and periodic embeddings of numbers (``periodic.py``).

May import: backends, registry.
"""

from .activations import ACTIVATIONS, NotDifferentiableError, get_activation
from .front import KINDS as INPUT_LAYERS
from .losses import LOSSES, get_loss
from .network import MLP, Gradients, Trace, backward, forward
from .objective import Objective

__all__ = ["ACTIVATIONS", "INPUT_LAYERS", "LOSSES", "MLP", "Gradients", "NotDifferentiableError", "Objective", "Trace", "backward",
           "forward", "get_activation", "get_loss"]
