"""Write converter outputs atomically: a temp file beside the target, then ``os.replace``.

A crash or Ctrl-C leaves either the previous complete file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from converter.errors import OutputError


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_bytes(target: str | Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``target`` (mode as a plain ``open`` would create it).

    Raises:
        OutputError: the directory cannot be written.
    """
    target = Path(target)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write into {target.parent}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def write_text(target: str | Path, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``target``."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | Path, data: Any) -> Path:
    """Atomically write ``data`` as indented JSON with a trailing newline."""
    return write_text(target, json.dumps(data, indent=2) + "\n")


def ensure_writable_dir(directory: str | Path) -> Path:
    """Create ``directory`` if needed and prove a file can be written there.

    Called before any slow work so an unwritable ``--out`` fails at once, with nothing written.

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
        raise OutputError(f"cannot write into {directory}: {exc.strerror or exc}") from exc
    return directory
