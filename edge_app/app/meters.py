"""The rates and timings the app reports. No Kivy here.

* :class:`RateMeter` and :class:`RollingMedian` - recent figures for the status line.
* :class:`RunStats` - totals since the camera started, for ``--quit-after``'s JSON: the rates
  of frames captured, shown and analysed (and of readings put on screen: the UI takes only the
  newest), read time, and the UI thread's time per frame (wall time of the app's own work on a
  frame, and the UI thread's CPU time per frame, Kivy's drawing included).
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

#: Samples kept by :class:`RunStats` per series (a 10-minute run at 30 fps fits).
RUN_SAMPLES = 20_000


class RateMeter:
    """Events per second over a sliding window of timestamps."""

    def __init__(self, window: int = 20, clock: Callable[[], float] = time.monotonic) -> None:
        self._stamps: deque[float] = deque(maxlen=window)
        self._clock = clock

    def tick(self) -> float | None:
        """Count one event now; returns the rate (None until two events were seen)."""
        self._stamps.append(self._clock())
        return self.rate

    @property
    def rate(self) -> float | None:
        if len(self._stamps) < 2:
            return None
        span = self._stamps[-1] - self._stamps[0]
        return (len(self._stamps) - 1) / span if span > 0 else None

    def reset(self) -> None:
        self._stamps.clear()


class RollingMedian:
    """The median of the last ``window`` values (None before the first)."""

    def __init__(self, window: int = 30) -> None:
        self._values: deque[float] = deque(maxlen=window)

    def add(self, value: float) -> float:
        self._values.append(float(value))
        return statistics.median(self._values)

    @property
    def value(self) -> float | None:
        return statistics.median(self._values) if self._values else None

    def reset(self) -> None:
        self._values.clear()


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return {"median": round(statistics.median(ordered), 3), "p90": round(p90, 3)}


class _Series:
    """Timestamps of one kind of event, for a rate over the whole run."""

    def __init__(self) -> None:
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None

    def tick(self, now: float) -> None:
        self.count += 1
        self.first = now if self.first is None else self.first
        self.last = now

    @property
    def rate(self) -> float | None:
        if self.count < 2 or self.first is None or self.last is None or self.last <= self.first:
            return None
        return round((self.count - 1) / (self.last - self.first), 2)


class RunStats:
    """Totals over a run: call :meth:`on_shown` on the UI thread for every frame put on screen
    (with the UI time it cost) and :meth:`on_reading` for every camera reading shown.

    Args:
        clock: wall clock (seconds).
        thread_clock: the calling thread's CPU clock; :meth:`on_shown` runs on the UI thread,
            so it measures the UI thread's CPU time between the first and the last frame.
        process_clock: the process's CPU clock (all threads).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        thread_clock: Callable[[], float] = time.thread_time,
        process_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self._clock, self._thread_clock, self._process_clock = clock, thread_clock, process_clock
        self._started, self._cpu_started = clock(), process_clock()
        self._shown, self._read = _Series(), _Series()
        self._ui_ms: deque[float] = deque(maxlen=RUN_SAMPLES)
        self._read_ms: deque[float] = deque(maxlen=RUN_SAMPLES)
        self._read_cpu_ms: deque[float] = deque(maxlen=RUN_SAMPLES)
        self._ui_cpu_first: float | None = None
        self._ui_cpu_last: float | None = None

    def on_shown(self, ui_ms: float) -> None:
        self._shown.tick(self._clock())
        self._ui_ms.append(ui_ms)
        cpu = self._thread_clock()
        self._ui_cpu_first = cpu if self._ui_cpu_first is None else self._ui_cpu_first
        self._ui_cpu_last = cpu

    def on_reading(self, wall_ms: float, cpu_ms: float) -> None:
        self._read.tick(self._clock())
        self._read_ms.append(wall_ms)
        self._read_cpu_ms.append(cpu_ms)

    def as_dict(self, pipeline: Any = None) -> dict[str, Any]:
        """JSON-ready totals; ``pipeline`` (a :class:`~edge_app.app.pipeline.PipelineStats`)
        adds the capture-side counts."""
        ui_cpu = None
        first, last = self._ui_cpu_first, self._ui_cpu_last
        if self._shown.count > 1 and first is not None and last is not None:
            ui_cpu = round((last - first) * 1e3 / (self._shown.count - 1), 3)
        out: dict[str, Any] = {
            "frames_shown": self._shown.count,
            "readings_shown": self._read.count,
            "preview_fps": self._shown.rate,
            "readings_shown_fps": self._read.rate,
            "ui_ms": _summary(self._ui_ms),
            "ui_cpu_ms_per_frame": ui_cpu,
            "read_ms": _summary(self._read_ms),
            "read_cpu_ms": _summary(self._read_cpu_ms),
            "wall_s": round(self._clock() - self._started, 3),
            "cpu_s": round(self._process_clock() - self._cpu_started, 3),
        }
        if pipeline is not None:
            out.update(
                frames_captured=pipeline.captured,
                frames_analysed=pipeline.analysed,
                analysis_dropped=pipeline.analysis_dropped,
                previews_dropped=pipeline.previews_dropped,
                capture_fps=pipeline.capture_fps,
                analysis_fps=pipeline.analysis_fps,
            )
        return out
