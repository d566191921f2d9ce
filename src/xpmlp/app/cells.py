"""Text from a user's data made safe where it goes: a spreadsheet's cell, a terminal.

* :func:`formula_safe`: a cell that a spreadsheet would run as a formula -- text (not a number)
  starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (OWASP's list) -- is
  written with a ``'`` first, which spreadsheets show as text; numbers such as ``-1.5`` stay
  numbers.  ``xpmlp predict --raw-cells`` writes cells as they are.
* :func:`printable`: control characters (terminal escape sequences, bidirectional overrides)
  written as ``\\x1b``, ``\\u202e``, so that a label never drives the terminal it is shown on.
"""

from __future__ import annotations

from typing import Any

__all__ = ["formula_safe", "printable", "FORMULA_STARTS"]

#: What makes a spreadsheet read a cell as a formula (or shift it into one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def formula_safe(cell: Any) -> Any:
    """``cell``, or ``"'" + cell`` where it is text a spreadsheet would run as a formula."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) and not _is_number(cell):
        return "'" + cell
    return cell


def printable(text: str) -> str:
    """``text`` with every character that is not printable (but a space) written as an escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else
                   (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") for c in text)
