"""The camera pipeline without Kivy: the frame dropper, a slow analyser, boxes and their frames.

Frames carry their own number in their pixels, so a test can tell from a preview's pixels and a
reading's boxes which camera frame each came from, independently of the pipeline's bookkeeping.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from fakes import InlineJobs

from edge_app.app.config import AppConfig
from edge_app.app.controller import AppController
from edge_app.app.engines import Engine, EngineBook
from edge_app.app.pipeline import CameraPipeline, LatestSlot
from edge_app.app.sources import FrameSource, SourceError
from edge_app.reader import Detection, Reading


# ----------------------------------------------------------------------------- the slot
def test_latest_slot_keeps_only_the_newest_and_counts_what_it_dropped():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take() is None
    for i in range(5):
        slot.put(i)
    assert slot.take() == 4 and slot.take() is None
    assert slot.dropped == 4


def test_latest_slot_wait_returns_an_item_put_by_another_thread_or_none_once_closed():
    slot: LatestSlot[str] = LatestSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    assert slot.wait(timeout=5) == "frame"
    threading.Timer(0.05, slot.close).start()
    started = time.monotonic()
    assert slot.wait(timeout=5) is None
    assert time.monotonic() - started < 4


# ----------------------------------------------------------------------------- fakes
def numbered_frame(seq: int) -> np.ndarray:
    """A tiny BGR frame whose first pixel says which frame it is."""
    image = np.full((6, 8, 3), 128, np.uint8)
    image[0, 0] = (seq % 256, seq // 256, 7)
    return image


def frame_number_of_preview(rgba: np.ndarray) -> int:
    r, g, b, _ = (int(v) for v in rgba[0, 0])  # RGBA of the BGR pixel above
    assert r == 7
    return b + 256 * g


class NumberedCamera(FrameSource):
    """Delivers numbered frames at ``fps``; counts opens, reads and closes."""

    name = "numbered camera"

    def __init__(self, fps: float = 100.0, fail_after: int | None = None) -> None:
        self.period = 1.0 / fps
        self.fail_after = fail_after
        self.sent = 0
        self.opened = self.closed = 0
        self.read_threads: set[str] = set()
        self.close_thread = ""

    def open(self) -> None:
        self.opened += 1

    def read(self) -> np.ndarray:
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise SourceError("camera unplugged")
        time.sleep(self.period)
        self.read_threads.add(threading.current_thread().name)
        self.sent += 1
        return numbered_frame(self.sent)

    def close(self) -> None:
        self.closed += 1
        self.close_thread = threading.current_thread().name


class SlowReader:
    """Reads "7" with one box whose x is the number of the frame it was read from."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def read(self, image: np.ndarray) -> Reading:
        self.calls += 1
        time.sleep(self.seconds)
        seq = int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])
        return Reading("7", [Detection(7, 0.9, (seq, 0, 2, 2))], latency_ms=1.0, classify_ms=0.1)


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


# ----------------------------------------------------------------------------- the pipeline
def test_a_slow_analyser_never_delays_the_preview():
    camera = NumberedCamera(fps=100)
    reader = SlowReader(seconds=0.25)
    shown: list[int] = []
    woken = threading.Event()
    pipeline = CameraPipeline(camera, reader.read, wake=woken.set, on_error=pytest.fail)
    pipeline.start()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # this loop plays the UI thread
        if woken.wait(0.05):
            woken.clear()
            preview = pipeline.take_preview()
            if preview is not None:
                shown.append(frame_number_of_preview(preview.rgba))
    pipeline.stop()
    assert pipeline.join(5)
    stats = pipeline.stats()
    # one second of a 100 fps camera while each analysis takes a quarter of a second
    assert stats.captured >= 40, stats
    assert stats.analysed <= 6 and reader.calls == stats.analysed
    assert stats.analysis_dropped >= stats.captured - stats.analysed - 1
    assert stats.capture_fps > 5 * stats.analysis_fps  # rates measured by the pipeline itself
    assert len(shown) >= 0.8 * stats.captured  # the preview kept up with the camera...
    assert shown == sorted(shown) and len(set(shown)) == len(shown)  # ...in order, no repeats


