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
``cupy``            ``cupyx.scipy.sparse`` CSR         ``X[idx]`` on the device
``torch``           ``torch.sparse_coo_tensor``        ``index_select`` (CSR has none)
``array_api_strict``  dense: the standard has no sparse arrays; densified once, here
==================  ================================  ==================================

Every buffer crosses to the device through :meth:`Backend.asarray`, once per ``fit``.
"""

from __future__ import annotations

from typing import Any, Callable

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


def to_backend(be: Backend, X: Any) -> Any:
    """``X`` (sparse, 2-D) in the backend's sparse format, its dtype and device (see the table)."""
    if be.name == "numpy":
        if not _is_scipy(X):
            raise TypeError(f"a {type(X).__module__}.{type(X).__name__} cannot be used on the NumPy backend")
        return X.tocsr().astype(be.dtype_name, copy=False)
    if be.name == "cupy":
        return _to_cupyx(be, X)
    if be.name == "torch":
        return _to_torch(be, X)
    if not _is_scipy(X):
        raise TypeError(f"a {type(X).__module__}.{type(X).__name__} cannot be used on {be.describe()}")
    return be.asarray(X.toarray())  # array-api-strict: no sparse arrays in the standard


def _to_cupyx(be: Backend, X: Any) -> Any:
    import cupyx.scipy.sparse as csp

    if _is_cupyx(X):
        return X.tocsr().astype(be.dtype_name)
    if not _is_scipy(X):
        raise TypeError(f"a {type(X).__module__}.{type(X).__name__} cannot be used on {be.describe()}")
    csr = X.tocsr()
    xp = be.xp
    parts = (be.asarray(csr.data), be.asarray(csr.indices, dtype=xp.int32), be.asarray(csr.indptr, dtype=xp.int32))
    return csp.csr_matrix(parts, shape=csr.shape)


def _to_torch(be: Backend, X: Any) -> Any:
    import torch

    if _is_torch_sparse(X):
        if X.device != be.device:
            raise ValueError(f"X is on device {X.device} but the model is on {be.device}")
        coo = X if X.layout == torch.sparse_coo else X.to_sparse_coo()
        return coo.to(be.dtype).coalesce()
    if not _is_scipy(X):
        raise TypeError(f"a {type(X).__module__}.{type(X).__name__} cannot be used on {be.describe()}")
    coo = X.tocoo()
    indices = be.asarray(np.vstack([coo.row, coo.col]), dtype=torch.int64)
    return torch.sparse_coo_tensor(indices, be.asarray(coo.data), size=coo.shape, check_invariants=True).coalesce()


def _take_scipy(X: Any, rows: Any) -> Any:
    return X[rows]  # a slice or an integer array: CSR row selection (cupyx too)


def _take_torch(X: Any, rows: Any) -> Any:
    import torch

    if isinstance(rows, slice):
        rows = torch.arange(rows.start, rows.stop, device=X.device)
    return torch.index_select(X, 0, rows)


def row_taker(X: Any) -> "Callable[[Any, Any], Any] | None":
    """For a sparse ``X`` on the backend, ``take(X, rows)`` selecting rows by a slice or a 1-D
    integer index array of the backend; ``None`` for a dense array (use the Array API)."""
    if _is_torch_sparse(X):
        return _take_torch
    if _is_scipy(X) or _is_cupyx(X):
        return _take_scipy
    return None
