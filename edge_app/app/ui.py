"""The Kivy application: wires sources, background workers, the presenter and the widgets.

Threads: frames are captured and read on :class:`~edge_app.app.worker.FrameLoop`'s thread,
drawings/photos/model loads on a :class:`~edge_app.app.worker.JobWorker`; results come back to
the UI thread through ``Clock`` (only the newest frame is kept, so a slow UI never queues up
frames). This module imports Kivy at import time; ``cli.main`` sets ``KIVY_NO_ARGS`` and imports
it only to run the app.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.popup import Popup

from edge_app.app import widgets  # noqa: F401  (registers the widget classes for kv)
from edge_app.app.config import AppConfig, source_kind
from edge_app.app.drawing import Drawing, drawing_to_digit
from edge_app.app.engines import Engine, EngineBook
from edge_app.app.presenter import Presenter, View
from edge_app.app.sources import FrameSource, SourceError, make_source, on_android
from edge_app.app.worker import FrameLoop, JobWorker
from edge_app.errors import DigitLiteError

log = logging.getLogger(__name__)
KV_FILE = Path(__file__).with_name("layout.kv")
DRAW_THROTTLE_S = 0.08  # classify the canvas at most ~12 times a second while drawing


class DigitsApp(App):
    """digits-app. Properties mirror the presenter's :class:`View` for the kv bindings."""

    title = "DigitLite"
    mode = StringProperty("camera")
    number = StringProperty("")
    message = StringProperty("")
    notice = StringProperty("")
    status = StringProperty("")
    model_name = StringProperty("")
    model_names = ListProperty([])
    frozen = BooleanProperty(False)
    camera_available = BooleanProperty(True)

    def __init__(self, config: AppConfig, *, book: EngineBook | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.app_config = config
        self.presenter = Presenter(config.mode)
        self.book = book or EngineBook(
            user_model=config.model, threads=config.threads, min_confidence=config.min_confidence
        )
        self.engine: Engine | None = None
        self.jobs = JobWorker()
        self.frame_loop: FrameLoop | None = None
        self.final_state: dict[str, Any] = {}
        self._latest: tuple[np.ndarray, Any] | None = None
        self._latest_lock = threading.Lock()
        self._show_latest = Clock.create_trigger(self._show_latest_frame)
        self._draw_pending = False
        self._last_draw_job = 0.0
        self._photo: Path | None = None
        self._results = 0  # readings shown so far (the --quit-after timer waits for one)
        self._finish_deadline = 0.0
        self._chooser: Popup | None = None

    # ------------------------------------------------------------------ lifecycle
    def build(self) -> Any:
        Builder.load_file(str(KV_FILE))
        return Factory.DigitsRoot()

    def on_start(self) -> None:
        self._apply(self.presenter.view())
        self.jobs.submit(
            "model", self.book.first_usable, self._bg(self._models_ready), self._bg(self._no_model)
        )

    def on_pause(self) -> bool:
        self._stop_camera()  # release the camera while in the background
        return True

    def on_resume(self) -> None:
        if self.mode == "camera" and self.engine is not None:
            self._start_camera()

    def on_stop(self) -> None:
        self._stop_camera()
        self.jobs.stop()

    # ------------------------------------------------------------------ presenter -> widgets
    def _apply(self, view: View) -> None:
        ids = self.root.ids
        if view.mode != self.mode:
            ids.screens.current = view.mode
        self.mode = view.mode
        self.number = view.number
        self.message = view.message
        self.notice = view.notice
        self.status = view.status
        self.frozen = view.frozen
        self.camera_available = view.camera_available
        self.model_names = list(view.models)
        self.model_name = view.model
        target = ids.camera_view if view.mode == "camera" else ids.image_view
        target.boxes = list(view.boxes)
        for i, row in enumerate((ids.bar0, ids.bar1, ids.bar2)):
            bar = view.bars[i] if i < len(view.bars) else None
            row.digit = str(bar.digit) if bar else ""
            row.value = bar.probability if bar else 0.0
            row.percent = f"{bar.probability:.0%}" if bar else ""

    def _bg(self, callback: Any) -> Any:
        """Wrap a UI-thread callback so a worker thread can call it (runs on the next frame)."""

        def hop(*args: Any) -> None:
            Clock.schedule_once(lambda _dt: callback(*args))

        return hop

    # ------------------------------------------------------------------ models
    def _models_ready(self, result: tuple[Engine, str]) -> None:
        engine, warning = result
        if warning:
            log.warning("%s", warning)
        self.engine = engine
        self._apply(self.presenter.set_models(self.book.names, engine.name, warning))
        log.info(
            "using model %s (%s, %s)",
            engine.name,
            engine.classifier.format,
            getattr(engine.classifier, "runtime", "?"),
        )
        self._enter_mode(self.presenter.mode)
        self._start_quit_timer()

    def _no_model(self, exc: BaseException) -> None:
        self.presenter.set_models([], "", "")
        self._apply(self.presenter.on_image_failed(f"no model can be loaded: {exc}"))
        self._start_quit_timer()

    def _start_quit_timer(self) -> None:
        """``--quit-after`` counts from the moment the model is ready, so a slow start under
        load still shows a reading; the exit then waits (at most 20 s) for the first one."""
        if self.app_config.quit_after is not None:
            self._finish_deadline = time.monotonic() + self.app_config.quit_after + 20.0
            Clock.schedule_once(self._finish, self.app_config.quit_after)

    def select_model(self, name: str) -> None:
        wanted = self.presenter.request_model(name)
        if wanted is None:
            return
        started = time.perf_counter()

        def loaded(engine: Engine) -> None:
            self.engine = engine
            self._apply(self.presenter.on_model_loaded(wanted))
            log.info("switched to %s in %.0f ms", wanted, (time.perf_counter() - started) * 1e3)
            self._rerun_current()

        def failed(exc: BaseException) -> None:
            view = self.presenter.on_model_failed(wanted, str(exc))
            self._apply(view)
            self.root.ids.model_spinner.text = view.model  # the kv binding saw no change

        self.jobs.submit("model", lambda: self.book.get(wanted), self._bg(loaded), self._bg(failed))

    def _rerun_current(self) -> None:
        if self.mode == "draw":
            self.on_drawing_changed()
        elif self.mode == "image" and self._photo is not None:
            self.open_photo(str(self._photo))

    # ------------------------------------------------------------------ modes
    def set_mode(self, mode: str) -> None:
        if mode == self.mode and mode != "camera":
            return
        self._apply(self.presenter.set_mode(mode))
        self._enter_mode(self.presenter.mode)

    def _enter_mode(self, mode: str) -> None:
        if mode == "camera":
            self._start_camera()
        else:
            self._stop_camera()
        if mode == "draw":
            self.on_drawing_changed()  # the canvas keeps its strokes: show their prediction again
        if mode == "image":
            if self._photo is not None:  # back in image mode: read the photo shown again
                self.open_photo(str(self._photo))
            elif source_kind(self.app_config.source) == "image":
                self.open_photo(self.app_config.source)

    # ------------------------------------------------------------------ camera
    def _start_camera(self) -> None:
        if self.frame_loop is not None and self.frame_loop.alive:
            return
        if self.engine is None:
            return
        if on_android():
            self._with_android_permission(
                ["CAMERA"], self._connect_camera, "camera permission refused"
            )
        else:
            self._connect_camera()

    def _connect_camera(self) -> None:
        source: FrameSource = make_source(self.app_config)
        if source.open_on_main_thread:
            try:
                source.open()
            except SourceError as exc:
                self._camera_failed(str(exc))
                return
        self.root.ids.camera_view.placeholder = f"connecting {source.name}..."
        self.frame_loop = FrameLoop(
            source,
            self._analyse_frame,
            self._frame_ready,
            self._bg(self._camera_failed),
            open_in_thread=not source.open_on_main_thread,
        )
        self.frame_loop.start()
        self._apply(self.presenter.on_camera_started())

    def _stop_camera(self) -> None:
        loop, self.frame_loop = self.frame_loop, None
        if loop is not None:
            loop.stop()

    def _camera_failed(self, reason: str) -> None:
        log.warning("camera unavailable: %s", reason)
        self._stop_camera()
        self._apply(self.presenter.on_camera_failed(reason))
        self._enter_mode(self.presenter.mode)

    def _analyse_frame(self, frame: np.ndarray) -> Any:
        """Runs on the frame thread: read the digits with the model in use right now."""
        engine = self.engine
        if engine is None:
            return None
        reading = engine.reader.read(frame)
        return reading, engine.classifier.last_latency_ms

    def _frame_ready(self, frame: np.ndarray, result: Any) -> None:
        """Frame thread: keep only the newest result and wake the UI thread."""
        with self._latest_lock:
            self._latest = (frame, result)
        self._show_latest()

    def _show_latest_frame(self, *_: Any) -> None:
        with self._latest_lock:
            latest, self._latest = self._latest, None
        if latest is None or not self.presenter.accepts_frames:
            return
        frame, result = latest
        self.root.ids.camera_view.show(frame)
        if result is None:
            return
        reading, model_ms = result
        self.presenter.on_model_timing(model_ms)
        self._apply(self.presenter.on_frame_reading(reading))
        self._results += 1

    def primary_action(self) -> None:
        """The one button under the reading: freeze, clear or open, depending on the mode."""
        action = {
            "camera": self.toggle_freeze,
            "draw": self.clear_drawing,
            "image": self.open_file_chooser,
        }
        action[self.mode]()

    def toggle_freeze(self) -> None:
        view = self.presenter.toggle_freeze()
        if self.frame_loop is not None:
            (self.frame_loop.pause if view.frozen else self.frame_loop.resume)()
        self._apply(view)

    # ------------------------------------------------------------------ draw
    def on_drawing_changed(self) -> None:
        """The canvas changed: classify it on the worker, at most every DRAW_THROTTLE_S."""
        if self.engine is None or self.root is None:
            return
        if self._draw_pending:
            return
        wait = DRAW_THROTTLE_S - (time.monotonic() - self._last_draw_job)
        self._draw_pending = True
        Clock.schedule_once(self._submit_drawing, max(wait, 0))

    def _submit_drawing(self, *_: Any) -> None:
        self._draw_pending = False
        self._last_draw_job = time.monotonic()
        snapshot = Drawing()
        snapshot.strokes = [list(s) for s in self.root.ids.draw_canvas.drawing.strokes]
        engine = self.engine

        def classify() -> tuple[Any, float]:
            image = drawing_to_digit(snapshot)
            if image is None:
                return None, 0.0
            prediction = engine.classifier.classify(image)[0]
            return prediction, engine.classifier.last_latency_ms

        def done(result: tuple[Any, float]) -> None:
            if self.mode == "draw":
                prediction, ms = result
                self._apply(self.presenter.on_drawing_prediction(prediction, ms))

        def failed(exc: BaseException) -> None:
            self._apply(self.presenter.on_image_failed(f"cannot classify the drawing: {exc}"))

        self.jobs.submit("draw", classify, self._bg(done), self._bg(failed))

    def clear_drawing(self) -> None:
        self.root.ids.draw_canvas.clear()

    # ------------------------------------------------------------------ image
    def open_file_chooser(self) -> None:
        if on_android():
            self._with_android_permission(
                ["READ_MEDIA_IMAGES", "READ_EXTERNAL_STORAGE"], self._show_chooser, "", any_=True
            )
        else:
            self._show_chooser()

    def _show_chooser(self) -> None:
        content = Factory.PhotoChooser()
        content.ids.chooser.path = str(_pictures_folder(self._photo))
        self._chooser = Popup(title="Open a photo", content=content, size_hint=(0.95, 0.95))
        self._chooser.open()

    def close_file_chooser(self) -> None:
        if self._chooser is not None:
            self._chooser.dismiss()
            self._chooser = None

    def open_photo(self, path: str) -> None:
        """Read digits from a photo on the worker; show it with its boxes."""
        self.close_file_chooser()
        if self.engine is None:
            return
        photo = Path(path)
        self._photo = photo
        engine = self.engine

        def read() -> tuple[np.ndarray, Any]:
            from edge_app.imageio import load_image

            image = load_image(photo)
            return image, engine.reader.read(image)

        def done(result: tuple[np.ndarray, Any]) -> None:
            image, reading = result
            self.root.ids.image_view.show(image)
            self.presenter.on_model_timing(engine.classifier.last_latency_ms)
            self._apply(self.presenter.on_image_reading(reading, photo.name))
            self._results += 1

        def failed(exc: BaseException) -> None:
            self.root.ids.image_view.clear()
            self._apply(self.presenter.on_image_failed(str(exc)))
            self._results += 1

        self.jobs.submit("image", read, self._bg(done), self._bg(failed))

    # ------------------------------------------------------------------ android
    def _with_android_permission(
        self, names: list[str], then: Any, refused: str, *, any_: bool = False
    ) -> None:
        """Ask for Android runtime permissions, then continue on the UI thread."""
        from android.permissions import Permission, check_permission, request_permissions

        wanted = [getattr(Permission, n) for n in names if hasattr(Permission, n)]
        if wanted and any(check_permission(p) for p in wanted):
            then()
            return

        def answered(_permissions: list[str], grants: list[bool]) -> None:
            ok = any(grants) if any_ else bool(grants) and all(grants)
            if ok or not refused:
                Clock.schedule_once(lambda _dt: then())
            else:
                Clock.schedule_once(lambda _dt: self._camera_failed(refused))

        request_permissions(wanted, answered)

    # ------------------------------------------------------------------ demo / test exit
    def _finish(self, *_: Any) -> None:
        waiting = self.engine is not None and self._results == 0 and self.mode != "draw"
        if waiting and self.camera_available and time.monotonic() < self._finish_deadline:
            Clock.schedule_once(self._finish, 0.2)
            return
        state = self.presenter.view().as_dict()
        state["source"] = self.app_config.source
        if self.frame_loop is not None:
            state["frames_read"] = self.frame_loop.frames
        shot = self.app_config.screenshot
        if shot is not None:
            state["screenshot"] = str(_screenshot(shot))
        self.final_state = state
        self.stop()


def _screenshot(path: Path) -> Path:
    """Save the window as ``path`` (Kivy numbers its screenshots; rename to the exact name)."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    written = Window.screenshot(name=str(path.with_name(path.stem + "_kivy.png")))
    if written:
        os.replace(written, path)
    log.info("screenshot -> %s", path)
    return path


def _pictures_folder(last: Path | None) -> Path:
    if last is not None and last.parent.is_dir():
        return last.parent
    if on_android():
        try:
            from android.storage import primary_external_storage_path

            for sub in ("DCIM", "Pictures", ""):
                folder = Path(primary_external_storage_path()) / sub
                if folder.is_dir():
                    return folder
        except ImportError:
            pass
    return Path.home()


def run_app(config: AppConfig) -> dict[str, Any]:
    """Run the app until it is closed (or ``quit_after``). Returns the final state.

    Raises:
        DigitLiteError: nothing that can be shown in a window went wrong before start-up.
    """
    app = DigitsApp(config)
    try:
        app.run()
    finally:
        app.jobs.stop()
        if app.frame_loop is not None:
            app.frame_loop.stop()
    if not app.final_state and config.quit_after is not None:
        raise DigitLiteError("the app ended before --quit-after")
    return app.final_state
