"""Sparse inputs: SciPy CSR/CSC on NumPy, cupyx CSR on CuPy, torch CSR on PyTorch.

Only the input layer sees ``X``, through two products: ``z^1 = X W^1`` in the forward
pass and ``dC/dW^1 = X^T delta^1`` in the backward pass (there is no ``dC/dX``).
:mod:`xpmlp.nn.network` writes both with the ``@`` operator and ``.T``, which each
library's sparse container implements as sparse times dense giving a dense array, so
the math has no sparse code and never densifies ``X`` (:func:`transpose` stands for ``.T``,
which PyTorch's compressed layouts lack).  This module is the seam around it: it moves a
sparse ``X`` to the backend in the format whose ``@`` is that product, checks it, and takes
minibatch rows from it.

==================  ================================  ==================================
backend             sparse ``X`` on the device         minibatch rows
==================  ================================  ==================================
``numpy``           SciPy CSR (matrix or array kind)   ``X[idx]`` (CSR row gather)
``cupy``            ``cupyx.scipy.sparse`` CSR         gathered on the device, its size from the
                    (canonical)                        host's ``indptr`` (no sync)
``torch``           ``torch.sparse_csr_tensor``        the same (no sync: a COO ``index_select``
                    (canonical)                        syncs on CUDA and gives an uncoalesced
                                                       batch, whose products ``coalesce()``)
``array_api_strict``  dense: the standard has no sparse arrays; densified once, here
==================  ================================  ==================================

Every buffer crosses to the device through :meth:`Backend.asarray`, once per ``fit``.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable

import array_api_compat
import numpy as np

from .backend import Backend

__all__ = ["is_sparse", "to_backend", "stored_values", "row_taker", "transpose"]


def _is_scipy(x: Any) -> bool:
    return type(x).__module__.startswith("scipy.sparse")


def _is_cupyx(x: Any) -> bool:
    return type(x).__module__.startswith("cupyx.scipy.sparse")


def _is_torch_sparse(x: Any) -> bool:
    torch = sys.modules.get("torch")  # a torch tensor exists only once torch is imported
    return torch is not None and isinstance(x, torch.Tensor) and x.layout != torch.strided


def transpose(x: Any) -> Any:
    """``x.T`` of a 2-D dense array or sparse matrix of any backend.  A torch CSR tensor (whose ``.T``
    PyTorch does not implement) gives the CSR tensor of its transpose, made on the device with
    sizes known on the host: its CSC view (``.t()``) would be converted to CSR by every product,
    and that conversion copies ``nnz`` to the device with a blocking copy, a sync
    (``sparse_compressed_to_flipped``, ``aten/src/ATen/native/TensorConversions.cpp``, PyTorch 2.x)."""
    layout = str(getattr(x, "layout", ""))
    if layout == "torch.sparse_csr":
        return _torch_csr_transposed(x)
    return x.t() if layout == "torch.sparse_csc" else x.T


def _torch_csr_transposed(x: Any) -> Any:
    import torch

    crow, col, values = x.crow_indices(), x.col_indices(), x.values()
    n_rows, n_cols = x.shape
    k = torch.arange(col.shape[0], dtype=crow.dtype, device=crow.device)  # the stored entries, in row order
    row = torch.searchsorted(crow[1:], k, right=True)  # ... and the row each is in
    order = torch.sort(col * n_rows + row).indices  # column-major order: the transpose's rows
    col_sorted = torch.index_select(col, 0, order)
    starts = torch.searchsorted(col_sorted, torch.arange(n_cols + 1, dtype=col.dtype, device=col.device))
    return torch.sparse_csr_tensor(starts, torch.index_select(row, 0, order), torch.index_select(values, 0, order),
                                   size=(n_cols, n_rows), check_invariants=False)


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
        csr = X if X.layout == torch.sparse_csr else X.to_sparse_csr()  # from COO: coalesced first (a sync, here)
        return csr.to(be.dtype)
    csr = X.tocsr(copy=True)
    csr.sum_duplicates()  # canonical (sorted, no duplicates) on the host
    parts = (be.asarray(csr.indptr, dtype=torch.int64), be.asarray(csr.indices, dtype=torch.int64), be.asarray(csr.data))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta state")  # PyTorch's, said once
        return torch.sparse_csr_tensor(*parts, size=csr.shape, check_invariants=True)


def _take_scipy(X: Any) -> Callable[[Any, np.ndarray], Any]:
    return lambda rows, host_rows: X[rows]  # a slice or an integer array: SciPy's CSR row selection


def _gather_rows(xp: Any, indptr: Any, indices: Any, data: Any, host_indptr: np.ndarray) -> Callable:
    """``gather(rows, host_rows) -> (data, indices, indptr)`` of the CSR rows ``rows`` (a slice, or a
    device index array whose values ``host_rows`` the host holds), without a host sync: the batch's
    number of stored entries comes from the host copy of ``indptr``, the rest is gathered on the
    device, in row order (rows of a canonical matrix are canonical)."""
    device = array_api_compat.device(indptr)

    def gather(rows: Any, host_rows: np.ndarray) -> tuple[Any, Any, Any]:
        if isinstance(rows, slice):
            rows = xp.arange(rows.start, rows.stop, dtype=indptr.dtype, device=device)
        nnz = int(np.sum(host_indptr[host_rows + 1] - host_indptr[host_rows]))  # on the host
        starts = xp.take(indptr, rows)
        counts = xp.take(indptr, rows + 1) - starts
        Bp = xp.concat([xp.zeros(1, dtype=indptr.dtype, device=device), xp.cumulative_sum(counts, dtype=indptr.dtype)])
        k = xp.arange(nnz, dtype=indptr.dtype, device=device)  # the batch's stored entries, in row order
        r = xp.searchsorted(Bp[1:], k, side="right")  # ... and the batch row each belongs to
        src = xp.take(starts, r) + (k - xp.take(Bp, r))  # its position in X
        return xp.take(data, src), xp.take(indices, src), Bp

    return gather


def _take_torch(X: Any) -> Callable[[Any, np.ndarray], Any]:
    """Rows of a torch CSR tensor as a CSR tensor, gathered as :func:`_gather_rows` says (on CUDA a
    COO ``index_select`` has an "unavoidable sync", ``aten/src/ATen/native/cuda/Indexing.cu``, and its
    uncoalesced result makes each product ``coalesce()``, another).  Products with a CSR batch and
    its CSC transpose (converted to CSR on the device, sizes known) read nothing back."""
    import array_api_compat.torch as xp
    import torch

    indptr = X.crow_indices()
    gather = _gather_rows(xp, indptr, X.col_indices(), X.values(), indptr.cpu().numpy())  # device -> host, once per fit

    def take(rows: Any, host_rows: np.ndarray) -> Any:
        data, indices, Bp = gather(rows, host_rows)
        return torch.sparse_csr_tensor(Bp, indices, data, size=(host_rows.size, X.shape[1]), check_invariants=False)

    return take


def _take_cupyx(X: Any) -> Callable[[Any, np.ndarray], Any]:
    """Rows of a cupyx CSR matrix without a host sync (cupyx's own ``X[rows]`` reads the result's
    size back), gathered as :func:`_gather_rows` says and marked canonical, so cupyx's products
    do not check it with a sync either."""
    import cupyx.scipy.sparse as csp

    gather = _gather_rows(array_api_compat.array_namespace(X.data), X.indptr, X.indices, X.data,
                          X.indptr.get())  # device -> host, once per fit

    def take(rows: Any, host_rows: np.ndarray) -> Any:
        return _canonical_csr(csp, *gather(rows, host_rows), (host_rows.size, X.shape[1]))

    return take


def _canonical_csr(csp: Any, data: Any, indices: Any, indptr: Any, shape: tuple[int, int]) -> Any:
    """A cupyx CSR matrix over parts known to be canonical, without a host sync: CuPy 14.2's
    ``csr_matrix((data, indices, indptr))`` reads ``indptr[0]`` and ``indptr[-1]`` back
    (``cupyx/scipy/sparse/_compressed.py``, v14.2.0), so from 14.1 on the matrix is made by
    ``_from_parts`` (private, as cupyx makes its own results; no check, no read-back); 13.x has no
    ``_from_parts`` and its constructor reads nothing back."""
    from_parts = getattr(csp.csr_matrix, "_from_parts", None)
    if from_parts is not None:
        return from_parts(data, indices, indptr, shape, has_canonical_format=True)
    out = csp.csr_matrix((data, indices, indptr), shape=shape)
    out.has_canonical_format = True
    return out


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
