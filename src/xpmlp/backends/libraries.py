"""What each array library needs that the Array API standard does not say: one table entry per library.

:data:`LIBRARIES` maps a library name to a :class:`Library`: how to build its
namespace and device, how to copy an array to the host, how to make its device
current, how to recognise its arrays and how to name its device in a picklable
way.  This and the fast paths (:mod:`.numpy_ops`, :mod:`.torch_ops`,
:mod:`.cupy_ops`) are the only library-specific code in xpmlp;
:class:`~xpmlp.backends.backend.Backend` reaches them through this table.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["Library", "LIBRARIES", "LibraryError", "cupy_usable", "set_default_gpu"]

#: The GPU a name without a device index means, when set (one process per GPU: :mod:`xpmlp.distributed`
#: sets it from the local rank), else the library's current device.
_DEFAULT_GPU: list[int | None] = [None]


class LibraryError(RuntimeError):
    """A library or device was asked for that cannot run here (re-raised as ``BackendError``)."""


@dataclass(frozen=True)
class Library:
    """One array library.

    make : ``device spec or None -> (namespace, device)``; raises :class:`LibraryError`
    to_numpy : an array of the library -> a host NumPy array (synchronises a GPU)
    activate : ``device -> context manager`` in which the device is current
    is_native : whether an object is an array of this library (any device)
    device_spec : ``device -> picklable spec`` that ``make`` turns back into the device
    compute_dtypes : the low-precision dtypes it multiplies matrices in, for mixed precision
        (float32 master weights, see :mod:`xpmlp.training.precision`), in its latest version
    low_dtype : ``name -> the library's dtype`` for one of ``compute_dtypes``; raises
        :class:`LibraryError` saying why where the installed version lacks it
    """

    name: str
    make: Callable[[Any], tuple[Any, Any]]
    to_numpy: Callable[[Any], np.ndarray]
    activate: Callable[[Any], contextlib.AbstractContextManager]
    is_native: Callable[[Any], bool]
    device_spec: Callable[[Any], Any] = str
    compute_dtypes: tuple[str, ...] = ()
    low_dtype: Callable[[str], Any] = lambda name: None


def _compat_check(pred: str) -> Callable[[Any], bool]:
    def check(x: Any) -> bool:
        import array_api_compat

        return getattr(array_api_compat, pred)(x)

    return check


def _no_device_context(device: Any) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def set_default_gpu(index: int | None) -> None:
    """Make ``cupy`` and ``torch:cuda`` without an index mean GPU ``index % count`` (None: the current one)."""
    _DEFAULT_GPU[0] = index


def _default_gpu(count: int) -> int | None:
    return None if _DEFAULT_GPU[0] is None or count < 1 else _DEFAULT_GPU[0] % count


# -- NumPy ----------------------------------------------------------------------------------

def _make_numpy(device: Any) -> tuple[Any, Any]:
    import array_api_compat.numpy as xp

    if device not in (None, "cpu"):
        raise LibraryError(f"numpy has only the 'cpu' device, got {device!r}")
    return xp, "cpu"


# -- CuPy -----------------------------------------------------------------------------------

def cupy_usable() -> tuple[bool, str]:
    """``(True, "")`` when CuPy can run here, else ``(False, why)``."""
    try:
        import cupy
    except ImportError:
        return False, "CuPy is not installed: pip install 'xpmlp[cuda12]' (or 'xpmlp[cuda13]')"
    try:
        ok = bool(cupy.is_available())
    except Exception as exc:  # a broken driver raises from inside is_available
        return False, f"CuPy is installed but CUDA is unusable: {exc}"
    if not ok:
        return False, "CuPy is installed but no usable CUDA device was found (cupy.is_available() is False)"
    return True, ""


def _make_cupy(device: Any) -> tuple[Any, Any]:
    ok, why = cupy_usable()
    if not ok:
        raise LibraryError(why)
    import array_api_compat.cupy as xp
    import cupy

    if device is None:  # the default GPU (one process per GPU), else the current one
        device = _default_gpu(cupy.cuda.runtime.getDeviceCount())
    return xp, cupy.cuda.Device() if device is None else cupy.cuda.Device(int(device))


def _cupy_low_dtype(name: str) -> Any:
    """CuPy's ``float16``; its ``bfloat16`` is ml_dtypes' (CuPy 14 registers bfloat16 loops and
    cuBLAS products where ``ml_dtypes`` imports and NumPy is 2.1.2 or later: CuPy 14.2's
    ``cupy/_util.pyx`` and ``cupy/_core/_scalar.pyx``)."""
    import cupy

    if name != "bfloat16":
        return getattr(cupy, name)
    version = cupy.__version__
    if int(version.split(".")[0]) < 14:
        raise LibraryError(f"bfloat16 needs CuPy 14 or later (with ml_dtypes); this is CuPy {version}")
    if np.lib.NumpyVersion(np.__version__) < "2.1.2":
        raise LibraryError(f"CuPy {version} has bfloat16 only with NumPy 2.1.2 or later; this is NumPy {np.__version__}")
    try:
        import ml_dtypes
    except ImportError as exc:
        raise LibraryError(f"CuPy {version} has bfloat16 through ml_dtypes, which is not installed: "
                           "pip install ml-dtypes") from exc
    return np.dtype(ml_dtypes.bfloat16)


def _torch_low_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


# -- PyTorch --------------------------------------------------------------------------------

def _make_torch(device: Any) -> tuple[Any, Any]:
    try:
        import torch
    except ImportError as exc:
        raise LibraryError("PyTorch is not installed: pip install torch") from exc
    import array_api_compat.torch as xp

    dev = torch.device("cpu" if device is None else device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise LibraryError(f"torch device {dev} requested but torch.cuda.is_available() is False")
        if dev.index is None:  # tensors report "cuda:0", never "cuda": name the index so devices compare equal
            index = _default_gpu(torch.cuda.device_count())
            dev = torch.device("cuda", torch.cuda.current_device() if index is None else index)
    return xp, dev


def _torch_activate(device: Any) -> contextlib.AbstractContextManager:
    if device.type != "cuda":
        return contextlib.nullcontext()
    import torch

    return torch.cuda.device(device)


# -- array-api-strict -----------------------------------------------------------------------

def _make_strict(device: Any) -> tuple[Any, Any]:
    try:
        import array_api_strict as xp
    except ImportError as exc:
        raise LibraryError("array-api-strict is not installed: pip install array-api-strict") from exc
    if device is None:
        return xp, xp.Device("CPU_DEVICE")
    if isinstance(device, str):
        names = [str(d) for d in xp.__array_namespace_info__().devices()]
        if not any(f"'{device}'" in n for n in names):
            raise LibraryError(f"unknown array_api_strict device {device!r}; devices: {names}")
        return xp, xp.Device(device)
    return xp, device


def _strict_to_numpy(x: Any) -> np.ndarray:
    import array_api_strict as xp

    return np.asarray(x.to_device(xp.Device("CPU_DEVICE")))


def _strict_spec(device: Any) -> str:
    return str(device).split("'")[1] if "'" in str(device) else str(device)


#: Library name -> its entry.
LIBRARIES: dict[str, Library] = {
    "numpy": Library("numpy", _make_numpy, np.asarray, _no_device_context, _compat_check("is_numpy_array")),
    "cupy": Library("cupy", _make_cupy, lambda x: x.get(), lambda device: device,  # a Device is its own context
                    _compat_check("is_cupy_array"), lambda device: int(device.id), ("bfloat16", "float16"),
                    _cupy_low_dtype),
    "torch": Library("torch", _make_torch, lambda x: x.detach().cpu().numpy(), _torch_activate,
                     _compat_check("is_torch_array"), str, ("bfloat16", "float16"), _torch_low_dtype),
    "array_api_strict": Library("array_api_strict", _make_strict, _strict_to_numpy, _no_device_context,
                                lambda x: type(x).__module__.startswith("array_api_strict"), _strict_spec),
}
