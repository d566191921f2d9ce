"""Where a fit's rows come from: arrays, files, Dask collections, iterables of batches.

A :class:`Source` yields *chunks*: ``(X, T, w)`` host NumPy arrays of consecutive rows (``w``
None when the source has no sample weights), in the order of the chunk numbers asked for.
It says how many chunks it has and how many rows each holds where it knows (``chunk_rows``,
else None: a delimited text file, an iterator), whether its chunks can be read in any order
(``random_access``) and more than once (``repeatable``), and which chunks are a process's share
(:meth:`Source.shard`).  :func:`as_source` makes one of what ``fit`` was given:

* arrays (NumPy, memory maps), cut into chunks of ``chunk_rows`` rows: :class:`ArraySource`;
* a ``.npy`` path (and ``T`` a ``.npy`` path or an array): read a row range at a time, by
  positioned reads, so pages read stay out of the process's memory: :class:`NpySource`;
* a Parquet file or directory (``T`` the target column(s)), a row group a chunk (pyarrow):
  :class:`TableSource`; a delimited text file, ``chunk_rows`` rows a chunk (pandas): the same;
* a Dask array (``T`` a Dask array) or DataFrame (``T`` the target column(s)), a block or
  partition a chunk: :class:`DaskSource`;
* an iterable of ``(X, T[, w])`` batches (a torch ``DataLoader``, Ray Data's ``iter_batches``), or
  a function returning a fresh one for each pass: :class:`BatchSource`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

__all__ = ["Source", "ArraySource", "NpySource", "TableSource", "DaskSource", "BatchSource", "as_source",
           "is_source_like", "rows_for", "DEFAULT_CHUNK_ROWS", "CHUNK_BYTES"]

#: Rows in a chunk where the source does not decide (delimited text, batches of unknown width).
DEFAULT_CHUNK_ROWS = 65536
#: Bytes of inputs in a chunk of arrays or ``.npy`` rows (its rows: this over a row's bytes, at least 256).
CHUNK_BYTES = 16 * 2 ** 20


def rows_for(X: Any) -> int:
    """Rows of ``X`` (arrays, ``.npy``) in a chunk of about :data:`CHUNK_BYTES`."""
    row = int(np.prod(X.shape[1:], dtype=np.int64)) * np.dtype(getattr(X, "dtype", np.float64)).itemsize
    return max(256, CHUNK_BYTES // max(row, 1))
Chunk = tuple  # (X (m, d), T (m, k) or (m,), w (m,) or None): host arrays


class Source:
    """The interface (see the module docstring): a subclass reads chunk ``i`` in ``_read(i)`` and sets
    ``n_chunks``, or reads them all in order in ``_all()``."""

    n_chunks: int | None = None  #: None: not known before a pass
    chunk_rows: list[int] | None = None  #: rows of each chunk, where known
    random_access = True  #: chunks can be read in any order
    repeatable = True  #: more than one pass
    weighted: bool | None = None  #: whether its chunks carry sample weights (None: not known before a pass)
    weight_sum: float | None = None  #: the sample weights' sum over every row, where known without a pass
    #: a validation fraction's rows: True kept on the device, False in a temporary file read back a block at a
    #: time each epoch (:mod:`~xpmlp.training.spill`), None: on the device up to ``spill.HOLD_BYTES`` of inputs
    keep_validation: bool | None = None
    description = "rows"

    @property
    def n_rows(self) -> int | None:
        """Rows in all, where known."""
        return None if self.chunk_rows is None else int(sum(self.chunk_rows))

    def chunk_starts(self) -> np.ndarray:
        """Each chunk's first row's number among the source's rows (``chunk_rows`` known)."""
        return np.cumsum([0, *self.chunk_rows[:-1]]) if self.chunk_rows else np.zeros(0, dtype=np.int64)

    def chunks(self, order: Sequence[int] | None = None) -> Iterator[Chunk]:
        """The chunks numbered ``order`` (default: all, in order), as host arrays ``(X, T, w)``."""
        for chunk in (self._read(i) for i in order) if order is not None else self._all():
            X, T, w = (*chunk, None)[:3] if len(chunk) == 2 else chunk
            yield _host(X, "X"), _host(T, "T"), None if w is None else _host(w, "sample_weight")

    def _all(self) -> Iterator[Chunk]:
        return (self._read(i) for i in range(self.n_chunks))

    def shard(self, rank: int, size: int) -> "Source":
        """This process's share for data-parallel training: chunks ``rank, rank + size, ...``."""
        if self.n_chunks is None or not self.random_access:
            raise ValueError(f"{self.description} cannot be shared among processes by chunk: it has no "
                             "known chunks to read in any order; give each process its own source")
        return _Shard(self, list(range(rank, self.n_chunks, size)))


