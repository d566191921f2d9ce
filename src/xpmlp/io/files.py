"""Files a command reads and writes, handled so that no write destroys an input or leaves a partial file.

* :func:`require_regular` refuses an input path that is not a regular file (a directory, a
  FIFO that would block for ever, ``/dev/zero`` that would be read until memory runs out)
  before it is opened;
* :func:`check_outputs` refuses, before any work, an output path that is (or links to) one of
  the command's inputs or another of its outputs, a directory, or one whose directory is
  missing or not writable -- each error names the user's path;
* :func:`replace_atomically` writes a file through a temporary file in the target's directory
  (fsync, then :func:`os.replace`): an error or a kill leaves any earlier file whole, the
  temporary file is removed on every error path, and a temporary file that a killed write
  left (``.NAME.XXXXXXXX.tmp``, untouched for :data:`STALE_AFTER_S` seconds) is removed by the
  next write to that path.  An existing file keeps its permission bits; a symbolic link is
  written through: its target is replaced, the link stays.  A device or a FIFO (``/dev/null``,
  ``/dev/stdout``) is written as it is.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import IO, Callable, Mapping, Sequence

__all__ = ["OutputError", "require_regular", "check_outputs", "replace_atomically", "STALE_AFTER_S"]

#: A temporary file of an earlier write untouched this long (seconds) belongs to a killed write.
STALE_AFTER_S = 60.0

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class OutputError(ValueError):
    """An output path that would destroy an input, or cannot be written."""


def require_regular(path: "str | os.PathLike", what: str) -> None:
    """Refuse ``path`` (a ``what``: "model file", "data file") if it exists and is not a regular
    file; a missing path is left to the reader's own message."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise ValueError(f"{os.fspath(path)}: is {kind}, not a {what}")


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they lead
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs: Mapping[str, "str | os.PathLike | None"], inputs: Sequence["str | os.PathLike"]) -> None:
    """Before any work: every output (``{"--save": path, ...}``; None skipped) is no input and no
    other output, is not a directory, and its directory exists and is writable."""
    given = [(option, os.fspath(path)) for option, path in outputs.items() if path is not None]
    for i, (option, path) in enumerate(given):
        for source in inputs:
            if _same(path, os.fspath(source)):
                raise OutputError(f"{option} {path} would overwrite the input {os.fspath(source)}; "
                                  "give another output path")
        for other, earlier in given[:i]:
            if _same(path, earlier):
                raise OutputError(f"{option} {path} is also the path of {other}; give each output its own path")
        if os.path.isdir(path):
            raise OutputError(f"{option} {path}: is a directory; give a file name")
        if _special(path):  # /dev/null, /dev/stdout, a FIFO: written as it is
            continue
        directory = os.path.dirname(os.path.realpath(path))
        if not os.path.isdir(directory):
            raise OutputError(f"{option} {path}: the directory {os.path.dirname(path) or '.'} does not exist")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutputError(f"{option} {path}: cannot write in the directory {os.path.dirname(path) or '.'} "
                              "(permission denied)")


def _special(path: "str | os.PathLike") -> bool:
    """Whether ``path`` exists and is neither a regular file nor a directory (a device, a FIFO)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _remove_stale(target: Path) -> None:
    """Remove the temporary files killed writes to ``target`` left (not those of a write under way)."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            with contextlib.suppress(OSError):
                if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) \
                        and now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S:
                    os.unlink(entry.path)


def _mode(target: Path) -> int:
    """An existing file's permission bits; else those a plain ``open()`` would give."""
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(os.stat(target).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def replace_atomically(path: "str | os.PathLike", write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``'s target, then rename it over the
    target.  Returns ``path``.  An ``OSError`` names ``path`` (never the temporary file)."""
    path = Path(path)
    if _special(path):  # /dev/null, /dev/stdout, a FIFO: nothing to replace, nothing partial left behind
        with open(path, "wb") as f:
            write(f)
        return path
    target = Path(os.path.realpath(path))  # through a symbolic link: the link stays, its target is replaced
    _remove_stale(target)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.fchmod(fd, _mode(target))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from exc
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path
