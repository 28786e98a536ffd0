"""The drawing canvas as data: strokes in, a white-on-black image out, framed like MNIST.

The Kivy canvas only records touch points (converted to image convention: x right, **y down**)
and draws lines; turning strokes into pixels happens here in numpy, so it is deterministic and
tested without a window. The stroke width is relative to the size of the drawing, the way MNIST
pen strokes are about a tenth of the digit's height whatever size it was written at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Point = tuple[float, float]
RASTER_SIZE = 112  # pixels of the square the drawing is rendered into before MNIST framing
DIGIT_FILL = 0.8  # the drawing's longer side covers this fraction of the raster
STROKE_WIDTH = 0.12  # pen width as a fraction of the drawing's longer side (MNIST-like)


class Drawing:
    """Strokes drawn so far, each a list of ``(x, y)`` points (any unit, y down)."""

    def __init__(self) -> None:
        self.strokes: list[list[Point]] = []

    def begin(self, x: float, y: float) -> None:
        self.strokes.append([(float(x), float(y))])

    def add(self, x: float, y: float) -> None:
        if not self.strokes:
            self.begin(x, y)
            return
        last = self.strokes[-1][-1]
        if (x - last[0]) ** 2 + (y - last[1]) ** 2 > 1e-6:  # skip repeated points
            self.strokes[-1].append((float(x), float(y)))

    def clear(self) -> None:
        self.strokes.clear()

    @property
    def empty(self) -> bool:
        return not any(self.strokes)

    def render(self, size: int = RASTER_SIZE) -> np.ndarray | None:
        """White-on-black ``uint8`` image of the strokes (None when nothing is drawn)."""
        return rasterize(self.strokes, size=size) if not self.empty else None


def rasterize(
    strokes: Sequence[Sequence[Point]],
    *,
    size: int = RASTER_SIZE,
    fill: float = DIGIT_FILL,
    width: float = STROKE_WIDTH,
) -> np.ndarray:
    """Render strokes, scaled to fit ``fill`` of a ``size`` square, with an anti-aliased pen.

    Returns:
        ``(size, size)`` uint8, ink 255 on 0.
    """
    points = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes if len(s)]
    if not points:
        return np.zeros((size, size), dtype=np.uint8)
    everything = np.concatenate(points)
    low, high = everything.min(axis=0), everything.max(axis=0)
    extent = float(max(high - low)) or 1.0  # a single tap is a dot
    scale = size * fill / extent
    centre = (low + high) / 2.0
    radius = max(width * size * fill / 2.0, 1.0)

    segments = []
    for stroke in points:
        p = (stroke - centre) * scale + size / 2.0
        if len(p) == 1:
            p = np.vstack([p, p])
        segments.append(np.stack([p[:-1], p[1:]], axis=1))
    seg = np.concatenate(segments)  # (n, 2, 2): start and end of every segment

    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1)  # (size*size, 2) as x, y
    nearest = np.full(len(pixels), np.inf)
    for chunk in range(0, len(seg), 64):  # bounded memory for long drawings
        a = seg[chunk : chunk + 64, 0][None]  # (1, k, 2)
        b = seg[chunk : chunk + 64, 1][None]
        ab = b - a
        length2 = np.maximum((ab**2).sum(-1), 1e-12)
        t = np.clip(((pixels[:, None] - a) * ab).sum(-1) / length2, 0.0, 1.0)
        closest = a + t[..., None] * ab
        d = np.sqrt(((pixels[:, None] - closest) ** 2).sum(-1)).min(axis=1)
        np.minimum(nearest, d, out=nearest)
    ink = np.clip(radius + 0.5 - nearest, 0.0, 1.0)
    return (ink.reshape(size, size) * 255.0 + 0.5).astype(np.uint8)


def drawing_to_digit(
    drawing: Drawing, framer: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray | None:
    """The drawing as a model input: rendered, then framed by the same MNIST framing as camera
    digits (:func:`edge_app.vision.frame_digit`). None when the canvas is empty."""
    image = drawing.render()
    if image is None:
        return None
    if framer is None:
        from edge_app.vision import frame_digit

        framer = frame_digit
    return np.asarray(framer(image), dtype=np.uint8)
