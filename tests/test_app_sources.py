"""Frame sources (files, cameras, Android's NV21 previews, the fallback chain) - all without Kivy.

Drawing, screen geometry and the job worker are tested in test_app_drawing.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.app.android_camera import KivyCameraSource, NV21Decoder, nv21_to_bgr
from edge_app.app.config import AppConfig, source_kind
from edge_app.app.sources import (
    FirstWorkingSource,
    FramePacer,
    FrameSource,
    ImageSource,
    OpenCVCameraSource,
    Picamera2Source,
    SourceError,
    VideoSource,
    as_bgr,
    make_source,
)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    image = np.full((120, 160, 3), 230, np.uint8)
    cv2.putText(image, "42", (30, 90), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (20, 20, 20), 8)
    path = tmp_path / "digits.png"
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50.0, (64, 48))
    assert writer.isOpened()
    for i in range(5):  # frame i is filled with gray level 40 * i
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    return path


# ----------------------------------------------------------------------------- file sources
def test_image_source_repeats_the_photo_as_bgr_frames(photo: Path):
    with ImageSource(photo, fps=200) as source:
        a, b = source.read(), source.read()
    assert a.shape == (120, 160, 3) and a.dtype == np.uint8
    assert a is b and not a.flags.writeable  # one picture: the same frame, read-only
    assert not source.live


def test_image_source_is_paced(photo: Path):
    with ImageSource(photo, fps=20) as source:
        start = time.monotonic()
        for _ in range(4):
            source.read()
    assert time.monotonic() - start >= 0.14  # 3 waits of 50 ms after the first frame


class ManualClock:
    """Time that moves only when the pacer sleeps or the test says the reader worked."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_file_frames_keep_a_cameras_beat_when_the_reader_is_sometimes_late():
    clock = ManualClock()
    pacer = FramePacer(40.0, clock=clock, sleep=clock.sleep)  # a frame every 25 ms
    delivered = []
    for i in range(20):
        pacer.wait()
        delivered.append(clock.t)
        clock.t += 0.035 if i % 2 == 0 else 0.0  # every other frame the reader is 10 ms late
    # the beat is kept: 19 periods in 19 x 25 ms (a drifting pacer needed 19 x 30 ms)
    assert delivered[-1] == pytest.approx(19 * 0.025, abs=0.011)


def test_a_reader_a_frame_late_restarts_the_beat_instead_of_getting_a_burst():
    clock = ManualClock()
    pacer = FramePacer(40.0, clock=clock, sleep=clock.sleep)
    pacer.wait()
    clock.t += 0.2  # the reader stalled for eight frame periods
    pacer.wait()
    resumed = clock.t
    pacer.wait()
    assert clock.t - resumed == pytest.approx(0.025)  # then one frame per period again


def test_image_source_turns_gray_into_bgr(tmp_path: Path):
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), np.full((10, 12), 77, np.uint8))
    with ImageSource(gray, fps=0) as source:
        frame = source.read()
    assert frame.shape == (10, 12, 3) and int(frame[0, 0, 2]) == 77


def test_unreadable_image_is_a_source_error(tmp_path: Path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(SourceError):
        ImageSource(bad).open()
    with pytest.raises(SourceError):
        ImageSource(tmp_path / "missing.png").open()
    with pytest.raises(SourceError, match="not open"):
        ImageSource(bad).read()


def test_video_source_plays_frames_in_order_and_loops(video: Path):
    with VideoSource(video, fps=500) as source:
        levels = [int(source.read().mean() + 0.5) for _ in range(7)]
    assert levels[:5] == pytest.approx([0, 40, 80, 120, 160], abs=6)  # MJPG is lossy
    assert levels[5:] == pytest.approx([0, 40], abs=6)  # looped back to the start


def test_video_source_without_loop_ends_with_a_source_error(video: Path):
    with VideoSource(video, loop=False, fps=500) as source:
        for _ in range(5):
            source.read()
        with pytest.raises(SourceError, match="no more frames"):
            source.read()


def test_bad_video_is_a_source_error(tmp_path: Path):
    with pytest.raises(SourceError, match="does not exist"):
        VideoSource(tmp_path / "none.mp4").open()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 100)
    with pytest.raises(SourceError, match="cannot open video"):
        VideoSource(junk).open()


def test_missing_webcam_is_a_source_error():
    with pytest.raises(SourceError, match="camera"):
        OpenCVCameraSource(index=63).open()


