"""A streamed fit's validation rows kept in a temporary file instead of on the device.

A validation fraction's rows are scored after every epoch.  Held on the device they take
``fraction * n * d`` numbers of memory for the whole fit; a source may ask instead
(``Source.keep_validation = False``, and any source whose validation inputs exceed
:data:`HOLD_BYTES`) that their inputs go to an unnamed temporary file (deleted when closed,
or when the process ends) and be read back :data:`BLOCK_BYTES` (at most :data:`BLOCK_ROWS`
rows) at a time: the score's pass holds one block of inputs and its activations,
``out = f(X_block)``, and the outputs
``(n_val, k)`` of every block, concatenated, meet the targets, which stay on the device
(``k`` numbers a row).  The score is the held rows' (the same rows, sorted by row number);
only the order of its sums differs.
"""

from __future__ import annotations

import tempfile
from typing import Any, Iterable, Iterator

import numpy as np

from ..nn.network import forward

__all__ = ["SpilledRows", "spill", "HOLD_BYTES", "BLOCK_BYTES", "BLOCK_ROWS"]

#: Validation inputs above this many bytes go to a temporary file (unless the source says otherwise).
HOLD_BYTES = 2 ** 30
#: Bytes of inputs read back at a time, and at most this many rows (input layers such as periodic
#: embeddings widen a row many times on its way through the network).
BLOCK_BYTES, BLOCK_ROWS = 2 ** 20, 1024


class SpilledRows:
    """Rows ``(n, width)`` of ``dtype`` appended to a temporary file, read back in blocks in order."""

    def __init__(self, width: int, dtype: Any) -> None:
        self.file = tempfile.TemporaryFile(prefix="xpmlp-validation-")
        self.width, self.dtype, self.n = int(width), np.dtype(dtype), 0
        self.block_rows = max(1, min(BLOCK_ROWS, BLOCK_BYTES // max(1, self.width * self.dtype.itemsize)))

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, self.width

    def append(self, X: np.ndarray) -> None:
        """Rows ``(m, width)`` written after those already there (in this file's dtype)."""
        X = np.ascontiguousarray(X, dtype=self.dtype)
        self.file.seek(self.n * self.width * self.dtype.itemsize)
        self.file.write(memoryview(X.reshape(-1)).cast("B"))
        self.n += X.shape[0]

    def blocks(self) -> Iterator[np.ndarray]:
        """The rows in order, ``block_rows`` at a time, each read into the same host buffer (a block is
        used before the next is read)."""
        buffer = np.empty((min(self.block_rows, self.n), self.width), dtype=self.dtype)
        for start in range(0, self.n, self.block_rows):
            block = buffer[:min(self.block_rows, self.n - start)]
            self.file.seek(start * self.width * self.dtype.itemsize)
            self.file.readinto(memoryview(block.reshape(-1)).cast("B"))
            yield block

    def outputs(self, net: Any) -> Any:
        """The network's outputs ``(n, k)`` for these rows, on its device, computed a block at a time."""
        be = net.backend
        outs = [forward(net.Ws, net.bs, net.activations, be.asarray(block), net.xp, **net.front_args).a[-1]
                for block in self.blocks()]
        return outs[0] if len(outs) == 1 else net.xp.concat(outs)

    def close(self) -> None:
        self.file.close()


def spill(parts: Iterable[tuple], width: int, dtype: Any) -> tuple[SpilledRows, np.ndarray, Any]:
    """``(inputs on disk, T, w)`` of the host parts ``(X, T, w)``, in their order (``w`` None without weights)."""
    rows, T, w = SpilledRows(width, dtype), [], []
    for X, T_part, w_part in parts:
        rows.append(X)
        T.append(T_part)
        w.append(w_part)
    if not T:
        rows.close()
        raise ValueError("the validation split holds no rows")
    return rows, np.concatenate(T), None if w[0] is None else np.concatenate(w)
