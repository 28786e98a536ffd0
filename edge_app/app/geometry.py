"""Between numpy images and Kivy's screen: fitting, box mapping and texture bytes. No Kivy here.

The traps, handled once: numpy shapes are ``(h, w)`` where Kivy sizes are ``(w, h)``; image rows
go top to bottom where Kivy's origin is bottom-left; OpenCV frames are BGR where the textures we
create are RGBA (the one format every GL, GLES on Android included, uploads without surprises).
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


def bgr_to_rgba_bytes(frame: np.ndarray) -> tuple[bytes, tuple[int, int]]:
    """BGR (or gray) ``(h, w[, c])`` -> RGBA bytes, rows bottom-up, and the Kivy size ``(w, h)``.

    Rows are flipped here so the texture needs no ``flip_vertical`` and stays upright.
    """
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    h, w = frame.shape[:2]
    rgba = np.empty((h, w, 4), dtype=np.uint8)
    rgba[:, :, 0] = frame[::-1, :, 2]
    rgba[:, :, 1] = frame[::-1, :, 1]
    rgba[:, :, 2] = frame[::-1, :, 0]
    rgba[:, :, 3] = 255
    return rgba.tobytes(), (w, h)


def downscale_for_display(frame: np.ndarray, max_side: int = 960) -> tuple[np.ndarray, float]:
    """Shrink big frames by an integer step for the preview texture (boxes stay in original
    pixels; the returned factor maps them). Returns ``(frame, factor)`` with ``factor <= 1``."""
    h, w = frame.shape[:2]
    step = int(np.ceil(max(h, w) / max_side)) if max(h, w) > max_side else 1
    if step == 1:
        return frame, 1.0
    return np.ascontiguousarray(frame[::step, ::step]), 1.0 / step
