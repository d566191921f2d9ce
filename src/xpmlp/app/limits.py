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
breach is a :class:`LimitError` (a ``ValueError``) whose one line names where, the limit and its
flag (and the file, where the check is given its name; :func:`~xpmlp.app.tables.read_table` adds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def check_lines(raw: bytes) -> None:
    """A text file's lines (its bytes ``raw``, decompressed) are at most :attr:`Limits.max_line_bytes`
    long, checked in chunks before the text is decoded or parsed."""
    data = memoryview(raw)
    line, start = 1, 0  # the line being read, and where it began
    for offset in range(0, len(data), _CHUNK):
        chunk = np.frombuffer(data[offset:offset + _CHUNK], dtype=np.uint8)
        ends = offset + np.flatnonzero(chunk == 10)
        starts = np.concatenate([[start], ends[:-1] + 1])[:ends.size]
        widths = np.append(ends, offset + len(chunk)) - np.append(starts, ends[-1] + 1 if ends.size else start)
        if widths.max() > LIMITS.max_line_bytes:
            at = int(np.argmax(widths > LIMITS.max_line_bytes))
            raise LimitError(f"line {line + at} is longer than {LIMITS.max_line_bytes} bytes "
                             "(--max-cell-length N allows longer cells and lines)")
        if ends.size:
            line, start = line + ends.size, int(ends[-1]) + 1


def check_first_line(text: str, sep: str) -> None:
    """A text's first line has at most ``max_columns`` fields (counted by ``sep``, quotes not
    minded: an upper bound), before a parser sets up its columns."""
    end = text.find("\n")
    first = text[:end] if end >= 0 else text
    fields = len(first.split()) if sep == r"\s+" else first.count(sep) + 1
    if fields > LIMITS.max_columns:
        raise LimitError(f"the first line has {fields} fields; the limit is {LIMITS.max_columns} columns "
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
