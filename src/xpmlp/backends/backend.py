"""Backend selection: which array library, which device, which float dtype.

A :class:`Backend` carries an Array API namespace (through ``array-api-compat``),
a device and a default float dtype.  It owns the only places where data moves
between the host and the backend, or between devices:

* :meth:`Backend.asarray` -- host data (NumPy, lists) onto the backend, with an
  explicit ``dtype=`` and ``device=``;
* :meth:`Backend.to_numpy` -- a backend array back to a host NumPy array;
* :meth:`Backend.to_device` -- an array of the same library on another device
  (a CPU tensor given to a CUDA model, array-api-strict's ``CPU_DEVICE`` arrays
  given to a ``device1`` model) onto this backend's device.

No other code in xpmlp moves data between host and device.  The public entry
points (:class:`~xpmlp.nn.network.MLP`'s methods, :func:`~xpmlp.training.fit`)
call these once at their boundary and run their work inside
:meth:`Backend.activate`, which makes the backend's device the current one
(``cupy:1`` runs its kernels, allocations and matrix products on GPU 1).

Resolution order for the backend name: explicit argument > :func:`use`
context manager > the ``XPMLP_BACKEND`` environment variable > ``"auto"``.
A name may carry a device after a colon: ``"torch:cuda:0"``,
``"array_api_strict:device1"``, ``"cupy:1"``.  Nothing is resolved at import time.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from .libraries import LIBRARIES, LibraryError, cupy_usable

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendError",
    "resolve",
    "use",
    "available_backends",
]

#: The names :func:`resolve` accepts.
BACKEND_NAMES = ("numpy", "cupy", "torch", "array_api_strict", "auto")

FLOAT_DTYPES = ("float32", "float64")

_current: contextvars.ContextVar[tuple[str | None, Any, str | None] | None] = (
    contextvars.ContextVar("xpmlp_backend", default=None)
)


class BackendError(RuntimeError):
    """A backend was asked for that does not exist or cannot run here."""


@dataclass(frozen=True)
class Backend:
    """An array library, a device on it, and a default float dtype.

    Attributes
    ----------
    name : str
        One of ``numpy``, ``cupy``, ``torch``, ``array_api_strict``.
    xp : module
        The Array API compatible namespace (from ``array_api_compat``).
    device : object
        The device arrays are created on (the library's own device object).
    dtype : object
        The namespace's float dtype (``xp.float32`` or ``xp.float64``).
    """

    name: str
    xp: Any = field(repr=False)
    device: Any
    dtype: Any

    @property
    def dtype_name(self) -> str:
        """``"float32"`` or ``"float64"``."""
        return "float32" if self.dtype == self.xp.float32 else "float64"

    @property
    def index_dtype(self) -> Any:
        """The integer dtype this device indexes with (its ``default_dtypes()["indexing"]``; int32 on
        devices without 64-bit integers), for row orders and gathers."""
        try:
            return self.xp.__array_namespace_info__().default_dtypes(device=self.device)["indexing"]
        except (AttributeError, TypeError, KeyError):  # a namespace without the inspection API
            return self.xp.int64

    def compute_dtype(self, name: str) -> Any:
        """The library's dtype ``name`` (``"bfloat16"`` or ``"float16"``) for mixed-precision compute
        beside this backend's float32; ``ValueError`` naming what is available where it is not."""
        offered = LIBRARIES[self.name].compute_dtypes
        if name not in ("bfloat16", "float16"):
            raise ValueError(f"compute_dtype must be 'bfloat16' or 'float16', got {name!r}")
        if self.dtype_name != "float32":
            raise ValueError(f"mixed precision keeps float32 master weights; this model is {self.dtype_name}")
        if name not in offered:
            has = f"offers {' and '.join(offered)} only" if offered else "offers no low-precision products"
            with_it = [lib for lib, entry in LIBRARIES.items() if name in entry.compute_dtypes]
            raise ValueError(f"compute_dtype={name!r}: {self.name} {has}; {name} runs on {' or '.join(with_it)}")
        try:
            return LIBRARIES[self.name].low_dtype(name)
        except LibraryError as exc:  # e.g. CuPy before 14: no bfloat16
            raise ValueError(f"compute_dtype={name!r}: {exc}") from None

    def with_dtype(self, dtype: str | None) -> "Backend":
        """The same library and device with another float dtype."""
        if dtype is None:
            return self
        return Backend(self.name, self.xp, self.device, _float_dtype(self.xp, self.name, self.device, dtype))

    # -- transfer point 1: host -> backend -------------------------------------------------
    def asarray(self, host: Any, dtype: Any = None) -> Any:
        """Copy host data (a NumPy array, list or scalar) onto this backend.

        Parameters
        ----------
        host : array_like
            NumPy array or nested sequence, any shape.
        dtype : backend dtype, optional
            Defaults to the backend's float dtype.  Integer data needs an
            explicit integer dtype (e.g. ``xp.int64``).

        Returns
        -------
        array of the backend's namespace, on :attr:`device`, with that dtype.
        """
        dtype = self.dtype if dtype is None else dtype
        host = np.asarray(host)
        if self.name == "torch":
            import torch  # the compat namespace's asarray copies through torch.as_tensor

            if not host.flags.writeable:  # torch would share read-only memory (and warn): copy it
                host = np.array(host)
            return torch.as_tensor(host, dtype=dtype, device=self.device)
        return self.xp.asarray(host, dtype=dtype, device=self.device)

    # -- transfer point 2: backend -> host -------------------------------------------------
    def to_numpy(self, x: Any) -> np.ndarray:
        """Copy a backend array to a host NumPy array (synchronises the device)."""
        return LIBRARIES[self.name].to_numpy(x)

    # -- transfer point 3: device -> device (same library) ----------------------------------
    def to_device(self, x: Any) -> Any:
        """An array of this backend's library moved to :attr:`device` (returned as is when it is there)."""
        import array_api_compat

        return x if array_api_compat.device(x) == self.device else array_api_compat.to_device(x, self.device)

    def activate(self) -> contextlib.AbstractContextManager:
        """A context in which :attr:`device` is the current device of its library.

        CuPy allocates, launches kernels and runs cuBLAS on the *current* device, and torch
        creates CUDA tensors without an explicit device there; inside this context both mean
        this backend's device.  A no-op for NumPy, torch on the CPU and array-api-strict.
        """
        return LIBRARIES[self.name].activate(self.device)

    def is_native(self, x: Any) -> bool:
        """Whether ``x`` is an array of this backend's library (any device)."""
        return LIBRARIES[self.name].is_native(x)

    def __reduce__(self):
        # Pickle and deepcopy by name, device and dtype: the module is rebuilt by resolve().
        return (_rebuild, self._spec())

    def _spec(self) -> tuple[str, Any, str]:
        return self.name, LIBRARIES[self.name].device_spec(self.device), self.dtype_name

    def __getstate__(self) -> dict[str, Any]:
        # For serialisers that read an object's state rather than __reduce__ (skops): the same three values.
        return dict(zip(("name", "device", "dtype"), self._spec()))

    def __setstate__(self, state: dict[str, Any]) -> None:
        built = _rebuild(state["name"], state["device"], state["dtype"])
        for name in ("name", "xp", "device", "dtype"):
            object.__setattr__(self, name, getattr(built, name))  # a frozen dataclass, filled once here

    def is_device_array(self, x: Any) -> bool:
        """Whether ``x`` is this backend's array and not host data (NumPy arrays are host data)."""
        return self.is_native(x) and not isinstance(x, np.ndarray)

    def describe(self) -> str:
        """One line: library, device and dtype, e.g. ``torch:cpu float32``."""
        return f"{self.name}:{LIBRARIES[self.name].device_spec(self.device)} {self.dtype_name}"


def _rebuild(name: str, device: Any, dtype: str) -> "Backend":
    return resolve(name, device=device, dtype=dtype)


def _float_dtype(xp: Any, name: str, device: Any, dtype: str | Any) -> Any:
    key = dtype if isinstance(dtype, str) else getattr(dtype, "name", str(dtype)).split(".")[-1]
    key = {"single": "float32", "double": "float64", "f4": "float32", "f8": "float64"}.get(key, key)
    if key not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
    if name == "array_api_strict":
        supported = xp.__array_namespace_info__().dtypes(device=device)
        if key not in supported:
            raise BackendError(f"{key} is not supported on array_api_strict device {device}; use float32")
    return getattr(xp, key)


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


def _split(spec: str) -> tuple[str, str | None]:
    name, _, device = spec.partition(":")
    return name.strip().lower().replace("-", "_"), (device or None)  # "array-api-strict", the package's name


def resolve(backend: "str | Backend | None" = None, *, device: Any = None, dtype: str | None = None) -> Backend:
    """Return the :class:`Backend` to use.

    Parameters
    ----------
    backend : str or Backend, optional
        ``numpy``, ``cupy``, ``torch``, ``array_api_strict`` or ``auto``, optionally
        ``name:device``.  ``None`` falls back to :func:`use`, then ``XPMLP_BACKEND``,
        then ``auto``.
    device : optional
        Overrides the device part of the name.
    dtype : ``"float32"`` or ``"float64"``, optional
        Default float dtype (``float32`` unless given here or by :func:`use`).

    ``auto`` means CuPy when ``cupy.is_available()`` is true, else NumPy.
    """
    if isinstance(backend, Backend):
        return backend.with_dtype(dtype)
    ctx = _current.get()
    if backend is None and ctx is not None:
        backend, ctx_device, ctx_dtype = ctx
        device = ctx_device if device is None else device
        dtype = ctx_dtype if dtype is None else dtype
    if backend is None:
        backend = os.environ.get("XPMLP_BACKEND") or "auto"
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name or a Backend, got {type(backend).__name__}")
    name, spec_device = _split(backend)
    device = spec_device if device is None else device
    if name not in BACKEND_NAMES:
        raise BackendError(f"unknown backend {backend!r}; valid names: {', '.join(BACKEND_NAMES)}")
    if name == "auto":
        name = "cupy" if cupy_usable()[0] else "numpy"
        if name == "numpy":
            device = None
    try:
        xp, dev = LIBRARIES[name].make(device)
    except LibraryError as exc:
        raise BackendError(str(exc)) from exc
    return Backend(name, xp, dev, _float_dtype(xp, name, dev, dtype or "float32"))


@contextlib.contextmanager
def use(backend: str, *, device: Any = None, dtype: str | None = None) -> Iterator[Backend]:
    """Make ``backend`` the default inside a ``with`` block.

    >>> with use("numpy", dtype="float64") as be:
    ...     be.dtype_name
    'float64'
    """
    resolved = resolve(backend, device=device, dtype=dtype)  # fail early on a bad name
    token = _current.set((backend, device, dtype))
    try:
        yield resolved
    finally:
        _current.reset(token)


def available_backends() -> dict[str, str]:
    """Map each concrete backend name to ``"ok"`` or the reason it cannot run here."""
    out = {}
    for name in BACKEND_NAMES[:-1]:
        try:
            resolve(name)
            out[name] = "ok"
        except (BackendError, ImportError) as exc:
            out[name] = str(exc)
    return out
