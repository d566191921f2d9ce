"""State of the CuPy stand-in: the simulated devices, the current device, and what it counted.

Every array records the device it was created on (the current one at the time).  The
counters record what would make the host wait for a real GPU (``SYNCS``: conversions to
host values, ``.get()``, stream and event waits, the synchronising steps cupyx takes) and
host-to-device copies (``UPLOADS``), so a test can demand that none happen in a window.

Work runs at once on the host, but CUDA's ordering is kept for events: a recorded event is done
only once the host has waited for it (its ``synchronize``, its stream's or device's, or any
synchronising operation on its stream), so ``get_elapsed_time`` of an event not waited for
fails with ``cudaErrorNotReady`` as it may on a GPU (``cudaEventElapsedTime``).

Work that a library queues on a stream to finish later (NCCL's collectives: :func:`defer`) lands
in its buffer only once something is ordered after it: a later kernel or copy on that stream (or,
by the legacy null stream's rule, on the null stream for work on a blocking stream and on any
blocking stream of the device for work on the null stream), a wait for that stream (its or its
device's ``synchronize``, a synchronising operation on it), or a wait for an event recorded after
it (``Event.synchronize``, ``Stream.wait_event``).  Until then a kernel or copy on any other stream
that uses that memory races with it, and is refused (:func:`use`).

An array used by a kernel while another device is current is handled as CuPy 14.2 does
(``cupy/_core/_kernel.pyx``, ``_check_peer_access``; ``cupy/cuda/device.pyx``,
``_enable_peer_access``): where the current device can access the array's device
(``cudaDeviceCanAccessPeer``; :data:`PEER_ACCESS`, ``XPMLP_STANDIN_PEER_ACCESS=1``, default off
as on GPUs without P2P), peer access is enabled and a ``PerformanceWarning`` says so; elsewhere a
``ValueError``.
"""

from __future__ import annotations

import collections
import os
import threading
import warnings
import weakref
from typing import Any, Callable

import numpy as np

#: Simulated GPUs (``XPMLP_STANDIN_GPUS``, default 2: so that "the other device" exists).
DEVICE_COUNT = int(os.environ.get("XPMLP_STANDIN_GPUS", "2"))


def _visible() -> list[int]:
    """The physical GPUs this process sees, device 0 first.  ``XPMLP_STANDIN_VISIBLE`` gives them
    per MPI rank, as each rank's own ``CUDA_VISIBLE_DEVICES`` would: ``"0;1"``, rank 0 sees GPU 0
    and rank 1 sees GPU 1, each as its device 0; ``"0;0"``, both see GPU 0.  Unset: every process
    sees GPUs ``0 .. DEVICE_COUNT - 1``."""
    spec = os.environ.get("XPMLP_STANDIN_VISIBLE")
    if not spec:
        return list(range(DEVICE_COUNT))
    mine = spec.split(";")[int(os.environ.get("PMI_RANK", "0"))]
    return [int(g) for g in mine.split(",")]


VISIBLE = _visible()
DEVICE_COUNT = len(VISIBLE)


def pci_bus_id(device_id: int) -> str:
    """The PCI bus id of visible device ``device_id`` (``cudaDeviceGetPCIBusId``'s form): one per physical GPU."""
    return f"0000:{0x17 + 0x20 * VISIBLE[device_id]:02X}:00.0"


SYNCS: collections.Counter = collections.Counter()
UPLOADS: collections.Counter = collections.Counter()
WAITS: list = []  #: ``(stream, event)``: a stream told to wait for an event (on the device)
PINNED: list = []  #: sizes of page-locked host allocations
#: Whether the simulated devices can access each other's memory (NVLink or PCIe P2P).
PEER_ACCESS = os.environ.get("XPMLP_STANDIN_PEER_ACCESS", "0") == "1"
_local = threading.local()
#: Per stream ``(device, ptr)``: markers (event records) queued, and how many the host saw done.
_QUEUED: dict[tuple, int] = {}
_DONE: dict[tuple, int] = {}
#: Streams (ptr) made with ``non_blocking=True``: no implicit ordering with the null stream.
NON_BLOCKING: set[int] = set()
#: The array behind each device address handed out (``x.data.ptr``), while it lives.
OWNERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
#: Deferred work not landed yet, in the order queued (:func:`defer`).
_PENDING: list["Pending"] = []


def current() -> int:
    """The current device's id (0 unless a ``Device`` context or ``use()`` changed it)."""
    return getattr(_local, "device", 0)


def set_current(device_id: int) -> None:
    _local.device = device_id


def check_peer_access(device_id: int) -> None:
    """CuPy's check of an array on ``device_id`` used by a kernel on the current device."""
    from ._util import PerformanceWarning
    from .cuda import runtime

    here = current()
    if device_id == here:
        return
    msg = f"The device where the array resides ({device_id}) is different from the current device ({here})."
    if not runtime.deviceCanAccessPeer(here, device_id):
        raise ValueError(f"{msg} Peer access is unavailable between these devices.")
    warnings.warn(f"{msg} Peer access has been activated automatically.", PerformanceWarning)


