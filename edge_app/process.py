"""Process set-up shared by every edge command and the app: how many threads.

Every process that reads digits decides once, before its first model loads, how many threads
OpenCV may use (and quiets OpenCV's C++ warnings) with :func:`configure_threads`; the number it
returns is what the interpreter gets (``Classifier(path, threads=...)``). ``digits-predict``,
``digits-app`` and ``digits-serve`` call it; the native chatter of model loads and image decoding
is filtered by :mod:`edge_app.native_output`. Nothing here imports Kivy, TensorFlow or an
interpreter; only ``cv2`` is imported, inside :func:`configure_threads`.
"""

from __future__ import annotations

import contextlib
import logging

log = logging.getLogger(__name__)

#: One thread for OpenCV and for the interpreter. A 28x28 model and one 640x480 frame gain
#: nothing from more, and on a busy CPU extra threads fight each other: OpenCV's filters took
#: 1.8 ms median per frame with 1 thread and 6 ms with 2 on this 2-core machine under load.
DEFAULT_THREADS = 1


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
