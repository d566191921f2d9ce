"""How large a table the command reads, checked before the work that would run out of memory or time.

=====================  ===============  ==================================================
limit                  default          refused with (flag to raise it)
=====================  ===============  ==================================================
columns                50,000           ``--max-columns N``
characters in a cell   100,000          ``--max-cell-length N``
classes of a target    1,000            ``--max-classes N`` (or ``--task regression``)
bytes in a line        64 MiB + the     (``--max-cell-length``)
                       cell limit
=====================  ===============  ==================================================

The command line sets :data:`LIMITS` from its flags; a library caller may replace it.  Each
breach is a :class:`LimitError` (a ``ValueError``) whose one line names the file, where, the
limit and its flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["Limits", "LIMITS", "LimitError", "check_lines", "check_first_line", "check_columns", "check_cells", "check_classes"]

_CHUNK = 16 << 20
_LINE_SLACK = 64 << 20


@dataclass
class Limits:
    """The limits on a table (see the module docstring)."""

    max_columns: int = 50_000
    max_cell_length: int = 100_000
    max_classes: int = 1_000

    @property
    def max_line_bytes(self) -> int:
        """The longest line a text file may have: 64 MiB more than the longest cell."""
        return _LINE_SLACK + self.max_cell_length


#: The limits in force (the command line sets them from --max-columns, --max-cell-length, --max-classes).
LIMITS = Limits()


class LimitError(ValueError):
    """A table is larger than a limit allows (the message names the limit and the flag that raises it)."""


def check_lines(path: Path) -> None:
    """A text file's lines are at most :attr:`Limits.max_line_bytes` long, read in chunks before
    any parser sees the file."""
    with open(path, "rb") as f:
        line, start, length = 1, 0, 0  # the line being read, its start in the file, the bytes read
        while chunk := f.read(_CHUNK):
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
            starts = np.concatenate([[start], length + ends[:-1] + 1]) if ends.size else np.array([start])
            widths = (length + ends) - starts if ends.size else np.array([length + len(chunk) - start])
            if widths.max() > LIMITS.max_line_bytes:
                at = int(np.argmax(widths > LIMITS.max_line_bytes))
                raise LimitError(f"{path}: line {line + at} is longer than {LIMITS.max_line_bytes} bytes "
                                 "(--max-cell-length N allows longer cells and lines)")
            if ends.size:
                line, start = line + ends.size, length + int(ends[-1]) + 1
            length += len(chunk)


def check_first_line(path: Path, sep: str) -> None:
    """A text file's first line has at most ``max_columns`` fields (counted by ``sep``, quotes not
    minded: an upper bound), before any parser sees the file."""
    with open(path, "rb") as f:
        first = f.readline(LIMITS.max_line_bytes + 1)
    fields = len(first.split()) if sep == r"\s+" else first.count(sep.encode()) + 1
    if fields > LIMITS.max_columns:
        raise LimitError(f"{path}: the first line has {fields} fields; the limit is {LIMITS.max_columns} columns "
                         "(--max-columns N allows more)")


def check_columns(count: int, source: str) -> None:
    """At most ``max_columns`` columns."""
    if count > LIMITS.max_columns:
        raise LimitError(f"{source}: {count} columns; the limit is {LIMITS.max_columns} (--max-columns N allows more)")


def check_cells(cells: np.ndarray, columns: list[str], lines: np.ndarray | None, source: str) -> None:
    """No text cell of ``cells`` ``(n, d)`` is longer than ``max_cell_length`` characters (``lines``:
    each row's line in the file, for the message; None: rows counted from 1)."""
    if cells.dtype != object:
        return
    flat = cells.ravel()
    lengths = np.fromiter((len(c) if isinstance(c, str) else 0 for c in flat.tolist()), dtype=np.int64,
                          count=flat.size)
    if flat.size and lengths.max() > LIMITS.max_cell_length:
        i, j = divmod(int(np.argmax(lengths)), cells.shape[1])
        where = f"line {int(lines[i])}" if lines is not None else f"row {i + 1}"
        raise LimitError(f"{source}: {where}, column {columns[j]!r}: a cell of {int(lengths.max())} "
                         f"characters; the limit is {LIMITS.max_cell_length} (--max-cell-length N allows more)")


def check_classes(labels: Any, target: Any, source: str) -> None:
    """A classification target has at most ``max_classes`` classes."""
    count = len(np.unique(np.asarray(labels)))
    if count > LIMITS.max_classes:
        raise LimitError(f"{source}: the target {target!r} has {count} classes; the limit is {LIMITS.max_classes} "
                         "(--max-classes N allows more; for a number to predict, give --task regression)")
