"""What the app reports and when its run ends: camera output put on screen with its timings, the
run's figures, and the ``--quit-after`` timer. No Kivy here; :mod:`edge_app.app.controller`
decides *when* these run, this module does the counting and the timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edge_app.app.meters import RunStats
from edge_app.app.ports import Camera, Screen, UiLoop
from edge_app.app.presenter import Presenter

#: ``--quit-after`` waits at most this much longer for a first reading (a slow start under load)
FIRST_READING_GRACE_S = 20.0
FINISH_POLL_S = 0.2


class FrameReporter:
    """Puts a camera's newest frame and reading on screen, and keeps the run's figures.

    Args:
        presenter: told what was shown and read.
        screen: shows the frame and the presenter's view.
        clock: the UI loop's clock (for the run's rates).
    """

    def __init__(self, presenter: Presenter, screen: Screen, clock: Callable[[], float]) -> None:
        self._presenter, self._screen, self._clock = presenter, screen, clock
        self.run_stats = RunStats(clock=clock)

    def new_run(self) -> None:
        """A camera connects: the run's figures start again."""
        self.run_stats = RunStats(clock=self._clock)

    def show(self, camera: Camera) -> bool:
        """Show the newest frame, and the newest reading with it; the presenter marks the boxes
        stale when they were found in an earlier frame than the one shown.

        Returns:
            whether a reading was put on screen.
        """
        started = time.perf_counter()
        preview, analysis = camera.take_preview(), camera.take_analysis()
        if not self._presenter.accepts_frames:
            return False
        if preview is not None:
            self._screen.show_frame(preview)
            self._presenter.on_frame_shown(preview.seq)
        read = analysis is not None and analysis.result is not None
        if read:
            reading = analysis.result
            self._presenter.on_model_timing(reading.classify_ms)
            self._presenter.on_frame_reading(reading, analysis.seq)
            self.run_stats.on_reading(analysis.wall_ms, analysis.cpu_ms)
        self._screen.apply(self._presenter.view())
        if preview is not None:
            ui_ms = (time.perf_counter() - started) * 1e3
            self._presenter.on_ui_time(ui_ms)
            self.run_stats.on_shown(ui_ms)
        return read

    def figures(self, camera: Camera) -> dict[str, Any]:
        """The run's figures, JSON-ready, with ``camera``'s capture-side counts."""
        return self.run_stats.as_dict(camera.stats())


class QuitTimer:
    """``--quit-after``: end the run ``seconds`` after :meth:`start`, waiting (at most
    :data:`FIRST_READING_GRACE_S` more) while ``waiting()`` says a first reading is due.

    Args:
        seconds: ``--quit-after`` (None: never).
        loop: the UI loop whose clock and timers it uses.
        waiting: whether the run still waits for its first reading.
        finish: ends the run.
    """

    def __init__(
        self,
        seconds: float | None,
        loop: UiLoop,
        *,
        waiting: Callable[[], bool],
        finish: Callable[[], None],
    ) -> None:
        self._seconds, self._loop = seconds, loop
        self._waiting, self._finish = waiting, finish
        self._deadline: float | None = None

    def start(self) -> None:
        """Count from now: the model is ready, so a slow start under load still shows a
        reading. Only the first call counts."""
        if self._seconds is None or self._deadline is not None:
            return
        self._deadline = self._loop.now() + self._seconds + FIRST_READING_GRACE_S
        self._loop.call_later(self._seconds, self._check)

    def _check(self) -> None:
        if self._waiting() and self._loop.now() < (self._deadline or 0.0):
            self._loop.call_later(FINISH_POLL_S, self._check)
            return
        self._finish()
