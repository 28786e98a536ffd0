"""Kivy's camera provider as a frame source, and the NV21 decoding its Android buffers need.

* :class:`NV21Decoder` - an Android NV21 preview buffer -> an upright BGR frame, with two
  lookup tables and OpenCV's saturating add (0.34 ms for 640x480 turned a quarter, where float
  numpy took 4.4 ms); it matches the full-range BT.601 float formula to within one grey level.
* :class:`KivyCameraSource` - Kivy's camera (the Android back camera). ``read()`` sleeps until
  the provider hands over a new preview buffer instead of polling.

No Kivy or jnius import at module level: both happen inside :meth:`KivyCameraSource.open`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from edge_app.app.sources import FrameSource, SourceError, on_android

log = logging.getLogger(__name__)

#: How long ``read()`` waits for the camera's next preview buffer before giving up.
FRAME_TIMEOUT_S = 5.0
#: Without the provider's frame callback (another Kivy version) ``read()`` looks this often.
POLL_S = 0.004

# BT.601 full range (JFIF): what Android's own YuvImage -> JPEG assumes for NV21.
_KB, _KGU, _KGV, _KR = 1.772, 0.344136, 0.714136, 1.402


@cache
def _chroma_tables() -> tuple[np.ndarray, np.ndarray]:
    """What each chroma sample adds to and subtracts from the luma of the pixel pair it covers.

    Indexed by the NV21 V,U byte pair read as one little-endian ``uint16`` (V + 256 U); each
    ``uint64`` entry is B, G, R, 0 twice - the two pixels of a row that share the sample, so a
    lookup fills a whole row at full width. Because luma is a whole number,
    ``floor(y + c) == y + floor(c)``: adding ``floor(c)`` with saturation reproduces the float
    formula's ``clip(...).astype(uint8)``, split into a positive and a negative table since
    OpenCV saturates unsigned bytes.
    """
    pair = np.arange(65536)
    v = (pair & 255).astype(np.float32) - 128
    u = (pair >> 8).astype(np.float32) - 128
    add = np.stack(
        [
            np.floor(np.float32(_KB) * u),
            np.floor(-np.float32(_KGU) * u - np.float32(_KGV) * v),
            np.floor(np.float32(_KR) * v),
            np.zeros_like(u),
        ],
        axis=1,
    )
    positive = np.clip(add, 0, 255).astype(np.uint8)
    negative = np.clip(-add, 0, 255).astype(np.uint8)
    return tuple(
        np.ascontiguousarray(np.tile(t, 2)).view(np.uint64).ravel() for t in (positive, negative)
    )


class NV21Decoder:
    """Android NV21 preview buffers (Y plane, then interleaved V/U at half size) -> BGR frames.

    Keeps its scratch buffers from one frame to the next (only the returned frame is new, since
    it is handed to other threads): multi-megabyte temporaries per frame made glibc trim and
    re-fault its heap on every call (1.7 ms instead of 0.3 ms, most of it page faults). One
    decoder per thread.
    """

    def __init__(self) -> None:
        self._scratch: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __call__(
        self, buffer: bytes | np.ndarray, width: int, height: int, rotation: int = 0
    ) -> np.ndarray:
        """Decode one buffer.

        Args:
            buffer: at least ``width * height * 3 // 2`` bytes.
            width, height: the sensor image size (even numbers).
            rotation: degrees clockwise to turn the image (0, 90, 180, 270): the sensor
                orientation, so that a phone held upright gives an upright frame.

        Returns:
            BGR ``uint8`` ``(h, w, 3)``, ``(w, h, 3)`` after a quarter turn.

        Raises:
            SourceError: the buffer is too short or the rotation is not a quarter turn.
        """
        import cv2

        turns = {
            90: cv2.ROTATE_90_CLOCKWISE,
            180: cv2.ROTATE_180,
            270: cv2.ROTATE_90_COUNTERCLOCKWISE,
        }
        rotation %= 360
        if rotation and rotation not in turns:
            raise SourceError(f"rotation must be a multiple of 90 degrees, got {rotation}")
        data = np.frombuffer(buffer, dtype=np.uint8)
        need = width * height * 3 // 2
        if data.size < need or width % 2 or height % 2:
            raise SourceError(
                f"NV21 buffer has {data.size} bytes, expected {need} for {width}x{height}"
            )
        luma = data[: width * height].reshape(height, width)
        chroma = data[width * height : need].view(np.uint16).reshape(height // 2, width // 2)
        if sys.byteorder != "little":
            chroma = chroma.byteswap()
        if rotation:  # turning the two planes is cheaper than turning the colour frame
            luma = cv2.rotate(luma, turns[rotation])
            chroma = cv2.rotate(chroma, turns[rotation])
        h, w = luma.shape
        if (h, w) not in self._scratch:
            self._scratch[(h, w)] = (
                np.empty((h, w, 4), np.uint8),
                np.empty((h // 2, w // 2), np.uint64),
            )
        bgra, pairs = self._scratch[(h, w)]
        cv2.cvtColor(luma, cv2.COLOR_GRAY2BGRA, dst=bgra)
        rows = pairs.view(np.uint8).reshape(h // 2, w, 4)
        for table, combine in zip(_chroma_tables(), (cv2.add, cv2.subtract), strict=True):
            np.take(table, chroma, out=pairs, mode="clip")  # "raise" would buffer `out`
            for half in (bgra[0::2], bgra[1::2]):  # a chroma row serves two pixel rows
                combine(half, rows, dst=half)
        return cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR)


def nv21_to_bgr(
    buffer: bytes | np.ndarray, width: int, height: int, rotation: int = 0
) -> np.ndarray:
    """Decode one NV21 buffer (see :class:`NV21Decoder`; keep a decoder for a stream)."""
    return NV21Decoder()(buffer, width, height, rotation)


class KivyCameraSource(FrameSource):
    """Kivy's camera provider. On Android it reads the NV21 preview buffers of the back camera.

    The camera (and its GL texture) must be created on the UI thread; ``read()`` is then safe
    from the capture thread (the provider's ``grab_frame`` takes a lock). ``read()`` waits for
    the provider's preview callback to deliver a new buffer, so each camera frame is read once.
    Frames are turned by the sensor orientation so that a portrait phone gives an upright image.
    """

    open_on_main_thread = True

    def __init__(
        self,
        index: int = 0,
        resolution: tuple[int, int] = (640, 480),
        provider: Callable[..., Any] | None = None,
    ) -> None:
        """``provider``: Kivy's ``kivy.core.camera.Camera`` class unless given (tests)."""
        self.index = index
        self.resolution = resolution
        self.name = f"kivy camera {index}"
        self._provider = provider
        self._camera: Any = None
        self._rotation = 0
        self._arrived = threading.Condition()
        self._delivered = 0  # preview buffers handed over by the camera so far
        self._read = 0  # ... and the count at the last read()
        self._notified = False  # the provider's callback tells us about new buffers
        self._last: bytes | None = None
        self._decode = NV21Decoder()  # read() runs on the capture thread only

    def open(self) -> None:
        provider = self._provider
        if provider is None:
            try:
                from kivy.core.camera import Camera as provider
            except Exception as exc:
                raise SourceError(f"Kivy has no camera provider here ({exc})") from exc
        if provider is None:
            raise SourceError("Kivy has no camera provider here")
        try:
            camera = provider(index=self.index, resolution=self.resolution, stopped=True)
            camera.start()
        except Exception as exc:  # a Java exception when the permission is refused
            raise SourceError(f"cannot open camera {self.index} ({exc})") from exc
        if not hasattr(camera, "grab_frame"):
            camera.stop()
            raise SourceError("this Kivy camera provider cannot hand out frames; use opencv")
        self._rotation = _android_sensor_rotation(self.index) if on_android() else 0
        self._notified = self._hook_preview_callback(camera)
        with self._arrived:
            self._camera = camera
            self._delivered = self._read = 0

    def _hook_preview_callback(self, camera: Any) -> bool:
        """Be told when a preview buffer arrives. Kivy's Android provider keeps its Java
        ``PreviewCallback`` in ``_preview_cb`` and the Python function it calls in
        ``_callback`` (Kivy 2.x); without them ``read()`` falls back to polling."""
        callback = getattr(camera, "_preview_cb", None)
        original = getattr(callback, "_callback", None)
        if original is None:
            log.info(
                "%s: no preview callback to hook; polling every %.0f ms", self.name, POLL_S * 1e3
            )
            return False

        def on_preview_frame(data: Any, android_camera: Any) -> None:
            original(data, android_camera)
            with self._arrived:
                self._delivered += 1
                self._arrived.notify_all()

        callback._callback = on_preview_frame
        return True

    def read(self) -> np.ndarray:
        deadline = time.monotonic() + FRAME_TIMEOUT_S
        while True:
            with self._arrived:
                if self._notified:
                    self._arrived.wait_for(
                        lambda: self._camera is None or self._delivered > self._read,
                        timeout=max(deadline - time.monotonic(), 0),
                    )
                camera = self._camera
                if camera is None:
                    raise SourceError(f"{self.name} is not open")
                self._read = self._delivered
                buffer = camera.grab_frame()
            if buffer is not None and (self._notified or buffer != self._last):
                break
            if time.monotonic() > deadline:
                raise SourceError(f"{self.name} delivers no frames")
            if not self._notified:
                time.sleep(POLL_S)
        self._last = None if self._notified else buffer
        width, height = camera.resolution
        return self._decode(buffer, int(width), int(height), self._rotation)

    def close(self) -> None:
        with self._arrived:
            camera, self._camera = self._camera, None
            self._arrived.notify_all()  # a read() waiting for a frame ends now
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
