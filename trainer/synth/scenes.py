"""Seeded synthetic photos of handwriting, with their truth: training data and a benchmark.

A photo is made the way a phone, a webcam or a scanner sees a note. A writer (one pen: ballpoint,
gel, marker, pencil, or MNIST's own stroke) writes digits on paper (white, cream or tinted, with
grain, rulings, grids, dots, a margin line or a cheque's security pattern); the digits come as a
single digit anywhere in the frame, a string on a straight, slanted or gently curved line, digits
run into each other, several lines of small numbers on a page, a grid, a tiny scan of an amount
or a crop filled by one digit. Letters, symbols and scribbles appear as things that are not
digits. The page is lit unevenly (gradients, vignetting, soft and hard shadows, glare), held at
an angle (rotation, perspective, sometimes the table beyond the sheet), then blurred, noised,
and JPEG-compressed, at sizes from a 77 px scan to a 12-megapixel photo.

Digit shapes come from the glyphs passed in: MNIST *train* digits for training data, MNIST
*test* digits for the benchmark, so a benchmark photo never shows a digit the model learnt.
This module decides what each kind of photo shows; the pen, the paper and the camera they share
are :mod:`trainer.synth.writing`.
"""

from __future__ import annotations

import cv2
import numpy as np

from trainer.synth import render
from trainer.synth.writing import Mark, Photo, SceneWriter

FRAME = (640, 480)
FRAME_SIZES = ((640, 480), (640, 480), (1280, 720), (480, 640), (1280, 960), (1920, 1080))
PAGE_SIZES = ((1600, 1200), (2016, 1512), (1512, 2016), (3024, 4032), (4032, 3024),
              (4608, 2592), (2592, 4608))  # fmt: skip
KINDS = ("single", "string", "page", "scan", "crop", "blank", "clutter")


