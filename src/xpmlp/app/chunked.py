"""A Parquet or delimited text file read a chunk of rows at a time (``xpmlp train/predict --stream``).

Memory is what this module is for: no pass holds more than one chunk of cells (and, for
Parquet, one row group as Arrow decoded it), whatever the file's size.

* Parquet: a row group at a time, its columns read :data:`READ_BYTES` of them at a time
  (``pyarrow`` reading every column of a row group at once takes several times the group's size
  in buffers), then cut into chunks of ``chunk_rows`` rows.  A chunk whose feature columns all
  hold numbers becomes float64 cells straight from Arrow, without pandas (whose import alone
  takes about 40 MB); any other chunk goes through pandas, as a text file's do.
* Delimited text: ``pandas.read_csv``, ``chunk_rows`` rows at a time.
* The target column alone (:func:`labels`): text labels kept as int32 codes into their sorted
  names (4 bytes a row, where a text array takes 4 bytes a character), numbers as they are,
  gaps refused as when the file is read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..training.sources import TableSource
from .reading import ReadOptions, gap_markers
from .tables import DataError, Table

__all__ = ["table_chunks", "labels", "Target", "CHUNK_ROWS", "READ_BYTES"]

#: Rows a chunk: the file is read this many rows at a time.
CHUNK_ROWS = 4096
#: Bytes of decoded float64 values a Parquet read asks for (its columns: this over a column's bytes).
READ_BYTES = 4 * 2 ** 20


def _is_parquet(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in (".parquet", ".pq")


def _text_source(path: Path, reading: "ReadOptions | None", chunk_rows: int) -> TableSource:
    """A delimited text file's chunks as pandas DataFrames (``convert`` keeps the frame); ``reading``: its
    delimiter and gap markers (:class:`~xpmlp.app.reading.ReadOptions`)."""
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise DataError(f"{path}: --stream reads Parquet and delimited text files (.parquet, .csv, .tsv, .txt)")
    reading = reading or ReadOptions()
    sep = {"tab": "\t", "space": " "}.get(reading.sep or "", reading.sep) or \
        ("\t" if path.suffix.lower() == ".tsv" else ",")
    options = {"sep": sep, "keep_default_na": False, "na_values": sorted(gap_markers(reading))}
    return TableSource(path, convert=lambda frame: (frame,), chunk_rows=chunk_rows, read_options=options)


def _parquet_files(path: Path) -> list[Path]:
    """The Parquet files of ``path`` (a file, or a directory's files but hidden ones), in name order."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def _parquet_pieces(path: Path, chunk_rows: int, columns: "list[str] | None" = None) -> Iterator[Any]:
    """The file's rows as Arrow tables of at most ``chunk_rows`` rows, in order: each row group read a few
    columns at a time, then sliced (no copy).  ``columns``: those alone (default: all but a pandas index)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in _parquet_files(path):
        parquet = pq.ParquetFile(f, pre_buffer=False, buffer_size=1 << 20)
        names = columns or [c for c in parquet.schema_arrow.names if c not in _index_columns(parquet.schema_arrow)]
        for g in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(g).num_rows
            step = max(1, READ_BYTES // max(1, 8 * rows))  # columns a read
            parts = [parquet.read_row_group(g, columns=names[s:s + step], use_threads=False)
                     for s in range(0, len(names), step)]
            group = pa.Table.from_arrays([c for p in parts for c in p.columns],
                                         [name for p in parts for name in p.column_names])
            del parts
            for start in range(0, rows, chunk_rows):
                yield group.slice(start, chunk_rows)
            del group  # before the next group is read (its chunks are gone: the caller drops each one)
            pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed pages otherwise


def _pieces(path: Path, reading: "ReadOptions | None", chunk_rows: int, columns: "list[str] | None" = None
            ) -> Iterator[Any]:
    """The file's chunks: Arrow tables (Parquet) or pandas DataFrames (text), ``chunk_rows`` rows at most."""
    if _is_parquet(path):
        yield from _parquet_pieces(path, chunk_rows, columns)
        return
    for (frame,) in _text_source(path, reading, chunk_rows)._all():
        yield frame


def _numbers_only(piece: Any, features: list[str]) -> bool:
    """Whether an Arrow chunk's feature columns are all integers or floats (made cells without pandas)."""
    import pyarrow as pa

    return hasattr(piece, "schema") and all(pa.types.is_integer(piece.schema.field(c).type) or
                                            pa.types.is_floating(piece.schema.field(c).type) for c in features)


def _plain_target(piece: Any, target: str) -> bool:
    """Whether an Arrow chunk's target column converts to NumPy as pandas would make it (numbers, text)."""
    import pyarrow as pa

    kind = piece.schema.field(target).type
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_string(kind) or \
        pa.types.is_large_string(kind)


def _names(piece: Any) -> list[str]:
    return [str(c) for c in (piece.column_names if hasattr(piece, "schema") else piece.columns)]


def _target(piece: Any, target: str, path: Path) -> np.ndarray:
    """One chunk's target column as NumPy (as pandas makes it); a missing column names those there are."""
    if target not in _names(piece):
        raise DataError(f"{path}: no target column {target!r}; the columns are {', '.join(_names(piece))}")
    if not hasattr(piece, "schema"):
        return piece[target].to_numpy()
    column, kind = piece.column(target), piece.schema.field(target).type
    if not _plain_target(piece, target):
        return column.to_pandas().to_numpy()
    import pyarrow as pa

    if pa.types.is_integer(kind) and not column.null_count:
        return _numbers(column, pa.int64(), np.int64)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _numbers(column, pa.float64(), np.float64)  # a gap: NaN
    return np.array(column.to_pylist(), dtype=object)  # text; a gap: None


def _numbers(column: Any, kind: Any, dtype: Any) -> np.ndarray:
    """An Arrow column of numbers as NumPy ``dtype`` (gaps NaN), from its buffers: pyarrow's ``to_numpy``
    imports pandas (40 MB), which a file of numbers does without."""
    column, out, at = column.cast(kind, safe=False), np.empty(len(column), dtype=dtype), 0
    for chunk in column.chunks:
        n, (validity, data) = len(chunk), chunk.buffers()
        out[at:at + n] = np.frombuffer(data, dtype=dtype, count=n, offset=chunk.offset * out.itemsize)
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            out[at:at + n][bits[chunk.offset:chunk.offset + n] == 0] = np.nan
        at += n
    return out


def _cells_and_target(piece: Any, target: "str | None", path: Path) -> tuple[list[str], np.ndarray, Any]:
    """``(feature names, cells, y)`` of one chunk: cells float64 (all numbers) or objects (``None`` for gaps)."""
    y = None if target is None else _target(piece, target, path)
    features = [c for c in _names(piece) if c != target]
    if _numbers_only(piece, features):
        import pyarrow as pa

        cells = np.empty((piece.num_rows, len(features)))
        for j, name in enumerate(features):
            cells[:, j] = _numbers(piece.column(name), pa.float64(), np.float64)
        return features, cells, y
    frame = piece.to_pandas() if hasattr(piece, "schema") else piece
    part = frame.drop(columns=[target]) if target is not None else frame
    numeric = all(k in "biuf" for k in part.dtypes.map(lambda d: d.kind))
    cells = part.to_numpy(dtype=np.float64) if numeric else part.astype(object).where(part.notna(), None).to_numpy()
    return features, cells, y


def table_chunks(path: Path, target: str | None, reading: "ReadOptions | None" = None, chunk_rows: int = CHUNK_ROWS
                 ) -> Iterator[tuple[int, Table]]:
    """``(first row's number, Table)`` for each chunk of the file: cells as read (NaN, ``None`` for gaps);
    ``target`` None: every column is a feature column (the target's, if the file has it, too)."""
    start = 0
    for piece in _pieces(path, reading, chunk_rows):
        features, cells, y = _cells_and_target(piece, target, path)
        del piece  # an Arrow chunk holds its row group
        yield start, Table(cells, features, y, target, str(path))
        start += len(cells)


@dataclass
class Target:
    """A file's target column read alone, compact: text labels as int32 ``values`` (codes into ``names``,
    sorted), numbers as they are (``names`` None); ``chunks``: each chunk's rows, in file order."""

    values: np.ndarray
    names: np.ndarray | None
    chunks: list[int]

    def for_fit(self, keep: np.ndarray, task: str) -> np.ndarray:
        """What the preprocessing learns its target from: the rows ``keep`` marks (for classes, their
        distinct labels: the classes are the same)."""
        if self.names is None:
            return self.values[keep]
        return self.names[np.unique(self.values[keep])] if task == "classification" else self.names[self.values[keep]]


def _gaps(column: np.ndarray) -> np.ndarray:
    """Row numbers of a target chunk's gaps (``None``, NaN)."""
    if column.dtype.kind == "f":
        return np.flatnonzero(np.isnan(column))
    if column.dtype.kind == "O":
        return np.flatnonzero([v is None or v != v for v in column.tolist()])  # v != v: NaN
    return np.zeros(0, dtype=np.int64)


def labels(path: Path, target: str, reading: "ReadOptions | None", chunk_rows: int = CHUNK_ROWS) -> Target:
    """The target column, read alone (one pass): see :class:`Target`; a gap is refused, naming its row."""
    codes: dict[Any, int] = {}
    parts, text, start = [], [], 0
    for piece in _pieces(path, reading, chunk_rows, [_parquet_column(path, target)] if _is_parquet(path) else None):
        column = _target(piece, target, path)
        gaps = _gaps(column)
        if gaps.size:
            raise DataError(f"{path}: target column {target!r}, row {start + int(gaps[0]) + 1} is missing; drop the "
                            "rows without a target first")
        text.append(column.dtype.kind in "OUSb")
        if text[-1]:  # labels: codes in order of appearance, sorted at the end
            distinct, inverse = np.unique(column.astype(str), return_inverse=True)
            column = np.array([codes.setdefault(v, len(codes)) for v in distinct.tolist()], dtype=np.int32)[inverse]
        parts.append(column)
        start += len(column)
    if not parts:
        raise DataError(f"{path}: holds no rows")
    if len(set(text)) > 1:
        raise DataError(f"{path}: target column {target!r} holds numbers in some chunks and text in others: train "
                        "without --stream")
    y, chunks = np.concatenate(parts), [len(p) for p in parts]
    if not codes:
        return Target(y.astype(np.int64) if np.all(y == np.round(y)) else y, None, chunks)
    names = np.array(sorted(codes))
    rank = np.empty(len(codes), dtype=np.int32)
    rank[[codes[name] for name in names.tolist()]] = np.arange(len(codes), dtype=np.int32)
    return Target(rank[y], names, chunks)


def _parquet_column(path: Path, column: str) -> str:
    """``column``, checked against the (first) Parquet file's columns."""
    import pyarrow.parquet as pq

    files = _parquet_files(path)
    schema = pq.ParquetFile(files[0]).schema_arrow if files else None
    names = [] if schema is None else [c for c in schema.names if c not in _index_columns(schema)]
    if column not in names:
        raise DataError(f"{path}: no target column {column!r}; the columns are {', '.join(names)}")
    return column


def _index_columns(schema: Any) -> set:
    """The columns a pandas index was written to (not data)."""
    return {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
