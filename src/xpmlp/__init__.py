"""xpmlp: multilayer perceptrons trained by backpropagation, written once on the Python Array API.

The same code runs on NumPy (CPU), CuPy (CUDA GPU), PyTorch and array-api-strict.

Layout: :mod:`~xpmlp.backend` (which library and device) | :mod:`~xpmlp.activations` |
:mod:`~xpmlp.losses` | :mod:`~xpmlp.network` (forward / backward) | :mod:`~xpmlp.optimizers` |
:mod:`~xpmlp.training` (the loop) | :mod:`~xpmlp.fastpaths` (backend-specific kernels behind one seam).
"""

from .activations import ACTIVATIONS, NotDifferentiableError, get_activation
from .backend import BACKEND_NAMES, Backend, BackendError, available_backends, resolve, use
from .losses import LOSSES, get_loss
from .network import MLP, Gradients, Trace, backward, forward
from .optimizers import SGD, Optimizer
from .training import DivergenceError, train

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "BACKEND_NAMES",
    "LOSSES",
    "MLP",
    "SGD",
    "Backend",
    "BackendError",
    "DivergenceError",
    "Gradients",
    "NotDifferentiableError",
    "Optimizer",
    "Trace",
    "available_backends",
    "backward",
    "forward",
    "get_activation",
    "get_loss",
    "resolve",
    "train",
    "use",
]
