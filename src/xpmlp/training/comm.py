"""How training processes work together: the communicator seam of the training loop.

A fit runs inside :meth:`Communicator.guard` and its loop inside
:meth:`Communicator.loop`; the loop calls :meth:`Communicator.allreduce_` once per step
on the gradients and once per epoch on the epoch's loss, and
:meth:`Communicator.consensus` once per epoch on the numbers every stopping decision is
made from.  One process needs none of it (:class:`SingleProcess`, the default);
data-parallel training passes a communicator that sums over the processes, makes every
process decide from the same numbers, and turns a failure or an interrupt on one process
into the same end for all (:mod:`xpmlp.distributed`).  Nothing else in the loop knows how
many processes there are.
"""

from __future__ import annotations

import contextlib
from typing import Any, Sequence

__all__ = ["Communicator", "SingleProcess", "Interrupted"]


class Interrupted(KeyboardInterrupt):
    """Every process of a data-parallel fit stops at the same epoch because Ctrl-C reached one of them."""


class Communicator:
    """The interface: ``rank`` (0 is the one that prints and writes files), ``size``, an in-place
    sum over processes of a list of device arrays, and the protocol around a fit."""

    rank: int = 0
    size: int = 1

    def allreduce_(self, arrays: Sequence[Any]) -> None:
        """Replace every array by its sum over all processes, in place (same shapes and dtype
        everywhere).  Called with device arrays; an implementation chooses how they travel."""
        raise NotImplementedError

    def prepare(self, net: Any, X: Any, T: Any, **kwargs: Any) -> Any:
        """The fit's data on the device (:func:`xpmlp.training.data.prepare`'s arguments): all of it
        for one process, this process's share for several."""
        raise NotImplementedError

    def agree(self, what: dict[str, Any]) -> None:
        """Raise if ``what`` (the fit's settings) differs between processes."""

    def exchange(self, payload: Any) -> list:
        """Every process's ``payload`` (host values), in rank order: here, this one's."""
        return [payload]

    def guard(self) -> contextlib.AbstractContextManager:
        """A fit runs inside: an exception on this process ends the fit on every process."""
        return contextlib.nullcontext()

    def loop(self) -> contextlib.AbstractContextManager:
        """The training loop runs inside (between its first and its last collective step)."""
        return contextlib.nullcontext()

    def consensus(self, values: dict[str, float]) -> dict[str, float]:
        """The epoch's host numbers every process decides from (one process's, the same everywhere);
        raises :class:`Interrupted` on every process if Ctrl-C reached any of them during the epoch."""
        return values


class SingleProcess(Communicator):
    """One process: the sum over processes is the array itself, and the data is all here."""

    def allreduce_(self, arrays: Sequence[Any]) -> None:
        return None

    def prepare(self, net: Any, X: Any, T: Any, **kwargs: Any) -> Any:
        from .data import prepare

        return prepare(net, X, T, **kwargs)
