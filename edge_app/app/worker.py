"""One background thread for one-off jobs, so they never block the UI thread. No Kivy here.

:class:`JobWorker` runs one-off jobs (classify the drawing, read a photo, load a model) on one
thread; a newer job of the same kind replaces an older one that has not started yet. Camera
frames have their own threads (:mod:`edge_app.app.pipeline`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from edge_app.errors import DigitLiteError

log = logging.getLogger(__name__)


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

    @property
    def busy(self) -> bool:
        """A job is queued or running."""
        with self._cond:
            return bool(self._pending) or self._busy

    def idle(self, timeout: float = 5.0) -> bool:
        """Wait until no job is queued or running (tests); True when idle."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stop(self) -> None:
        """Let the thread end after the job it is running; waiting jobs are dropped. Does not
        wait (the UI thread calls it): :meth:`join` does, at shutdown."""
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._order.clear()
            self._cond.notify_all()

    def join(self, timeout: float = 2.0) -> bool:
        """Wait for the thread to end; True when it did."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

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
