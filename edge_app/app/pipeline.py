"""Camera frames to the screen and to the reader on two threads that never wait for each other.

Camera4Kivy's rule: show every frame the camera delivers, analyse the newest one.

* The **capture thread** reads a frame, numbers it (a source that hands out the very same
  array again - a still image - keeps its number: boxes found in it still belong to it), turns
  it into screen pixels
  (:func:`~edge_app.app.geometry.make_preview`, so the UI thread only uploads bytes), leaves
  the preview for the UI and the frame for the analyser, and wakes the UI.
* The **analysis thread** takes the newest frame - frames that arrived while it was busy are
  dropped, never queued - reads it, leaves the result (tagged with the frame's number) for the
  UI, and wakes the UI.
* The **UI thread**, woken through one coalesced trigger, takes the newest preview and the
  newest result. The frame number on both lets it tell whether the boxes belong to the frame on
  screen.

Each hand-over is a :class:`LatestSlot`: one item, the newest; a slow reader of the slot never
slows its writer. No Kivy here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from edge_app.app.geometry import Preview, make_preview
from edge_app.app.sources import FrameSource
from edge_app.errors import DigitLiteError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a new pipeline waits for the one it replaces to release the camera.
RELEASE_WAIT_S = 5.0


@dataclass(frozen=True)
class Frame:
    """One camera frame: its number in capture order (from 1), the BGR pixels, when it came."""

    seq: int
    image: np.ndarray
    captured: float


@dataclass(frozen=True)
class Analysis:
    """What the analyser made of frame ``seq``: ``result``, in ``wall_ms`` (``cpu_ms`` of CPU)."""

    seq: int
    result: Any
    wall_ms: float
    cpu_ms: float


@dataclass(frozen=True)
class PipelineStats:
    """Counts and rates since the pipeline started.

    Attributes:
        captured: frames read from the source.
        analysed: frames read for digits.
        analysis_dropped: frames the analyser skipped because a newer one had arrived.
        previews_dropped: previews replaced before the UI took them (frames never shown).
        capture_fps: frames read from the source per second (None before two).
        analysis_fps: frames read for digits per second (None before two).
    """

    captured: int = 0
    analysed: int = 0
    analysis_dropped: int = 0
    previews_dropped: int = 0
    capture_fps: float | None = None
    analysis_fps: float | None = None


class _Beat:
    """How often something happened: count, first and last time (one writer thread)."""

    def __init__(self) -> None:
        self.count = 0
        self.first = self.last = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        self.count += 1
        if self.count == 1:
            self.first = now
        self.last = now

    @property
    def rate(self) -> float | None:
        span = self.last - self.first
        return round((self.count - 1) / span, 2) if self.count > 1 and span > 0 else None


class LatestSlot(Generic[T]):
    """A one-item hand-over between threads: ``put`` replaces (and counts) an untaken item.

    The frame dropper: whoever takes from the slot always gets the newest item, and a slow taker
    never holds up the putter. ``close()`` wakes a waiting :meth:`wait` with None.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self) -> T | None:
        """The item, or None when there is none; the slot is empty afterwards."""
        with self._cond:
            item, self._item = self._item, None
            return item

    def wait(self, timeout: float | None = None) -> T | None:
        """Block until an item is there (or the slot is closed, or ``timeout``), then take it."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class CameraPipeline:
    """Capture and preview on one thread, analysis on another; results handed to the UI.

    Args:
        source: the frame source (opened here on the capture thread, unless
            ``open_in_thread`` is False: Kivy's camera is opened on the UI thread).
        analyse: ``image -> result`` (e.g. ``reader.read``), called on the analysis thread.
        wake: called (from either thread) when a preview or a result is ready; the app passes
            a coalesced UI trigger.
        on_error: ``(message)``, called once from a background thread when the source fails or
            the analyser crashes; both threads then end.
        prepare: ``(frame, seq) -> Preview``, on the capture thread.
        open_in_thread: open and close the source on the capture thread.
        previous: the pipeline this one replaces; the source is opened only once that one has
            released its own (a camera that is still held cannot be opened twice).
    """

    def __init__(
        self,
        source: FrameSource,
        analyse: Callable[[np.ndarray], Any],
        *,
        wake: Callable[[], None],
        on_error: Callable[[str], None],
        prepare: Callable[[np.ndarray, int], Preview] = make_preview,
        open_in_thread: bool = True,
        previous: CameraPipeline | None = None,
    ) -> None:
        self.source = source
        self._analyse = analyse
        self._wake = wake
        self._on_error = on_error
        self._prepare = prepare
        self._open_in_thread = open_in_thread
        self._previous = previous
        self._previews: LatestSlot[Preview] = LatestSlot()
        self._frames: LatestSlot[Frame] = LatestSlot()
        self._analyses: LatestSlot[Analysis] = LatestSlot()
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._failed = threading.Lock()  # taken once: on_error is reported a single time
        self.released = threading.Event()  # the source is closed (or was never opened)
        self._threads: list[threading.Thread] = []
        self._captured = _Beat()
        self._analysed = _Beat()

    # ------------------------------------------------------------------ control (UI thread)
    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._capture, name="digits-capture", daemon=True),
            threading.Thread(target=self._analysis, name="digits-analysis", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def pause(self) -> None:
        """Stop reading frames (freeze) without releasing the source."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        """End both threads and release the source, without waiting for them.

        A source opened on the capture thread is closed there, after its last ``read()`` (an
        OpenCV capture must not be released while another thread reads it); a source opened on
        the UI thread (Kivy's camera) is closed here and now.
        """
        self._stop.set()
        self._running.set()
        self._frames.close()
        if not self._open_in_thread or not self._threads:
            self.source.close()
            self.released.set()

    def join(self, timeout: float = 2.0) -> bool:
        """Wait for both threads to end (shutdown after the UI loop, tests). True when ended."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        return not any(t.is_alive() for t in self._threads)

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads) and not self._stop.is_set()

    # ------------------------------------------------------------------ hand-over (UI thread)
    def take_preview(self) -> Preview | None:
        """The newest frame ready for the screen, or None when none came since the last take."""
        return self._previews.take()

    def take_analysis(self) -> Analysis | None:
        """The newest analysis, or None when none finished since the last take."""
        return self._analyses.take()

    def stats(self) -> PipelineStats:
        return PipelineStats(
            captured=self._captured.count,
            analysed=self._analysed.count,
            analysis_dropped=self._frames.dropped,
            previews_dropped=self._previews.dropped,
            capture_fps=self._captured.rate,
            analysis_fps=self._analysed.rate,
        )

    # ------------------------------------------------------------------ threads
    def _fail(self, message: str) -> None:
        if not self._stop.is_set() and self._failed.acquire(blocking=False):
            self._stop.set()
            self._frames.close()
            self._on_error(message)

    def _capture(self) -> None:
        opened = False
        seq, last = 0, None
        try:
            if self._previous is not None and not self._previous.released.wait(RELEASE_WAIT_S):
                log.warning("the previous camera was not released within %.0f s", RELEASE_WAIT_S)
            self._previous = None
            if self._open_in_thread and not self._stop.is_set():
                self.source.open()
                opened = True
            while not self._stop.is_set():
                self._running.wait()
                if self._stop.is_set():
                    break
                image = self.source.read()
                if self._stop.is_set():
                    break
                self._captured.tick()
                if image is not last:  # the very same array again (a still image): same frame
                    seq, last = seq + 1, image
                self._previews.put(self._prepare(image, seq))
                self._frames.put(Frame(seq, image, time.monotonic()))
                self._wake()
        except DigitLiteError as exc:
            self._fail(str(exc))
        except Exception as exc:  # a bug must show up as a message, not a silent dead thread
            log.exception("capture crashed")
            self._fail(f"{type(exc).__name__}: {exc}")
        finally:
            self._frames.close()
            if self._open_in_thread:
                if opened:
                    self.source.close()
                self.released.set()

    def _analysis(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._frames.wait()
                if frame is None or self._stop.is_set():
                    break
                wall, cpu = time.perf_counter(), time.thread_time()
                result = self._analyse(frame.image)
                analysis = Analysis(
                    frame.seq,
                    result,
                    (time.perf_counter() - wall) * 1e3,
                    (time.thread_time() - cpu) * 1e3,
                )
                self._analysed.tick()
                self._analyses.put(analysis)
                self._wake()
        except Exception as exc:
            log.exception("analysis crashed")
            self._fail(f"cannot read frames: {type(exc).__name__}: {exc}")
