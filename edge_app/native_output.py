"""What native code writes straight to the standard file descriptors, held back or filtered.

C and C++ libraries write to file descriptors 1 and 2 directly, past ``sys.stdout`` and
``sys.stderr``: the TFLite interpreter says "Created TensorFlow Lite XNNPACK delegate" on every
load, libpng and libjpeg inside OpenCV describe every damaged image ("libpng error: IDAT: CRC
error"), TensorFlow prints banners. Python cannot silence them; only the descriptor can be
pointed elsewhere for a while.

* :func:`hold_output` - the one mechanism: while the block runs, whatever reaches the given
  descriptors (from native code and from Python alike) goes to a temporary file; its text is
  handed back when the block ends.
* :func:`quiet_native_output` - drop the lines of fd 2 that contain one of a few known phrases
  and pass everything else on, in order.

The descriptors are one per process, so redirections from several threads take turns; keep the
blocks short, since other threads' output to a held descriptor waits until the block ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

#: Lines of fd 2 that :func:`quiet_native_output` drops by default: the interpreter's load
#: chatter, which says nothing a user needs.
NATIVE_NOISE: tuple[str, ...] = ("Created TensorFlow Lite XNNPACK delegate",)

# Two threads redirecting a descriptor at once would restore each other's temporary file
# instead of the real descriptor, so redirections take turns.
_LOCK = threading.RLock()


@dataclass
class Held:
    """What reached the held descriptors; ``text`` is filled in when the block ends."""

    text: str = ""


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()


@contextlib.contextmanager
def hold_output(fds: Sequence[int] = (2,)) -> Iterator[Held]:
    """Send what is written to the file descriptors ``fds`` to a temporary file meanwhile.

    Python's own ``sys.stdout``/``sys.stderr`` are flushed first, so nothing written before the
    block is caught in it. A descriptor that is not open (a daemon) is left alone.

    Args:
        fds: the descriptors to hold, e.g. ``(2,)`` or ``(1, 2)``.

    Yields:
        A :class:`Held` whose ``text`` is what was written (decoded as UTF-8, bad bytes
        replaced) once the block has ended.
    """
    held = Held()
    with _LOCK, tempfile.TemporaryFile() as sink:
        _flush()
        saved: dict[int, int] = {}
        try:
            for fd in fds:
                with contextlib.suppress(OSError):
                    saved[fd] = os.dup(fd)
            for fd in saved:
                os.dup2(sink.fileno(), fd)
            yield held
        finally:
            _flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            held.text = sink.read().decode("utf-8", "replace")


@contextlib.contextmanager
def quiet_native_output(
    enabled: bool = True, noise: Sequence[str] = NATIVE_NOISE
) -> Iterator[None]:
    """Drop native-library chatter from fd 2 while the block runs (a model load, a decode).

    Everything written to fd 2 meanwhile (by C++ code or by Python, our own log lines
    included) is held back and written to ``sys.stderr`` when the block ends, minus the lines
    containing one of ``noise``.

    Args:
        enabled: False makes this a no-op (``-v`` shows the native lines).
        noise: substrings of the lines to drop.
    """
    if not enabled:
        yield
        return
    held = Held()
    try:
        with hold_output((2,)) as held:
            yield
    finally:  # what the block said before it failed is passed on too
        kept = [
            line
            for line in held.text.splitlines(keepends=True)
            if not any(phrase in line for phrase in noise)
        ]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
