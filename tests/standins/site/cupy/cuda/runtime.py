"""``cupy.cuda.runtime`` of the stand-in: the device count and properties."""

from __future__ import annotations

from .. import _standin


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount() -> int:  # noqa: N802 (CuPy's name)
    return _standin.DEVICE_COUNT


def getDevice() -> int:  # noqa: N802
    return _standin.current()


def setDevice(device: int) -> None:  # noqa: N802
    _standin.set_current(int(device))


def getDeviceProperties(device: int) -> dict:  # noqa: N802
    if not 0 <= device < _standin.DEVICE_COUNT:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {"name": f"xpmlp CuPy stand-in GPU {device}".encode(), "totalGlobalMem": 16 << 30,
            "major": 9, "minor": 0, "multiProcessorCount": 1}


def runtimeGetVersion() -> int:  # noqa: N802
    return 12090


def driverGetVersion() -> int:  # noqa: N802
    return 12090


is_hip = False


def deviceCanAccessPeer(device: int, peerDevice: int) -> int:  # noqa: N802, N803
    """1 where ``device`` can access ``peerDevice``'s memory (the stand-in's ``PEER_ACCESS``), else 0."""
    return int(device == peerDevice or _standin.PEER_ACCESS)
