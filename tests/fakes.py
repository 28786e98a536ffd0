"""Stand-ins the tests share: a vision step whose answer is known exactly, readings built from
the real result types, a job runner that runs each job at once, and the app controller with
every part it is given faked (:class:`App`): a screen that records what it is told, a UI loop
whose clock the test moves, and a camera the test feeds frames into."""

from __future__ import annotations

import types
import zlib
from pathlib import Path

import cv2
import numpy as np

from edge_app.app.config import AppConfig
from edge_app.app.controller import AppController
from edge_app.app.engines import Engine, EngineBook
from edge_app.app.geometry import make_preview
from edge_app.app.pipeline import Analysis, PipelineStats
from edge_app.app.sources import FrameSource, SourceError
from edge_app.classifier import Prediction
from edge_app.errors import ModelError
from edge_app.reader import Detection, Reading


def tile_finder(image: np.ndarray) -> list[types.SimpleNamespace]:
    """Fake vision: every 28x28 tile of a dark-on-light strip that has ink is one candidate."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    out = []
    for i in range(gray.shape[1] // 28):
        tile = 255 - gray[:28, 28 * i : 28 * (i + 1)]
        if tile.max() > 0:
            out.append(types.SimpleNamespace(image=tile, box=(28 * i, 0, 28, 28), line=0))
    return out


def reading(digits: str, latency_ms: float = 4.0, classify_ms: float = 0.2) -> Reading:
    """A :class:`Reading` of ``digits``: one 8x12 box per digit, 10 px apart, confidence 0.9."""
    found = [Detection(int(d), 0.9, (10 * i, 5, 8, 12)) for i, d in enumerate(digits)]
    return Reading(digits, found, latency_ms=latency_ms, classify_ms=classify_ms)


class InlineJobs:
    """The app's job runner without a worker thread: each job runs as it is submitted."""

    def submit(self, kind, job, on_done, on_error) -> None:
        try:
            result = job()
        except Exception as exc:
            on_error(exc)
        else:
            on_done(result)


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` pixels, with almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    idat = zlib.compress(bytes(1000))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- the app controller and its parts ---------------------------------------------------------


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
