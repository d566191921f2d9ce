"""State of the CuPy stand-in: the simulated devices, the current device, and what it counted.

Every array records the device it was created on (the current one at the time).  The
counters record what would make the host wait for a real GPU (``SYNCS``: conversions to
host values, ``.get()``, stream and event waits, the synchronising steps cupyx takes) and
host-to-device copies (``UPLOADS``), so a test can demand that none happen in a window.
"""

from __future__ import annotations

import collections
import os
import threading

#: Simulated GPUs (``XPMLP_STANDIN_GPUS``, default 2: so that "the other device" exists).
DEVICE_COUNT = int(os.environ.get("XPMLP_STANDIN_GPUS", "2"))
SYNCS: collections.Counter = collections.Counter()
UPLOADS: collections.Counter = collections.Counter()
WAITS: list = []  #: ``(stream, event)``: a stream told to wait for an event (on the device)
PINNED: list = []  #: sizes of page-locked host allocations
_local = threading.local()


def current() -> int:
    """The current device's id (0 unless a ``Device`` context or ``use()`` changed it)."""
    return getattr(_local, "device", 0)


def set_current(device_id: int) -> None:
    _local.device = device_id


def sync(what: str) -> None:
    """Record an operation that makes the host wait for the device."""
    SYNCS[what] += 1


def thread_note() -> str:
    """``""`` on the main thread, else `` (thread NAME)``: a wait on another thread does not hold up the loop."""
    thread = threading.current_thread()
    return "" if thread is threading.main_thread() else f" (thread {thread.name})"


def upload(what: str) -> None:
    """Record a host-to-device copy."""
    UPLOADS[what] += 1


def reset() -> None:
    SYNCS.clear()
    UPLOADS.clear()
    WAITS.clear()
    PINNED.clear()
    set_current(0)
