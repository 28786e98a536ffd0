"""Pluggable frame sources: each yields BGR ``uint8`` numpy frames of shape ``(h, w, 3)``.

* :class:`~edge_app.app.android_camera.KivyCameraSource` - Kivy's camera provider; used on
  Android (NV21 preview buffers), in its own module with the NV21 decoding.
* :class:`OpenCVCameraSource` - ``cv2.VideoCapture`` (V4L2 USB webcams on Linux/Raspberry Pi).
* :class:`Picamera2Source` - the Raspberry Pi camera on current Raspberry Pi OS (libcamera), where
  neither Kivy's camera nor V4L2 capture work.
* :class:`ImageSource` / :class:`VideoSource` - a file standing in for a camera (demos, tests).

``open()`` connects (the app calls it after ``on_start``), ``read()`` blocks until the next frame
(called from the capture thread), ``close()`` releases the device (``on_pause``/``on_stop``).
Heavy or platform-only imports (cv2, picamera2, kivy, jnius) happen inside the methods.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.app.config import AppConfig, source_kind
from edge_app.errors import DigitLiteError

log = logging.getLogger(__name__)


class SourceError(DigitLiteError):
    """A frame source cannot be opened or stopped delivering frames (no camera, no permission)."""


def on_android() -> bool:
    """True inside a python-for-android APK (p4a sets ``ANDROID_ARGUMENT``, as Kivy checks)."""
    return "ANDROID_ARGUMENT" in os.environ or hasattr(sys, "getandroidapilevel")


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Gray, BGR or BGRA ``uint8`` -> contiguous BGR ``(h, w, 3)``."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise SourceError(f"frame of shape {image.shape} is not an image")
    return np.ascontiguousarray(image, dtype=np.uint8)


class FrameSource(ABC):
    """One place frames come from. Use as a context manager or call open()/close()."""

    name = "source"
    #: a real camera (True) or a file standing in for one
    live = True
    #: open() must run on the UI thread (Kivy's camera creates GL textures)
    open_on_main_thread = False

    @abstractmethod
    def open(self) -> None:
        """Connect. Raises :class:`SourceError` when the source is unusable."""

    @abstractmethod
    def read(self) -> np.ndarray:
        """The next BGR frame (blocks). Raises :class:`SourceError` when frames stop."""

    def close(self) -> None:  # noqa: B027 - most sources have something to release, not all
        """Release the device; safe to call twice."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class FramePacer:
    """Makes frames from a file arrive at ``fps``, on a fixed beat like a camera's.

    Frame ``k`` is due at ``start + k / fps``; a reader that comes late gets its frame at once
    and the beat carries on (a small delay is made up, not passed on to every later frame),
    but one more than a frame late restarts the beat instead of delivering a burst.
    """

    def __init__(
        self,
        fps: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._due: float | None = None

    def wait(self) -> None:
        now = self._clock()
        due = now if self._due is None else self._due
        if due > now:
            self._sleep(due - now)
        elif now - due > self.period:
            due = now
        self._due = due + self.period


class ImageSource(FrameSource):
    """A still image file used as a camera: the same frame at ``fps`` frames per second.

    Every ``read()`` returns the very same read-only array: it is one picture (the pipeline
    knows it by that), and nobody can draw on it by mistake.
    """

    live = False

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float = 15.0,
        loader: Callable[[Path], np.ndarray] | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._fps = fps
        self._loader = loader
        self._image: np.ndarray | None = None
        self._pacer = FramePacer(fps)

    def open(self) -> None:
        loader = self._loader
        if loader is None:
            from edge_app.imageio import load_image

            loader = load_image
        try:
            image = as_bgr(loader(self.path))
        except DigitLiteError as exc:
            raise SourceError(str(exc)) from exc
        image.flags.writeable = False
        self._image = image
        self._pacer = FramePacer(self._fps)

    def read(self) -> np.ndarray:
        if self._image is None:
            raise SourceError(f"{self.name} is not open")
        self._pacer.wait()
        return self._image

    def close(self) -> None:
        self._image = None


class VideoSource(FrameSource):
    """A video file used as a camera, played at its own frame rate and looped."""

    live = False

    def __init__(self, path: str | Path, *, loop: bool = True, fps: float | None = None) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.loop = loop
        self._fps = fps
        self._capture: Any = None
        self._pacer = FramePacer(0)

    def open(self) -> None:
        import cv2

        if not self.path.is_file():
            raise SourceError(f"video {self.path} does not exist")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"cannot open video {self.path} (not a video OpenCV can decode)")
        fps = self._fps or capture.get(cv2.CAP_PROP_FPS) or 25.0
        self._pacer = FramePacer(min(max(fps, 1.0), 120.0))
        self._capture = capture

    def read(self) -> np.ndarray:
        import cv2

        if self._capture is None:
            raise SourceError(f"{self.name} is not open")
        self._pacer.wait()
        ok, frame = self._capture.read()
        if not ok and self.loop:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        if not ok or frame is None:
            raise SourceError(f"{self.name}: no more frames")
        return as_bgr(frame)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class OpenCVCameraSource(FrameSource):
    """A webcam through ``cv2.VideoCapture`` (V4L2 on Linux: USB webcams on a Raspberry Pi)."""

    def __init__(self, index: int = 0, resolution: tuple[int, int] = (640, 480)) -> None:
        self.index = index
        self.resolution = resolution
        self.name = f"opencv camera {index}"
        self._capture: Any = None

    def open(self) -> None:
        try:
            import cv2
        except ImportError as exc:
            raise SourceError("OpenCV is missing: pip install opencv-python-headless") from exc
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        capture = cv2.VideoCapture(self.index, backend)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"no camera at index {self.index} (OpenCV)")
        width, height = self.resolution
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        ok, _ = capture.read()  # some devices open but never deliver a frame
        if not ok:
            capture.release()
            raise SourceError(f"camera {self.index} opened but delivers no frames")
        self._capture = capture

    def read(self) -> np.ndarray:
        if self._capture is None:
            raise SourceError(f"{self.name} is not open")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise SourceError(f"{self.name} stopped delivering frames")
        return as_bgr(frame)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class Picamera2Source(FrameSource):
    """The Raspberry Pi camera through picamera2 (libcamera) on current Raspberry Pi OS.

    picamera2 comes from apt (``python3-picamera2``), so the app's venv must be created with
    ``--system-site-packages``. Its ``RGB888`` format is stored B, G, R: already OpenCV order.
    """

    name = "picamera2"

    def __init__(self, resolution: tuple[int, int] = (640, 480)) -> None:
        self.resolution = resolution
        self._camera: Any = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(
                "picamera2 is not importable: sudo apt install python3-picamera2 and create the "
                "venv with --system-site-packages"
            ) from exc
        try:
            camera = Picamera2()
            config = camera.create_preview_configuration(
                main={"format": "RGB888", "size": tuple(self.resolution)}
            )
            camera.configure(config)
            camera.start()
        except Exception as exc:  # libcamera raises IndexError/RuntimeError for "no camera"
            raise SourceError(f"no Raspberry Pi camera found ({exc})") from exc
        self._camera = camera

    def read(self) -> np.ndarray:
        if self._camera is None:
            raise SourceError("picamera2 is not open")
        try:
            frame = self._camera.capture_array("main")
        except Exception as exc:
            raise SourceError(f"picamera2 stopped delivering frames ({exc})") from exc
        return as_bgr(frame)

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.stop()
                camera.close()
            except Exception as exc:  # releasing must never crash on_pause/on_stop
                log.warning("picamera2 did not close cleanly: %s", exc)


