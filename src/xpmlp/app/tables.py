"""A user's table of data from a file: delimited text, NPY, NPZ or Parquet, checked cell by cell.

:func:`read_table` returns a :class:`Table`: the feature columns' cells as they were written
(text from a text file, numbers from a binary one), their names, and (if asked for) the target
column's values -- strings or numbers -- with its name.  Each row remembers its line in the
file, so anything wrong is a :class:`DataError` (a ``ValueError``) whose one line names the
file, the column and the line.  Which columns are numbers and which are categories is decided
by the model's preprocessing (:mod:`xpmlp.app.preprocessing`), through :meth:`Table.numbers`
and :meth:`Table.texts`.

===============  ==================================================================
.csv .tsv .txt   delimited text through pandas (``pip install 'xpmlp[tables]'``): the
                 delimiter detected or given, a header row or none, quoted fields, a
                 byte-order mark, decimal commas (see :mod:`xpmlp.app.delimited`)
.npy             a 2-D numeric array; columns are named ``"0"``, ``"1"``, ...; the target
                 is a column index
.npz             arrays ``X`` (2-D) and ``y`` (1-D), or one 2-D array with the target
                 as a column index
.parquet         through ``pyarrow`` (``pip install 'xpmlp[parquet]'``)
===============  ==================================================================

A text file may be compressed (``data.csv.gz``; see :mod:`xpmlp.app.reading`).  A gap is an
empty cell (or a gap marker, :func:`~xpmlp.app.reading.gap_markers`) or a NaN.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .decisions import MAX_CLASSES, infer_task  # noqa: F401  (where they were before 0.4)
from .delimited import TEXT_FORMATS, _Error, describe_separator, read_delimited
from .limits import LimitError, check_cells, check_columns, check_lines
from .reading import COMPRESSIONS, ReadError, ReadOptions, compression_of, decode, read_bytes

__all__ = ["Table", "DataError", "read_table", "infer_task", "split_rows", "FORMATS"]

FORMATS = (*TEXT_FORMATS, ".npy", ".npz", ".parquet")
#: What reading a broken .npy or .npz file raises (a zip's own errors, a compressed member's zlib error).
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
#: Characters of the longest cell a column is parsed at once with (a number is shorter).
_LONGEST_NUMBER = 64


class DataError(ValueError):
    """A data file cannot be used: unreadable, malformed, missing a column, not numeric."""


@dataclass
class Table:
    """Feature cells ``X`` ``(n, d)`` named by ``columns`` -- float64, or object holding each cell as
    read (a string, a number, or ``None`` for a gap); ``y`` the raw target values ``(n,)`` (or None)
    from the column ``target``.  ``source`` names the file and ``lines`` gives each row's line in it
    (header counted) for messages; without ``lines`` rows are counted from 1.  ``decimal`` is the
    decimal mark of the file's numbers; ``layout`` says how it was read, ``notes`` what reading
    detected, ``reading`` the :class:`~xpmlp.app.reading.ReadOptions` given (and ``"detected"``)."""

    X: np.ndarray
    columns: list[str]
    y: np.ndarray | None = None
    target: str | None = None
    source: str = "the data"
    lines: np.ndarray | None = None
    decimal: str = "."
    layout: str = ""
    notes: list[str] = field(default_factory=list)
    reading: dict = field(default_factory=dict)
    _parsed: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # name -> (values, bad)
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # name -> position

    def position(self, name: str) -> int | None:
        """Column ``name``'s position (None: no such column), in constant time."""
        if len(self._index) != len(self.columns):
            self._index = {c: j for j, c in enumerate(self.columns)}
        return self._index.get(name)

    def take(self, rows: Any) -> "Table":
        """The table of these rows (indices or a mask); columns already parsed stay parsed."""
        part = replace(self, X=self.X[rows], y=None if self.y is None else self.y[rows],
                       lines=None if self.lines is None else self.lines[rows])
        index = np.arange(len(self.X))[rows]
        part._parsed = {name: (values[index], np.flatnonzero(np.isin(index, bad)))
                        for name, (values, bad) in self._parsed.items()}
        return part

    def parse(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """:func:`parse_numbers` of column ``name``, parsed once."""
        if name not in self._parsed:
            self._parsed[name] = parse_numbers(self.column(name), self.decimal)
        return self._parsed[name]

    def where(self, i: int) -> str:
        """``"line 7"`` (text files) or ``"row 7"``: where row ``i`` (0-based) is in the file."""
        return f"line {int(self.lines[i])}" if self.lines is not None else f"row {i + 1}"

    def column(self, name: str) -> np.ndarray:
        """One column's cells; a missing column is a :class:`DataError` naming the columns there are."""
        j = self.position(name)
        if j is None:
            raise DataError(f"{self.source}: no column {name!r}; the columns are {', '.join(self.columns)}")
        return self.X[:, j]

    def numbers(self, name: str) -> np.ndarray:
        """Column ``name`` as float64, NaN for a gap; the first cell that is not a number is a
        :class:`DataError` naming its line."""
        values, bad = self.parse(name)
        if bad.size:
            cell = self.column(name)[bad[0]]
            comma = self.decimal == "." and not parse_numbers(np.array([cell], dtype=object), ",")[1].size
            raise DataError(f"{self.source}: column {name!r}, {self.where(bad[0])}: {cell!r} is not a number"
                            + (" (a decimal comma: give --decimal ,)" if comma else
                               f" (if it marks a gap, give --na-values {cell!r})" if self.lines is not None else ""))
        return values.copy()

    def texts(self, name: str) -> np.ndarray:
        """Column ``name`` as an object array of strings (``None`` for a gap); numbers from a binary
        file are written as integers where they are whole (``2.0`` -> ``"2"``)."""
        return np.array([_text(v) for v in self.column(name).tolist()], dtype=object)


def parse_numbers(cells: np.ndarray, decimal: str = ".") -> tuple[np.ndarray, np.ndarray]:
    """``(values, bad)``: the cells as float64 (NaN for gaps and for cells that are not finite
    numbers) and the indices of the non-empty cells that are not."""
    cells = np.asarray(cells)
    if cells.dtype.kind in "biuf":
        values = cells.astype(np.float64)
        bad = np.flatnonzero(np.isinf(values))
        values[bad] = np.nan
        return values, bad
    listed = cells.tolist()
    gaps = np.array([c is None or (isinstance(c, float) and c != c) for c in listed], dtype=bool)
    if max((len(c) for c in listed if isinstance(c, str)), default=0) > _LONGEST_NUMBER:
        return _parse_each(cells, decimal)  # not all numbers; at once, its longest cell would size every one
    try:  # the whole column at once, where every cell is a number
        text = np.where(gaps, "nan", cells).astype(str)
        values = np.char.replace(text, ",", ".").astype(np.float64) if decimal == "," else text.astype(np.float64)
    except ValueError:
        return _parse_each(cells, decimal)
    if not np.isfinite(values[~gaps]).all():  # "inf", or a NaN spelt in a way that is no gap
        return _parse_each(cells, decimal)
    return values, np.zeros(0, dtype=np.int64)


def _parse_each(cells: np.ndarray, decimal: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`parse_numbers` cell by cell, to find the cells that are not numbers."""
    values = np.full(len(cells), np.nan)
    bad = []
    for i, cell in enumerate(cells.tolist()):
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            continue
        text = cell.replace(",", ".") if isinstance(cell, str) and decimal == "," else cell
        try:
            value = float(text)
        except (TypeError, ValueError):
            value = np.inf
        if np.isfinite(value):
            values[i] = value
        else:
            bad.append(i)
    return values, np.asarray(bad, dtype=np.int64)


def _text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def read_table(path: "str | Path", target: "str | int | None" = None, *, sep: str | None = None,
               header: bool = True, decimal: str | None = None, encoding: str | None = None,
               na_values: "list[str] | tuple[str, ...]" = (), default_na: bool = True,
               options: ReadOptions | None = None) -> Table:
    """Read ``path``; ``target`` names (or, for NPY/NPZ, indexes) the target column, if any.
    ``sep``, ``header``, ``decimal``, ``encoding``, ``na_values`` and ``default_na`` (or all of
    them as ``options``) are for text files (:mod:`xpmlp.app.delimited`, :mod:`xpmlp.app.reading`)."""
    path = Path(path)
    options = options or ReadOptions(sep, header, decimal, encoding, list(na_values), default_na)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffix, compressed = compression_of(path)
    if suffix not in FORMATS or (compressed and suffix not in TEXT_FORMATS):
        raise DataError(f"{path}: unknown format {''.join(path.suffixes[-2:]).lower() or '(no extension)'!r}; use one "
                        f"of {', '.join(FORMATS)}, the text formats also compressed ({', '.join(COMPRESSIONS)}) "
                        "(a delimited text file with another name: rename it to .txt)")
    lines, layout, notes, reading = None, suffix[1:].upper(), [], {}
    if suffix in TEXT_FORMATS:
        try:
            raw = read_bytes(path, compressed)
            check_lines(raw)  # before the text is decoded, sniffed or parsed: a line of a gigabyte
            text, used_encoding, note = decode(raw, options.encoding)
            names, cells, lines, used, mark = read_delimited(text, suffix, options)
        except (_Error, ReadError, LimitError) as exc:
            raise DataError(f"{path}: {exc}") from None
        notes += [f"{path}: {note}"] if note else []
        if mark == "," and options.decimal is None:
            notes.append(f"{path}: numbers with a decimal comma (3,14): read as such; give --decimal . if not")
        decimal = mark
        layout = describe_separator(used) + (", no header row" if not options.header else "") + \
            (", decimal comma" if mark == "," else "") + (f", {used_encoding}" if used_encoding != "utf-8" else "") + \
            (f", {compressed[1:]}-compressed" if compressed else "")
        reading = {**options.to_dict(), "detected": {"sep": used, "decimal": mark, "encoding": used_encoding}}
    else:
        names, columns = {".npy": _read_npy, ".npz": _read_npz, ".parquet": _read_parquet}[suffix](path)
        cells, decimal = _stack(columns), "."
    if cells.shape[0] == 0:
        raise DataError(f"{path}: no rows of data")
    check_columns(cells.shape[1], str(path))
    check_cells(cells, names, lines, str(path))
    table = Table(cells, names, source=str(path), lines=lines, decimal=decimal, layout=layout, notes=notes,
                  reading=reading)
    return _split_target(table, target, options.header)


def _stack(columns: list[np.ndarray]) -> np.ndarray:
    if all(np.asarray(c).dtype.kind in "biuf" for c in columns):
        return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
    out = np.empty((len(columns[0]), len(columns)), dtype=object)
    for j, c in enumerate(columns):
        out[:, j] = list(c)
    return out


def _read_npy(path: Path) -> tuple[list[str], list[np.ndarray]]:
    try:
        arr = np.load(path, allow_pickle=False)
    except _UNREADABLE as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from exc
    if not isinstance(arr, np.ndarray):  # numpy.load goes by the content: this is a zip of arrays
        arr.close()
        raise DataError(f"{path}: an .npz archive, not an .npy array; rename it to .npz")
    return _read_npy_array(path, arr)


def _read_npz(path: Path) -> tuple[list[str], list[np.ndarray]]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.ndarray):
            with loaded as z:
                arrays = {k: z[k] for k in z.files}  # reads every member: a corrupt one fails here
    except _UNREADABLE as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from exc
    if isinstance(loaded, np.ndarray):  # numpy.load goes by the content: this is a single array
        raise DataError(f"{path}: an .npy array, not an .npz archive; rename it to .npy")
    if "X" in arrays:
        X = np.asarray(arrays["X"])
        if X.ndim != 2:
            raise DataError(f"{path}: X must be 2-D, got shape {X.shape}")
        cols, data = [str(j) for j in range(X.shape[1])], [X[:, j] for j in range(X.shape[1])]
        if "y" in arrays:
            cols, data = cols + ["y"], data + [np.asarray(arrays["y"]).reshape(-1)]
        return cols, data
    if len(arrays) == 1:
        return _read_npy_array(path, next(iter(arrays.values())))
    raise DataError(f"{path}: needs arrays 'X' (and 'y'), or a single 2-D array; found {sorted(arrays)}")


def _read_npy_array(path: Path, arr: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    if arr.ndim != 2:
        raise DataError(f"{path}: needs a 2-D array (samples, columns), got shape {arr.shape}")
    return [str(j) for j in range(arr.shape[1])], [arr[:, j] for j in range(arr.shape[1])]


def _read_parquet(path: Path) -> tuple[list[str], list[np.ndarray]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError(f"{path}: reading Parquet needs pyarrow: pip install 'xpmlp[parquet]'") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own error types for a broken file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    return [str(c) for c in table.column_names], [_parquet_column(col.to_pylist()) for col in table.columns]


def _parquet_column(values: list[Any]) -> np.ndarray:
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


def _split_target(table: Table, target: "str | int | None", header: bool) -> Table:
    if target is None:
        return table
    key = str(target)
    if key not in table.columns:
        hint = ""
        names_are_numbers = not np.isnan(parse_numbers(np.array(table.columns, dtype=object), table.decimal)[0]).any()
        if header and table.lines is not None and names_are_numbers:
            hint = " (the first line looks like numbers, not names: if the file has no header row, give --no-header)"
        raise DataError(f"{table.source}: no target column {key!r}; the columns are {', '.join(table.columns)}{hint}")
    j = table.columns.index(key)
    y = _target_values(table, key, table.X[:, j])
    keep = [i for i in range(len(table.columns)) if i != j]
    if not keep:
        raise DataError(f"{table.source}: no feature columns besides the target")
    return replace(table, X=table.X[:, keep], columns=[table.columns[i] for i in keep], y=y, target=key)


def _target_values(table: Table, column: str, cells: np.ndarray) -> np.ndarray:
    """The target column: numbers where every cell is one, else strings; a gap is refused."""
    values, bad = parse_numbers(cells, table.decimal)
    texts = np.array([_text(v) for v in cells.tolist()], dtype=object)
    gaps = np.flatnonzero([t is None for t in texts.tolist()])
    if gaps.size:
        marker = " (empty, or a gap marker such as NA, None; give --no-default-na where such a marker is a " \
            "label)" if table.lines is not None else ""
        raise DataError(f"{table.source}: target column {column!r}, {table.where(gaps[0])} is missing{marker}; "
                        "drop the rows without a target first")
    if bad.size:
        return texts.astype(str)
    whole = np.all(values == np.round(values)) and np.all(np.abs(values) <= 2.0**53)  # 1e200 is no int64
    return values.astype(np.int64) if whole else values


def split_rows(n: int, fraction: float, seed: int, labels: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(kept, held_out)``: ``round(fraction * n)`` rows held out, per label in proportion
    when ``labels`` are given (every label keeps at least one row when it has two)."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"the held-out fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    if labels is None:
        order = rng.permutation(n)
        k = max(1, int(round(fraction * n)))
        return np.sort(order[k:]), np.sort(order[:k])
    held = []
    inverse = np.unique(np.asarray(labels), return_inverse=True)[1].reshape(-1)
    by_label = np.argsort(inverse, kind="stable")  # each label's rows in order: linear in the labels, not rows x labels
    for rows in np.split(by_label, np.cumsum(np.bincount(inverse))[:-1]):
        rows = rng.permutation(rows)
        k = min(int(round(fraction * rows.size)), rows.size - 1) if rows.size > 1 else 0
        held.append(rows[:k])
    held = np.sort(np.concatenate(held))
    if held.size == 0 or held.size == n:
        classes = len(np.unique(labels))
        why = (f"{classes} classes for {n} rows: too few rows per class (is the target an ID, or a number to "
               "predict with --task regression?)" if classes > n / 2 else "there are too few rows")
        raise DataError(f"cannot hold out {fraction:.0%} of {n} rows by class; {why}")
    return np.setdiff1d(np.arange(n), held), held
