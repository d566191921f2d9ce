"""xpmlp: multilayer perceptrons trained by backpropagation, written once on the Python Array API.

The same code runs on NumPy (CPU), CuPy (CUDA GPU), PyTorch and array-api-strict.  The
public names are assembled here; the layers, from the bottom up (each imports only those
below it): :mod:`~xpmlp.backends` (library, device, dtype, fast paths) | :mod:`~xpmlp.nn`
(forward, backward, losses) | :mod:`~xpmlp.optim` | :mod:`~xpmlp.io` (model files) |
:mod:`~xpmlp.training` (the loop and its callbacks) | :mod:`~xpmlp.distributed` (MPI) |
:mod:`~xpmlp.estimators` (scikit-learn) and :mod:`~xpmlp.diagnostics` (selftest) |
:mod:`~xpmlp.app` (tables, command line, ONNX).
"""

from . import _moved
from .backends import BACKEND_NAMES, Backend, BackendError, available_backends, resolve, use
from .history import History
from .nn import ACTIVATIONS, LOSSES, MLP, Gradients, NotDifferentiableError, Objective, Trace, backward, forward
from .nn import get_activation, get_loss
from .nn.targets import one_hot
from .optim import SGD, Adam, AdamW, Adaptive, Constant, InvScaling, Optimizer, Schedule, clip_grad_norm
from .optim import make_optimizer, make_schedule
from . import io
from .io import Checkpoint, ModelFileError, load, save
from .training import DivergenceError, fit, fit_lbfgs, train
from .training.callbacks import Callback, EpochLog, ModelCheckpoint
from .training.stopping import EarlyStopping
from .diagnostics import selftest

from ._version import __version__  # noqa: E402

__all__ = [
    "ACTIVATIONS", "BACKEND_NAMES", "LOSSES", "MLP", "SGD", "Adam", "AdamW", "Adaptive", "Backend", "BackendError",
    "Callback", "Checkpoint", "Constant", "DivergenceError", "EarlyStopping", "EpochLog", "Gradients", "History",
    "InvScaling", "ModelCheckpoint", "ModelFileError", "NotDifferentiableError", "Objective", "Optimizer",
    "Schedule", "Trace", "available_backends", "backward", "clip_grad_norm", "fit", "fit_lbfgs", "forward",
    "get_activation", "get_loss", "io", "load", "make_optimizer", "make_schedule", "one_hot", "resolve", "save",
    "selftest", "train", "use",
]

_moved.install()

_ESTIMATORS = ("MLPClassifier", "MLPRegressor", "load_estimator", "save_pipeline", "load_pipeline")
#: Working with the command line's models and your own tables from Python (:mod:`xpmlp.app`), imported when used.
_APP = {"load_model": "workflows", "predict_table": "workflows", "read_table": "tables"}


def __getattr__(name: str):
    """``xpmlp.MLPClassifier``, ``xpmlp.save_pipeline`` etc. import scikit-learn only when first used (``xpmlp[sklearn]``), and
    ``xpmlp.load_model``, ``predict_table``, ``read_table`` the app layer;
    ``xpmlp.training.callbacks`` and the other module paths of 0.2 point to their new homes (:mod:`xpmlp._moved`)."""
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
    if name in _APP:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.app.{_APP[name]}"), name)
    import sys

    moved = sys.modules.get(f"{__name__}.{name}")
    if isinstance(moved, _moved.MovedModule):
        return moved
    raise AttributeError(f"module 'xpmlp' has no attribute {name!r}")
