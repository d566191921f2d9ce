"""The array backends: which library, device and dtype; the host/device boundary; fast paths per library.

Holds :class:`Backend` and :func:`resolve` (``backend.py``), what each library needs beyond the
Array API standard (``libraries.py``), the checks and transfers at the API boundary
(``boundary.py``), pinned host buffers and side-stream copies for streamed data (``staging.py``), sparse inputs (``sparse.py``), small Array API helpers (``arrays.py``), and the
fast-path seam (``fastpaths.py``) with each library's fast paths (``numpy_ops.py``,
``torch_ops.py``, ``cupy_ops.py``; CUDA kernels as data in ``cuda_kernels.py``).

May import: nothing else of xpmlp (it is the bottom layer).
"""

from . import cupy_ops, numpy_ops, torch_ops  # noqa: F401  (each registers its library's fast paths)
from .backend import BACKEND_NAMES, Backend, BackendError, available_backends, resolve, use

__all__ = ["BACKEND_NAMES", "Backend", "BackendError", "available_backends", "resolve", "use"]
