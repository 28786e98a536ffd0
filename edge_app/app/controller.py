"""What the app does when something happens, in plain Python: no Kivy here.

:class:`AppController` gets every event - start, pause, a mode button, a model picked, a stroke
drawn, a photo chosen, camera frames ready, the ``--quit-after`` timer - and decides what
follows: which threads start or stop, which job runs, what the presenter is told and what the
screen shows. The presenter decides what the screen *says*; the controller decides what
*happens*. Everything it touches is handed to it (the interfaces are in
:mod:`edge_app.app.ports`), so a test drives it with fakes:

* a ``Screen`` - the widgets (:class:`~edge_app.app.ui.DigitsApp` in the app);
* a ``UiLoop`` - the UI thread's clock, timers, coalesced trigger and the hop back onto the UI
  thread (Kivy's ``Clock`` and ``mainthread`` in the app);
* a ``JobRunner`` for one-off jobs off the UI thread (:class:`~edge_app.app.worker.JobWorker`);
* a frame-source factory and a camera factory (:class:`~edge_app.app.pipeline.CameraPipeline`);
* ``Permissions`` - Android's runtime permissions (None elsewhere: all granted).

Every method runs on the UI thread; background work (:mod:`edge_app.app.jobs`) reports back
through ``UiLoop.on_ui``. Camera output put on screen with its timings, the run's figures and
the ``--quit-after`` timer are :mod:`edge_app.app.reporting`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_app.app.config import AppConfig, source_kind
from edge_app.app.engines import Engine, EngineBook
from edge_app.app.geometry import Preview
from edge_app.app.jobs import classify_drawing, read_frame, read_photo
from edge_app.app.permissions import when_granted
from edge_app.app.pipeline import CameraPipeline
from edge_app.app.ports import Camera, JobRunner, Permissions, Screen, UiLoop
from edge_app.app.presenter import Presenter, View
from edge_app.app.reporting import FIRST_READING_GRACE_S as FIRST_READING_GRACE_S  # re-export
from edge_app.app.reporting import FrameReporter, QuitTimer
from edge_app.app.saving import SaveAction
from edge_app.app.sources import FrameSource, SourceError, make_source

log = logging.getLogger(__name__)

DRAW_THROTTLE_S = 0.08  # classify the canvas at most ~12 times a second while drawing
CAMERA_PERMISSIONS = ("CAMERA",)
#: either is enough: READ_MEDIA_IMAGES on Android 13+, READ_EXTERNAL_STORAGE before
PHOTO_PERMISSIONS = ("READ_MEDIA_IMAGES", "READ_EXTERNAL_STORAGE")
CAMERA_REFUSED = "camera permission refused"


def _default_pictures_folder(last: Path | None) -> Path:
    return last.parent if last is not None and last.parent.is_dir() else Path.home()


class AppController:
    """The app's behaviour, given its parts (see the module docstring).

    Args:
        config: what ``digits-app`` was asked to do.
        book: the models on offer.
        screen, loop, jobs: the widgets, the UI thread's scheduling, the job thread.
        make_source: ``config -> FrameSource`` (default: :func:`~edge_app.app.sources.make_source`).
        make_camera: builds the camera pipeline; called like
            :class:`~edge_app.app.pipeline.CameraPipeline`.
        permissions: Android's runtime permissions; None where there are none to ask.
        pictures_folder: ``last photo -> folder`` the file chooser opens in.
        saving: what *Save* saves and where (default: into ``config.save_crops``).
    """

    def __init__(
        self,
        config: AppConfig,
        *,
        book: EngineBook,
        screen: Screen,
        loop: UiLoop,
        jobs: JobRunner,
        make_source: Callable[[AppConfig], FrameSource] = make_source,
        make_camera: Callable[..., Camera] = CameraPipeline,
        permissions: Permissions | None = None,
        pictures_folder: Callable[[Path | None], Path] = _default_pictures_folder,
        saving: SaveAction | None = None,
    ) -> None:
        self.config = config
        self.book = book
        self.presenter = Presenter(config.mode, clock=loop.now)
        self.engine: Engine | None = None
        self.final_state: dict[str, Any] = {}
        self._frames = FrameReporter(self.presenter, screen, loop.now)
        self._screen, self._loop, self._jobs = screen, loop, jobs
        self._make_source, self._make_camera = make_source, make_camera
        self._permissions = permissions
        self._pictures_folder = pictures_folder
        self.saving = saving or SaveAction(config.save_crops)
        self._wake = loop.trigger(self.on_frames)
        self._camera: Camera | None = None
        self._stopped_camera: Camera | None = None  # the next camera waits for its release
        self._camera_generation = 0  # errors of a camera already replaced are ignored
        self._photo: Path | None = None
        self._results = 0  # readings shown so far (the --quit-after timer waits for one)
        self._draw_pending = False
        self._last_draw_job = float("-inf")
        self._quit_timer = QuitTimer(
            config.quit_after, loop, waiting=self._waiting_for_a_reading, finish=self._finish
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """The window is up (``on_start``): show the first state and load a model."""
        self._apply(self.presenter.view())
        self._submit("model", self.book.first_usable, self._models_ready, self._no_model)

    def pause(self) -> None:
        """The app goes to the background: release the camera."""
        self._stop_camera()

    def resume(self) -> None:
        if self.presenter.mode == "camera" and self.engine is not None:
            self._start_camera()

    def stop(self) -> None:
        self._stop_camera()

    @property
    def camera(self) -> Camera | None:
        """The camera pipeline running now, if any."""
        return self._camera

    @property
    def last_camera(self) -> Camera | None:
        """The camera pipeline stopped last, if any (its threads may still be ending)."""
        return self._stopped_camera

    # ------------------------------------------------------------------ models
    def _models_ready(self, result: tuple[Engine, str]) -> None:
        engine, warning = result
        if warning:
            log.warning("%s", warning)
        self.engine = engine
        self._apply(self.presenter.set_models(self.book.names, engine.name, warning))
        classifier = engine.classifier
        runtime = getattr(classifier, "runtime", "?")
        log.info(
            "using model %s (%s, %s)", engine.name, getattr(classifier, "format", "?"), runtime
        )
        self._enter_mode(self.presenter.mode)
        self._quit_timer.start()

    def _no_model(self, exc: BaseException) -> None:
        self.presenter.set_models([], "", "")
        self._apply(self.presenter.on_image_failed(f"no model can be loaded: {exc}"))
        self._quit_timer.start()

    def select_model(self, name: str) -> None:
        """The user picked ``name`` in the model menu."""
        wanted = self.presenter.request_model(name)
        if wanted is None:
            return
        started = self._loop.now()

        def loaded(engine: Engine) -> None:
            self.engine = engine
            self._apply(self.presenter.on_model_loaded(wanted))
            log.info("switched to %s in %.0f ms", wanted, (self._loop.now() - started) * 1e3)
            self._rerun_current()

        def failed(exc: BaseException) -> None:
            view = self.presenter.on_model_failed(wanted, str(exc))
            self._apply(view)
            self._screen.reset_model_menu(view.model)  # the menu still shows the failed pick

        self._submit("model", lambda: self.book.get(wanted), loaded, failed)

    def _rerun_current(self) -> None:
        if self.presenter.mode == "draw":
            self.on_drawing_changed()
        elif self.presenter.mode == "image" and self._photo is not None:
            self.open_photo(str(self._photo))

    # ------------------------------------------------------------------ modes
    def set_mode(self, mode: str) -> None:
        """A mode button: camera (again: restarts a camera that stopped), draw or image."""
        if mode == self.presenter.mode and mode != "camera":
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
            elif source_kind(self.config.source) == "image":
                self.open_photo(self.config.source)

    def primary_action(self) -> None:
        """The one button under the reading: freeze, clear or open, depending on the mode."""
        actions = {
            "camera": self.toggle_freeze,
            "draw": self._screen.clear_drawing,
            "image": self.open_file_chooser,
        }
        actions[self.presenter.mode]()

    # ------------------------------------------------------------------ camera
    def _start_camera(self) -> None:
        if self._camera is not None and self._camera.alive:
            return
        if self.engine is None:
            return
        when_granted(
            self._permissions,
            CAMERA_PERMISSIONS,
            self._connect_camera,
            on_ui=self._loop.on_ui,
            on_refused=lambda: self._camera_failed(CAMERA_REFUSED),
        )

    def _connect_camera(self) -> None:
        if self.presenter.mode != "camera" or (self._camera is not None and self._camera.alive):
            return  # the permission answer came after the user left camera mode
        source = self._make_source(self.config)
        if source.open_on_main_thread:
            try:
                source.open()
            except SourceError as exc:
                self._camera_failed(str(exc))
                return
        self._screen.set_camera_placeholder(f"connecting {source.name}...")
        self._camera_generation += 1
        generation = self._camera_generation
        self._frames.new_run()
        camera = self._make_camera(
            source,
            self._analyse,
            wake=self._wake,
            on_error=self._loop.on_ui(lambda reason: self._camera_error(generation, reason)),
            open_in_thread=not source.open_on_main_thread,
            previous=self._stopped_camera,
        )
        camera.start()
        self._camera = camera
        self._apply(self.presenter.on_camera_started())

    def _stop_camera(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.stop()  # never waits: the threads end (and release the source) by themselves
            self._stopped_camera = camera

    def _camera_error(self, generation: int, reason: str) -> None:
        if generation == self._camera_generation and self._camera is not None:
            self._camera_failed(reason)

    def _camera_failed(self, reason: str) -> None:
        log.warning("camera unavailable: %s", reason)
        self._stop_camera()
        self._apply(self.presenter.on_camera_failed(reason))
        self._enter_mode(self.presenter.mode)

    def _analyse(self, image: Any) -> Any:
        """Analysis thread: read the digits with the model in use right now."""
        engine = self.engine
        return None if engine is None else read_frame(engine.reader, image, self.saving)

    def on_frames(self) -> None:
        """Camera frames are ready (the coalesced trigger: at most once per UI frame): the
        newest frame goes on screen with the newest reading (:class:`FrameReporter`)."""
        if self._camera is not None and self._frames.show(self._camera):
            self._results += 1

    def toggle_freeze(self) -> None:
        view = self.presenter.toggle_freeze()
        if self._camera is not None:
            (self._camera.pause if view.frozen else self._camera.resume)()
        self._apply(view)

    # ------------------------------------------------------------------ draw
    def on_drawing_changed(self) -> None:
        """The canvas changed: classify it off the UI thread, at most every DRAW_THROTTLE_S."""
        if self.engine is None or self._draw_pending:
            return
        wait = DRAW_THROTTLE_S - (self._loop.now() - self._last_draw_job)
        self._draw_pending = True
        self._loop.call_later(max(wait, 0.0), self._submit_drawing)

    def _submit_drawing(self) -> None:
        self._draw_pending = False
        self._last_draw_job = self._loop.now()
        strokes = [list(s) for s in self._screen.drawing_strokes()]
        engine = self.engine
        if engine is None:
            return

        def done(result: tuple[Any, float]) -> None:
            if self.presenter.mode == "draw":
                self._apply(self.presenter.on_drawing_prediction(*result))

        def failed(exc: BaseException) -> None:
            self._apply(self.presenter.on_image_failed(f"cannot classify the drawing: {exc}"))

        def classify() -> tuple[Any, float]:
            return classify_drawing(strokes, engine.classifier, self.saving)

        self._submit("draw", classify, done, failed)

    # ------------------------------------------------------------------ image
    def open_file_chooser(self) -> None:
        """Show the file chooser (on Android after asking to read photos; refused: the chooser
        opens anyway and shows what it may)."""
        when_granted(
            self._permissions,
            PHOTO_PERMISSIONS,
            lambda: self._screen.open_chooser(self._pictures_folder(self._photo)),
            on_ui=self._loop.on_ui,
            any_of=True,
        )

    def close_file_chooser(self) -> None:
        self._screen.close_chooser()

    def open_photo(self, path: str) -> None:
        """Read digits from a photo off the UI thread; show it with its boxes."""
        self._screen.close_chooser()
        engine = self.engine
        if engine is None:
            return
        photo = self._photo = Path(path)

        def done(result: tuple[Preview, Any]) -> None:
            preview, reading = result
            self._screen.show_photo(preview)
            self.presenter.on_model_timing(reading.classify_ms)
            self._apply(self.presenter.on_image_reading(reading, photo.name))
            self._results += 1

        def failed(exc: BaseException) -> None:
            self.saving.forget("image")
            self._screen.show_photo(None)
            self._apply(self.presenter.on_image_failed(str(exc)))
            self._results += 1

        self._submit("image", lambda: read_photo(photo, engine.reader, self.saving), done, failed)

    # ------------------------------------------------------------------ save
    def save(self) -> None:
        """*Save*: the digits read last in this mode go into the crop folder (off the UI
        thread). In camera mode that is the last frame read: freeze first to choose it."""
        mode, engine = self.presenter.mode, self.engine
        classifier = None if engine is None else engine.classifier

        def done(saved: Any) -> None:
            self._apply(self.presenter.on_saved(saved))

        def failed(exc: BaseException) -> None:
            self._apply(self.presenter.on_save_failed(str(exc)))

        self._submit("save", lambda: self.saving.save(mode, classifier), done, failed)

    # ------------------------------------------------------------------ --quit-after
    def _waiting_for_a_reading(self) -> bool:
        """``--quit-after`` waits for a first reading where one can come."""
        view = self.presenter.view()
        first_due = self.engine is not None and self._results == 0 and view.mode != "draw"
        return first_due and view.camera_available

    def _finish(self) -> None:
        state = self.state()
        if self.config.screenshot is not None:
            state["screenshot"] = str(self._screen.screenshot(self.config.screenshot))
        self.final_state = state
        self._screen.quit()

    def state(self) -> dict[str, Any]:
        """What is on screen plus the run's figures, JSON-ready (``--quit-after`` prints it)."""
        state = self.presenter.view().as_dict()
        state["source"] = self.config.source
        camera = self._camera or self._stopped_camera
        if camera is not None:
            state["run"] = self._frames.figures(camera)
        return state

    # ------------------------------------------------------------------ helpers
    def _apply(self, view: View) -> None:
        self._screen.apply(view)

    def _submit(
        self,
        kind: str,
        job: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._jobs.submit(kind, job, self._loop.on_ui(on_done), self._loop.on_ui(on_error))
