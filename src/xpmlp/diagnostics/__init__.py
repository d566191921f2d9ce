"""Checks a user or a developer runs on a machine: the self-test, fast-path parity, operation counts.

``xpmlp selftest`` (``selftest.py``), every fast path against its generic code (``parity.py``),
array operations per training step (``opcount.py``) and the bytes a step allocates (``allocations.py``).

May import: backends, nn, optim, training.
"""

from .selftest import selftest

__all__ = ["selftest"]
