"""Checks at the public API boundary, and the conversion of user data onto the backend.

User data arrives as NumPy arrays, lists, or arrays of the model's own backend.
Host data is checked on the host (shape, dtype, NaN/inf) and moved with
:meth:`Backend.asarray`, once, here.  Backend arrays on another device of the
same library are moved with :meth:`Backend.to_device`, then checked with one
reduction (a single device-to-host sync per call) and cast to the model's
dtype.  Arrays of another library are refused rather than silently copied.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from . import sparse
from .backend import Backend

__all__ = ["as_backend_2d", "check_finite_host", "check_sample_weight", "normalized_sample_weight"]


def check_finite_host(arr: np.ndarray, what: str, hint: str = "; clean or impute the data first") -> None:
    """Raise ``ValueError`` naming ``what`` (and ending with ``hint``) if a host float array holds NaN or inf."""
    # min and max propagate NaN and reach +-inf: two read-only passes, no temporary mask
    if arr.dtype.kind in "fc" and arr.size and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
        bad = "NaN" if np.isnan(arr).any() else "inf"
        raise ValueError(f"{what} contains {bad} values{hint}")


def as_backend_2d(
    be: Backend, data: Any, what: str, columns: int | None = None, rows: int | None = None, allow_sparse: bool = False
) -> Any:
    """Check ``data`` and return it as a 2-D array of ``be``'s dtype on ``be``'s device.

    Parameters
    ----------
    be : Backend
    data : NumPy array, nested sequence, or an array of ``be``'s library
        Shape ``(n, columns)``; a 1-D host array is refused (ambiguous).
    what : str
        Name used in error messages (``"X"``, ``"T"``).
    columns, rows : int, optional
        Required number of columns (features/outputs) and rows (samples).
    allow_sparse : bool
        Accept a sparse matrix (SciPy; cupyx or torch on their backends) and return it in the
        backend's sparse format (:mod:`xpmlp.backends.sparse`); otherwise a sparse matrix is refused.
    """
    if sparse.is_sparse(data):
        if not allow_sparse:
            raise TypeError(f"{what} must be a dense array, got a sparse {type(data).__name__}")
        return _sparse_to_backend(be, data, what, columns, rows)
    if be.is_device_array(data):
        return _check_native(be, data, what, columns, rows)
    if data is None:
        raise ValueError(f"{what} is None")
    if not isinstance(data, np.ndarray) and array_api_compat.is_array_api_obj(data):
        raise TypeError(
            f"{what} is a {type(data).__module__}.{type(data).__name__} but the model runs on "
            f"{be.describe()}; pass a NumPy array or an array of that backend"
        )
    try:
        host = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} cannot be read as a numeric array: {exc}") from exc
    if host.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold real numbers, got dtype {host.dtype}")
    _check_shape(host.shape, what, columns, rows)
    check_finite_host(host, what)
    return be.asarray(host)


def _check_shape(shape: tuple, what: str, columns: int | None, rows: int | None) -> None:
    if len(shape) != 2:
        raise ValueError(f"{what} must be 2-D (samples, features), got shape {tuple(shape)}")
    if shape[0] == 0:
        raise ValueError(f"{what} has no samples (shape {tuple(shape)})")
    if columns is not None and shape[1] != columns:
        raise ValueError(f"{what} has {shape[1]} columns but the network expects {columns} (shape {tuple(shape)})")
    if rows is not None and shape[0] != rows:
        raise ValueError(f"{what} has {shape[0]} samples but X has {rows}")


def _sparse_to_backend(be: Backend, data: Any, what: str, columns: int | None, rows: int | None) -> Any:
    _check_shape(tuple(data.shape), what, columns, rows)
    sparse.check_library(be, data)  # before its values meet this backend's namespace
    values = sparse.stored_values(data)
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "biuf":
            raise TypeError(f"{what} must hold real numbers, got dtype {values.dtype}")
        check_finite_host(values, what)
    elif values.shape[0] and not be.to_numpy(be.xp.all(be.xp.isfinite(values))):  # one sync, at the boundary
        raise ValueError(f"{what} contains NaN or inf values; clean or impute the data first")
    return sparse.to_backend(be, data)


def _check_native(be: Backend, data: Any, what: str, columns: int | None, rows: int | None) -> Any:
    xp = be.xp
    _check_shape(tuple(data.shape), what, columns, rows)
    data = be.to_device(data)  # another device of the same library: moved here (a documented transfer point)
    if not xp.isdtype(data.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"{what} must hold real numbers, got dtype {data.dtype}")
    if data.dtype != be.dtype:
        data = xp.astype(data, be.dtype)
    # min and max propagate NaN and reach +-inf: two read-only passes, one sync at the boundary
    # (torch's isfinite(...).all() costs 15x more on a large CPU tensor)
    if not be.to_numpy(xp.isfinite(xp.min(data)) & xp.isfinite(xp.max(data))):
        raise ValueError(f"{what} contains NaN or inf values; clean or impute the data first")
    return data


def check_sample_weight(be: Backend, sample_weight: Any, n: int) -> np.ndarray:
    """``sample_weight`` as host float64 ``(n,)``, checked: finite, ``>= 0``, of ``n`` rows (a scalar
    weights every row alike).  A device array of ``be`` is read back once.  Raises ``ValueError``."""
    w = be.to_numpy(sample_weight) if be.is_device_array(sample_weight) else sample_weight
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and >= 0")
    return w


def normalized_sample_weight(be: Backend, sample_weight: Any, n: int) -> Any:
    """Checked weights (:func:`check_sample_weight`) normalised to mean 1, on ``be``'s device,
    shape ``(n,)``; None if not given.  Raises ``ValueError`` if they sum to 0."""
    if sample_weight is None:
        return None
    w = check_sample_weight(be, sample_weight, n)
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to 0: no sample would be trained on")
    return be.asarray(w / w.mean())
