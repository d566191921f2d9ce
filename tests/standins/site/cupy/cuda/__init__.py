"""``cupy.cuda`` of the stand-in: devices with a current one, streams and events, the runtime."""

from __future__ import annotations

import time
from typing import Any

from .. import _standin
from . import runtime
from .device import Device

__all__ = ["Device", "Stream", "alloc_pinned_memory", "ExternalStream", "Event", "get_current_stream", "get_elapsed_time", "runtime"]


class Stream:
    """A stream: work is done at once here, so only waiting on it is recorded."""

    null: "Stream"

    def __init__(self, null: bool = False, non_blocking: bool = False, ptr: int = 0) -> None:
        self.ptr = 0 if null else (ptr or id(self))
        self.device_id = _standin.current()

    def synchronize(self) -> None:
        _standin.sync("Stream.synchronize")

    def wait_event(self, event: "Event") -> None:
        """The stream waits for ``event`` on the device: no host wait; recorded."""
        _standin.WAITS.append((self, event))

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


class ExternalStream(Stream):
    def __init__(self, ptr: int, device_id: int = -1) -> None:
        super().__init__(ptr=ptr)


Stream.null = Stream(null=True)


def alloc_pinned_memory(size: int) -> bytearray:
    """Page-locked host memory: plain host memory here (a buffer NumPy can wrap); noted."""
    _standin.PINNED.append(size)
    return bytearray(size)


def get_current_stream(device_id: int = -1) -> Stream:
    return Stream.null


class Event:
    """A CUDA event: ``record`` notes the host time (work is synchronous here); waiting is counted."""

    def __init__(self, block: bool = False, disable_timing: bool = False, interprocess: bool = False) -> None:
        self.time: float | None = None

    def record(self, stream: Any = None) -> None:
        self.time = time.perf_counter()

    def synchronize(self) -> None:
        _standin.sync("Event.synchronize" + _standin.thread_note())

    def query(self) -> bool:
        return True

    @property
    def done(self) -> bool:
        return True


def get_elapsed_time(start: Event, end: Event) -> float:
    """Milliseconds between two recorded events (CuPy's unit)."""
    if start.time is None or end.time is None:
        raise runtime.CUDARuntimeError("cudaErrorInvalidResourceHandle: event not recorded")
    return 1e3 * (end.time - start.time)