def _host(a: Any, what: str) -> np.ndarray:
    """A batch's array on the host: NumPy, a CPU tensor, a pandas column, or anything ``np.asarray`` takes."""
    if hasattr(a, "to_numpy") and not isinstance(a, np.ndarray):
        a = a.to_numpy()
    elif hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.detach().cpu().numpy()
    return np.asarray(a) if what != "X" else np.asarray(a).reshape(len(a), -1)


class _Shard(Source):
    def __init__(self, source: Source, mine: list[int]) -> None:
        self.source, self.mine = source, mine
        self.n_chunks = len(mine)
        self.chunk_rows = None if source.chunk_rows is None else [source.chunk_rows[i] for i in mine]
        self.description, self.weighted = source.description, source.weighted
        self.keep_validation = source.keep_validation

    def _read(self, i: int) -> Chunk:
        return self.source._read(self.mine[i])

    def chunk_starts(self) -> np.ndarray:
        """Each of this share's chunks' first row's number among the whole source's rows."""
        return self.source.chunk_starts()[self.mine]


class ArraySource(Source):
    """Arrays ``X`` ``(n, d)``, ``T`` ``(n, k)`` or ``(n,)``, ``w`` ``(n,)`` in chunks of ``chunk_rows`` rows
    (default: about 16 MiB of ``X``, :func:`rows_for`)."""

    def __init__(self, X: Any, T: Any, sample_weight: Any = None, chunk_rows: int | None = None) -> None:
        chunk_rows = chunk_rows or rows_for(X)
        n, rows_T = int(X.shape[0]), int(T.shape[0] if hasattr(T, "shape") else len(T))
        if rows_T != n:
            raise ValueError(f"T has {rows_T} rows but X has {n}")
        self.X, self.T, self.w, self.weighted = X, T, sample_weight, sample_weight is not None
        self.starts = list(range(0, n, chunk_rows))
        self.chunk_rows = [min(chunk_rows, n - s) for s in self.starts]
        self.n_chunks = len(self.starts)
        self.description = f"arrays of {n} rows"

    def _read(self, i: int) -> Chunk:
        s = slice(self.starts[i], self.starts[i] + self.chunk_rows[i])
        return self.X[s], self.T[s], None if self.w is None else self.w[s]

    def read_into(self, i: int, out: np.ndarray) -> tuple:
        """Chunk ``i``: its inputs copied into ``out`` (``(chunk_rows[i], d)``, the inputs' dtype), ``(T, w)``
        returned; a reader saves a copy so (its window of chunks is one array)."""
        s = slice(self.starts[i], self.starts[i] + self.chunk_rows[i])
        if isinstance(self.X, _NpyRows):
            self.X.read_into(s.start, out)
        else:
            out[...] = self.X[s]
        return _host(self.T[s], "T"), None if self.w is None else _host(self.w[s], "sample_weight")


class NpySource(ArraySource):
    """``X`` a ``.npy`` file (2-D, C order), ``T`` a ``.npy`` file or an array; read by row ranges
    with positioned reads into a new array each (no memory map: pages read are not kept)."""

    def __init__(self, path: "str | os.PathLike", T: Any, sample_weight: Any = None,
                 chunk_rows: int | None = None) -> None:
        X = _NpyRows(path)
        if isinstance(T, (str, os.PathLike)):
            T = _NpyRows(T)
        super().__init__(X, T, sample_weight, chunk_rows)
        self.description = f"{Path(path).name} ({X.shape[0]} rows, read by row ranges)"