def test_picamera2_missing_is_a_source_error_naming_the_fix(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_picamera2(name, *args, **kwargs):
        if name == "picamera2":
            raise ImportError("No module named 'picamera2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_picamera2)
    with pytest.raises(SourceError, match="python3-picamera2.*system-site-packages"):
        Picamera2Source().open()


def nv21_reference(buffer: bytes, width: int, height: int) -> np.ndarray:
    """The float formula (BT.601 full range, as Android's YuvImage assumes), the way the app
    decoded NV21 before: every pixel in float32 numpy, then clipped and truncated."""
    data = np.frombuffer(buffer, dtype=np.uint8)
    y = data[: width * height].reshape(height, width).astype(np.float32)
    vu = data[width * height : width * height * 3 // 2].reshape(height // 2, width // 2, 2)
    vu = vu.astype(np.float32) - 128
    v = vu[:, :, 0].repeat(2, axis=0).repeat(2, axis=1)
    u = vu[:, :, 1].repeat(2, axis=0).repeat(2, axis=1)
    bgr = np.empty((height, width, 3), dtype=np.float32)
    bgr[:, :, 0] = y + 1.772 * u
    bgr[:, :, 1] = y - 0.344136 * u - 0.714136 * v
    bgr[:, :, 2] = y + 1.402 * v
    return np.clip(bgr, 0, 255).astype(np.uint8)


def test_nv21_decoding_gives_the_right_colours():
    w, h = 4, 2
    y = np.full(w * h, 81, np.uint8)  # pure red in BT.601: Y 81, U 90, V 240
    vu = np.tile(np.array([240, 90], np.uint8), (w // 2) * (h // 2))
    bgr = nv21_to_bgr(np.concatenate([y, vu]).tobytes(), w, h)
    assert bgr.shape == (2, 4, 3)
    b, g, r = (int(v) for v in bgr[0, 0])
    assert r > 230 and g < 25 and b < 25
    with pytest.raises(SourceError):
        nv21_to_bgr(b"\0" * 5, w, h)
    with pytest.raises(SourceError, match="multiple of 90"):
        nv21_to_bgr(np.concatenate([y, vu]).tobytes(), w, h, rotation=45)


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_nv21_matches_the_float_reference_on_random_frames(rotation: int):
    rng = np.random.default_rng(rotation)
    worst, differing, total = 0, 0, 0
    for width, height in ((640, 480), (64, 48), (6, 4)):
        for _ in range(3):
            buffer = rng.integers(0, 256, width * height * 3 // 2, dtype=np.uint8).tobytes()
            expected = np.rot90(nv21_reference(buffer, width, height), k=-(rotation // 90))
            got = nv21_to_bgr(buffer, width, height, rotation)
            assert got.shape == expected.shape and got.dtype == np.uint8
            diff = np.abs(got.astype(int) - expected.astype(int))
            worst, differing, total = (
                max(worst, diff.max()),
                differing + (diff > 0).sum(),
                total + diff.size,
            )
    # equal but for float32 rounding at a handful of exact .0 boundaries, never off by 2
    assert worst <= 1 and differing / total < 1e-5, (worst, differing)


def test_one_nv21_decoder_reused_across_sizes_and_turns_gives_fresh_results():
    rng = np.random.default_rng(7)
    decode = NV21Decoder()
    frames = []
    for width, height, rotation in ((64, 48, 90), (64, 48, 0), (32, 16, 270), (64, 48, 90)):
        buffer = rng.integers(0, 256, width * height * 3 // 2, dtype=np.uint8).tobytes()
        frame = decode(buffer, width, height, rotation)
        assert np.array_equal(frame, nv21_to_bgr(buffer, width, height, rotation))
        frames.append(frame)
    assert not np.array_equal(frames[0], frames[3])  # each call returns a frame of its own


def test_nv21_turns_the_frame_the_way_the_sensor_says():
    w, h = 4, 2
    y = np.arange(w * h, dtype=np.uint8) * 20  # distinct grey levels, no colour
    frame = nv21_to_bgr(np.concatenate([y, np.full(w * h // 2, 128, np.uint8)]).tobytes(), w, h, 90)
    assert frame.shape == (4, 2, 3)
    assert int(frame[0, 1, 0]) == 0 and int(frame[0, 0, 0]) == 80  # top-left came from bottom-left


class FakeAndroidCamera:
    """Kivy's Android provider as the source sees it: a preview callback and grab_frame()."""

    def __init__(self, index, resolution, stopped) -> None:
        self.resolution = resolution
        self._preview_cb = type("PreviewCallback", (), {})()
        self._preview_cb._callback = self._on_preview_frame
        self._buffer = None
        self.started = self.released = False

    def _on_preview_frame(self, data, camera) -> None:
        self._buffer = data

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def _release_camera(self) -> None:
        self.released = True

    def grab_frame(self):
        return None if self._buffer is None else bytes(self._buffer)

    def preview(self, grey: int) -> None:  # what Android's camera thread does per frame
        w, h = self.resolution
        data = bytes([grey]) * (w * h) + bytes([128]) * (w * h // 2)
        self._preview_cb._callback(data, None)


def test_kivy_camera_reads_each_preview_buffer_once_without_polling():
    cameras = []

    def provider(**kwargs):
        cameras.append(FakeAndroidCamera(**kwargs))
        return cameras[-1]

    source = KivyCameraSource(resolution=(4, 2), provider=provider)
    source.open()
    camera = cameras[0]
    assert camera.started
    got = []
    reader = threading.Thread(target=lambda: got.extend(source.read() for _ in range(2)))
    reader.start()
    time.sleep(0.05)
    assert got == []  # no buffer yet: read() waits
    camera.preview(50)
    time.sleep(0.05)
    assert len(got) == 1 and int(got[0][0, 0, 0]) == 50
    time.sleep(0.05)
    assert len(got) == 1  # the same buffer is not read twice
    camera.preview(90)
    reader.join(5)
    assert [int(f[0, 0, 0]) for f in got] == [50, 90]
    errors = []

    def read_until_closed() -> None:
        try:
            source.read()
        except SourceError as exc:
            errors.append(str(exc))

    waiting = threading.Thread(target=read_until_closed)
    waiting.start()
    time.sleep(0.05)
    source.close()  # wakes the read() waiting for a frame
    waiting.join(5)
    assert errors == ["kivy camera 0 is not open"]
    assert camera.released and not camera.started


def test_as_bgr_accepts_gray_bgra_and_refuses_nonsense():
    assert as_bgr(np.zeros((3, 4), np.uint8)).shape == (3, 4, 3)
    assert as_bgr(np.zeros((3, 4, 4), np.uint8)).shape == (3, 4, 3)
    with pytest.raises(SourceError):
        as_bgr(np.zeros((3, 4, 2), np.uint8))


class FakeSource(FrameSource):
    def __init__(self, name: str, fail: bool = False, frames: int = 1000) -> None:
        self.name, self.fail, self.frames, self.opened, self.closed = name, fail, frames, 0, 0

    def open(self) -> None:
        self.opened += 1
        if self.fail:
            raise SourceError(f"{self.name} missing")

    def read(self) -> np.ndarray:
        if self.frames <= 0:
            raise SourceError(f"{self.name} stopped")
        self.frames -= 1
        time.sleep(0.002)
        return np.zeros((4, 4, 3), np.uint8)

    def close(self) -> None:
        self.closed += 1


def test_first_working_source_falls_back_and_reports_every_failure():
    a, b = FakeSource("picamera2", fail=True), FakeSource("webcam")
    source = FirstWorkingSource([a, b])
    source.open()
    assert source.active is b and source.name == "webcam"
    source.close()
    assert b.closed == 1
    none = FirstWorkingSource([FakeSource("x", fail=True), FakeSource("y", fail=True)])
    with pytest.raises(SourceError, match="x missing; y missing"):
        none.open()


def test_make_source_follows_the_flag(photo: Path, video: Path, monkeypatch):
    assert isinstance(make_source(AppConfig(source=str(photo))), ImageSource)
    assert isinstance(make_source(AppConfig(source=str(video))), VideoSource)
    assert isinstance(make_source(AppConfig(source="opencv")), OpenCVCameraSource)
    assert isinstance(make_source(AppConfig(source="picamera2")), Picamera2Source)
    assert isinstance(make_source(AppConfig(source="kivy")), KivyCameraSource)
    monkeypatch.delenv("ANDROID_ARGUMENT", raising=False)
    auto = make_source(AppConfig(source="camera"))
    assert isinstance(auto, FirstWorkingSource)
    assert isinstance(auto.candidates[-1], OpenCVCameraSource)
    monkeypatch.setenv("ANDROID_ARGUMENT", "/data/app")
    assert isinstance(make_source(AppConfig(source="camera")), KivyCameraSource)
    assert source_kind("clip.MP4") == "video" and source_kind("a.jpeg") == "image"
