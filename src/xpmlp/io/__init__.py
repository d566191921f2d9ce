"""Model files: save and load a model with its optimizer, schedule and history, without pickle.

The container (``archive.py``: one ``.npz`` of named arrays and a JSON record, written
atomically), what a model file may hold -- limits checked before anything is allocated
(``limits.py``) -- and what a model record holds, checked completely before anything is built
(``model.py``; the input layers of other kinds, their specs and arrays: ``front.py``); writing
any output safely and refusing outputs that would destroy an input (``files.py``).

May import: backends, nn, optim, history.
"""

from . import limits
from .archive import ModelFileError, read_state, write_state
from .model import FORMAT, VERSION, Checkpoint, from_state, load, save, to_state

__all__ = ["FORMAT", "VERSION", "Checkpoint", "ModelFileError", "from_state", "load", "read_state", "save",
           "to_state", "write_state"]
