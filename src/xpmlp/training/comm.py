"""How training processes combine their work: the communicator seam of the training loop.

The loop calls :meth:`Communicator.allreduce_` once per step on the list of
gradient arrays and once per epoch on the epoch's summed loss.  One process
needs nothing (:class:`SingleProcess`, the default); data-parallel training
passes a communicator whose ``allreduce_`` sums the arrays of every process in
place (:mod:`xpmlp.distributed`, over MPI), so every process takes the same
step.  Nothing else in the loop knows how many processes there are.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["Communicator", "SingleProcess"]


class Communicator:
    """The interface: ``rank`` (0 is the one that prints and writes files), ``size``, and an
    in-place sum over processes of a list of device arrays."""

    rank: int = 0
    size: int = 1

    def allreduce_(self, arrays: Sequence[Any]) -> None:
        """Replace every array by its sum over all processes, in place (same shapes and dtype
        everywhere).  Called with device arrays; an implementation chooses how they travel."""
        raise NotImplementedError

    def prepare(self, net: Any, X: Any, T: Any, **kwargs: Any) -> Any:
        """The fit's data on the device (:func:`xpmlp.training.data.prepare`'s arguments): all of it for one
        process, this process's share for several."""
        raise NotImplementedError

    def agree(self, what: dict[str, Any]) -> None:
        """Raise if ``what`` (the fit's settings) differs between processes."""

    def failed(self, error: BaseException) -> None:
        """This process alone met ``error`` during training: make every process stop (never hang)."""


class SingleProcess(Communicator):
    """One process: the sum over processes is the array itself, and the data is all here."""

    def allreduce_(self, arrays: Sequence[Any]) -> None:
        return None

    def prepare(self, net: Any, X: Any, T: Any, **kwargs: Any) -> Any:
        from .data import prepare

        return prepare(net, X, T, **kwargs)
