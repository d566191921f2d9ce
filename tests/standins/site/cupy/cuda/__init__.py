"""``cupy.cuda`` of the stand-in: devices with a current one, streams and events, the runtime."""

from __future__ import annotations

import time
from typing import Any

from .. import _standin
from . import runtime
from .device import Device

__all__ = ["Device", "Stream", "alloc_pinned_memory", "ExternalStream", "Event", "get_current_stream", "get_elapsed_time", "runtime"]


class Stream:
    """A stream: kernels run at once here, deferred work (NCCL's) lands in stream order
    (:mod:`.._standin`); ``with stream:`` makes it current (markers recorded without a stream go
    there) and waiting on it is counted and completes its events.  A stream made with
    ``non_blocking=True`` is not ordered with the null stream (``cudaStreamNonBlocking``)."""

    null: "Stream"

    def __init__(self, null: bool = False, non_blocking: bool = False, ptr: int = 0) -> None:
        self.ptr = 0 if null else (ptr or id(self))
        self.device_id = _standin.current()
        if not null and not ptr:
            (_standin.NON_BLOCKING.add if non_blocking else _standin.NON_BLOCKING.discard)(self.ptr)

    @property
    def _key(self) -> tuple:
        return (_standin.current() if self.ptr == 0 else self.device_id, self.ptr)

    def synchronize(self) -> None:
        _standin.sync("Stream.synchronize", self._key)

    def record(self, event: "Event | None" = None) -> "Event":
        """``event`` (a new one by default) recorded on this stream."""
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event: "Event") -> None:
        """Later work on this stream waits for the work before ``event`` (``cudaStreamWaitEvent``):
        here, that deferred work lands now; the host does not wait (nothing counted; the wait is noted in
        ``_standin.WAITS``)."""
        _standin.WAITS.append((self, event))  # recorded: a device-side wait
        if event._marker is not None:
            _standin.settle(event._frontier)

    def __enter__(self) -> "Stream":
        _standin.push_stream(self.ptr)
        return self

    def __exit__(self, *exc: Any) -> None:
        _standin.push_stream(None)


class ExternalStream(Stream):
    def __init__(self, ptr: int, device_id: int = -1) -> None:
        super().__init__(ptr=ptr)


Stream.null = Stream(null=True)


def alloc_pinned_memory(size: int) -> bytearray:
    """Page-locked host memory: plain host memory here (a buffer NumPy can wrap); noted."""
    _standin.PINNED.append(size)
    return bytearray(size)


def get_current_stream(device_id: int = -1) -> Stream:
    ptr = _standin.stream_key()[1]
    return Stream.null if ptr == 0 else Stream(ptr=ptr)


class Event:
    """A CUDA event: ``record`` queues a marker on a stream (and notes the host time: kernels run at
    once here) after the work queued there so far (its ``_frontier``, :func:`.._standin.frontier`);
    it is done once the host has waited for it (:mod:`.._standin`), and waiting for it lands the
    deferred work before it, not the work queued after it.  ``query`` and ``done`` see it done (the
    device finishes while the host polls)."""

    def __init__(self, block: bool = False, disable_timing: bool = False, interprocess: bool = False) -> None:
        self.time: float | None = None
        self.disable_timing = disable_timing
        self._marker: tuple | None = None
        self._frontier: dict[tuple, int] = {}

    def record(self, stream: Any = None) -> None:
        key = _standin.stream_key() if stream is None else stream._key
        self._marker = (key, _standin.enqueue(key))
        self._frontier = _standin.frontier(key)
        self.time = time.perf_counter()

    def synchronize(self) -> None:
        _standin.SYNCS["Event.synchronize" + _standin.thread_note()] += 1
        self.query()

    def query(self) -> bool:
        if self._marker is not None:
            _standin.settle(self._frontier)
            _standin.complete(*self._marker)
        return True

    @property
    def done(self) -> bool:
        return self.query()


def get_elapsed_time(start: Event, end: Event) -> float:
    """Milliseconds between two recorded events (CuPy's unit); cudaEventElapsedTime's errors: an
    event made with ``disable_timing`` or never recorded, an event not yet done (not waited for)."""
    if start.disable_timing or end.disable_timing or start._marker is None or end._marker is None:
        raise runtime.CUDARuntimeError("cudaErrorInvalidResourceHandle: invalid resource handle")
    if not (_standin.is_done(*start._marker) and _standin.is_done(*end._marker)):
        raise runtime.CUDARuntimeError("cudaErrorNotReady: device not ready")
    return 1e3 * (end.time - start.time)
