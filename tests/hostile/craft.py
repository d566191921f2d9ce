"""Hostile model files, made cheaply: a zip bomb (4 GiB of zeros in a few MB, its deflate stream
one compressed block repeated), an array header claiming more than the file holds, an archive
of many members, metadata nested deep.  Used by tests/io/test_limits.py and battery.py."""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

META = "__xpmlp__.npy"


def npy_bytes(a: np.ndarray) -> bytes:
    """``a`` as a ``.npy`` file's bytes."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    """The header alone of a ``.npy`` file of this shape and dtype."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def model_parts(path: Path) -> tuple[dict, dict[str, bytes]]:
    """``(metadata, {member name: bytes})`` of a model file."""
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    meta = json.loads(np.load(zipfile.ZipFile(path).open(META)).tobytes())
    return meta, {k: v for k, v in members.items() if k != META}


def write_model(path: Path, meta: "dict | str", members: dict[str, bytes], raw: dict | None = None) -> Path:
    """A model file of ``meta`` (a record, or JSON text as it is) and ``members``; ``raw`` maps a member
    name to ``(deflate stream, uncompressed size)``, written as it is (the CRC not computed: the
    limits refuse such members before reading a byte)."""
    text = meta if isinstance(meta, str) else json.dumps(meta)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(META, npy_bytes(np.frombuffer(text.encode(), dtype=np.uint8)))
        for name, data in members.items():
            z.writestr(name, data)
        for name, (stream, size) in (raw or {}).items():
            info = zipfile.ZipInfo(name)
            info.compress_type, info.file_size, info.compress_size, info.CRC = zipfile.ZIP_DEFLATED, size, len(stream), 0
            info.header_offset = z.fp.tell()
            z.fp.write(info.FileHeader(zip64=size > zipfile.ZIP64_LIMIT))
            z.fp.write(stream)
            z.start_dir = z.fp.tell()
            z.filelist.append(info)
            z.NameToInfo[name] = info
            z._didModify = True
    return path


def zeros_stream(header: bytes, gib: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``header`` then ``gib`` GiB of zero bytes, and its uncompressed size: one
    16 MiB block of zeros compressed once, repeated (a full flush makes each block stand alone)."""
    chunk = 16 << 20
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(header) + first.flush(zlib.Z_FULL_FLUSH)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = block.compress(bytes(chunk)) + block.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    count = (gib << 30) // chunk
    return head + body * count + end, len(header) + count * chunk


def zip_bomb(good: Path, path: Path, gib: int = 4) -> Path:
    """The model file ``good`` with one more array, ``x.bomb``: ``gib`` GiB of float64 zeros, listed in
    the metadata with its true shape and dtype, deflated into a few MB."""
    meta, members = model_parts(good)
    n = (gib << 30) // 8
    meta["arrays"]["x.bomb"] = {"shape": [n], "dtype": "<f8", "sha256": "0" * 64}
    return write_model(path, meta, members, raw={"x.bomb.npy": zeros_stream(npy_header((n,)), gib)})


def huge_header(good: Path, path: Path, count: int = 10**12) -> Path:
    """The model file ``good`` whose ``W.0`` header (and metadata) claim ``count`` float64s; the member
    holds its true bytes."""
    meta, members = model_parts(good)
    meta["arrays"]["W.0"]["shape"] = [count]
    old = members["W.0.npy"]
    members["W.0.npy"] = npy_header((count,), meta["arrays"]["W.0"]["dtype"]) + old[len(npy_header((1,))):]
    return write_model(path, meta, members)


def many_members(good: Path, path: Path, count: int) -> Path:
    """The model file ``good`` with ``count`` more (empty) members."""
    meta, members = model_parts(good)
    members.update({f"x.{i}.npy": b"" for i in range(count)})
    return write_model(path, meta, members)


def deep_metadata(path: Path, depth: int) -> Path:
    """A model file whose metadata is ``depth`` nested lists."""
    return write_model(path, "[" * depth + "]" * depth, {})
