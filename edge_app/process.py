"""Process set-up shared by every edge command and the app: thread counts and native noise.

Two things every process that reads digits must decide once, before its first model loads:

* :func:`configure_threads` - how many threads OpenCV may use (and quiet its C++ warnings); the
  number it returns is what the interpreter gets (``Classifier(path, threads=...)``).
* :func:`quiet_native_output` - a context manager that drops the lines native libraries print
  straight to file descriptor 2 while a model loads (LiteRT's "Created TensorFlow Lite XNNPACK
  delegate" on every load), passing everything else through in order.

``digits-predict``, ``digits-app`` and ``digits-serve`` call both; nothing here imports Kivy,
TensorFlow or an interpreter. Only ``cv2`` is imported, inside :func:`configure_threads`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence

log = logging.getLogger(__name__)

#: One thread for OpenCV and for the interpreter. A 28x28 model and one 640x480 frame gain
#: nothing from more, and on a busy CPU extra threads fight each other: OpenCV's filters took
#: 1.8 ms median per frame with 1 thread and 6 ms with 2 on this 2-core machine under load.
DEFAULT_THREADS = 1

#: Substrings of native stderr lines that :func:`quiet_native_output` drops.
NATIVE_NOISE: tuple[str, ...] = ("Created TensorFlow Lite XNNPACK delegate",)

# fd 2 is one per process: two threads redirecting it at once would restore each other's
# temporary file instead of the real stderr, so redirections take turns.
_FD2_LOCK = threading.RLock()


def configure_threads(threads: int = DEFAULT_THREADS, *, verbose: bool = False) -> int:
    """Cap OpenCV's thread pool at ``threads`` and keep its C++ warnings off stderr.

    Call it once, early, in the process (before the first frame is read). OpenCV's decoder
    warnings ("PNG input buffer is incomplete") repeat what our own error lines say more
    clearly, so they are shown only when ``verbose``.

    Args:
        threads: threads for OpenCV and, through the return value, for the interpreter (>= 1).
        verbose: leave OpenCV's own log level alone (``-v``).

    Returns:
        ``threads``, to hand to the interpreter: ``Classifier(path, threads=...)``.

    Raises:
        ValueError: ``threads`` is below 1.
    """
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    try:
        import cv2
    except ImportError:  # an install without OpenCV (Pillow-only) has nothing to cap
        return threads
    cv2.setNumThreads(threads)
    if not verbose:
        with contextlib.suppress(AttributeError, ImportError):
            from cv2.utils import logging as cv_logging

            cv_logging.setLogLevel(cv_logging.LOG_LEVEL_ERROR)
    log.debug("OpenCV and interpreter threads: %d", threads)
    return threads


@contextlib.contextmanager
def quiet_native_output(
    enabled: bool = True, noise: Sequence[str] = NATIVE_NOISE
) -> Iterator[None]:
    """Drop native-library chatter from fd 2 while the block runs (typically a model load).

    Everything written to fd 2 meanwhile (by C++ code or by Python, our own log lines
    included) is held back and written out when the block ends, minus the lines containing one
    of ``noise``. Redirections from several threads take turns; keep the block short, since
    other threads' stderr output waits until it ends.

    Args:
        enabled: False makes this a no-op (``-v`` shows the native lines).
        noise: substrings of the lines to drop.
    """
    try:
        fd = sys.stderr.fileno() if enabled else -1
    except (AttributeError, OSError, ValueError):  # stderr replaced by something without a fd
        fd = -1
    if fd < 0:
        yield
        return
    with _FD2_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(fd)
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            kept = [
                line
                for line in sink.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not any(n in line for n in noise)
            ]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
