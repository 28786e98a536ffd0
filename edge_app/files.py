"""Files on disk: written atomically, and hashed.

Every artifact DigitLite writes (models, reports, figures, downloads) goes through
:func:`atomic_path`: a temporary file in the target's own directory, flushed to disk with
``fsync`` and renamed over the target with ``os.replace``. A crash or Ctrl-C therefore leaves
either the previous complete file or the new complete one, never half of one. New files get the
mode a plain ``open`` would give them (``0o666`` less the umask), whoever writes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge_app.errors import OutputError


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    The temporary file keeps ``target``'s suffix, because some writers insist on it (Keras
    wants ``.keras``). Whatever the block writes there is synced to disk before the rename. If
    the block raises, its exception goes on unchanged, ``target`` is untouched and the
    temporary file is removed.

    Raises:
        OutputError: the directory cannot be written, or the finished file cannot be synced or
            renamed into place.
    """
    target = Path(target)
    try:
        fd, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix
        )
    except OSError as exc:
        raise OutputError(f"cannot write into {target.parent}: {_reason(exc)}") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        try:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, _umask_mode())  # mkstemp makes files private; artifacts are shared
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {_reason(exc)}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(target: str | Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``target``; returns ``target`` as a Path.

    Raises:
        OutputError: it cannot be written.
    """
    with atomic_path(target) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {_reason(exc)}") from exc
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``target``."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | Path, data: Any) -> Path:
    """Atomically write ``data`` as indented JSON with a trailing newline.

    Paths are written as strings and numpy scalars and arrays as numbers and lists.
    """
    return write_text(target, json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def ensure_writable_dir(directory: str | Path) -> Path:
    """Create ``directory`` if needed and prove a file can be written there.

    Called before any slow work, so an unwritable output directory fails at once, with nothing
    written.

    Raises:
        OutputError: it cannot be created, is not a directory, or is read-only.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"output {directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to output directory {directory}: {_reason(exc)}") from exc
    return directory


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's contents (read in chunks: a large file is never all in memory).

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()
