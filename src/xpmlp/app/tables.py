"""A user's table of data from a file: CSV, NPY, NPZ or Parquet, checked cell by cell.

:func:`read_table` returns a :class:`Table`: the numeric feature columns as a
float64 matrix with their names, and (if asked for) the target column's raw
values -- strings or numbers -- with its name.  Anything wrong with the file
is a :class:`DataError` (a ``ValueError``) whose one line names the file, the
column and the row.

=======  ====================================================================
CSV      a header row of column names, then one row per sample (stdlib ``csv``)
NPY      a 2-D numeric array; columns are named ``"0"``, ``"1"``, ...; the target
         is a column index
NPZ      arrays ``X`` (2-D) and ``y`` (1-D), or one 2-D array with the target
         as a column index
Parquet  through ``pyarrow`` (``pip install 'xpmlp[parquet]'``)
=======  ====================================================================

Missing values (empty cells, ``NaN``) are refused rather than guessed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Table", "DataError", "read_table", "infer_task", "split_rows", "FORMATS"]

FORMATS = (".csv", ".npy", ".npz", ".parquet")
#: Integer targets with at most this many distinct values (and fewer than half the rows) are classes.
MAX_CLASSES = 20


class DataError(ValueError):
    """A data file cannot be used: unreadable, malformed, missing a column, not numeric."""


@dataclass
class Table:
    """Features ``X`` float64 ``(n, d)`` named by ``columns``; ``y`` the raw target values ``(n,)``
    (or None) from the column ``target``."""

    X: np.ndarray
    columns: list[str]
    y: np.ndarray | None = None
    target: str | None = None


def read_table(path: "str | Path", target: "str | int | None" = None, columns: "list[str] | None" = None) -> Table:
    """Read ``path``; ``target`` names (or, for NPY/NPZ, indexes) the target column, if any;
    ``columns`` keeps only these feature columns, in this order (others may hold anything)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unknown format {suffix or '(no extension)'!r}; use one of {', '.join(FORMATS)}")
    names, raw = {".csv": _read_csv, ".npy": _read_npy, ".npz": _read_npz, ".parquet": _read_parquet}[suffix](path)
    if not raw or len(raw[0]) == 0:
        raise DataError(f"{path}: no rows of data")
    if columns is not None:
        wanted = [str(c) for c in columns] + ([str(target)] if target is not None else [])
        names, raw = _select(path, names, raw, wanted)
    return _to_table(path, names, raw, target)


def _select(path: Path, names: list[str], raw: list[Any], wanted: list[str]) -> tuple[list[str], list[Any]]:
    missing = [c for c in wanted if c not in names]
    if missing:
        raise DataError(f"{path}: lacks the column(s) the model was trained on: {', '.join(missing)}")
    return wanted, [raw[names.index(c)] for c in wanted]


def _read_csv(path: Path) -> tuple[list[str], list[list[Any]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header, body = [c.strip() for c in rows[0]], rows[1:]
    if len(set(header)) != len(header) or not all(header):
        raise DataError(f"{path}: the header row needs distinct, non-empty column names, got {header}")
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise DataError(f"{path}: line {i} has {len(r)} cells, the header has {len(header)}")
    return header, [[r[j].strip() for r in body] for j in range(len(header))]


def _read_npy(path: Path) -> tuple[list[str], list[Any]]:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from exc
    return _read_npy_array(path, arr)


def _read_npz(path: Path) -> tuple[list[str], list[Any]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from exc
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


def _read_npy_array(path: Path, arr: np.ndarray) -> tuple[list[str], list[Any]]:
    if arr.ndim != 2:
        raise DataError(f"{path}: needs a 2-D array (samples, columns), got shape {arr.shape}")
    return [str(j) for j in range(arr.shape[1])], [arr[:, j] for j in range(arr.shape[1])]


def _read_parquet(path: Path) -> tuple[list[str], list[Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError(f"{path}: reading Parquet needs pyarrow: pip install 'xpmlp[parquet]'") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own error types for a broken file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    return [str(c) for c in table.column_names], [np.asarray(col.to_pylist(), dtype=object) for col in table.columns]


def _to_table(path: Path, columns: list[str], data: list[Any], target: "str | int | None") -> Table:
    y = name = None
    if target is not None:
        key = str(target)
        if key not in columns:
            raise DataError(f"{path}: no target column {key!r}; the columns are {', '.join(columns)}")
        j = columns.index(key)
        name, y = key, _target_values(path, key, data[j])
        columns, data = columns[:j] + columns[j + 1:], data[:j] + data[j + 1:]
    if not columns:
        raise DataError(f"{path}: no feature columns besides the target")
    X = np.column_stack([_numeric(path, c, col) for c, col in zip(columns, data)])
    return Table(X, list(columns), y, name)


def _numeric(path: Path, column: str, values: Any) -> np.ndarray:
    """One feature column as float64; the first bad cell is named."""
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        out = arr.astype(np.float64)
    else:
        out = np.empty(len(arr))
        for i, cell in enumerate(arr.tolist()):
            if cell is None or str(cell).strip() == "":
                raise DataError(f"{path}: column {column!r}, row {i + 1} is missing; fill in or drop such rows first")
            try:
                out[i] = float(cell)
            except (TypeError, ValueError):
                raise DataError(f"{path}: column {column!r}, row {i + 1}: {cell!r} is not a number") from None
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise DataError(f"{path}: column {column!r}, row {bad[0] + 1} is missing or not finite ({arr[bad[0]]!r}); "
                        "fill in or drop such rows first")
    return out


def _target_values(path: Path, column: str, values: Any) -> np.ndarray:
    """The target column: numbers where every cell is one, else strings; missing cells refused."""
    arr = np.asarray(values)
    cells = [str(v).strip() if v is not None else "" for v in arr.tolist()]
    missing = [i for i, c in enumerate(cells) if c == "" or c.lower() == "nan"]
    if missing:
        raise DataError(f"{path}: target column {column!r}, row {missing[0] + 1} is missing")
    if arr.dtype.kind in "biuf":
        return arr
    try:
        numbers = np.array([float(c) for c in cells])
    except ValueError:
        return np.array(cells)
    return numbers.astype(np.int64) if np.all(numbers == np.round(numbers)) else numbers


def infer_task(y: np.ndarray) -> str:
    """``"classification"`` for non-numeric targets, and for integer targets with at most
    :data:`MAX_CLASSES` distinct values, fewer than half the rows; ``"regression"`` otherwise."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        return "classification"
    distinct = np.unique(y)
    integral = y.dtype.kind in "biu" or bool(np.all(distinct == np.round(distinct)))
    if integral and distinct.size <= MAX_CLASSES and distinct.size < max(len(y) / 2, 3):
        return "classification"
    return "regression"


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
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(np.asarray(labels) == label))
        k = min(int(round(fraction * rows.size)), rows.size - 1) if rows.size > 1 else 0
        held.append(rows[:k])
    held = np.sort(np.concatenate(held))
    if held.size == 0 or held.size == n:
        raise DataError(f"cannot hold out {fraction:.0%} of {n} rows by class; there are too few rows")
    return np.setdiff1d(np.arange(n), held), held