class SceneMaker(SceneWriter):
    """Makes seeded photos from a pool of digit glyphs (the writing and the camera are
    :class:`~trainer.synth.writing.SceneWriter`'s; what is written where is decided here).

    Args:
        glyphs: (N, 28, 28) uint8, white ink on black (MNIST layout).
        labels: (N,) digit labels.
        seed: seeds every random choice; the same seed gives the same photos.
        frame_sizes, page_sizes: (width, height) of camera frames and of page photos to
            choose from.
    """

    def __init__(
        self,
        glyphs: np.ndarray,
        labels: np.ndarray,
        seed: int = 0,
        *,
        frame_sizes: tuple[tuple[int, int], ...] = FRAME_SIZES,
        page_sizes: tuple[tuple[int, int], ...] = PAGE_SIZES,
    ) -> None:
        super().__init__(glyphs, labels, seed)
        self.frame_sizes = frame_sizes
        self.page_sizes = page_sizes

    # --- the kinds of photo ---------------------------------------------------------------

    def single(self, size: tuple[int, int] | None = None) -> Photo:
        """One digit anywhere in a camera frame, from small to frame-filling."""
        rng = self.rng
        w, h = size or self.frame_sizes[int(rng.integers(len(self.frame_sizes)))]
        pen = render.random_pen(rng)
        height = int(min(w, h) * (rng.uniform(0.07, 0.55) if rng.random() < 0.85
                                  else rng.uniform(0.55, 0.8)))  # fmt: skip
        sheet = self._sheet((w, h), spacing=height * rng.uniform(1.1, 1.6))
        ink, digit = self._digit_ink(height, pen)
        x = int(rng.uniform(0.1 * w, max(0.1 * w + 1, 0.9 * w - ink.shape[1])))
        y = int(rng.uniform(0.1 * h, max(0.1 * h + 1, 0.9 * h - height)))
        sheet.marks.append(Mark(ink, x, y, digit))
        if rng.random() < 0.15:
            self._clutter(sheet, pen, int(rng.integers(1, 4)), height)
        return self._photo(sheet, pen, "single")

    def string(self, n: int | None = None, size: tuple[int, int] | None = None) -> Photo:
        """A row of 2-10 digits (a postcode, an amount), straight, slanted or curved."""
        rng = self.rng
        w, h = size or self.frame_sizes[int(rng.integers(len(self.frame_sizes)))]
        n = n or int(rng.integers(2, 11))
        pen = render.random_pen(rng)
        height = int(min(w, h) * rng.uniform(0.06, 0.22))
        height = max(8, min(height, int(0.75 * w / (n * 0.9))))
        sheet = self._sheet((w, h), spacing=height * rng.uniform(1.1, 1.6))
        angle = curve = 0.0
        roll = rng.random()
        if roll < 0.2:
            angle = np.deg2rad(rng.uniform(-25, 25))
            sheet.tags.add("slanted")
        elif roll < 0.3:
            curve = height * rng.uniform(-1.2, 1.2)
            sheet.tags.add("curved")
        touching = bool(rng.random() < 0.15)
        if touching:
            sheet.tags.add("touching")
        span = n * height * 0.95 * abs(np.cos(angle))
        x = rng.uniform(0.05 * w, max(0.05 * w + 1, 0.95 * w - span))
        rise = np.tan(angle) * span
        y_lo, y_hi = 0.1 * h - min(0, rise), 0.9 * h - height - max(0, rise)
        y = rng.uniform(y_lo, max(y_lo + 1, y_hi))
        self._write_line(sheet, pen, n, x, y, height, 0, angle=angle, curve=curve,
                         touching=touching)  # fmt: skip
        if rng.random() < 0.1:
            self._clutter(sheet, pen, int(rng.integers(1, 4)), height)
        return self._photo(sheet, pen, "string")

    def page(self, size: tuple[int, int] | None = None) -> Photo:
        """Lines of small numbers on a page (IDs, phone numbers), or a grid of digits."""
        rng = self.rng
        w, h = size or self.page_sizes[int(rng.integers(len(self.page_sizes)))]
        pen = render.random_pen(rng)
        grid = rng.random() < 0.2
        n_lines = int(rng.integers(2, 7))
        height = int(h * (rng.uniform(0.05, 0.1) if grid else rng.uniform(0.018, 0.05)))
        height = max(10, height)
        pitch = height * (rng.uniform(2.2, 3.5) if grid else rng.uniform(1.6, 3.0))
        n_lines = max(1, min(n_lines, int(0.8 * h / pitch)))
        sheet = self._sheet((w, h), spacing=pitch / rng.choice([1, 2]))
        angle = np.deg2rad(rng.uniform(-4, 4))
        top = rng.uniform(0.08 * h, max(0.08 * h + 1, 0.9 * h - n_lines * pitch))
        for line in range(n_lines):
            n = int(rng.integers(3, 5)) if grid else int(rng.integers(3, 13))
            n = min(n, max(1, int(0.8 * w / (height * (1.8 if grid else 0.95)))))
            x = rng.uniform(0.06 * w, 0.3 * w)
            if grid:
                sheet.tags.add("grid")
                for _ in range(n):
                    self._write_line(sheet, pen, 1, x, top + line * pitch, height, line)
                    x += height * rng.uniform(1.5, 2.2)
            else:
                self._write_line(sheet, pen, n, x, top + line * pitch + np.tan(angle) * x,
                                 height, line, angle=angle, groups=True)  # fmt: skip
        if rng.random() < 0.3:
            self._clutter(sheet, pen, int(rng.integers(2, 8)), height)
        sheet.tags.add("small")
        return self._photo(sheet, pen, "page", table_odds=0.3)

    def scan(self, size: tuple[int, int] | None = None) -> Photo:
        """A tiny scan of a written amount (a cheque's amount box, a form field)."""
        rng = self.rng
        n = int(rng.integers(1, 7))
        height = int(rng.uniform(8, 48))
        w = size[0] if size else max(24, int(n * height * rng.uniform(0.8, 1.3) + height * 0.8))
        h = size[1] if size else max(16, int(height * rng.uniform(1.3, 2.2)))
        pen = render.random_pen(rng)
        sheet = self._sheet((w, h), spacing=h, rulings=False)
        if rng.random() < 0.5:
            render.security_pattern(sheet.page, rng)
            sheet.tags.add("pattern")
        if rng.random() < 0.3:
            mask = np.zeros((h, w), np.float32)
            cv2.rectangle(mask, (1, 1), (w - 2, h - 2), 1.0, 1)
            render.darken(sheet.page, mask, (0.3, 0.3, 0.3), rng.uniform(0.3, 0.8))
        touching = n > 1 and bool(rng.random() < 0.4)
        if touching:
            sheet.tags.add("touching")
        x = rng.uniform(0.02, 0.15) * w
        y = (h - height) / 2 + rng.uniform(-0.15, 0.15) * height
        self._write_line(sheet, pen, n, x, y, height, 0, touching=touching)
        sheet.tags.add("tiny")
        photo = self._photo(sheet, pen, "scan", camera=False)
        image = cv2.GaussianBlur(photo.image, (0, 0), rng.uniform(0.3, 0.8))
        if rng.random() < 0.5:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return _clip_boxes(photo, image)

    def crop(self, size: tuple[int, int] | None = None) -> Photo:
        """A photo filled by one digit: a data set sample, a cut-out, a drawing."""
        rng = self.rng
        side = int(size[0] if size else rng.uniform(28, 700))
        pen = render.random_pen(rng)
        margin = rng.uniform(0.0, 0.3)
        height = max(8, int(side * (1 - 2 * margin) * rng.uniform(0.8, 1.0)))
        sheet = self._sheet((side, side), spacing=side / 3, rulings=rng.random() < 0.15)
        ink, digit = self._digit_ink(height, pen)
        x = int((side - ink.shape[1]) / 2 + rng.uniform(-0.05, 0.05) * side)
        y = int((side - height) / 2 + rng.uniform(-0.05, 0.05) * side)
        sheet.marks.append(Mark(ink, x, y, digit))
        photo = self._photo(sheet, pen, "crop", table_odds=0.0, shadow_odds=0.2, vignette=0.2)
        image = photo.image
        if rng.random() < 0.2:
            # A scan of very few pixels (an 8x8 data set sample, a thumbnail) enlarged again:
            # blurred fat strokes, as vision sees it once it has scaled it up to read.
            tiny = int(rng.uniform(8, 20))
            small = cv2.resize(image, (tiny, tiny), interpolation=cv2.INTER_AREA)
            image = cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)
            photo = Photo(**{**photo.__dict__, "tags": (*photo.tags, "low-res")})
        if rng.random() < 0.2:  # light ink on a dark ground: a screen, a drawing canvas
            image = 255 - image
            photo = Photo(**{**photo.__dict__, "tags": (*photo.tags, "light-ink")})
        return _clip_boxes(photo, image)

    def blank(self, size: tuple[int, int] | None = None) -> Photo:
        """Paper with nothing written: gradients, shadows, rulings, specks, the sheet's edge."""
        rng = self.rng
        w, h = size or self.frame_sizes[int(rng.integers(len(self.frame_sizes)))]
        sheet = self._sheet((w, h), spacing=min(w, h) * rng.uniform(0.05, 0.15))
        return self._photo(sheet, render.random_pen(rng), "blank", table_odds=0.3)

    def clutter(self, size: tuple[int, int] | None = None) -> Photo:
        """Letters, symbols and scribbles, but no digit."""
        rng = self.rng
        w, h = size or self.frame_sizes[int(rng.integers(len(self.frame_sizes)))]
        sheet = self._sheet((w, h), spacing=min(w, h) * rng.uniform(0.05, 0.15))
        pen = render.random_pen(rng)
        self._clutter(sheet, pen, int(rng.integers(1, 9)), int(min(w, h) * rng.uniform(0.05, 0.2)))
        return self._photo(sheet, pen, "clutter", table_odds=0.3)

    def make(self, kind: str) -> Photo:
        """A photo of ``kind`` (one of :data:`KINDS`)."""
        if kind not in KINDS:
            raise ValueError(f"unknown photo kind {kind!r}; choose from {', '.join(KINDS)}")
        return getattr(self, kind)()


def _clip_boxes(photo: Photo, image: np.ndarray) -> Photo:
    h, w = image.shape[:2]
    boxes = []
    for x, y, bw, bh in photo.boxes:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(w, x + bw), min(h, y + bh)
        boxes.append((x0, y0, max(1, x1 - x0), max(1, y1 - y0)))
    return Photo(**{**photo.__dict__, "image": image, "boxes": tuple(boxes)})


def clean_scan(glyph: np.ndarray, *, side: int, margin: float, light_ink: bool) -> np.ndarray:
    """A clean scan of one digit: upscale, crop to ``margin`` (0 = ink touches the border).

    Args:
        glyph: (h, w) uint8 white-on-black digit image of any size (an 8x8 UCI digit, MNIST).
        side: the longer side of the output in pixels.
        margin: space around the ink as a fraction of the ink's longer side.
        light_ink: keep white ink on black (MNIST-style) instead of black ink on white.

    Returns:
        (H, W) uint8 gray image.
    """
    ys, xs = np.nonzero(glyph > 0)
    crop = glyph[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    pad = int(round(margin * max(crop.shape)))
    crop = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    s = side / max(crop.shape)
    size = (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s)))
    out = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    return out if light_ink else 255 - out