class _NpyRows:
    """Rows of a ``.npy`` file, sliced by reading them (``a[i:j]``)."""

    def __init__(self, path: "str | os.PathLike") -> None:
        self.path = os.fspath(path)
        mapped = np.load(self.path, mmap_mode="r")  # for its header: shape, dtype, order, data offset
        shape, self.dtype, self.offset = mapped.shape, mapped.dtype, mapped.offset
        fortran = len(shape) > 1 and not mapped.flags.c_contiguous
        del mapped
        if fortran or len(shape) not in (1, 2):
            raise ValueError(f"{self.path}: a streamed .npy must be a 1-D or 2-D array in C order, got shape "
                             f"{shape}{' in Fortran order' if fortran else ''}")
        self.shape = tuple(shape)
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        return self.read_into(start, np.empty((stop - start, *self.shape[1:]), dtype=self.dtype))

    def read_into(self, start: int, out: np.ndarray) -> np.ndarray:
        """Rows ``start, start + 1, ...`` read into ``out`` (C-contiguous, this file's dtype)."""
        with open(self.path, "rb", buffering=0) as f:
            f.seek(self.offset + start * self.row_bytes)
            f.readinto(memoryview(out.reshape(-1)).cast("B"))
        return out


def _split_columns(frame: Any, target: "str | Sequence[str]", weight: str | None) -> Chunk:
    """``(X, T, w)`` of a pandas DataFrame: the target column(s), the weight column, the rest as X."""
    target = [target] if isinstance(target, str) else list(target)
    missing = [c for c in [*target, *([weight] if weight else [])] if c not in frame.columns]
    if missing:
        raise ValueError(f"no column named {missing[0]!r}; the columns are {list(frame.columns)}")
    features = frame.drop(columns=[*target, *([weight] if weight else [])])
    T = frame[target].to_numpy()
    return features.to_numpy(), T[:, 0] if T.shape[1] == 1 else T, None if weight is None else frame[weight].to_numpy()


class TableSource(Source):
    """A Parquet file or directory (a row group a chunk) or a delimited text file (``chunk_rows`` rows a
    chunk, read by ``pandas.read_csv(**read_options)``); ``convert(frame) -> (X, T[, w])`` turns a chunk's
    DataFrame into arrays (default: ``target`` column(s) as T, ``weight`` column as w, the rest as X)."""

    def __init__(self, path: "str | os.PathLike", target: Any = None, *, weight: str | None = None,
                 convert: Callable[[Any], Chunk] | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 read_options: dict | None = None, columns: Sequence[str] | None = None) -> None:
        if convert is None and target is None:
            raise ValueError(f"{path}: name the target column(s) (T=...) or give convert=")
        self.path = Path(path)
        self.convert = convert or (lambda frame: _split_columns(frame, target, weight))
        self.weighted = None if convert is not None else weight is not None
        self.columns = None if columns is None else list(columns)
        self.parquet = self.path.is_dir() or self.path.suffix.lower() in (".parquet", ".pq")
        self._files: dict = {}
        if self.parquet:
            import pyarrow.parquet as pq

            files = sorted(p for p in self.path.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))) \
                if self.path.is_dir() else [self.path]
            self.groups = [(f, g) for f in files for g in range(pq.ParquetFile(f).num_row_groups)]
            self.chunk_rows = [self._metadata(f).row_group(g).num_rows for f, g in self.groups]
            self.n_chunks = len(self.groups)
            self.description = f"{self.path.name} ({self.n_rows} rows in {self.n_chunks} Parquet row groups)"
        else:
            self.chunk_size, self.read_options = chunk_rows, dict(read_options or {})
            self.random_access = False
            self.description = f"{self.path.name} (read {chunk_rows} rows at a time)"

    def _metadata(self, f: Path) -> Any:
        import pyarrow.parquet as pq

        if f not in self._files:
            self._files[f] = pq.ParquetFile(f)
        return self._files[f].metadata

    def _read(self, i: int) -> Chunk:
        f, g = self.groups[i]
        self._metadata(f)
        return self.convert(self._files[f].read_row_group(g, columns=self.columns).to_pandas())

    def _all(self) -> Iterator[Chunk]:
        if self.parquet:
            yield from super()._all()
            return
        import pandas as pd

        options = {**self.read_options, "chunksize": self.chunk_size}
        if self.columns is not None:
            options["usecols"] = self.columns
        with pd.read_csv(self.path, **options) as reader:
            for frame in reader:
                yield self.convert(frame)


