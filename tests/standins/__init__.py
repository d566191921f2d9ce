"""Stand-ins for the GPU libraries, so that xpmlp's GPU code runs in CI, on host memory.

``site/`` holds a CuPy stand-in (``cupy``, ``cupy.cuda`` with simulated devices and NCCL over
MPI, ``cupyx.scipy.sparse``); see its docstrings for what it checks and counts.  Each stand-in
fails where its library fails (implicit host conversion, foreign arrays, the wrong current
device, mismatched kernel types, bfloat16 where CuPy 14 has no loop, an event's time read before
it is done, a buffer used from another stream before NCCL's queued all-reduce has landed in it),
and only there (peer access where ``XPMLP_STANDIN_PEER_ACCESS=1`` gives the GPUs P2P, float16
random draws, NumPy functions on CuPy arrays, kernel scalars of any dtype), so code
that passes here is code that can pass there; it proves nothing about speed or about the device's
own arithmetic (``-ftz``, cuBLAS's sums).

In a test: ``with cupy_standin(): ...`` makes ``import cupy`` give the stand-in for the block
(the conftest's ``cupy-standin`` backend cases do); in a subprocess: put :data:`SITE` first on
``PYTHONPATH`` (the MPI tests do).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

__all__ = ["SITE", "cupy_standin"]

SITE = Path(__file__).resolve().parent / "site"
_PREFIXES = ("cupy", "cupyx", "cupy_backends", "array_api_compat.cupy")
_LOADED: dict[str, ModuleType] = {}


def _ours(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in _PREFIXES)


@contextlib.contextmanager
def cupy_standin() -> Iterator[ModuleType]:
    """``cupy``, ``cupyx`` (and array-api-compat's CuPy namespace over them) are the stand-in's for
    the block; the real CuPy, if it was imported, is back afterwards.  The stand-in starts each
    block with device 0 current and its counters at zero."""
    from xpmlp.backends import cupy_ops

    import array_api_compat

    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _ours(name)}
    saved_attribute = getattr(array_api_compat, "cupy", None)  # `import array_api_compat.cupy` reads it first
    kernels = dict(cupy_ops._KERNELS)  # kernels built by either CuPy stay with it
    cupy_ops._KERNELS.clear()
    if not _LOADED:
        sys.path.insert(0, str(SITE))
        try:
            import array_api_compat.cupy  # noqa: F401
            import cupyx.scipy.sparse  # noqa: F401
        finally:
            sys.path.remove(str(SITE))
        _LOADED.update({name: mod for name, mod in sys.modules.items() if _ours(name)})
    sys.modules.update(_LOADED)
    array_api_compat.cupy = _LOADED["array_api_compat.cupy"]
    cupy = sys.modules["cupy"]
    cupy._standin.reset()
    try:
        yield cupy
    finally:
        for name in [name for name in sys.modules if _ours(name)]:
            _LOADED.setdefault(name, sys.modules[name])
            del sys.modules[name]
        sys.modules.update(saved)
        if saved_attribute is None:
            del array_api_compat.cupy
        else:
            array_api_compat.cupy = saved_attribute
        cupy_ops._KERNELS.clear()
        cupy_ops._KERNELS.update(kernels)
