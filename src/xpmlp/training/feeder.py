"""Feeding the device from a background reader: one epoch of streamed rows, chunk by chunk.

A :class:`Feeder` runs ``produce`` (a generator of host row blocks ``(X, T, w, order)``: rows of the
model's dtype and the order to take them in, or None) on a background thread, copies the rows into ``slots`` reusable host buffers of
``rows`` rows each (page-locked on CUDA: :class:`~xpmlp.backends.staging.Staging`) and hands full
buffers to the training loop, which copies each to the device on a side stream one chunk ahead
of the one it computes on (CUDA; on the CPU the buffer itself is the chunk).  So reading,
converting, copying and computing overlap, and the device holds at most two chunks of ``rows``
rows (the one computed on and the next) whatever the data's size.  The loop waits once per
chunk, on the device, for its copy (:meth:`Staging.ready`); the reader's host wait for a copy
to finish (:meth:`Staging.release`) happens before it refills that buffer, off the step loop.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

import numpy as np

from ..backends.staging import Staging

__all__ = ["Feeder"]

_END = object()


class Feeder:
    """Background reading into ``slots`` host buffers of ``rows`` rows; iterate for device chunks
    ``(X, T, w, m)`` (``m`` rows; ``w`` None when the blocks carry no weights)."""

    def __init__(self, staging: Staging, rows: int, widths: tuple[int, int], dtype: Any, weighted: bool,
                 slots: int = 3) -> None:
        self.staging, self.rows, self.dtype, self.widths = staging, int(rows), np.dtype(dtype), widths
        buf = staging.host_buffer  # made here, once, kept from epoch to epoch (pinned memory is slow to allocate)
        self._slots = [[buf((self.rows, widths[0]), self.dtype), buf((self.rows, widths[1]), self.dtype),
                        buf((self.rows,), self.dtype) if weighted else None, None] for _ in range(slots)]

    def _slot(self) -> list:
        """A free host buffer ``[X, T, w, ticket]``, once its last copy has read it."""
        slot = self.free.get()
        self.staging.release(slot[3])
        slot[3] = None
        return slot

    def epoch(self, produce: Callable[[], Iterator[tuple]]) -> Iterator[tuple[Any, Any, Any, int]]:
        """Read ``produce()``'s blocks on a background thread; yield the device chunks."""
        self.produce = produce
        self.free: queue.Queue = queue.Queue()
        for slot in self._slots:
            self.free.put(slot)
        self.full: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="xpmlp-feeder", daemon=True)
        return self._chunks()

    def _run(self) -> None:
        try:
            slot, m = None, 0
            for X, T, w, order in self.produce():
                start = 0
                while start < X.shape[0] and not self.stop.is_set():
                    slot = slot or self._slot()
                    take = min(self.rows - m, X.shape[0] - start)
                    rows = None if order is None else order[start:start + take]
                    for dst, src in zip(slot[:3], (X, T, w)):
                        if src is not None and rows is None:
                            np.copyto(dst[m:m + take], src[start:start + take], casting="same_kind")
                        elif src is not None:  # gathered in the epoch's order, straight into the buffer
                            np.take(src, rows, axis=0, out=dst[m:m + take])
                    m, start = m + take, start + take
                    if m == self.rows:
                        self.full.put((slot, m, w is not None))
                        slot, m = None, 0
                if self.stop.is_set():
                    return
            if m:
                self.full.put((slot, m, w is not None))
            self.full.put(_END)
        except BaseException as exc:  # the loop raises it
            self.full.put(exc)

    def _chunks(self) -> Iterator[tuple[Any, Any, Any, int]]:
        """Device chunks in order; the host buffer goes back to the reader when the loop is past it."""
        self.thread.start()
        ahead = self.staging.kind != "host"  # CUDA: the next chunk's copy runs while this one computes
        try:
            current = self._upload(self._next())
            while current is not None:
                following = self._upload(self._next()) if ahead else None
                (X, T, w, ticket), slot, m = current
                self.staging.ready(ticket)  # the compute stream waits for this chunk's copy, on the device
                yield X, T, w, m
                if not ahead:
                    self.free.put(slot)
                current = following if ahead else self._upload(self._next())
        finally:
            self.stop.set()
            for slot in self._slots:  # a reader waiting for a buffer sees the stop
                self.free.put(slot)
            self.thread.join()

    def _next(self) -> Any:
        item = self.full.get()
        if isinstance(item, BaseException):
            raise item
        return None if item is _END else item

    def _upload(self, item: Any) -> Any:
        if item is None:
            return None
        slot, m, weighted = item
        up, w = self.staging.upload, None
        X, ticket = up(slot[0][:m])
        T, ticket = up(slot[1][:m])
        if weighted:
            w, ticket = up(slot[2][:m])
        if self.staging.kind != "host":
            slot[3] = ticket  # copies on one stream: the last one's ticket covers them all
            self.free.put(slot)
        return (X, T, w, ticket), slot, m
