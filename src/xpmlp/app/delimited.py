"""Delimited text files (``.csv``, ``.tsv``, ``.txt``) as users have them, parsed by pandas.

How a file is read, in order:

* the bytes are decompressed and decoded first (:mod:`xpmlp.app.reading`: compression,
  encoding, gap markers);
* the delimiter is ``sep`` when given (``","``, ``";"``, ``"tab"``, ``"|"``, ``"space"``: runs of
  white space, or any one character); otherwise a ``.tsv`` file is tab-separated, and for ``.csv``
  and ``.txt`` the standard library's :class:`csv.Sniffer` picks one of ``, ; tab |`` from the
  first 50 lines (with ``decimal=","`` the comma is no candidate); where it cannot decide, the
  candidate that occurs most in the first line wins, then runs of white space, then the comma;
* pandas' C parser then splits the whole file (quoted fields, doubled quotes), every cell kept
  as the text it is;
* the first line names the columns (distinct names; an empty one becomes ``Unnamed: J``) unless
  ``header=False``, when the columns are named by position ``"0"``, ``"1"``, ...;
* cells are stripped of surrounding spaces; a gap marker (:func:`~xpmlp.app.reading.gap_markers`)
  is a gap; a line of empty cells is skipped, and a line with fewer cells than the header has
  gaps at its end;
* without a decimal mark given, it is the comma where the delimiter is not, some cell is a
  number with a decimal comma (``3,14``) and none has a decimal point (``3.14``).

Each row remembers its line in the file (the header counted as line 1) for error messages; a
quoted field that spans lines counts as one line there.  Typing (number or text) is the
caller's: :class:`~xpmlp.app.tables.Table` keeps the text.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from .limits import check_first_line
from .reading import ReadOptions, gap_markers

__all__ = ["read_delimited", "SEPARATORS", "TEXT_FORMATS"]

TEXT_FORMATS = (".csv", ".tsv", ".txt")
#: ``--sep`` names for delimiters that are awkward to type.
SEPARATORS = {"tab": "\t", "\\t": "\t", "space": r"\s+", "whitespace": r"\s+", "comma": ",", "semicolon": ";",
              "pipe": "|"}
_CANDIDATES = (",", ";", "\t", "|")
_SAMPLE_LINES = 50
_SAMPLE_CHARS = 1 << 16  # of each line: the sniffer's time grows with the sample's length


class _Error(ValueError):
    """Raised here; :mod:`xpmlp.app.tables` turns it into its ``DataError`` with the file's name."""


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ImportError("reading .csv, .tsv and .txt files needs pandas: pip install 'xpmlp[tables]'") from exc
    return pandas


def describe_separator(sep: str) -> str:
    """``"';'-separated"``, ``"tab-separated"``, ``"space-separated"``."""
    return {"\t": "tab", r"\s+": "space"}.get(sep, repr(sep)) + "-separated"


def read_delimited(text: str, suffix: str, options: ReadOptions) -> tuple[list[str], np.ndarray, np.ndarray, str, str]:
    """``(columns, cells, lines, separator, decimal)`` of a text file's ``text`` (``suffix`` its
    format, ``.csv``): ``cells`` an object array ``(n, d)`` of stripped strings (``None`` for a
    gap), ``lines`` each row's line in the file; ``decimal`` the decimal mark given or detected.
    Raises ``ValueError`` (without the file's name) for a file that cannot be used."""
    pd = _pandas()
    sep = _separator(text, suffix, options.sep, options.decimal)
    check_first_line(text, sep)  # before pandas sets up a million columns
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str, keep_default_na=False,
                            na_filter=False, skip_blank_lines=False, engine="c", quotechar='"')
    except pd.errors.EmptyDataError:
        raise _Error("the file is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise _Error(f"not a readable {describe_separator(sep)} file: {str(exc).strip()}") from None
    frame = frame.apply(lambda column: column.str.strip())
    cells = np.array(frame.to_numpy(dtype=object), dtype=object)
    cells[frame.isna().to_numpy() | frame.isin(list(gap_markers(options))).to_numpy()] = None  # short lines too
    lines = np.arange(1, cells.shape[0] + 1)
    filled = np.array([any(c is not None for c in row) for row in cells], dtype=bool)
    cells, lines = cells[filled], lines[filled]
    if cells.shape[0] == 0:
        raise _Error("the file is empty")
    if options.header:
        columns, cells, lines = _names(frame.iloc[lines[0] - 1].tolist()), cells[1:], lines[1:]
    else:
        columns = [str(j) for j in range(cells.shape[1])]
    return columns, cells, lines, sep, options.decimal or _decimal(frame.iloc[lines - 1], sep)


def _decimal(frame: Any, sep: str) -> str:
    """``","`` where the delimiter is not a comma, some cell is a number with a decimal comma
    (``3,14``) and none is one with a decimal point (``3.14``); else ``"."``."""
    if sep == "," or frame.empty:
        return "."
    cells = frame.stack()
    comma = cells.str.fullmatch(r"[-+]?\d*,\d+").any()
    return "," if comma and not cells.str.fullmatch(r"[-+]?\d*\.\d+([eE][-+]?\d+)?").any() else "."


def _names(raw: list[Any]) -> list[str]:
    names = [(str(v).strip() if isinstance(v, str) else "") or f"Unnamed: {j}" for j, v in enumerate(raw)]
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if name in seen and all(_is_number(n) for n in names):
            raise _Error("the first line looks like numbers, not names: if the file has no header row, give --no-header")
        if name in seen:
            raise _Error(f"the header row names column {name!r} twice (columns {seen[name] + 1} and {j + 1}); "
                         "column names must be distinct (or give --no-header)")
        seen[name] = j
    return names


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def _separator(text: str, suffix: str, sep: str | None, decimal: str | None) -> str:
    if decimal not in (None, ".", ","):
        raise _Error(f"the decimal mark must be '.' or ',', got {decimal!r}")
    if sep is not None:
        sep = SEPARATORS.get(sep.lower(), sep)
        if sep == decimal:
            raise _Error(f"the delimiter and the decimal mark are both {sep!r}")
        return sep
    if suffix == ".tsv":
        return "\t"
    candidates = [c for c in _CANDIDATES if c != decimal]
    sample = [line[:_SAMPLE_CHARS] for _, line in zip(range(_SAMPLE_LINES), io.StringIO(text, newline=""))
              if line.strip()]
    if not sample:
        raise _Error("the file is empty")
    try:
        return csv.Sniffer().sniff("".join(sample), delimiters="".join(candidates)).delimiter
    except csv.Error:
        pass
    counts = {c: sample[0].count(c) for c in candidates}
    best = max(counts, key=lambda c: counts[c])
    if counts[best]:
        return best
    return r"\s+" if len(sample[0].split()) > 1 else ","
