"""``cupyx.scipy.sparse`` of the CuPy stand-in: CSR and CSC matrices of stand-in arrays.

Their arithmetic is SciPy's on the host arrays behind the stand-in arrays (a kernel on the
device, so not a synchronisation); what cupyx does that makes the host wait is counted as it
does it (cupyx 14's own comments mark each with ``# synchronize!``):

* ``has_canonical_format`` when not known yet runs a kernel and reads a ``bool`` back; every
  product with a dense array asks for it first (``sum_duplicates``);
* selecting rows reads the new row pointer's last entry (``int(Bp[-1])``, fancy indexing)
  or the first and last of the old one (``int(Ap[0])``, ``int(Ap[-1])``, a slice);
* the ``(data, indices, indptr)`` constructor reads ``indptr[0]`` and ``indptr[-1]`` back from
  CuPy 14.2 on (``cupy.stack((indptr[0], indptr[-1])).get()``, ``cupyx/scipy/sparse/_compressed.py``
  v14.2.0; not in 13.6 or 14.1), and from 14.1 on checks the contents of index arrays wider than
  int32 (``_sputils.get_index_dtype(check_contents=True)``: ``arr.max()`` compared on the host).
  ``_from_parts`` (14.1 on; private) takes validated parts without either.  :data:`VERSION` says
  which CuPy the stand-in is (a test may set it to ``(13, 6)``: no ``_from_parts``, no read-back).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as _sp

import cupy
from cupy import _standin
from cupy._array import ndarray, unwrap

__all__ = ["csr_matrix", "csc_matrix", "issparse", "isspmatrix_csr", "isspmatrix_csc", "spmatrix"]

#: The cupyx release the stand-in follows: its constructor's read-back and ``_from_parts``.
VERSION = (14, 2)


class spmatrix:
    """The compressed formats' shared part (``data``, ``indices``, ``indptr`` are stand-in arrays)."""

    format = ""
    _scipy: Any = None

    def __init__(self, arg1: Any, shape: Any = None, dtype: Any = None, copy: bool = False) -> None:
        if isinstance(arg1, spmatrix):
            other = arg1.asformat(self.format)
            data, indices, indptr, shape = other.data, other.indices, other.indptr, other.shape
            self._canonical = other._canonical
        elif _sp.issparse(arg1):  # host SciPy data: copied to the device
            host = arg1.asformat(self.format)
            data, indices, indptr = (cupy.array(a) for a in (host.data, host.indices, host.indptr))
            shape, self._canonical = host.shape, None
        elif isinstance(arg1, tuple) and len(arg1) == 3:
            data, indices, indptr = arg1
            if not all(isinstance(a, ndarray) and a.ndim == 1 for a in (data, indices, indptr)):
                raise ValueError("data, indices, and indptr should be 1-D")
            if VERSION >= (14, 2) and indptr.size > 0:
                _standin.sync("cupyx csr_matrix((data, indices, indptr)): indptr[0], indptr[-1] read back")
            if VERSION >= (14, 1) and any(not np.can_cast(a.dtype, np.int32) and a.size for a in (indices, indptr)):
                _standin.sync("cupyx get_index_dtype(check_contents=True): max/min read back")
            self._canonical = None
        else:
            raise ValueError("Unsupported initializer format")
        if shape is None:
            raise ValueError("shape must be given with (data, indices, indptr)")
        self.data = data.astype(dtype) if dtype is not None else (data.copy() if copy else data)
        self.indices, self.indptr, self.shape = indices, indptr, (int(shape[0]), int(shape[1]))

    @classmethod
    def _parts(cls, data: ndarray, indices: ndarray, indptr: ndarray, shape: Any, canonical: Any) -> "spmatrix":
        """The matrix over validated parts, as cupyx builds its own results (no read-back)."""
        out = cls.__new__(cls)
        out.data, out.indices, out.indptr = data, indices, indptr
        out.shape, out._canonical = (int(shape[0]), int(shape[1])), canonical
        return out

    @classmethod
    def _from_parts(cls, data: ndarray, indices: ndarray, indptr: ndarray, shape: Any,
                       has_canonical_format: Any = None, has_sorted_indices: Any = None) -> "spmatrix":
        """``_from_parts`` of cupyx 14.1 on: its checks (ndim, one index dtype, sizes), no read-back."""
        if data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1:
            raise ValueError("data, indices, and indptr must be 1-D")
        if indices.dtype != indptr.dtype:
            raise ValueError(f"indices and indptr must have the same dtype, got {indices.dtype} and {indptr.dtype}")
        if data.size != indices.size:
            raise ValueError(f"data and indices must have the same length, got {data.size} and {indices.size}")
        major = shape[0] if cls.format == "csr" else shape[1]
        if indptr.size != major + 1:
            raise ValueError(f"indptr has length {indptr.size}, expected {major + 1} (major axis + 1)")
        return cls._parts(data, indices, indptr, shape, has_canonical_format)

    # -- what cupyx reads back -------------------------------------------------------------
    @property
    def has_canonical_format(self) -> bool:
        if self.data.size == 0:
            self._canonical = True
        elif self._canonical is None:
            _standin.sync("cupyx has_canonical_format")  # a kernel, then bool(...)
            self._canonical = bool(self._host().has_canonical_format)
        return self._canonical

    @has_canonical_format.setter
    def has_canonical_format(self, value: bool) -> None:
        self._canonical = bool(value)

    def sum_duplicates(self) -> None:
        if self.has_canonical_format:
            return
        host = self._host()
        host.sum_duplicates()
        self.data, self.indices, self.indptr = (ndarray(a, self.data._dev) for a in (host.data, host.indices, host.indptr))
        self._canonical = True

    # -- attributes and conversions ---------------------------------------------------------
    dtype = property(lambda self: self.data.dtype)
    nnz = property(lambda self: self.data.size)
    ndim = 2

    def _host(self) -> Any:
        """The SciPy matrix over the same host buffers (device checks included)."""
        parts = unwrap((self.data, self.indices, self.indptr))
        return _sp.csr_matrix(parts, self.shape) if self.format == "csr" else _sp.csc_matrix(parts, self.shape)

    def _from_host(self, host: Any, canonical: Any) -> "spmatrix":
        dev = _standin.current()
        return (csr_matrix if host.format == "csr" else csc_matrix)._parts(
            ndarray(host.data, dev), ndarray(host.indices.astype(np.int32), dev),
            ndarray(host.indptr.astype(np.int32), dev), host.shape, canonical)

    def asformat(self, format: str) -> "spmatrix":
        if format == self.format:
            return self
        return self._from_host(self._host().asformat(format), None)

    def tocsr(self, copy: bool = False) -> "spmatrix":
        return self.asformat("csr")

    def tocsc(self, copy: bool = False) -> "spmatrix":
        return self.asformat("csc")

    def astype(self, dtype: Any) -> "spmatrix":
        return type(self)._parts(self.data.astype(dtype), self.indices, self.indptr, self.shape, self._canonical)

    def copy(self) -> "spmatrix":
        return self.astype(self.dtype)

    def transpose(self) -> "spmatrix":
        other = csc_matrix if self.format == "csr" else csr_matrix
        return other._parts(self.data, self.indices, self.indptr, self.shape[::-1], self._canonical)

    T = property(transpose)

    def toarray(self) -> ndarray:
        return ndarray(self._host().toarray(), _standin.current())

    def get(self, stream: Any = None) -> Any:
        _standin.sync("get")
        return self._host().copy()

    # -- products and rows -------------------------------------------------------------------
    def __matmul__(self, other: Any) -> ndarray:
        if not isinstance(other, ndarray):
            raise TypeError(f"Unsupported type {type(other)}")
        self.sum_duplicates()  # cupyx asks before every cuSPARSE product
        return ndarray(np.asarray(self._host() @ unwrap(other)), _standin.current())

    dot = __matmul__

    def __getitem__(self, key: Any) -> "spmatrix":
        if self.format != "csr":
            raise NotImplementedError("the stand-in selects rows of CSR matrices only")
        rows = key[0] if isinstance(key, tuple) else key
        if isinstance(rows, slice):
            _standin.sync("cupyx row slice: int(Ap[0]), int(Ap[-1])")
        elif isinstance(rows, ndarray):
            _standin.sync("cupyx row gather: int(Bp[-1])")
        else:
            raise NotImplementedError(f"the stand-in selects rows by a slice or an index array, got {type(rows)}")
        return self._from_host(self._host()[unwrap(rows)], self._canonical)

    def __repr__(self) -> str:
        return f"<{self.shape[0]}x{self.shape[1]} stand-in cupyx {self.format}_matrix, {self.nnz} stored>"


class csr_matrix(spmatrix):
    format = "csr"


class csc_matrix(spmatrix):
    format = "csc"


_FROM_PARTS = spmatrix.__dict__["_from_parts"]


def follow(version: tuple) -> None:
    """Be cupyx ``version`` (``(13, 6)``, ``(14, 1)``, ``(14, 2)``): the constructor's read-backs, and
    ``_from_parts`` only where that release has it."""
    global VERSION
    VERSION = tuple(version)
    if VERSION >= (14, 1):
        spmatrix._from_parts = _FROM_PARTS
    elif "_from_parts" in spmatrix.__dict__:
        del spmatrix._from_parts


for _cls in (spmatrix, csr_matrix, csc_matrix):
    _cls.__module__ = "cupyx.scipy.sparse._compressed"


def issparse(x: Any) -> bool:
    return isinstance(x, spmatrix)


def isspmatrix_csr(x: Any) -> bool:
    return isinstance(x, csr_matrix)


def isspmatrix_csc(x: Any) -> bool:
    return isinstance(x, csc_matrix)
