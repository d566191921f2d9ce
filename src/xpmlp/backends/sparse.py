"""Sparse inputs: SciPy CSR/CSC on NumPy, cupyx CSR on CuPy, torch COO on PyTorch.

Only the input layer sees ``X``, through two products: ``z^1 = X W^1`` in the forward
pass and ``dC/dW^1 = X^T delta^1`` in the backward pass (there is no ``dC/dX``).
:mod:`xpmlp.nn.network` writes both with the ``@`` operator and ``.T``, which each
library's sparse container implements as sparse times dense giving a dense array, so
the math has no sparse code and never densifies ``X``.  This module is the seam
around it: it moves a sparse ``X`` to the backend in the format whose ``@`` is that
product, checks it, and takes minibatch rows from it.

==================  ================================  ==================================
backend             sparse ``X`` on the device         minibatch rows
==================  ================================  ==================================
``numpy``           SciPy CSR (matrix or array kind)   ``X[idx]`` (CSR row gather)
``cupy``            ``cupyx.scipy.sparse`` CSR         gathered on the device, its size from the
                    (canonical)                        host's ``indptr`` (no sync)
``torch``           ``torch.sparse_coo_tensor``        ``index_select`` (CSR has none)
``array_api_strict``  dense: the standard has no sparse arrays; densified once, here
==================  ================================  ==================================

Every buffer crosses to the device through :meth:`Backend.asarray`, once per ``fit``.
"""

from __future__ import annotations

from typing import Any, Callable

import array_api_compat
import numpy as np

from .backend import Backend

__all__ = ["is_sparse", "to_backend", "stored_values", "row_taker"]


def _is_scipy(x: Any) -> bool:
    return type(x).__module__.startswith("scipy.sparse")


def _is_cupyx(x: Any) -> bool:
    return type(x).__module__.startswith("cupyx.scipy.sparse")


def _is_torch_sparse(x: Any) -> bool:
    if type(x).__module__ != "torch":
        return False
    import torch

    return x.layout != torch.strided


def is_sparse(x: Any) -> bool:
    """Whether ``x`` is a SciPy, cupyx or torch sparse matrix."""
    return _is_scipy(x) or _is_cupyx(x) or _is_torch_sparse(x)


def stored_values(x: Any) -> Any:
    """The explicitly stored entries of a sparse matrix: a 1-D array of its library."""
    if _is_torch_sparse(x):
        import torch

        return x.coalesce().values() if x.layout == torch.sparse_coo else x.values()
    return x.data


def check_library(be: Backend, X: Any) -> None:
    """Refuse (``TypeError``) a sparse matrix of a library the backend does not take (see the table)."""
    native = {"cupy": _is_cupyx, "torch": _is_torch_sparse}.get(be.name)
    if not (_is_scipy(X) or (native is not None and native(X))):
        where = "the NumPy backend" if be.name == "numpy" else be.describe()
        raise TypeError(f"a {type(X).__module__}.{type(X).__name__} cannot be used on {where}")


def to_backend(be: Backend, X: Any) -> Any:
    """``X`` (sparse, 2-D) in the backend's sparse format, its dtype and device (see the table)."""
    check_library(be, X)
    if be.name == "numpy":
        return X.tocsr().astype(be.dtype_name, copy=False)
    if be.name == "cupy":
        return _to_cupyx(be, X)
    if be.name == "torch":
        return _to_torch(be, X)
    return be.asarray(X.toarray())  # array-api-strict: no sparse arrays in the standard


def _to_cupyx(be: Backend, X: Any) -> Any:
    import cupyx.scipy.sparse as csp

    if _is_cupyx(X):
        X = X.tocsr().astype(be.dtype_name)
        X.sum_duplicates()  # the one check cupyx makes (a sync, here at the boundary) before its products
        return X
    csr = X.tocsr(copy=True)
    csr.sum_duplicates()  # canonical (sorted, no duplicates) on the host, so cupyx need not check on the device
    xp = be.xp
    parts = (be.asarray(csr.data), be.asarray(csr.indices, dtype=xp.int32), be.asarray(csr.indptr, dtype=xp.int32))
    out = csp.csr_matrix(parts, shape=csr.shape)
    out.has_canonical_format = True
    return out


def _to_torch(be: Backend, X: Any) -> Any:
    import torch

    if _is_torch_sparse(X):
        if X.device != be.device:
            raise ValueError(f"X is on device {X.device} but the model is on {be.device}")
        coo = X if X.layout == torch.sparse_coo else X.to_sparse_coo()
        return coo.to(be.dtype).coalesce()
    coo = X.tocoo()
    indices = be.asarray(np.vstack([coo.row, coo.col]), dtype=torch.int64)
    return torch.sparse_coo_tensor(indices, be.asarray(coo.data), size=coo.shape, check_invariants=True).coalesce()


def _take_scipy(X: Any) -> Callable[[Any, np.ndarray], Any]:
    return lambda rows, host_rows: X[rows]  # a slice or an integer array: SciPy's CSR row selection


def _take_torch(X: Any) -> Callable[[Any, np.ndarray], Any]:
    import torch

    def take(rows: Any, host_rows: np.ndarray) -> Any:
        if isinstance(rows, slice):
            rows = torch.arange(rows.start, rows.stop, device=X.device)
        return torch.index_select(X, 0, rows)

    return take


def _take_cupyx(X: Any) -> Callable[[Any, np.ndarray], Any]:
    """Rows of a cupyx CSR matrix without a host sync (cupyx's own ``X[rows]`` reads the result's
    size back): the batch's number of stored entries comes from the host copy of ``indptr``
    (read once, here), the rest is gathered on the device, and the result is marked canonical
    (rows of a canonical matrix are), so cupyx's products do not check it with a sync either."""
    import cupyx.scipy.sparse as csp

    xp = array_api_compat.array_namespace(X.data)
    host_indptr = X.indptr.get()  # device -> host, once per fit
    Ap = X.indptr

    def take(rows: Any, host_rows: np.ndarray) -> Any:
        if isinstance(rows, slice):
            rows = xp.arange(rows.start, rows.stop, dtype=Ap.dtype)
        nnz = int(np.sum(host_indptr[host_rows + 1] - host_indptr[host_rows]))  # on the host
        starts = xp.take(Ap, rows)
        counts = xp.take(Ap, rows + 1) - starts
        Bp = xp.concat([xp.zeros(1, dtype=Ap.dtype), xp.cumulative_sum(counts, dtype=Ap.dtype)])
        k = xp.arange(nnz, dtype=Ap.dtype)  # the batch's stored entries, in row order
        r = xp.searchsorted(Bp[1:], k, side="right")  # ... and the batch row each belongs to
        src = xp.take(starts, r) + (k - xp.take(Bp, r))  # its position in X
        out = csp.csr_matrix((xp.take(X.data, src), xp.take(X.indices, src), Bp), shape=(host_rows.size, X.shape[1]))
        out.has_canonical_format = True
        return out

    return take


def row_taker(X: Any) -> "Callable[[Any, np.ndarray], Any] | None":
    """For a sparse ``X`` on the backend, ``take(rows, host_rows)``: its rows ``rows`` (a slice, or a
    1-D integer index array of the backend) whose values ``host_rows`` (a NumPy array) the caller
    also holds; ``None`` for a dense array (use the Array API)."""
    if _is_torch_sparse(X):
        return _take_torch(X)
    if _is_cupyx(X):
        return _take_cupyx(X)
    if _is_scipy(X):
        return _take_scipy(X)
    return None
