"""The Kivy application: widgets and Kivy's clock, wired to the Kivy-free controller.

:class:`DigitsApp` only binds properties, forwards events to
:class:`~edge_app.app.controller.AppController` and draws what it is told: it implements the
controller's ``Screen``; :class:`KivyLoop` implements its ``UiLoop`` with Kivy's ``Clock``
(``create_trigger`` for the one coalesced redraw per frame) and ``mainthread``. Camera frames
are captured and read on :class:`~edge_app.app.pipeline.CameraPipeline`'s threads; drawings,
photos and model loads on a :class:`~edge_app.app.worker.JobWorker`. This module imports Kivy at
import time; ``cli.main`` sets ``KIVY_NO_ARGS`` and imports it only to run the app.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock, mainthread
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.graphics.opengl import glFlush
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.popup import Popup

from edge_app.app import widgets  # noqa: F401  (registers the widget classes for kv)
from edge_app.app.config import AppConfig
from edge_app.app.controller import AppController
from edge_app.app.engines import EngineBook
from edge_app.app.geometry import Preview
from edge_app.app.permissions import AndroidPermissions
from edge_app.app.pipeline import CameraPipeline
from edge_app.app.ports import Camera, Permissions, Strokes
from edge_app.app.presenter import Presenter, View
from edge_app.app.sources import FrameSource, make_source, on_android
from edge_app.app.worker import JobWorker
from edge_app.errors import DigitLiteError

log = logging.getLogger(__name__)
KV_FILE = Path(__file__).with_name("layout.kv")
#: how long :func:`run_app` waits for the background threads once the window has closed
SHUTDOWN_WAIT_S = 2.0
#: the window's clear colour, the background of every screen (cheaper than a drawn rectangle)
BACKGROUND = (0.12, 0.12, 0.13, 1)
_PLATFORM = object()  # "the permissions of this platform" (Android's, or none)


class KivyLoop:
    """The controller's ``UiLoop`` on Kivy's clock."""

    def now(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        Clock.schedule_once(lambda _dt: callback(), delay)

    def trigger(self, callback: Callable[[], None]) -> Callable[[], None]:
        return Clock.create_trigger(lambda _dt: callback())

    def on_ui(self, callback: Callable[..., None]) -> Callable[..., None]:
        return mainthread(callback)


class DigitsApp(App):
    """digits-app. Properties mirror the presenter's :class:`View` for the kv bindings.

    Args:
        config: what ``digits-app`` was asked to do.
        book: the models on offer (default: shipped ones plus ``config.model``).
        make_source: ``config -> FrameSource`` (default: what ``--source`` names).
        make_camera: the camera pipeline class (default :class:`CameraPipeline`).
        permissions: runtime permissions (default: Android's on Android, none elsewhere).
    """

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

    def __init__(
        self,
        config: AppConfig,
        *,
        book: EngineBook | None = None,
        make_source: Callable[[AppConfig], FrameSource] = make_source,
        make_camera: Callable[..., Camera] = CameraPipeline,
        permissions: Permissions | None | object = _PLATFORM,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_config = config
        self.jobs = JobWorker()
        if permissions is _PLATFORM:
            permissions = AndroidPermissions() if on_android() else None
        self.controller = AppController(
            config,
            book=book
            or EngineBook(
                user_model=config.model,
                threads=config.threads,
                min_confidence=config.min_confidence,
            ),
            screen=self,
            loop=KivyLoop(),
            jobs=self.jobs,
            make_source=make_source,
            make_camera=make_camera,
            permissions=permissions,  # type: ignore[arg-type]
            pictures_folder=_pictures_folder,
        )
        self._chooser: Popup | None = None

    @property
    def presenter(self) -> Presenter:
        return self.controller.presenter

    # ------------------------------------------------------------------ lifecycle
    def build(self) -> Any:
        # Hand each frame to GL when it is complete. A display's buffer swap does this; SDL's
        # offscreen window (headless runs, tests) swaps nothing, so software GL rendered a frame
        # only when the next texture upload forced it - on the UI thread, inside show().
        Window.bind(on_flip=lambda *_: glFlush())
        Window.clearcolor = BACKGROUND
        Builder.load_file(str(KV_FILE))
        return Factory.DigitsRoot()

    def on_start(self) -> None:
        self.controller.start()

    def on_pause(self) -> bool:
        self.controller.pause()  # release the camera while in the background
        return True

    def on_resume(self) -> None:
        self.controller.resume()

    def on_stop(self) -> None:
        self.controller.stop()
        self.jobs.stop()

    # ------------------------------------------------------------------ Screen
    def apply(self, view: View) -> None:
        """Copy the presenter's view into the properties and widgets."""
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
        target.set_boxes(view.boxes, view.boxes_stale)
        for i, row in enumerate((ids.bar0, ids.bar1, ids.bar2)):
            bar = view.bars[i] if i < len(view.bars) else None
            row.digit = str(bar.digit) if bar else ""
            row.value = bar.probability if bar else 0.0
            row.percent = f"{bar.probability:.0%}" if bar else ""

    def show_frame(self, preview: Preview) -> None:
        self.root.ids.camera_view.show(preview)

    def show_photo(self, preview: Preview | None) -> None:
        view = self.root.ids.image_view
        if preview is None:
            view.clear()
        else:
            view.show(preview)

    def set_camera_placeholder(self, text: str) -> None:
        self.root.ids.camera_view.placeholder = text

    def drawing_strokes(self) -> Strokes:
        return self.root.ids.draw_canvas.drawing.strokes

    def clear_drawing(self) -> None:
        self.root.ids.draw_canvas.clear()

    def open_chooser(self, folder: Path) -> None:
        content = Factory.PhotoChooser()
        content.ids.chooser.path = str(folder)
        self._chooser = Popup(title="Open a photo", content=content, size_hint=(0.95, 0.95))
        self._chooser.open()

    def close_chooser(self) -> None:
        if self._chooser is not None:
            self._chooser.dismiss()
            self._chooser = None

    def reset_model_menu(self, name: str) -> None:
        self.root.ids.model_spinner.text = name

    def screenshot(self, path: Path) -> Path:
        """Save the window as ``path`` (Kivy numbers its screenshots; rename to the exact name)."""
        path = Path(path).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        written = Window.screenshot(name=str(path.with_name(path.stem + "_kivy.png")))
        if written:
            os.replace(written, path)
        log.info("screenshot -> %s", path)
        return path

    def quit(self) -> None:
        self.stop()


def _pictures_folder(last: Path | None) -> Path:
    """Where the file chooser opens: the last photo's folder, else the phone's camera roll."""
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


def run_app(config: AppConfig, **parts: Any) -> dict[str, Any]:
    """Run the app until it is closed (or ``quit_after``). Returns the final state.

    Args:
        config: what to do.
        parts: :class:`DigitsApp`'s optional parts (``book``, ``make_source``, ...).

    Raises:
        DigitLiteError: the app ended before ``--quit-after`` could report.
    """
    app = DigitsApp(config, **parts)
    try:
        app.run()
    finally:
        # the window is gone: now waiting is harmless, and lets a camera be released cleanly
        app.controller.stop()
        app.jobs.stop()
        for camera in (app.controller.camera, app.controller.last_camera):
            if camera is not None:
                camera.join(SHUTDOWN_WAIT_S)
        app.jobs.join(SHUTDOWN_WAIT_S)
    if not app.controller.final_state and config.quit_after is not None:
        raise DigitLiteError("the app ended before --quit-after")
    return app.controller.final_state
