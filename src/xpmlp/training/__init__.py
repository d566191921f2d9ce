"""The training loop and its callbacks.

The loop itself, ``fit`` and ``train`` (``loop.py``); a fit's data on the device and its
minibatches (``data.py``); data read as it trains: sources of chunks of rows (``sources.py``), their
epochs and shuffle windows (``streaming.py``), each process's share of them (``stream_ranks.py``), the background reader feeding the device (``feeder.py``),
validation rows kept in a temporary file (``spill.py``); the state a fit shares with its callbacks (``state.py``); the
callbacks (``callbacks.py``: rollback, history, schedule, clipping, logging, checkpoints;
``stopping.py``: early stopping; ``progress.py``: the progress bar); the communicator seam for
several processes (``comm.py``); full-batch L-BFGS on the same objective (``lbfgs.py``); and the
tabular recipe, shared by the command line and the estimators' ``preset="tabular"`` (``presets.py``).

May import: backends, nn, optim, io, history.
"""

from ..history import History
from .callbacks import DivergenceError
from .lbfgs import fit_lbfgs
from .loop import fit, run_epochs, train
from .state import Run

__all__ = ["DivergenceError", "History", "Run", "fit", "fit_lbfgs", "run_epochs", "train"]
