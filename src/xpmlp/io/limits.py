"""What a model file may hold, checked before anything is allocated: a crafted file is refused
at once, in one line, rather than filling the memory or the time.

:func:`read_members` opens a model file's zip archive and, before it reads a member, checks

* the number of members: at most :data:`MAX_MEMBERS` (read from the archive's end record,
  before the directory of members is parsed);
* the metadata member: at most :data:`MAX_META_BYTES`;
* every other member: its stated size at most what the metadata's shape and dtype for it take
  (plus an ``.npy`` header), the members together at most ``max_bytes`` (:data:`MAX_MODEL_BYTES`,
  or ``$XPMLP_MAX_MODEL_BYTES``), and none over 1 MiB compressed more than :data:`MAX_RATIO`-fold
  (xpmlp writes them uncompressed: that is a zip bomb);
* every ``.npy`` header: numbers or text (no pickle), and exactly the member's size, before the
  array is allocated.  Whether the arrays match the rest of the record, :mod:`xpmlp.io.model` checks.

:func:`parse_metadata` caps the JSON's nesting at :data:`MAX_DEPTH`.  A breach is a
:class:`BadMember` (a ``ValueError``) whose message says which limit and by how much.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from typing import Any, BinaryIO, Callable

import numpy as np

__all__ = ["BadMember", "read_members", "parse_metadata", "MAX_MEMBERS", "MAX_META_BYTES", "MAX_DEPTH", "MAX_MODEL_BYTES",
           "MAX_RATIO"]

#: Members an archive may hold (a model of L layers with Adam's state holds about 6 L, 3 per input-layer array).
MAX_MEMBERS = 10_000
#: Bytes of JSON metadata (the history of every epoch, a table's categories, ...).
MAX_META_BYTES = 64 << 20
#: Nesting of the metadata's JSON (xpmlp writes at most 6 levels).
MAX_DEPTH = 64
#: Bytes the arrays of a model file may take in all, unless ``$XPMLP_MAX_MODEL_BYTES`` says otherwise.
MAX_MODEL_BYTES = 8 << 30
#: How many times its compressed size a member over 1 MiB may expand to.
MAX_RATIO = 100
_SMALL = 1 << 20


class BadMember(ValueError):
    """A member of a model file breaks a limit or disagrees with the metadata (the message says how)."""
_HEADER = 65536 + 12  # the longest .npy header (format 2 and 3: a 4-byte length)


def model_bytes_limit() -> int:
    """:data:`MAX_MODEL_BYTES`, or ``$XPMLP_MAX_MODEL_BYTES`` (bytes) where set."""
    value = os.environ.get("XPMLP_MAX_MODEL_BYTES")
    try:
        return int(value) if value else MAX_MODEL_BYTES
    except ValueError:
        raise ValueError(f"XPMLP_MAX_MODEL_BYTES must be a number of bytes, got {value!r}") from None


def _count_members(f: BinaryIO) -> int:
    """The member count the archive's end record states (before its directory is parsed)."""
    end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # stable since Python 2
    if end is None:
        raise zipfile.BadZipFile("File is not a zip file")
    return int(end[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]


def read_members(f: BinaryIO, meta_name: str, parse: Callable[[bytes], Any], max_bytes: int | None = None,
                 ) -> tuple[Any, dict[str, np.ndarray]]:
    """``(metadata, arrays)`` of the archive ``f``: ``parse`` turns the metadata member's bytes into the
    record (whose ``"arrays"`` lists each array's ``shape`` and ``dtype``).  Raises :class:`BadMember`
    naming the first limit a member breaks, before reading it; zip errors as :mod:`zipfile` raises them.
    Whether the arrays match the rest of the record is the caller's business."""
    limit = model_bytes_limit() if max_bytes is None else max_bytes
    count = _count_members(f)
    if count > MAX_MEMBERS:
        raise BadMember(f"holds {count} members; a model file holds at most {MAX_MEMBERS}")
    with zipfile.ZipFile(f) as z:
        infos = {i.filename[:-4] if i.filename.endswith(".npy") else i.filename: i for i in z.infolist()}
        if meta_name not in infos:
            return None, {}
        info = infos.pop(meta_name)
        _check_size(info, meta_name, 0, MAX_META_BYTES, "metadata's limit of")
        with z.open(info) as m:
            meta = parse(_read_npy(m, info, meta_name).tobytes())
        listed = meta.get("arrays") if isinstance(meta, dict) else None
        declared = {name: _declared(listed.get(name)) if isinstance(listed, dict) else None for name in infos}
        total = sum(i.file_size for i in infos.values())
        if total > limit:
            raise BadMember(f"its arrays would take {total} bytes; the limit is {limit} (raise it with "
                            "XPMLP_MAX_MODEL_BYTES)")
        for name, info in infos.items():
            data = 0 if declared[name] is None else math.prod(declared[name][0]) * declared[name][1].itemsize
            _check_size(info, name, data, _HEADER if declared[name] else info.file_size,
                        "metadata's shape and dtype take with a header:")
        arrays = {}
        for name, info in infos.items():
            with z.open(info) as m:
                arrays[name] = _read_npy(m, info, name)
    return meta, arrays


def _declared(record: Any) -> tuple[tuple[int, ...], np.dtype] | None:
    """A listed array's shape and dtype (None where the record lists none well: the caller says so)."""
    try:
        shape, dtype = tuple(record["shape"]), np.dtype(str(record["dtype"]))
    except (KeyError, TypeError, ValueError):
        return None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        return None
    return shape, dtype


def _check_size(info: zipfile.ZipInfo, name: str, data: int, header: int, what: str) -> None:
    """The member's stated size is at most ``data`` bytes plus ``header``, and no zip bomb."""
    if info.file_size > data + header:
        raise BadMember(f"member {name!r} states {info.file_size} bytes, more than the {what} {data + header}")
    if info.file_size > _SMALL and info.file_size > MAX_RATIO * info.compress_size:
        raise BadMember(f"member {name!r} expands from {info.compress_size} to {info.file_size} bytes (more than "
                        f"{MAX_RATIO}-fold: a zip bomb?)")


def _read_npy(m: BinaryIO, info: zipfile.ZipInfo, name: str) -> np.ndarray:
    """One ``.npy`` member, its header checked against the member's size before the array is allocated."""
    version = np.lib.format.read_magic(m)
    if version not in ((1, 0), (2, 0)):
        raise BadMember(f"array {name!r}: .npy format {version} (numpy.savez writes 1.0 or 2.0)")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(m)  # at most 10,000 bytes of header, no pickle
    if dtype.kind not in "biufU" or not dtype.itemsize:
        raise BadMember(f"array {name!r} has dtype {dtype.str}: only numbers and text are read (no pickle)")
    if m.tell() + math.prod(shape) * dtype.itemsize != info.file_size:
        raise BadMember(f"array {name!r}: its header claims {dtype.str}{list(shape)}, "
                        f"{math.prod(shape) * dtype.itemsize} bytes, but the member holds {info.file_size - m.tell()}")
    flat = np.empty(math.prod(shape), dtype=dtype)
    view = memoryview(flat.view(np.uint8))
    done, got = 0, 1
    while done < view.nbytes and got:
        got = m.readinto(view[done:])
        done += got
    if done < view.nbytes: raise EOFError(f"array {name!r} is truncated")  # noqa: E701 (zipfile says so first)
    m.read(1)  # at the member's end: the zip's CRC is checked
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def parse_metadata(raw: bytes) -> Any:
    """The metadata's JSON, nested at most :data:`MAX_DEPTH` deep."""
    deepest = 0
    text = raw.decode("utf-8")
    try:
        record = json.loads(text)
    except RecursionError:
        raise BadMember(f"the metadata is nested deeper than {MAX_DEPTH} levels") from None
    todo = [(record, 1)]
    while todo:
        value, depth = todo.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            raise BadMember(f"the metadata is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)
    return record
