"""What the app shows, decided in plain Python: no Kivy here, so every decision is unit-tested.

The widgets feed the presenter events (a reading arrived, the camera failed, the user froze the
view, picked a model, drew a stroke) and draw whatever :meth:`Presenter.view` returns. The
presenter smooths camera readings so the number on screen does not flicker, formats the latency
and frame rate, chooses the message for every failure, and keeps the model-switching state.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from edge_app.app.config import MODES
from edge_app.app.meters import RateMeter, RollingMedian
from edge_app.app.view import Bar, Box, View

NO_DIGITS = "no digits found"
DRAW_HINT = "draw a digit"
#: a camera number shown on screen must be read in ``SMOOTH_MIN_COUNT`` of the last
#: ``SMOOTH_WINDOW`` frames; it then stays until another number is read as often.
SMOOTH_WINDOW = 5
SMOOTH_MIN_COUNT = 3
#: the figures in the status line change at most this often (a label re-renders its text
#: texture on every change: 30 times a second would cost the UI thread for nothing)
STATUS_REFRESH_S = 0.5


class ReadingSmoother:
    """Majority vote over recent camera readings, so one odd frame never changes the display.

    A reading (the whole digit string, ``""`` for none) is shown once it was seen in ``min_count``
    of the last ``window`` frames; until another reading gets there, the shown one stays.
    """

    def __init__(self, window: int = SMOOTH_WINDOW, min_count: int = SMOOTH_MIN_COUNT) -> None:
        if not 1 <= min_count <= window:
            raise ValueError(f"need 1 <= min_count <= window, got {min_count} of {window}")
        self.window, self.min_count = window, min_count
        self._recent: deque[str] = deque(maxlen=window)
        self.stable: str | None = None  # None: nothing stable yet

    def push(self, digits: str) -> str | None:
        """Add one frame's reading; return the reading to show (None until one is stable)."""
        self._recent.append(digits)
        best, count = Counter(self._recent).most_common(1)[0]
        if count >= self.min_count:
            self.stable = best
        return self.stable

    def reset(self) -> None:
        self._recent.clear()
        self.stable = None


@dataclass
class _ModelState:
    names: list[str] = field(default_factory=list)
    current: str = ""


