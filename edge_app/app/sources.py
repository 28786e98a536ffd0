"""Pluggable frame sources: each yields BGR ``uint8`` numpy frames of shape ``(h, w, 3)``.

* :class:`KivyCameraSource` - Kivy's camera provider; used on Android (NV21 preview buffers).
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
import threading
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


def nv21_to_bgr(buffer: bytes | np.ndarray, width: int, height: int) -> np.ndarray:
    """Decode an Android NV21 preview buffer (Y plane, then interleaved V/U at half size)."""
    data = np.frombuffer(buffer, dtype=np.uint8)
    need = width * height * 3 // 2
    if data.size < need:
        raise SourceError(f"NV21 buffer has {data.size} bytes, expected {need}")
    y = data[: width * height].reshape(height, width).astype(np.float32)
    vu = data[width * height : need].reshape(height // 2, width // 2, 2).astype(np.float32) - 128
    v = vu[:, :, 0].repeat(2, axis=0).repeat(2, axis=1)
    u = vu[:, :, 1].repeat(2, axis=0).repeat(2, axis=1)
    bgr = np.empty((height, width, 3), dtype=np.float32)
    bgr[:, :, 0] = y + 1.772 * u
    bgr[:, :, 1] = y - 0.344136 * u - 0.714136 * v
    bgr[:, :, 2] = y + 1.402 * v
    return np.clip(bgr, 0, 255).astype(np.uint8)


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


class _Pacer:
    """Sleeps so that frames from a file arrive at ``fps`` rather than as fast as possible."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self._next = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
            now = self._next
        self._next = now + self.period


class ImageSource(FrameSource):
    """A still image file used as a camera: the same frame at ``fps`` frames per second."""

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
        self._pacer = _Pacer(fps)

    def open(self) -> None:
        loader = self._loader
        if loader is None:
            from edge_app.imageio import load_image

            loader = load_image
        try:
            self._image = as_bgr(loader(self.path))
        except DigitLiteError as exc:
            raise SourceError(str(exc)) from exc
        self._pacer = _Pacer(self._fps)

    def read(self) -> np.ndarray:
        if self._image is None:
            raise SourceError(f"{self.name} is not open")
        self._pacer.wait()
        return self._image.copy()

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
        self._pacer = _Pacer(0)

    def open(self) -> None:
        import cv2

        if not self.path.is_file():
            raise SourceError(f"video {self.path} does not exist")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"cannot open video {self.path} (not a video OpenCV can decode)")
        fps = self._fps or capture.get(cv2.CAP_PROP_FPS) or 25.0
        self._pacer = _Pacer(min(max(fps, 1.0), 120.0))
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


class KivyCameraSource(FrameSource):
    """Kivy's camera provider. On Android it reads the NV21 preview buffers of the back camera.

    The camera (and its GL texture) must be created on the UI thread; ``read()`` is then safe
    from the capture thread (the provider's ``grab_frame`` takes a lock). Frames are rotated by
    the sensor orientation so that a portrait phone gives an upright image.
    """

    open_on_main_thread = True

    def __init__(self, index: int = 0, resolution: tuple[int, int] = (640, 480)) -> None:
        self.index = index
        self.resolution = resolution
        self.name = f"kivy camera {index}"
        self._camera: Any = None
        self._rotation = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        try:
            from kivy.core.camera import Camera as CoreCamera
        except Exception as exc:
            raise SourceError(f"Kivy has no camera provider here ({exc})") from exc
        if CoreCamera is None:
            raise SourceError("Kivy has no camera provider here")
        try:
            camera = CoreCamera(index=self.index, resolution=self.resolution, stopped=True)
            camera.start()
        except Exception as exc:  # a Java exception when the permission is refused
            raise SourceError(f"cannot open camera {self.index} ({exc})") from exc
        if not hasattr(camera, "grab_frame"):
            camera.stop()
            raise SourceError("this Kivy camera provider cannot hand out frames; use opencv")
        self._rotation = _android_sensor_rotation(self.index) if on_android() else 0
        self._camera = camera

    def read(self) -> np.ndarray:
        deadline = time.monotonic() + 5.0
        while True:
            with self._lock:
                camera = self._camera
                if camera is None:
                    raise SourceError(f"{self.name} is not open")
                buffer = camera.grab_frame()
            if buffer is not None:
                break
            if time.monotonic() > deadline:
                raise SourceError(f"{self.name} delivers no frames")
            time.sleep(0.01)
        width, height = camera.resolution
        frame = nv21_to_bgr(bytes(buffer), int(width), int(height))
        if self._rotation:
            frame = np.ascontiguousarray(np.rot90(frame, k=-(self._rotation // 90)))
        return frame

    def close(self) -> None:
        with self._lock:
            camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.stop()
                release = getattr(camera, "_release_camera", None)
                if release is not None:  # the Android provider keeps the device until released
                    release()
            except Exception as exc:
                log.warning("camera did not close cleanly: %s", exc)


def _android_sensor_rotation(index: int) -> int:
    """Degrees clockwise to turn the sensor image upright in portrait (usually 90)."""
    try:
        from jnius import autoclass

        camera_class = autoclass("android.hardware.Camera")
        info = autoclass("android.hardware.Camera$CameraInfo")()
        camera_class.getCameraInfo(index, info)
        return int(info.orientation) % 360
    except Exception as exc:
        log.warning("cannot read the camera orientation (%s); assuming 90 degrees", exc)
        return 90


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
    if kind == "kivy":
        return KivyCameraSource(index, resolution)
    # "camera": the right camera for the platform
    if on_android():
        return KivyCameraSource(index, resolution)
    candidates: list[FrameSource] = []
    if sys.platform.startswith("linux") and _has_picamera2():
        candidates.append(Picamera2Source(resolution))
    candidates.append(OpenCVCameraSource(index, resolution))
    return FirstWorkingSource(candidates)


def _has_picamera2() -> bool:
    """picamera2 is importable (Raspberry Pi OS with python3-picamera2) - checked, not imported."""
    import importlib.util

    return importlib.util.find_spec("picamera2") is not None
