"""Background threads, so reading digits never blocks the UI thread. No Kivy here.

* :class:`FrameLoop` pulls frames from a source and analyses each newest one, handing
  ``(frame, result)`` to a callback (the app wraps it to hop onto the UI thread).
* :class:`JobWorker` runs one-off jobs (classify the drawing, read a photo, load a model) on one
  thread; a newer job of the same kind replaces an older one that has not started yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_app.app.sources import FrameSource
from edge_app.errors import DigitLiteError

log = logging.getLogger(__name__)


class FrameLoop:
    """Capture and analyse frames on one background thread.

    Args:
        source: an opened (or openable, see ``open_in_thread``) :class:`FrameSource`.
        analyse: ``frame -> result`` (e.g. ``reader.read``), looked up per frame so a model
            switch takes effect on the next frame.
        on_result: ``(frame, result)``; called on the loop thread - wrap it for the UI.
        on_error: ``(message)``; called once when the source fails, then the loop ends.
        open_in_thread: open the source on the loop thread (not for Kivy's camera).
    """

    def __init__(
        self,
        source: FrameSource,
        analyse: Callable[[np.ndarray], Any],
        on_result: Callable[[np.ndarray, Any], None],
        on_error: Callable[[str], None],
        *,
        open_in_thread: bool = True,
    ) -> None:
        self.source = source
        self._analyse = analyse
        self._on_result = on_result
        self._on_error = on_error
        self._open_in_thread = open_in_thread
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._thread: threading.Thread | None = None
        self.frames = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="digits-frames", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Stop analysing (freeze) without releasing the source."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self, timeout: float = 2.0) -> None:
        """End the loop and release the source.

        A source opened on the loop thread is closed there too, after its last ``read()`` (an
        OpenCV capture must not be released while another thread reads it); a source opened on
        the UI thread (Kivy's camera, GL objects) is closed here, on the UI thread.
        """
        self._stop.set()
        self._running.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("frame loop did not stop within %.1f s", timeout)
        if thread is None or not self._open_in_thread:
            self.source.close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            if self._open_in_thread:
                self.source.open()
            while not self._stop.is_set():
                self._running.wait()
                if self._stop.is_set():
                    break
                frame = self.source.read()
                if self._stop.is_set():
                    break
                result = self._analyse(frame)
                self.frames += 1
                self._on_result(frame, result)
        except DigitLiteError as exc:
            if not self._stop.is_set():
                self._on_error(str(exc))
        except Exception as exc:  # a bug must show up as a message, not a silent dead thread
            log.exception("frame loop crashed")
            if not self._stop.is_set():
                self._on_error(f"{type(exc).__name__}: {exc}")
        finally:
            if self._open_in_thread:
                self.source.close()


class JobWorker:
    """One background thread for one-off jobs; a newer job of a ``kind`` replaces a waiting one.

    ``submit(kind, job, on_done, on_error)`` runs ``job()`` on the worker and then calls
    ``on_done(result)`` or ``on_error(exception)`` on the worker thread.
    """

    def __init__(self) -> None:
        self._pending: dict[str, tuple[Callable[[], Any], Callable, Callable]] = {}
        self._order: list[str] = []
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="digits-jobs", daemon=True)
        self._thread.start()

    def submit(
        self,
        kind: str,
        job: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        with self._cond:
            if kind not in self._pending:
                self._order.append(kind)
            self._pending[kind] = (job, on_done, on_error)
            self._cond.notify()

    def idle(self, timeout: float = 5.0) -> bool:
        """Wait until no job is queued or running (tests); True when idle."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stop)
                if self._stop:
                    return
                kind = self._order.pop(0)
                job, on_done, on_error = self._pending.pop(kind)
                self._busy = True
            try:
                try:
                    result = job()
                except Exception as exc:
                    if not isinstance(exc, DigitLiteError):
                        log.exception("%s job failed", kind)
                    on_error(exc)
                else:
                    on_done(result)
            except Exception:
                log.exception("%s callback failed", kind)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
