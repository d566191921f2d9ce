"""scikit-learn's Array API dispatch: where an estimator's arrays live, and where its network trains.

With ``sklearn.set_config(array_api_dispatch=True)`` (and ``SCIPY_ARRAY_API=1``, which scikit-learn
requires), an ``X`` of an Array API library other than NumPy -- PyTorch on any device, CuPy,
array-api-strict -- gives the estimator its *home*: that library and device, as scikit-learn's
``get_namespace_and_device`` finds them.  Then:

* without ``backend=``, the network is built there (``"torch:cuda:0"``, ``"cupy:1"``,
  ``"array_api_strict:device1"``) and trains there, with no transfer at all;
* ``y``, ``sample_weight`` and ``classes`` holding numbers move there first (scikit-learn's rule for
  mixed inputs: everything follows ``X``); labels of other kinds (strings) stay NumPy, as in
  scikit-learn's Array API classifiers;
* ``coefs_`` and ``intercepts_`` are arrays there (the network's own parameters when it trains
  there, as scikit-learn's are its own), and so are ``classes_`` (numeric labels) and the outputs
  of ``predict``, ``predict_proba`` and ``predict_log_proba``;
* those methods refuse an ``X`` of another namespace or device with scikit-learn's
  ``check_same_namespace`` error.

Dispatch off, or NumPy arrays, lists, DataFrames and SciPy sparse matrices under it, give the host
home: host NumPy attributes and outputs, the backend resolved as without dispatch.

Arrays cross between homes here only, at the estimators' boundary: ``fit``'s inputs, the fitted
attributes at the end of ``fit``, ``predict``'s outputs.  Arrays of the network's own library
reach it as they are (its boundary moves another device's once); arrays of another library
(``backend=`` naming another one than ``X``'s) go through host memory.  Out of the network, an
array goes home by :meth:`Backend.to_numpy <xpmlp.backends.backend.Backend.to_numpy>` (the host)
or by scikit-learn's ``move_to`` (another device or library).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import config_context
from sklearn.externals import array_api_compat as compat
from sklearn.externals.array_api_compat import numpy as np_compat
from sklearn.utils._array_api import _convert_to_numpy, _is_numpy_namespace, get_namespace_and_device, move_to

from ..backends.backend import Backend
from ..backends.libraries import LIBRARIES

__all__ = ["Home", "HOST", "input_home", "home_of", "move", "to_host", "follow", "for_network", "from_network",
           "take_rows", "computing_in", "all_finite", "copy", "same_values", "is_float32", "LIBRARY_NAMES"]

#: The libraries whose arrays can be a home (beside host NumPy), in xpmlp's backend names.
LIBRARY_NAMES = ("torch", "cupy", "array_api_strict")


@dataclass(frozen=True)
class Home:
    """A library (xpmlp's backend name; ``"numpy"``: host memory) and a device on it; ``xp`` is
    scikit-learn's namespace for its arrays."""

    library: str
    device: Any
    xp: Any = field(compare=False, repr=False)

    @property
    def host(self) -> bool:
        return self.library == "numpy"

    @property
    def backend_spec(self) -> str | None:
        """The ``backend=`` that trains here (``"torch:cuda:0"``); None for the host (resolved as usual)."""
        return None if self.host else f"{self.library}:{LIBRARIES[self.library].device_spec(self.device)}"


HOST = Home("numpy", None, np_compat)


def _library(a: Any) -> str:
    for name in LIBRARY_NAMES:
        if LIBRARIES[name].is_native(a):
            return name
    raise TypeError(f"{type(a).__module__}.{type(a).__name__} arrays are not supported: xpmlp trains on NumPy, "
                    f"{', '.join(LIBRARY_NAMES)}; convert the data to one of them")


def input_home(X: Any) -> Home:
    """The home ``X`` gives an estimator: its namespace and device under scikit-learn's
    ``array_api_dispatch`` when it is an array of a library other than NumPy, else the host."""
    xp, dispatched, device = get_namespace_and_device(X)
    if not dispatched or _is_numpy_namespace(xp):
        return HOST
    return Home(_library(X), device, xp)


def home_of(a: Any) -> Home:
    """Where the array ``a`` lives, whatever the dispatch setting (host data, lists, scalars and
    sparse matrices: the host)."""
    if isinstance(a, (np.ndarray, np.generic)) or not compat.is_array_api_obj(a):
        return HOST
    return Home(_library(a), compat.device(a), compat.array_namespace(a))


def move(a: Any, home: Home) -> Any:
    """The array ``a`` in ``home`` (``a`` itself when it is there): to the host by scikit-learn's
    ``_convert_to_numpy``, from the host by ``asarray`` (as its ``move_to`` falls back to: every library
    takes NumPy), to another device of its library by the standard's ``to_device``, to another
    library by scikit-learn's ``move_to`` (DLPack, else through host memory)."""
    source = home_of(a)
    if source == home:
        return a
    if home.host:
        return _convert_to_numpy(a, source.xp)
    if source.host:
        return home.xp.asarray(a, device=home.device)
    if source.library == home.library:
        return compat.to_device(a, home.device)
    with config_context(array_api_dispatch=True):
        return move_to(a, xp=home.xp, device=home.device)


def to_host(a: Any) -> np.ndarray:
    """``a`` as a host NumPy array (lists and NumPy arrays as by ``np.asarray``)."""
    return np.asarray(move(a, HOST))


def follow(home: Home, a: Any) -> Any:
    """An array of numbers (labels, weights) moved to ``home``; anything else (None, scalars, lists,
    strings) as it is."""
    numeric = isinstance(a, np.ndarray) and a.dtype.kind in "biuf" or home_of(a) != HOST
    return move(a, home) if numeric else a


def for_network(be: Backend, a: Any) -> Any:
    """``a`` as the network on ``be`` takes it at its boundary: host data, sparse matrices and
    arrays of ``be``'s library (any device) as they are; arrays of another library through host memory."""
    return a if home_of(a).host or be.is_native(a) else to_host(a)


def from_network(be: Backend, a: Any, home: Home) -> Any:
    """An array of the network on ``be`` in ``home``: host NumPy by ``be.to_numpy``; the array
    itself when the network trains there."""
    return be.to_numpy(a) if home.host else move(a, home)


def take_rows(a: Any, rows: np.ndarray) -> Any:
    """The rows ``rows`` (host integers) of ``a`` (None: None), where ``a`` lives: host data and sparse
    matrices by indexing, a device's arrays by ``take`` with the row numbers moved there once."""
    if a is None:
        return None
    home = home_of(a)
    return a[rows] if home.host else home.xp.take(a, home.xp.asarray(rows, device=home.device), axis=0)


def computing_in(home: Home) -> contextlib.AbstractContextManager:
    """A context in which scikit-learn computes with ``home``'s arrays in their namespace."""
    return contextlib.nullcontext() if home.host else config_context(array_api_dispatch=True)


def all_finite(arrays: list) -> bool:
    """Whether every entry of every array (all of one home) is finite: one read from a device."""
    xp = compat.array_namespace(arrays[0])
    if isinstance(arrays[0], np.ndarray):
        return all(bool(np.isfinite(a).all()) for a in arrays)
    return bool(xp.all(xp.stack([xp.all(xp.isfinite(a)) for a in arrays])))


def copy(a: Any) -> Any:
    """A copy of the array ``a`` in its home."""
    return np.array(a, copy=True) if isinstance(a, np.ndarray) else compat.array_namespace(a).asarray(a, copy=True)


def same_values(a: Any, b: Any) -> bool:
    """Whether the arrays ``a`` and ``b`` (one home) have the same shape and values."""
    same = np.array_equal if isinstance(a, np.ndarray) else lambda a, b: compat.array_namespace(a).all(a == b)
    return tuple(a.shape) == tuple(b.shape) and bool(same(a, b))


def is_float32(dtype: Any) -> bool:
    """Whether ``dtype`` (of any library) is float32."""
    return str(dtype).rpartition(".")[2] == "float32"