class FirstWorkingSource(FrameSource):
    """Tries several sources in order and keeps the first that opens (``--source camera``)."""

    def __init__(self, candidates: Sequence[FrameSource]) -> None:
        self.candidates = list(candidates)
        self.name = "camera"
        self.active: FrameSource | None = None

    @property
    def open_on_main_thread(self) -> bool:  # type: ignore[override]
        return any(c.open_on_main_thread for c in self.candidates)

    def open(self) -> None:
        failures = []
        for source in self.candidates:
            try:
                source.open()
            except SourceError as exc:
                log.info("%s unavailable: %s", source.name, exc)
                failures.append(str(exc))
                continue
            self.active = source
            self.name = source.name
            log.info("camera source: %s", source.name)
            return
        raise SourceError("; ".join(failures) if failures else "no camera source")

    def read(self) -> np.ndarray:
        if self.active is None:
            raise SourceError("camera is not open")
        return self.active.read()

    def close(self) -> None:
        if self.active is not None:
            self.active.close()
            self.active = None


def make_source(config: AppConfig) -> FrameSource:
    """The frame source ``--source`` names (a file, or a camera chosen for this platform)."""
    kind = source_kind(config.source)
    index, resolution = config.camera_index, config.resolution
    if kind == "image":
        return ImageSource(config.source)
    if kind == "video":
        return VideoSource(config.source)
    if kind == "opencv":
        return OpenCVCameraSource(index, resolution)
    if kind == "picamera2":
        return Picamera2Source(resolution)
    if kind == "kivy" or (kind == "camera" and on_android()):
        from edge_app.app.android_camera import KivyCameraSource

        return KivyCameraSource(index, resolution)
    # "camera" elsewhere: picamera2 (a Raspberry Pi camera module) first, then OpenCV/V4L2
    candidates: list[FrameSource] = []
    if sys.platform.startswith("linux") and _has_picamera2():
        candidates.append(Picamera2Source(resolution))
    candidates.append(OpenCVCameraSource(index, resolution))
    return FirstWorkingSource(candidates)


def _has_picamera2() -> bool:
    """picamera2 is importable (Raspberry Pi OS with python3-picamera2) - checked, not imported."""
    import importlib.util

    return importlib.util.find_spec("picamera2") is not None