def test_the_analyser_always_takes_the_newest_frame():
    camera = NumberedCamera(fps=200)
    reader = SlowReader(seconds=0.1)
    pipeline = CameraPipeline(camera, reader.read, wake=lambda: None, on_error=pytest.fail)
    pipeline.start()
    analyses = []
    deadline = time.monotonic() + 10
    while len(analyses) < 3 and time.monotonic() < deadline:
        analysis = pipeline.take_analysis()
        if analysis is not None:
            analyses.append(analysis)
        time.sleep(0.005)
    pipeline.stop()
    pipeline.join(5)
    assert len(analyses) == 3
    for analysis in analyses:
        assert analysis.result.detections[0].box[0] == analysis.seq  # tag = frame read
        assert analysis.wall_ms >= 90 and analysis.cpu_ms < analysis.wall_ms
    gaps = np.diff([a.seq for a in analyses])
    assert (gaps >= 5).all(), gaps  # ~20 frames arrive per analysis: the old ones are skipped


def test_stop_never_waits_and_the_capture_thread_releases_the_source():
    camera = NumberedCamera(fps=2)  # each read() blocks for half a second
    pipeline = CameraPipeline(camera, lambda image: None, wake=lambda: None, on_error=pytest.fail)
    pipeline.start()
    time.sleep(0.1)
    started = time.monotonic()
    pipeline.stop()
    assert time.monotonic() - started < 0.05  # the UI thread is not held up
    assert camera.closed == 0  # still being read: closing it now would pull it from under read()
    assert pipeline.released.wait(5)
    assert camera.closed == 1 and camera.close_thread == "digits-capture"
    assert camera.read_threads == {"digits-capture"}
    assert pipeline.join(5) and not pipeline.alive


def test_a_source_opened_on_the_ui_thread_is_closed_there():
    camera = NumberedCamera(fps=50)
    camera.open()  # what the controller does for Kivy's camera
    pipeline = CameraPipeline(
        camera, lambda image: None, wake=lambda: None, on_error=pytest.fail, open_in_thread=False
    )
    pipeline.start()
    assert wait_until(lambda: camera.sent >= 2)
    pipeline.stop()
    assert camera.opened == 1 and camera.closed == 1 and pipeline.released.is_set()
    assert camera.close_thread == threading.current_thread().name
    pipeline.join(5)


def test_a_new_pipeline_opens_the_camera_only_after_the_old_one_released_it():
    events: list[str] = []

    class Exclusive(NumberedCamera):
        def open(self) -> None:
            events.append("open")

        def close(self) -> None:
            time.sleep(0.2)  # a slow release, as a V4L2 device may take
            events.append("close")

    first = CameraPipeline(Exclusive(50), lambda i: None, wake=lambda: None, on_error=pytest.fail)
    first.start()
    assert wait_until(lambda: events == ["open"])
    first.stop()
    second = CameraPipeline(
        Exclusive(50), lambda i: None, wake=lambda: None, on_error=pytest.fail, previous=first
    )
    second.start()
    assert wait_until(lambda: len(events) == 3)
    assert events == ["open", "close", "open"]
    second.stop()
    assert first.join(5) and second.join(5)


def test_pause_stops_reading_frames_until_resumed():
    camera = NumberedCamera(fps=200)
    pipeline = CameraPipeline(camera, lambda image: None, wake=lambda: None, on_error=pytest.fail)
    pipeline.start()
    assert wait_until(lambda: camera.sent >= 3)
    pipeline.pause()
    time.sleep(0.05)
    paused_at = camera.sent
    time.sleep(0.1)
    assert camera.sent <= paused_at + 1  # at most the read in flight
    pipeline.resume()
    assert wait_until(lambda: camera.sent >= paused_at + 3)
    pipeline.stop()
    pipeline.join(5)


