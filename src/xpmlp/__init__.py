"""xpmlp: multilayer perceptrons trained by backpropagation, written once on the Python Array API.

The same code runs on NumPy (CPU), CuPy (CUDA GPU), PyTorch and array-api-strict.

Layout: :mod:`~xpmlp.backend` (which library and device) | :mod:`~xpmlp.activations` |
:mod:`~xpmlp.losses` | :mod:`~xpmlp.network` (forward / backward) | :mod:`~xpmlp.optimizers` |
:mod:`~xpmlp.training` (the loop) | :mod:`~xpmlp.fastpaths` (backend-specific kernels behind one seam).
"""

from .activations import ACTIVATIONS, NotDifferentiableError, get_activation
from .backend import (
    BACKEND_NAMES,
    Backend,
    BackendError,
    available_backends,
    resolve,
    use,
)
from .losses import LOSSES, get_loss
from .network import MLP, Gradients, Trace, backward, forward
from .optimizers import SGD, Optimizer
from .training import DivergenceError, train

__version__ = "0.2.0"

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

# Training that users expect: optimizers, schedules, the fit loop and its callbacks, persistence.
from .callbacks import Callback, EpochLog, ModelCheckpoint  # noqa: E402
from .history import History  # noqa: E402
from .io import Checkpoint, ModelFileError, load, save  # noqa: E402
from .lbfgs import fit_lbfgs  # noqa: E402
from .optimizers import Adam, AdamW, clip_grad_norm, make_optimizer  # noqa: E402
from .schedules import Adaptive, Constant, InvScaling, Schedule, make_schedule  # noqa: E402
from .stopping import EarlyStopping  # noqa: E402
from .targets import one_hot  # noqa: E402
from .training import fit  # noqa: E402

__all__ += [
    "Adam",
    "AdamW",
    "Adaptive",
    "Callback",
    "Checkpoint",
    "Constant",
    "EarlyStopping",
    "ModelCheckpoint",
    "EpochLog",
    "History",
    "InvScaling",
    "ModelFileError",
    "Schedule",
    "clip_grad_norm",
    "fit",
    "fit_lbfgs",
    "load",
    "make_optimizer",
    "make_schedule",
    "one_hot",
    "save",
]

from .selftest import selftest  # noqa: E402  (xpmlp.selftest(): this machine's backends against NumPy)

__all__ += ["selftest"]

_ESTIMATORS = ("MLPClassifier", "MLPRegressor", "load_estimator")


def __getattr__(name: str):
    """``xpmlp.MLPClassifier`` etc. import scikit-learn only when first used (``xpmlp[sklearn]``)."""
    if name in _ESTIMATORS:
        try:
            from . import estimators
        except ModuleNotFoundError as exc:
            if exc.name != "sklearn" and not str(exc.name).startswith("sklearn."):
                raise
            raise ModuleNotFoundError(
                f"xpmlp.{name} needs scikit-learn, which is not installed: pip install 'xpmlp[sklearn]' "
                "(or pip install scikit-learn)", name=exc.name) from exc
        return getattr(estimators, name)
    raise AttributeError(f"module 'xpmlp' has no attribute {name!r}")
