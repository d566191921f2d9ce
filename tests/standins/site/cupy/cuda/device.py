"""``cupy.cuda.device`` of the stand-in: simulated GPUs, one of them current."""

from __future__ import annotations

from typing import Any

from .. import _standin
from . import runtime

__all__ = ["Device", "get_device_id"]


def get_device_id() -> int:
    return _standin.current()


class Device:
    """A simulated GPU.  ``Device()`` is the current one; ``with Device(1):`` makes 1 current for
    the block (and restores the previous one), ``Device(1).use()`` makes it current for good."""

    def __init__(self, device: Any = None) -> None:
        self.id = _standin.current() if device is None else int(device)
        self._saved: list[int] = []

    def _check(self) -> None:
        if not 0 <= self.id < _standin.DEVICE_COUNT:
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def use(self) -> None:
        self._check()
        _standin.set_current(self.id)

    def __enter__(self) -> "Device":
        self._check()
        self._saved.append(_standin.current())
        _standin.set_current(self.id)
        return self

    def __exit__(self, *exc: Any) -> None:
        _standin.set_current(self._saved.pop())

    @property
    def pci_bus_id(self) -> str:
        """``[domain]:[bus]:[device].[function]`` of the physical GPU (CuPy 13/14 ``Device.pci_bus_id``)."""
        self._check()
        return _standin.pci_bus_id(self.id)

    def synchronize(self) -> None:
        _standin.sync("Device.synchronize", (self.id, 0))
        _standin.complete_device(self.id)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("cuda", self.id))

    def __int__(self) -> int:
        return self.id

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"
