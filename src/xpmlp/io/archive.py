"""The model file container: one ``.npz`` archive of named arrays and a JSON record, written atomically.

:func:`write_state` puts the JSON metadata (as a ``uint8`` array named ``__xpmlp__``)
and the named host arrays into one uncompressed NumPy archive, readable with
``numpy.load(path, allow_pickle=False)``.  It writes a temporary file in the
target's directory, flushes and fsyncs it, then renames it over the target
(:func:`os.replace`, see :mod:`xpmlp.io.files`), so a failure or an interruption leaves
any earlier file whole.  :func:`read_state` reads the metadata and every member (CRC errors surface
there), each checked against :mod:`xpmlp.io.limits` before it is read, and reports any problem as
:class:`ModelFileError`.  What the record
means is :mod:`xpmlp.io.model`'s business.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .files import replace_atomically, require_regular
from .limits import BadMember, parse_metadata, read_members

__all__ = ["ModelFileError", "write_state", "read_state", "digest"]

_META = "__xpmlp__"


class ModelFileError(ValueError):
    """A model file (or in-memory state) is truncated, corrupt or incompatible; nothing was loaded."""


def digest(a: np.ndarray) -> str:
    """The SHA-256 of an array's bytes (C order), as hex."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def write_state(path: "str | os.PathLike", meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``(meta, arrays)`` as a model file, atomically (:func:`xpmlp.io.files.replace_atomically`:
    temp file, fsync, ``os.replace``; an existing file's permissions kept, a symbolic link written through)."""
    payload = np.frombuffer(json.dumps(meta, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    return replace_atomically(path, lambda f: np.savez(f, **{_META: payload}, **arrays))


def read_state(path: "str | os.PathLike", max_bytes: int | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a model file's metadata and arrays (no pickle), checking the archive's integrity and,
    before reading a member, its limits (:mod:`xpmlp.io.limits`; ``max_bytes``: the arrays' total)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    require_regular(path, "model file")  # a FIFO would block for ever, /dev/zero fill the memory
    try:
        with open(path, "rb") as f:
            meta, arrays = read_members(f, _META, _parse, max_bytes)  # reads every member: CRC errors surface here
    except BadMember as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path}: not a readable xpmlp model file (truncated or corrupt?): {exc}") from exc
    if meta is None:
        raise ModelFileError(f"{path}: no {_META} metadata; not an xpmlp model file")
    return meta, arrays


def _parse(raw: bytes) -> Any:
    try:
        return parse_metadata(raw)
    except BadMember:
        raise
    except ValueError as exc:  # not UTF-8, not JSON, or an integer of thousands of digits
        raise BadMember(f"metadata is not valid JSON: {exc}") from None