class Presenter:
    """The app's decisions. Call the ``on_*`` methods from the UI thread, then read :meth:`view`.

    Args:
        mode: the mode to open in.
        smoother: how camera readings are stabilised (default 3 of 5 frames).
        clock: time source for the frame rate (injectable for tests).
    """

    def __init__(
        self,
        mode: str = "camera",
        *,
        smoother: ReadingSmoother | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        self.smoother = smoother or ReadingSmoother()
        self.preview_rate = RateMeter(clock=clock)
        self.analysis_rate = RateMeter(clock=clock)
        self.ui_time = RollingMedian()
        self._clock = clock
        self._shown_seq = 0  # the camera frame on screen
        self._boxes_seq = 0  # the camera frame the boxes were found in
        self._figures: tuple[float | None, ...] = (None,) * 5  # the figures the status shows
        self._figures_at = float("-inf")
        self._models = _ModelState()
        self._view = View(mode=mode)
        self._camera_notice = ""  # sticky: stays on screen while the camera is unusable
        self._model_notice = ""  # sticky until another model is picked

    # ----------------------------------------------------------------- reading the state
    def view(self) -> View:
        """The current screen state (an immutable copy)."""
        return replace(self._view, model=self._models.current, models=tuple(self._models.names))

    @property
    def mode(self) -> str:
        return self._view.mode

    @property
    def frozen(self) -> bool:
        return self._view.frozen

    @property
    def accepts_frames(self) -> bool:
        """Whether camera frames should be analysed and shown now (camera mode, not frozen)."""
        v = self._view
        return v.mode == "camera" and v.camera_available and not v.frozen

    # ----------------------------------------------------------------- modes
    def set_mode(self, mode: str) -> View:
        """Switch mode. Camera mode is refused (draw mode stays) once the camera has failed."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if mode == "camera" and not self._view.camera_available:
            return self.view()
        message = DRAW_HINT if mode == "draw" else ""
        self.smoother.reset()
        self._reset_rates()
        self._set(mode=mode, number="", boxes=(), bars=(), message=message, frozen=False)
        return self.view()

    def on_camera_failed(self, reason: str) -> View:
        """No camera, or permission refused: say so and move to draw mode (never crash)."""
        self._camera_notice = f"camera unavailable: {reason} - draw a digit instead"
        self._set(camera_available=False)
        if self._view.mode == "camera":
            self._reset_rates()
            self._set(mode="draw", number="", boxes=(), bars=(), frozen=False, message=DRAW_HINT)
        return self.view()

    def on_camera_started(self) -> View:
        self._camera_notice = ""
        self._set(camera_available=True)
        return self.view()

    # ----------------------------------------------------------------- camera
    def toggle_freeze(self) -> View:
        """Hold (or release) the current frame and its reading."""
        if self._view.mode != "camera":
            return self.view()
        frozen = not self._view.frozen
        if not frozen:
            self._reset_rates()
        self._set(frozen=frozen)
        return self.view()

    def on_frame_shown(self, seq: int) -> View:
        """Camera frame ``seq`` is now on screen (every frame is, whether read or not)."""
        if not self.accepts_frames:
            return self.view()
        self._shown_seq = seq
        self._set(
            preview_fps=self.preview_rate.tick(),
            boxes_stale=bool(self._view.boxes) and self._boxes_seq != seq,
        )
        return self.view()

    def on_frame_reading(self, reading: Any, seq: int | None = None) -> View:
        """Camera frame ``seq`` was read (``Reading``: ``digits``, ``detections``,
        ``latency_ms``). Its boxes are marked stale while a later frame is on screen."""
        if not self.accepts_frames:
            return self.view()
        self._boxes_seq = self._shown_seq if seq is None else seq
        shown = self.smoother.push(reading.digits)
        boxes = _boxes(reading.detections)
        self._set(
            number=shown or "",
            boxes=boxes,
            boxes_stale=bool(boxes) and self._boxes_seq != self._shown_seq,
            message=NO_DIGITS if shown == "" else "",
            latency_ms=float(reading.latency_ms),
            analysis_fps=self.analysis_rate.tick(),
        )
        return self.view()

    def on_ui_time(self, ms: float) -> None:
        """The UI thread spent ``ms`` on the last camera frame (upload, boxes, labels)."""
        self._set(ui_ms=self.ui_time.add(ms))

    # ----------------------------------------------------------------- image
    def on_image_reading(self, reading: Any, name: str = "") -> View:
        """A photo was read: its digits, or "no digits found" - never a guess."""
        digits = reading.digits
        message = NO_DIGITS if not digits else (name or "")
        self._set(
            number=digits,
            boxes=_boxes(reading.detections),
            boxes_stale=False,
            message=message,
            latency_ms=float(reading.latency_ms),
        )
        return self.view()

    def on_saved(self, saved: Any) -> View:
        """*Save* finished (``Saved``: ``new``, ``already``, ``folder``): say where they went."""
        if saved.new == 0 and saved.already == 0:
            message = "nothing read here yet to save"
        else:
            noun = "digit" if saved.new == 1 else "digits"
            again = f" ({saved.already} saved before)" if saved.already else ""
            message = f"saved {saved.new} {noun} to {saved.folder}{again}"
        self._set(message=message)
        return self.view()

    def on_save_failed(self, reason: str) -> View:
        self._set(message=f"cannot save: {reason}")
        return self.view()

    def on_image_failed(self, reason: str) -> View:
        self._set(number="", boxes=(), message=reason)
        return self.view()

    # ----------------------------------------------------------------- draw
    def on_drawing_prediction(
        self, prediction: Any | None, latency_ms: float | None = None
    ) -> View:
        """The canvas was classified (``Prediction`` with ``top``), or is empty (None)."""
        if prediction is None:
            self._set(number="", bars=(), message=DRAW_HINT)
            return self.view()
        bars = tuple(Bar(int(d), float(p)) for d, p in prediction.top[:3])
        self._set(
            number=str(prediction.digit),
            bars=bars,
            message="",
            model_ms=latency_ms if latency_ms is not None else self._view.model_ms,
        )
        return self.view()

    # ----------------------------------------------------------------- models
    def set_models(self, names: Sequence[str], current: str, warning: str = "") -> View:
        """The models on offer and the one in use (``warning``: why it is not the one asked)."""
        self._models = _ModelState(list(names), current)
        self._model_notice = warning
        self._set()
        return self.view()

    def request_model(self, name: str) -> str | None:
        """The user picked a model. Returns the name to load, or None when nothing to do."""
        if name == self._models.current or name not in self._models.names:
            return None
        return name

    def on_model_loaded(self, name: str, model_ms: float | None = None) -> View:
        self._models.current = name
        self.smoother.reset()
        self.analysis_rate.reset()
        self._model_notice = ""
        self._set(message=f"model {name} loaded", model_ms=model_ms, analysis_fps=None)
        return self.view()

    def on_model_failed(self, name: str, reason: str) -> View:
        """Loading failed: keep the current model and say why."""
        if name in self._models.names and name != self._models.current:
            self._models.names.remove(name)
        self._model_notice = (
            f"cannot use model {name}: {reason}; still using {self._models.current}"
        )
        self._set()
        return self.view()

    def on_model_timing(self, model_ms: float) -> None:
        """The last inference call's model-only time (the classifier's ``last_latency_ms``)."""
        self._set(model_ms=float(model_ms))

    # ----------------------------------------------------------------- internals
    def _reset_rates(self) -> None:
        self.preview_rate.reset()
        self.analysis_rate.reset()
        self.ui_time.reset()
        self._figures_at = float("-inf")
        self._view = replace(self._view, preview_fps=None, analysis_fps=None, ui_ms=None)

    def _set(self, **changes: Any) -> None:
        view = replace(self._view, **changes)
        notice = " | ".join(n for n in (self._camera_notice, self._model_notice) if n)
        figures = (view.model_ms, view.latency_ms, view.preview_fps, view.analysis_fps, view.ui_ms)
        now = self._clock()
        if now - self._figures_at >= STATUS_REFRESH_S:
            self._figures, self._figures_at = figures, now
        else:  # between refreshes only a figure not shown yet appears
            pairs = zip(figures, self._figures, strict=True)
            self._figures = tuple(new if old is None else old for new, old in pairs)
        status = _status(view, self._models.current, *self._figures)
        self._view = replace(view, status=status, notice=notice)


def _boxes(detections: Sequence[Any]) -> tuple[Box, ...]:
    out = []
    for d in detections:
        x, y, w, h = (int(v) for v in d.box)
        out.append(Box(x, y, w, h, int(d.digit), float(d.confidence)))
    return tuple(out)


def _status(
    view: View,
    model: str,
    model_ms: float | None,
    read_ms: float | None,
    preview_fps: float | None,
    analysis_fps: float | None,
    ui_ms: float | None,
) -> str:
    parts = [model] if model else []
    if model_ms is not None:
        parts.append(f"model {model_ms:.1f} ms")
    if read_ms is not None and view.mode != "draw":
        parts.append(f"read {read_ms:.1f} ms")
    if view.mode == "camera":
        if preview_fps is not None:
            parts.append(f"preview {preview_fps:.0f} fps")
        if analysis_fps is not None:
            parts.append(f"analysis {analysis_fps:.0f} fps")
        if ui_ms is not None:
            parts.append(f"ui {ui_ms:.1f} ms")
    if view.frozen:
        parts.append("frozen")
    return "  |  ".join(parts)
