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
_local = threading.local()


def current() -> int:
    """The current device's id (0 unless a ``Device`` context or ``use()`` changed it)."""
    return getattr(_local, "device", 0)


def set_current(device_id: int) -> None:
    _local.device = device_id


def sync(what: str) -> None:
    """Record an operation that makes the host wait for the device."""
    SYNCS[what] += 1


def upload(what: str) -> None:
    """Record a host-to-device copy."""
    UPLOADS[what] += 1


def reset() -> None:
    SYNCS.clear()
    UPLOADS.clear()
    set_current(0)
