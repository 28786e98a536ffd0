"""Between numpy images and Kivy's screen: fitting, box mapping and texture pixels. No Kivy here.

The traps, handled once: numpy shapes are ``(h, w)`` where Kivy sizes are ``(w, h)``; image rows
go top to bottom where Kivy's origin is bottom-left (the texture is flipped once, so the pixels
are not); OpenCV frames are BGR where the textures we create are RGBA (the one format every GL,
GLES on Android included, uploads without surprises).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fit:
    """Where an image of ``image_w x image_h`` pixels is drawn inside a widget (Kivy coords)."""

    x: float
    y: float
    w: float
    h: float
    scale: float
    image_w: int
    image_h: int

    def box_to_widget(self, box: tuple[float, float, float, float]) -> tuple[float, ...]:
        """An image box ``(x, y, w, h)`` (top-left origin) -> widget ``(x, y, w, h)``
        (bottom-left origin)."""
        bx, by, bw, bh = box
        return (
            self.x + bx * self.scale,
            self.y + (self.image_h - by - bh) * self.scale,
            bw * self.scale,
            bh * self.scale,
        )

    def widget_to_image(self, wx: float, wy: float) -> tuple[float, float]:
        """A widget point -> image pixel coordinates (x right, y down)."""
        return (wx - self.x) / self.scale, self.image_h - (wy - self.y) / self.scale


def fit_image(
    image_size: tuple[int, int], widget_pos: tuple[float, float], widget_size: tuple[float, float]
) -> Fit:
    """Fit an image (``(w, h)``, Kivy order) into a widget, keeping its aspect ratio, centred."""
    iw, ih = max(int(image_size[0]), 1), max(int(image_size[1]), 1)
    ww, wh = max(float(widget_size[0]), 1.0), max(float(widget_size[1]), 1.0)
    scale = min(ww / iw, wh / ih)
    w, h = iw * scale, ih * scale
    return Fit(widget_pos[0] + (ww - w) / 2, widget_pos[1] + (wh - h) / 2, w, h, scale, iw, ih)


@dataclass(frozen=True)
class Preview:
    """A frame ready for the screen, made off the UI thread.

    Attributes:
        rgba: ``(h', w', 4)`` ``uint8`` RGBA, rows top to bottom (the texture is flipped once
            when it is created), possibly shrunk for display.
        size: the Kivy size ``(w, h)`` of the original frame, the pixels boxes are given in.
        seq: which camera frame this is (1, 2, ...; 0 for a photo).
    """

    rgba: np.ndarray
    size: tuple[int, int]
    seq: int = 0

    @property
    def texture_size(self) -> tuple[int, int]:
        return self.rgba.shape[1], self.rgba.shape[0]


def make_preview(frame: np.ndarray, seq: int = 0, max_side: int = 960) -> Preview:
    """BGR, BGRA or gray ``(h, w[, c])`` -> a :class:`Preview` (OpenCV; ~0.1 ms at 640x480).

    OpenCV does the colour conversion in one pass, in the calling thread (the capture thread
    for camera frames), so the UI thread only uploads bytes.
    """
    import cv2

    frame = np.asarray(frame)
    small, _ = downscale_for_display(frame, max_side)
    if small.ndim == 2 or small.shape[2] == 1:
        code = cv2.COLOR_GRAY2RGBA
    elif small.shape[2] == 4:
        code = cv2.COLOR_BGRA2RGBA
    else:
        code = cv2.COLOR_BGR2RGBA
    rgba = cv2.cvtColor(np.ascontiguousarray(small, dtype=np.uint8), code)
    return Preview(rgba, (int(frame.shape[1]), int(frame.shape[0])), seq)


def downscale_for_display(frame: np.ndarray, max_side: int = 960) -> tuple[np.ndarray, float]:
    """Shrink big frames by an integer step for the preview texture (boxes stay in original
    pixels; the returned factor maps them). Returns ``(frame, factor)`` with ``factor <= 1``."""
    h, w = frame.shape[:2]
    step = int(np.ceil(max(h, w) / max_side)) if max(h, w) > max_side else 1
    if step == 1:
        return frame, 1.0
    return np.ascontiguousarray(frame[::step, ::step]), 1.0 / step
