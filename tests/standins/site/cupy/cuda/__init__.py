"""``cupy.cuda`` of the stand-in: devices with a current one, streams and events, the runtime."""

from __future__ import annotations

import time
from typing import Any

from .. import _standin
from . import runtime
from .device import Device

__all__ = ["Device", "Stream", "ExternalStream", "Event", "get_current_stream", "get_elapsed_time", "runtime"]


class Stream:
    """A stream: work is done at once here; ``with stream:`` makes it current (markers recorded
    without a stream go there) and waiting on it is counted and completes its events."""

    null: "Stream"

    def __init__(self, null: bool = False, non_blocking: bool = False, ptr: int = 0) -> None:
        self.ptr = 0 if null else (ptr or id(self))
        self.device_id = _standin.current()

    @property
    def _key(self) -> tuple:
        return (_standin.current() if self.ptr == 0 else self.device_id, self.ptr)

    def synchronize(self) -> None:
        _standin.sync("Stream.synchronize", self._key)

    def __enter__(self) -> "Stream":
        _standin.push_stream(self.ptr)
        return self

    def __exit__(self, *exc: Any) -> None:
        _standin.push_stream(None)


class ExternalStream(Stream):
    def __init__(self, ptr: int, device_id: int = -1) -> None:
        super().__init__(ptr=ptr)


Stream.null = Stream(null=True)


def get_current_stream(device_id: int = -1) -> Stream:
    ptr = _standin.stream_key()[1]
    return Stream.null if ptr == 0 else Stream(ptr=ptr)


class Event:
    """A CUDA event: ``record`` queues a marker on a stream (and notes the host time: work is
    synchronous here); it is done once the host has waited for it (:mod:`.._standin`).  ``query``
    and ``done`` see it done (the device finishes while the host polls)."""

    def __init__(self, block: bool = False, disable_timing: bool = False, interprocess: bool = False) -> None:
        self.time: float | None = None
        self.disable_timing = disable_timing
        self._marker: tuple | None = None

    def record(self, stream: Any = None) -> None:
        key = _standin.stream_key() if stream is None else stream._key
        self._marker = (key, _standin.enqueue(key))
        self.time = time.perf_counter()

    def synchronize(self) -> None:
        _standin.sync("Event.synchronize", None if self._marker is None else self._marker[0])
        if self._marker is not None:
            _standin.complete(*self._marker)

    def query(self) -> bool:
        if self._marker is not None:
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