def test_a_dying_source_is_reported_once_and_ends_both_threads():
    errors: list[str] = []
    pipeline = CameraPipeline(
        NumberedCamera(fps=200, fail_after=3), lambda i: None, wake=lambda: None,
        on_error=errors.append,
    )  # fmt: skip
    pipeline.start()
    assert pipeline.join(5)
    assert errors == ["camera unplugged"] and pipeline.released.is_set()


def test_a_crashing_analyser_is_reported_instead_of_dying_silently():
    errors: list[str] = []

    def broken(image):
        raise ZeroDivisionError("bug")

    pipeline = CameraPipeline(
        NumberedCamera(200), broken, wake=lambda: None, on_error=errors.append
    )
    pipeline.start()
    assert pipeline.join(5)
    assert errors == ["cannot read frames: ZeroDivisionError: bug"]


# ----------------------------------------------------------------------------- boxes vs frames
class ThreadUiLoop:
    """A UiLoop for a test thread playing the UI thread: the trigger sets an event."""

    def __init__(self) -> None:
        self.woken = threading.Event()
        self.queue: list = []
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic()

    def call_later(self, delay, callback) -> None:
        with self.lock:
            self.queue.append(callback)

    def trigger(self, callback):
        self.on_frames = callback
        return self.woken.set

    def on_ui(self, callback):
        def later(*args):
            with self.lock:
                self.queue.append(lambda: callback(*args))
            self.woken.set()

        return later

    def run_queued(self) -> None:
        with self.lock:
            queued, self.queue = self.queue, []
        for callback in queued:
            callback()


class RecordingScreen:
    """Checks, after every update, that fresh boxes belong to the frame on screen."""

    def __init__(self) -> None:
        self.frame = 0  # the number read from the pixels on screen
        self.checked = {"fresh": 0, "stale": 0}

    def show_frame(self, preview) -> None:
        self.frame = frame_number_of_preview(preview.rgba)
        assert self.frame == preview.seq

    def apply(self, view) -> None:
        if not view.boxes or not self.frame:
            return
        found_in = view.boxes[0].x  # SlowReader puts the frame number there
        if view.boxes_stale:
            assert found_in < self.frame
            self.checked["stale"] += 1
        else:
            assert found_in == self.frame, "boxes drawn on a frame they were not found in"
            self.checked["fresh"] += 1

    def __getattr__(self, name):  # the rest of the Screen interface: not used here
        return lambda *args, **kwargs: None


@pytest.mark.parametrize("analysis_s", [0.002, 0.05])
def test_boxes_are_never_drawn_on_a_frame_they_were_not_found_in(analysis_s: float):
    reader = SlowReader(seconds=analysis_s)
    book = EngineBook({"fake": "fake.tflite"}, None, loader=lambda n, p: Engine(n, p, None, reader))
    loop, screen = ThreadUiLoop(), RecordingScreen()
    camera = NumberedCamera(fps=60)
    controller = AppController(
        AppConfig(), book=book, screen=screen, loop=loop, jobs=InlineJobs(),
        make_source=lambda config: camera,
    )  # fmt: skip
    controller.start()
    loop.run_queued()  # the model "loads" and the camera starts
    assert controller.camera is not None
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        if loop.woken.wait(0.05):
            loop.woken.clear()
            loop.run_queued()
            loop.on_frames()
    controller.stop()
    controller.last_camera.join(5)
    assert screen.checked["fresh"] + screen.checked["stale"] >= 20, screen.checked
    if analysis_s > 0.02:  # three frames arrive per analysis: most boxes are from earlier ones
        assert screen.checked["stale"] > screen.checked["fresh"]
    else:
        assert screen.checked["fresh"] > 0
