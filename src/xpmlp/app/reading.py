"""How a text file's bytes become text: compression, encoding, gap markers, and the options a model keeps.

* **Compression** goes by the last extension: ``data.csv.gz`` is a gzip-compressed CSV file
  (:data:`COMPRESSIONS`: ``.gz``, ``.bz2``, ``.xz``, ``.zst`` with ``zstandard`` installed, and
  a ``.zip`` archive holding one file); what is inside must be delimited text.
* **Encoding**: ``encoding`` when given; otherwise UTF-8 (a byte-order mark allowed), a UTF-16
  file by its byte-order mark, and a file that is not UTF-8 is read as Windows-1252 (cp1252,
  what Excel writes on Windows) with a note; bytes that are neither are refused with the flag
  to give.
* **Gap markers** (:func:`gap_markers`): an empty cell and :data:`MISSING` -- pandas' default
  markers plus ``?``, ``-``, ``na`` and Excel's German ``#NV`` -- with ``--na-values`` to add
  markers and ``--no-default-na`` to use only those (and the empty cell).

:class:`ReadOptions` is how a table was read; it travels in the model's preprocessing record,
and :func:`reuse` fills ``predict``'s and ``evaluate``'s options from it where none are given.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["COMPRESSIONS", "MISSING", "ReadOptions", "compression_of", "decode", "gap_markers", "read_bytes", "reuse"]

#: pandas' default gap markers (``pandas._libs.parsers.STR_NA_VALUES``) and ``?``, ``-``, ``na``, ``#NV``, ``NaT``.
MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "?", "-", "na", "#NV", "NaT"})
#: Compressed-file extensions and what reads them.
COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".zst": None, ".zip": None}
_BROKEN = (OSError, EOFError, ValueError, lzma.LZMAError, zipfile.BadZipFile, zlib.error)


class ReadError(ValueError):
    """A file's bytes cannot be read as text (the caller adds the file's name)."""


@dataclass
class ReadOptions:
    """How a text file is read: ``sep`` (None: detected), ``header``, ``decimal`` (None: detected),
    ``encoding`` (None: detected), ``na_values`` added to the default markers (or replacing them
    without ``default_na``)."""

    sep: str | None = None
    header: bool = True
    decimal: str | None = None
    encoding: str | None = None
    na_values: list[str] = field(default_factory=list)
    default_na: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> "ReadOptions":
        """Inverse of :meth:`to_dict`; values of other types (a model file edited by hand) become text."""
        def text(key: str) -> str | None:
            return None if d.get(key) is None else str(d[key])

        markers = d.get("na_values", [])
        return cls(text("sep"), bool(d.get("header", True)), text("decimal"), text("encoding"),
                   [str(v) for v in (markers if isinstance(markers, list) else [markers])],
                   bool(d.get("default_na", True)))


def gap_markers(options: ReadOptions) -> frozenset[str]:
    """The cells (after stripping spaces) that are gaps."""
    return (MISSING if options.default_na else frozenset({""})) | frozenset(options.na_values)


def reuse(given: dict[str, Any], saved: dict[str, Any]) -> ReadOptions:
    """``predict``/``evaluate``'s options: each one given (not None) wins, else the model's ``saved``
    one (a :meth:`ReadOptions.to_dict`; an older model has none), and the decimal mark ``train``
    found; the delimiter and encoding ``train`` found are found again (the new file may differ)."""
    base = ReadOptions.from_dict(saved or {})
    base.decimal = base.decimal or (saved or {}).get("detected", {}).get("decimal")  # a decimal comma found
    values = {k: v for k, v in given.items() if v is not None and v != []}
    return ReadOptions(**{**base.to_dict(), **values})


def compression_of(path: Path) -> tuple[str, str | None]:
    """``(format suffix, compression suffix or None)``: ``(".csv", ".gz")`` for ``data.csv.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        return (suffixes[-2] if len(suffixes) > 1 else ""), suffixes[-1]
    return (suffixes[-1] if suffixes else ""), None


def read_bytes(path: Path, compression: str | None) -> bytes:
    """The file's content, decompressed."""
    try:
        if compression is None:
            return path.read_bytes()
        if compression == ".zip":
            return _unzip(path)
        if compression == ".zst":
            return _unzstd(path)
        with COMPRESSIONS[compression](path, "rb") as f:
            return f.read()
    except ReadError:
        raise
    except _BROKEN as exc:
        raise ReadError(f"not a readable {compression} file ({exc})") from None


def _unzip(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        members = [m for m in z.infolist() if not m.is_dir()]
        if len(members) != 1:
            raise ReadError(f"a .zip archive must hold one file; this one holds {len(members)}")
        return z.read(members[0])


def _unzstd(path: Path) -> bytes:
    try:
        import zstandard
    except ImportError:
        raise ReadError("reading .zst files needs zstandard: pip install zstandard") from None
    with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as f:
        return f.read()


def decode(data: bytes, encoding: str | None) -> tuple[str, str, str]:
    """``(text, encoding used, note)``: ``encoding`` when given, else detected (see the module
    docstring); the note says when the text was not UTF-8."""
    if encoding is not None:
        try:
            return data.decode(_codec(encoding)), encoding, ""
        except UnicodeDecodeError as exc:
            raise ReadError(f"not {encoding} text ({exc.reason} at byte {exc.start}); give the file's encoding with "
                            "--encoding (e.g. --encoding cp1252 or --encoding latin-1)") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16", "UTF-16 text (by its byte-order mark)"
    try:
        return data.decode("utf-8-sig"), "utf-8", ""
    except UnicodeDecodeError as exc:
        utf8 = exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ReadError(f"neither UTF-8 ({utf8.reason} at byte {utf8.start}) nor Windows-1252 text (byte "
                        f"{data[exc.start]:#04x} at byte {exc.start}); give the file's encoding with --encoding "
                        "(e.g. --encoding latin-1)") from None
    return text, "cp1252", (f"not UTF-8 (byte {data[utf8.start]:#04x} at byte {utf8.start}): read as Windows-1252 "
                            "(cp1252), as Excel writes it; give --encoding if it is another")


def _codec(encoding: str) -> str:
    try:
        name = io.TextIOWrapper(io.BytesIO(), encoding=encoding).encoding
    except LookupError:
        raise ReadError(f"unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1, utf-16)") from None
    return "utf-8-sig" if name.lower().replace("_", "-") in ("utf-8", "utf8") else name