class DaskSource(Source):
    """A Dask array ``X`` with a Dask array ``T`` (the same row chunks; a block a chunk), or a Dask
    DataFrame with ``T`` its target column(s) (a partition a chunk); each computed when read."""

    def __init__(self, X: Any, T: Any, sample_weight: Any = None, weight: str | None = None) -> None:
        if hasattr(X, "npartitions") and hasattr(X, "columns"):  # a DataFrame
            self.parts = [X.get_partition(i) for i in range(X.npartitions)]
            self.convert = lambda frame: _split_columns(frame, T, weight)
            self.description = f"a Dask DataFrame of {X.npartitions} partitions"
            self.weighted = weight is not None
        else:
            if T is None or getattr(T, "chunks", (None,))[0] != X.chunks[0]:
                raise ValueError("a Dask array X needs a Dask array T with the same row chunks (T.chunks[0] == "
                                 "X.chunks[0]); rechunk one of them")
            w = sample_weight
            self.parts = [(X.blocks[i], T.blocks[i], None if w is None else w.blocks[i]) for i in range(len(X.chunks[0]))]
            self.convert, self.weighted = None, w is not None
            self.chunk_rows = [int(r) for r in X.chunks[0]]
            self.description = f"a Dask array of {sum(self.chunk_rows)} rows in {len(self.chunk_rows)} blocks"
        self.n_chunks = len(self.parts)

    def _read(self, i: int) -> Chunk:
        import dask

        if self.convert is not None:
            return self.convert(self.parts[i].compute())
        return dask.compute(*self.parts[i])


class BatchSource(Source):
    """An iterable of ``(X, T[, w])`` batches, or a function returning one per pass.  An iterator (a
    generator) is read once: one epoch; a re-iterable (a list, a torch ``DataLoader``) or a function,
    once per epoch.  Batches are read in their order (``random_access`` False)."""

    random_access = False

    def __init__(self, batches: Any) -> None:
        self.batches = batches
        self.factory = callable(batches) and not hasattr(batches, "__iter__")
        self.repeatable = self.factory or iter(batches) is not batches
        self.description = "batches from " + (getattr(batches, "__name__", None) or type(batches).__name__)

    def _all(self) -> Iterator[Chunk]:
        for batch in (self.batches() if self.factory else self.batches):
            if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
                raise ValueError(f"each batch must be (X, T) or (X, T, sample_weight), got {type(batch).__name__}")
            yield tuple(batch)


def is_source_like(X: Any) -> bool:
    """Whether ``fit`` streams ``X``: a :class:`Source`, a path, a Dask collection, a function or an
    iterator/iterable that is not an array (arrays, lists and sparse matrices are trained in memory)."""
    if isinstance(X, (Source, str, os.PathLike)) or type(X).__module__.startswith("dask"):
        return True
    if isinstance(X, (np.ndarray, list, tuple)) or hasattr(X, "__array__") or hasattr(X, "__array_namespace__") \
            or hasattr(X, "shape"):
        return False
    return callable(X) or hasattr(X, "__iter__")


def as_source(X: Any, T: Any = None, sample_weight: Any = None, *, chunk_rows: int | None = None,
              **options: Any) -> Source:
    """A :class:`Source` for what ``fit`` was given (see the module docstring); ``chunk_rows`` (default: about
    16 MiB of inputs for arrays and ``.npy``, 65536 rows of text); ``options`` go to :class:`TableSource`
    (``weight``, ``convert``, ``read_options``, ``columns``)."""
    if isinstance(X, Source):
        return X
    if isinstance(X, (str, os.PathLike)):
        path = Path(X)
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {path}")
        if path.suffix.lower() == ".npy":
            return NpySource(path, T, sample_weight, chunk_rows)
        return TableSource(path, T, chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS, **options)
    if type(X).__module__.startswith("dask"):
        return DaskSource(X, T, sample_weight, options.get("weight"))
    if is_source_like(X):
        return BatchSource(X)
    return ArraySource(X, T, sample_weight, chunk_rows)
