"""State of the CuPy stand-in: the simulated devices, the current device, and what it counted.

Every array records the device it was created on (the current one at the time).  The
counters record what would make the host wait for a real GPU (``SYNCS``: conversions to
host values, ``.get()``, stream and event waits, the synchronising steps cupyx takes) and
host-to-device copies (``UPLOADS``), so a test can demand that none happen in a window.

Work runs at once on the host, but CUDA's ordering is kept for events: a recorded event is done
only once the host has waited for it (its ``synchronize``, its stream's or device's, or any
synchronising operation on its stream), so ``get_elapsed_time`` of an event not waited for
fails with ``cudaErrorNotReady`` as it may on a GPU (``cudaEventElapsedTime``).

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
#: Whether the simulated devices can access each other's memory (NVLink or PCIe P2P).
PEER_ACCESS = os.environ.get("XPMLP_STANDIN_PEER_ACCESS", "0") == "1"
_local = threading.local()
#: Per stream ``(device, ptr)``: markers (event records) queued, and how many the host saw done.
_QUEUED: dict[tuple, int] = {}
_DONE: dict[tuple, int] = {}


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
    for key in [k for k in _QUEUED if k[0] == device_id]:
        complete(key)


def is_done(key: tuple, position: int) -> bool:
    """Whether the host has seen marker ``position`` of stream ``key`` done (waited for it)."""
    return _DONE.get(key, 0) >= position


def upload(what: str) -> None:
    """Record a host-to-device copy."""
    UPLOADS[what] += 1


def reset() -> None:
    SYNCS.clear()
    UPLOADS.clear()
    _QUEUED.clear()
    _DONE.clear()
    _local.streams = []
    set_current(0)
