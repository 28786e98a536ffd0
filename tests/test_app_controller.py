"""The app's behaviour without Kivy and without threads: AppController driven through fakes.

Every part the controller is given is a fake here: a screen that records what it is told, a UI
loop whose clock the test moves, a job runner that runs jobs at once, a camera the test feeds
frames into, and Android permissions the test answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import InlineJobs, reading

from edge_app.app.config import AppConfig
from edge_app.app.controller import (
    CAMERA_PERMISSIONS,
    DRAW_THROTTLE_S,
    FIRST_READING_GRACE_S,
    PHOTO_PERMISSIONS,
    AppController,
)
from edge_app.app.engines import Engine, EngineBook
from edge_app.app.geometry import make_preview
from edge_app.app.pipeline import Analysis, PipelineStats
from edge_app.app.presenter import DRAW_HINT
from edge_app.app.sources import FrameSource, SourceError
from edge_app.classifier import Prediction
from edge_app.errors import ModelError


# ----------------------------------------------------------------------------- fakes
class FakeLoop:
    """The UI thread: timers run when the test moves the clock; hops run on ``run()``."""

    def __init__(self) -> None:
        self.t = 100.0
        self.timers: list[tuple[float, object]] = []
        self.queue: list = []
        self.pending_triggers: list = []

    def now(self) -> float:
        return self.t

    def call_later(self, delay, callback) -> None:
        self.timers.append((self.t + delay, callback))

    def trigger(self, callback):
        def fire() -> None:
            if callback not in self.pending_triggers:  # coalesced, like Clock.create_trigger
                self.pending_triggers.append(callback)

        return fire

    def on_ui(self, callback):
        return lambda *args: self.queue.append(lambda: callback(*args))

    def run(self) -> None:
        while self.queue or self.pending_triggers:
            if self.queue:
                self.queue.pop(0)()
            else:
                self.pending_triggers.pop(0)()

    def advance(self, seconds: float) -> None:
        end = self.t + seconds
        while True:
            self.run()
            due = sorted((t, i) for i, (t, _) in enumerate(self.timers) if t <= end)
            if not due:
                break
            when, index = due[0]
            _, callback = self.timers.pop(index)
            self.t = max(self.t, when)
            callback()
        self.t = end
        self.run()


class RecordingJobs(InlineJobs):
    """Runs each job at once (its callbacks still hop to the UI loop) and records its kind."""

    def __init__(self) -> None:
        self.kinds: list[str] = []

    def submit(self, kind, job, on_done, on_error) -> None:
        self.kinds.append(kind)
        super().submit(kind, job, on_done, on_error)


class FakeScreen:
    def __init__(self) -> None:
        self.views: list = []
        self.frames: list[int] = []
        self.photos: list = []
        self.placeholder = ""
        self.strokes: list = []
        self.chooser_folder: Path | None = None
        self.model_menu = ""
        self.screenshots: list[Path] = []
        self.quit_called = False
        self.cleared = 0

    @property
    def view(self):
        return self.views[-1]

    def apply(self, view) -> None:
        self.views.append(view)

    def show_frame(self, preview) -> None:
        self.frames.append(preview.seq)

    def show_photo(self, preview) -> None:
        self.photos.append(preview)

    def set_camera_placeholder(self, text: str) -> None:
        self.placeholder = text

    def drawing_strokes(self):
        return self.strokes

    def clear_drawing(self) -> None:
        self.cleared += 1

    def open_chooser(self, folder: Path) -> None:
        self.chooser_folder = folder

    def close_chooser(self) -> None:
        self.chooser_folder = None

    def reset_model_menu(self, name: str) -> None:
        self.model_menu = name

    def screenshot(self, path: Path) -> Path:
        self.screenshots.append(path)
        return path

    def quit(self) -> None:
        self.quit_called = True


class FakeCamera:
    """Stands in for CameraPipeline: the test hands it previews and analyses."""

    def __init__(self, source, analyse, *, wake, on_error, open_in_thread, previous) -> None:
        self.source, self.analyse, self.wake, self.on_error = source, analyse, wake, on_error
        self.open_in_thread, self.previous = open_in_thread, previous
        self.state = "new"
        self._preview = self._analysis = None
        self.seq = 0

    def start(self) -> None:
        self.state = "running"

    def pause(self) -> None:
        self.state = "paused"

    def resume(self) -> None:
        self.state = "running"

    def stop(self) -> None:
        self.state = "stopped"

    def join(self, timeout: float) -> bool:
        return True

    @property
    def alive(self) -> bool:
        return self.state in ("running", "paused")

    def take_preview(self):
        preview, self._preview = self._preview, None
        return preview

    def take_analysis(self):
        analysis, self._analysis = self._analysis, None
        return analysis

    def stats(self) -> PipelineStats:
        return PipelineStats(captured=self.seq, analysed=self.seq)

    # test helpers: a frame arrives, a frame is read (on their threads, in the app)
    def deliver(self) -> int:
        self.seq += 1
        self._preview = make_preview(np.zeros((4, 6, 3), np.uint8), self.seq)
        self.wake()
        return self.seq

    def read(self, seq: int, digits: str = "42") -> None:
        read = self.analyse(np.zeros((4, 6, 3), np.uint8))
        if digits != read.digits:
            read = reading(digits)
        self._analysis = Analysis(seq, read, wall_ms=3.0, cpu_ms=2.5)
        self.wake()


class FakeSource(FrameSource):
    name = "fake camera"

    def __init__(self, on_main_thread: bool = False, fail: bool = False) -> None:
        self.open_on_main_thread = on_main_thread
        self.fail = fail
        self.opened = 0

    def open(self) -> None:
        self.opened += 1
        if self.fail:
            raise SourceError("no camera here")

    def read(self) -> np.ndarray:
        raise AssertionError("the fake camera never reads")


class FakeReader:
    def __init__(self) -> None:
        self.images: list = []

    def read(self, image):
        self.images.append(image)
        return reading("42")


class FakeClassifier:
    format, runtime = "fake", "fake"

    def __init__(self) -> None:
        self.images: list = []

    def classify(self, images):
        self.images.append(images)
        return [Prediction(1, 0.9, ((1, 0.9), (7, 0.06), (4, 0.02)))]


class FakePermissions:
    def __init__(self, granted: bool = False) -> None:
        self.already = granted
        self.asked: list[list[str]] = []
        self.answer = None

    def granted(self, names) -> bool:
        return self.already

    def request(self, names, answered) -> None:
        self.asked.append(list(names))
        self.answer = answered


class App:
    """A controller and its fakes, started the way DigitsApp.on_start starts it."""

    def __init__(self, config: AppConfig | None = None, *, broken=(), source=None, **parts):
        self.loop, self.screen, self.jobs = FakeLoop(), FakeScreen(), RecordingJobs()
        self.reader, self.classifier = FakeReader(), FakeClassifier()
        self.cameras: list[FakeCamera] = []
        self.source = source or FakeSource()

        def load(name: str, path: Path) -> Engine:
            if name in broken:
                raise ModelError(f"{path} is not a TFLite model")
            return Engine(name, path, self.classifier, self.reader)

        def make_camera(*args, **kwargs) -> FakeCamera:
            self.cameras.append(FakeCamera(*args, **kwargs))
            return self.cameras[-1]

        book = EngineBook({"int8": Path("i.tflite"), "float32": Path("f.tflite")}, None, load)
        self.controller = AppController(
            config or AppConfig(), book=book, screen=self.screen, loop=self.loop, jobs=self.jobs,
            make_source=lambda config: self.source, make_camera=make_camera, **parts,
        )  # fmt: skip
        self.controller.start()
        self.loop.run()

    @property
    def camera(self) -> FakeCamera:
        return self.cameras[-1]

    @property
    def view(self):
        return self.controller.presenter.view()


# ----------------------------------------------------------------------------- start-up
def test_start_loads_a_model_off_the_ui_thread_then_connects_the_camera():
    app = App()
    assert app.jobs.kinds == ["model"]
    assert app.controller.engine.name == "int8"
    assert app.view.model == "int8" and app.view.models == ("int8", "float32")
    assert len(app.cameras) == 1 and app.camera.state == "running"
    assert app.camera.open_in_thread and app.camera.previous is None
    assert app.screen.placeholder == "connecting fake camera..."


def test_no_usable_model_says_so_and_starts_no_camera():
    app = App(broken={"int8", "float32"})
    assert app.cameras == []
    assert app.view.message.startswith("no model can be loaded: no usable model")


def test_a_camera_that_must_open_on_the_ui_thread_is_opened_before_the_pipeline():
    source = FakeSource(on_main_thread=True)
    app = App(source=source)
    assert source.opened == 1 and not app.camera.open_in_thread


def test_a_camera_that_does_not_open_moves_to_draw_mode():
    app = App(source=FakeSource(on_main_thread=True, fail=True))
    assert app.cameras == []
    assert app.view.mode == "draw" and not app.view.camera_available
    assert app.view.notice == "camera unavailable: no camera here - draw a digit instead"


# ----------------------------------------------------------------------------- camera frames
def test_each_frame_is_shown_and_a_reading_shows_its_boxes_on_its_own_frame():
    app = App()
    first = app.camera.deliver()
    app.loop.run()
    assert app.screen.frames == [first] and app.view.boxes == ()
    app.camera.read(first)
    app.loop.run()
    assert [b.digit for b in app.view.boxes] == [4, 2] and not app.view.boxes_stale
    second = app.camera.deliver()  # a new frame before its reading: the boxes are from before
    app.loop.run()
    assert app.screen.frames == [first, second] and app.view.boxes_stale
    app.camera.read(second)
    app.loop.run()
    assert not app.view.boxes_stale
    assert app.screen.view.boxes_stale is False  # ...and the screen was told so


def test_frames_arriving_faster_than_the_ui_are_shown_newest_first_in_one_redraw():
    app = App()
    app.camera.deliver()
    app.camera.deliver()
    newest = app.camera.deliver()  # three wake-ups before the UI thread gets to run
    shown_before = len(app.screen.views)
    app.loop.run()
    assert app.screen.frames == [newest]  # one coalesced redraw, with the newest frame
    assert len(app.screen.views) == shown_before + 1


def test_readings_are_smoothed_and_timed():
    app = App()
    for digits in ("42", "42", "42", "47"):
        app.camera.read(app.camera.deliver(), digits)
        app.loop.advance(1 / 30)
    view = app.view
    assert view.number == "42"  # one odd frame changes nothing
    assert view.latency_ms == 4.0 and view.model_ms == 0.2
    assert view.preview_fps == pytest.approx(30, rel=0.01)
    assert view.analysis_fps == pytest.approx(30, rel=0.01)
    assert view.ui_ms is not None
    assert "preview 30 fps" in view.status and "analysis 30 fps" in view.status
    run = app.controller.state()["run"]
    assert run["frames_shown"] == 4 and run["readings_shown"] == 4
    assert run["read_ms"]["median"] == 3.0 and run["read_cpu_ms"]["median"] == 2.5


def test_freeze_pauses_the_camera_and_holds_the_reading():
    app = App()
    for _ in range(3):
        app.camera.read(app.camera.deliver(), "12")
        app.loop.run()
    app.controller.primary_action()  # the button reads "Freeze" in camera mode
    assert app.camera.state == "paused" and app.view.frozen
    app.camera.read(app.camera.deliver(), "99")
    app.loop.run()
    assert app.view.number == "12" and app.screen.frames[-1] == 3  # nothing new shown
    app.controller.toggle_freeze()
    assert app.camera.state == "running" and not app.view.frozen


def test_a_failing_camera_moves_to_draw_mode_and_a_replaced_cameras_error_is_ignored():
    app = App()
    old = app.camera
    app.controller.pause()
    app.controller.resume()
    assert len(app.cameras) == 2 and app.camera.previous is old  # waits for old's release
    old.on_error("late error from the camera stopped before")
    app.loop.run()
    assert app.view.mode == "camera"
    app.camera.on_error("camera unplugged")
    app.loop.run()
    assert app.camera.state == "stopped"
    assert app.view.mode == "draw" and "camera unplugged" in app.view.notice


def test_pause_releases_the_camera_and_resume_reconnects_only_in_camera_mode():
    app = App()
    app.controller.pause()
    assert app.camera.state == "stopped" and app.controller.camera is None
    app.controller.set_mode("draw")
    app.controller.resume()
    assert len(app.cameras) == 1


# ----------------------------------------------------------------------------- modes and drawing
def test_draw_mode_stops_the_camera_and_classifies_the_canvas_at_most_every_throttle():
    app = App()
    app.screen.strokes = [[(200.0, 60.0 + 6 * i) for i in range(50)]]  # a "1"
    app.controller.set_mode("draw")
    assert app.camera.state == "stopped"
    app.loop.advance(0.001)
    assert app.jobs.kinds == ["model", "draw"]
    assert app.view.number == "1" and [b.digit for b in app.view.bars] == [1, 7, 4]
    assert app.classifier.images[-1].shape == (28, 28)  # framed like MNIST
    for _ in range(10):  # a stroke moving: ten changes within one throttle period
        app.controller.on_drawing_changed()
        app.loop.advance(DRAW_THROTTLE_S / 20)
    assert app.jobs.kinds.count("draw") == 1
    app.loop.advance(DRAW_THROTTLE_S)
    assert app.jobs.kinds.count("draw") == 2  # ...classified once more, not ten times


def test_an_empty_canvas_shows_the_hint_and_the_clear_button_clears():
    app = App(AppConfig(mode="draw"))
    app.loop.advance(0.001)
    assert app.view.message == DRAW_HINT and app.classifier.images == []
    app.controller.primary_action()
    assert app.screen.cleared == 1


def test_image_mode_reads_the_source_photo_and_shows_it_with_its_boxes(tmp_path: Path):
    import cv2

    photo = tmp_path / "form.png"
    cv2.imwrite(str(photo), np.full((30, 40, 3), 200, np.uint8))
    app = App(AppConfig(source=str(photo), mode="image"))
    assert app.jobs.kinds == ["model", "image"] and app.cameras == []
    assert app.screen.photos[-1].size == (40, 30)
    assert app.view.number == "42" and app.view.message == "form.png"
    app.controller.open_photo(str(tmp_path / "missing.png"))
    app.loop.run()
    assert app.screen.photos[-1] is None and "missing.png" in app.view.message


def test_a_model_that_fails_to_load_keeps_the_current_one_and_resets_the_menu():
    app = App(broken={"float32"})
    app.controller.select_model("float32")
    app.loop.run()
    assert app.controller.engine.name == "int8"
    assert app.screen.model_menu == "int8" and app.view.models == ("int8",)


# ----------------------------------------------------------------------------- permissions
def test_a_refused_camera_permission_opens_draw_mode_without_touching_the_camera():
    permissions = FakePermissions()
    app = App(permissions=permissions)
    assert permissions.asked == [list(CAMERA_PERMISSIONS)] and app.cameras == []
    permissions.answer([False])
    app.loop.run()
    assert app.cameras == [] and app.view.mode == "draw"
    assert app.view.notice == "camera unavailable: camera permission refused - draw a digit instead"


def test_a_granted_camera_permission_connects_unless_the_user_left_camera_mode():
    permissions = FakePermissions()
    app = App(permissions=permissions)
    permissions.answer([True])
    app.loop.run()
    assert len(app.cameras) == 1
    late = FakePermissions()
    app = App(permissions=late)
    app.controller.set_mode("draw")
    late.answer([True])
    app.loop.run()
    assert app.cameras == []  # answered after leaving camera mode: no camera in draw mode


def test_a_permission_granted_before_is_not_asked_again():
    permissions = FakePermissions(granted=True)
    app = App(permissions=permissions)
    assert permissions.asked == [] and len(app.cameras) == 1


def test_the_photo_chooser_opens_even_when_reading_photos_is_refused(tmp_path: Path):
    permissions = FakePermissions()
    app = App(AppConfig(mode="draw"), permissions=permissions)
    app.controller.open_file_chooser()
    assert permissions.asked[-1] == list(PHOTO_PERMISSIONS)
    permissions.answer([False, False])
    app.loop.run()
    assert app.screen.chooser_folder == Path.home()  # it shows what it may


# ----------------------------------------------------------------------------- --quit-after
def test_quit_after_waits_for_a_first_reading_then_saves_the_screenshot(tmp_path: Path):
    shot = tmp_path / "shot.png"
    app = App(AppConfig(quit_after=2.0, screenshot=shot))
    app.loop.advance(2.5)
    assert not app.screen.quit_called  # no reading yet: it waits
    app.camera.read(app.camera.deliver())
    app.loop.advance(0.5)
    assert app.screen.quit_called and app.screen.screenshots == [shot]
    state = app.controller.final_state
    assert state["number"] == "" and state["boxes"]  # 1 of 3 frames: not stable yet
    assert state["screenshot"] == str(shot) and state["source"] == "camera"
    assert state["run"]["frames_captured"] == 1 and state["run"]["frames_shown"] == 1


def test_quit_after_gives_up_waiting_for_a_reading_eventually():
    app = App(AppConfig(quit_after=1.0))
    app.loop.advance(1.0 + FIRST_READING_GRACE_S - 0.5)
    assert not app.screen.quit_called
    app.loop.advance(1.0)
    assert app.screen.quit_called and app.controller.final_state["mode"] == "camera"


def test_quit_after_in_draw_mode_does_not_wait():
    app = App(AppConfig(mode="draw", quit_after=1.0))
    app.loop.advance(1.01)
    assert app.screen.quit_called and "run" not in app.controller.final_state


# ----------------------------------------------------------------------------- Android adapter
def test_android_permissions_skip_names_this_android_does_not_know():
    from types import SimpleNamespace

    from edge_app.app.permissions import AndroidPermissions

    asked = []
    api = SimpleNamespace(
        Permission=SimpleNamespace(READ_EXTERNAL_STORAGE="android.permission.READ_EXTERNAL"),
        check_permission=lambda name: name == "android.permission.READ_EXTERNAL",
        request_permissions=lambda names, callback: (asked.append(names), callback(names, [1])),
    )
    permissions = AndroidPermissions(api)
    assert permissions.granted(PHOTO_PERMISSIONS)  # READ_MEDIA_IMAGES is unknown before 13
    assert not permissions.granted(CAMERA_PERMISSIONS)  # unknown here: not granted
    answers = []
    permissions.request(PHOTO_PERMISSIONS, answers.append)
    assert asked == [["android.permission.READ_EXTERNAL"]] and answers == [[1]]
    permissions.request(CAMERA_PERMISSIONS, answers.append)
    assert answers[-1] == [] and len(asked) == 1  # nothing to ask: an empty answer, at once