def sync(what: str, stream: tuple | None = None) -> None:
    """Record an operation that makes the host wait for the device: for the work queued on
    ``stream`` (a stream's key, ``(device, ptr)``; the current stream by default), which is done
    after it (events recorded there complete)."""
    SYNCS[what] += 1
    key = stream_key() if stream is None else stream
    settle(frontier(key))
    _DONE[key] = _QUEUED.get(key, 0)


def stream_key() -> tuple:
    """The current stream's key: ``(device, ptr)``; ptr 0 is the null stream."""
    stack = getattr(_local, "streams", None)
    return (current(), stack[-1]) if stack else (current(), 0)


def push_stream(ptr: int | None) -> None:
    """Make stream ``ptr`` current (``with stream:``); None pops back to the previous one."""
    if not hasattr(_local, "streams"):
        _local.streams = []
    if ptr is None:
        _local.streams.pop()
    else:
        _local.streams.append(ptr)


def enqueue(key: tuple) -> int:
    """Queue a marker (an event's record) on stream ``key``; its position there."""
    _QUEUED[key] = _QUEUED.get(key, 0) + 1
    return _QUEUED[key]


def complete(key: tuple, upto: int | None = None) -> None:
    """The host has waited for stream ``key``'s markers up to ``upto`` (all of them by default)."""
    _DONE[key] = max(_DONE.get(key, 0), _QUEUED.get(key, 0) if upto is None else upto)


def complete_device(device_id: int) -> None:
    settle({k: n for k, n in _QUEUED.items() if k[0] == device_id})
    for key in [k for k in _QUEUED if k[0] == device_id]:
        complete(key)


def is_done(key: tuple, position: int) -> bool:
    """Whether the host has seen marker ``position`` of stream ``key`` done (waited for it)."""
    return _DONE.get(key, 0) >= position


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
    _QUEUED.clear()
    _DONE.clear()
    NON_BLOCKING.clear()
    _PENDING.clear()
    _local.streams = []
    set_current(0)


class Pending:
    """Work queued at ``position`` of stream ``key`` that writes bytes ``[lo, hi)`` when it lands
    (``land()``); ``what`` names it, ``owner`` is whoever queued it (a communicator)."""

    def __init__(self, key: tuple, lo: int, hi: int, land: Callable[[], None], what: str, owner: Any) -> None:
        self.key, self.lo, self.hi, self.land, self.what, self.owner = key, lo, hi, land, what, owner
        self.request: Any = None  # what the owner may keep with it (an MPI request)
        self.position = enqueue(key)


def defer(key: tuple, lo: int, hi: int, land: Callable[[], None], what: str, owner: Any = None) -> Pending:
    """Queue work on stream ``key`` that writes bytes ``[lo, hi)`` when it lands (see the module docstring)."""
    op = Pending(key, lo, hi, land, what, owner)
    _PENDING.append(op)
    return op


def frontier(key: tuple) -> dict[tuple, int]:
    """How far each stream's queued work is ordered before work launched on stream ``key`` now: that
    stream's own, and by the legacy null stream's rule the null stream's (for a blocking stream) or
    every blocking stream's of the device (for the null stream)."""
    device, ptr = key
    if ptr in NON_BLOCKING:
        keys = [key]
    elif ptr == 0:
        keys = [key] + [k for k in _QUEUED if k[0] == device and k[1] not in NON_BLOCKING]
    else:
        keys = [key, (device, 0)]
    return {k: _QUEUED.get(k, 0) for k in keys}


def settle(front: dict[tuple, int]) -> None:
    """Land the deferred work that ``front`` (:func:`frontier`) is ordered after, in queue order."""
    for op in [op for op in _PENDING if op.position <= front.get(op.key, 0)]:
        _PENDING.remove(op)
        op.land()


def drop(owner: Any) -> list[Pending]:
    """Take ``owner``'s deferred work off the queues, unlanded (an aborted communicator's)."""
    mine = [op for op in _PENDING if op.owner is owner]
    for op in mine:
        _PENDING.remove(op)
    return mine


def use(a: Any, stream: tuple | None = None) -> None:
    """A kernel or copy on ``stream`` (a key; the current stream by default) reads or writes ``a``'s
    memory (a NumPy array): deferred work ordered before it lands first; memory that deferred work
    on another stream has still to write is a race, refused with the wait that is missing."""
    if not _PENDING:
        return
    key = stream_key() if stream is None else stream
    settle(frontier(key))
    lo, hi = np.lib.array_utils.byte_bounds(a) if hasattr(np.lib, "array_utils") else np.byte_bounds(a)
    for op in _PENDING:
        if op.lo < hi and lo < op.hi:
            raise RuntimeError(
                f"race: this memory is used on stream {key[1]:#x} of device {key[0]} while {op.what}, queued on "
                f"stream {op.key[1]:#x} of device {op.key[0]}, has still to write it; wait for that stream first "
                "(its synchronize(), or an event recorded on it after that work: event.synchronize() or "
                "stream.wait_event(event))")
