"""Seeded synthetic photos of handwriting on paper, to measure the vision step honestly.

A photo is made the way a phone or a Pi camera sees a note: a sheet of paper (off-white, with
grain, sometimes ruled, squared or with a red margin line) with digits written in pen (black,
blue or grey ink of varying stroke width, slightly blurred), held at a slight angle (rotation,
mild perspective, sometimes the sheet's edge and the table beyond are in view), lit unevenly
(a light gradient, vignetting, a soft cast shadow), then defocused a little, with sensor noise
and a JPEG round trip. Digit shapes come from real handwriting passed in by the caller (the
MNIST *test* set in the benchmark, so nothing the classifier was trained on), or from Hershey
script glyphs when no data set is at hand (the fast tests).

Every photo comes with its truth: the digits written and a box around each one in the photo's
pixel coordinates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

FRAME = (640, 480)  # (width, height) of a default camera frame


@dataclass(frozen=True)
class Photo:
    """A synthetic photo and what is written on it.

    Attributes:
        image: (H, W, 3) uint8 BGR.
        digits: the digits written, left to right ("" for a blank page).
        boxes: per digit, (x, y, w, h) around its ink in the photo.
        kind: ``single``, ``string``, ``blank`` or ``scan``.
    """

    image: np.ndarray
    digits: str
    boxes: tuple[tuple[int, int, int, int], ...]
    kind: str


def hershey_glyphs(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Handwriting-like 28x28 glyphs (white on black) drawn with OpenCV's script fonts.

    For tests and demos that must not need MNIST: the shapes are cursive-ish digits with a
    random slant, size and stroke width.

    Returns:
        (images (count, 28, 28) uint8, labels (count,) uint8).
    """
    rng = np.random.default_rng(seed)
    fonts = (
        cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
        cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
        cv2.FONT_HERSHEY_SIMPLEX,
        cv2.FONT_HERSHEY_DUPLEX,
    )
    images = np.zeros((count, 28, 28), np.uint8)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    for i, label in enumerate(labels):
        canvas = np.zeros((112, 112), np.uint8)
        font = fonts[int(rng.integers(len(fonts)))]
        thickness = int(rng.integers(6, 11))
        cv2.putText(canvas, str(label), (22, 92), font, 2.6, 255, thickness, cv2.LINE_AA)
        slant = float(rng.uniform(-0.25, 0.25))
        shear = np.float32([[1, slant, -slant * 56], [0, 1, 0]])
        canvas = cv2.warpAffine(canvas, shear, (112, 112))
        images[i] = _mnist_frame(canvas)
    return images, labels


def _mnist_frame(canvas: np.ndarray) -> np.ndarray:
    """Fit ink into 20x20 and centre it in 28x28 (just enough for synthetic glyphs)."""
    ys, xs = np.nonzero(canvas > 30)
    crop = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    s = 20 / max(h, w)
    crop = cv2.resize(
        crop, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
    )
    out = np.zeros((28, 28), np.uint8)
    y0, x0 = (28 - crop.shape[0]) // 2, (28 - crop.shape[1]) // 2
    out[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return out


class PhotoMaker:
    """Makes seeded photos from a pool of digit glyphs.

    Args:
        glyphs: (N, 28, 28) uint8, white ink on black (MNIST layout).
        labels: (N,) digit labels.
        seed: seeds every random choice; the same seed gives the same photos.
    """

    def __init__(self, glyphs: np.ndarray, labels: np.ndarray, seed: int = 0) -> None:
        self.glyphs = np.asarray(glyphs)
        self.labels = np.asarray(labels).astype(int)
        self.rng = np.random.default_rng(seed)

    # --- the pieces --------------------------------------------------------------------------

    def _glyph(self) -> tuple[np.ndarray, int]:
        i = int(self.rng.integers(len(self.glyphs)))
        return self.glyphs[i], int(self.labels[i])

    def _paper(self, size: tuple[int, int]) -> np.ndarray:
        """Off-white paper with grain and a faint tint, float32 BGR 0..1."""
        rng, (w, h) = self.rng, size
        base = rng.uniform(0.78, 0.97)
        tint = base * (1 + rng.uniform(-0.04, 0.04, 3))
        paper = np.empty((h, w, 3), np.float32)
        paper[:] = tint
        coarse = cv2.resize(
            rng.normal(0, 1, (max(2, h // 40), max(2, w // 40))).astype(np.float32),
            (w, h),
            interpolation=cv2.INTER_CUBIC,
        )
        fine = rng.normal(0, 1, (h, w)).astype(np.float32)
        grain = coarse * rng.uniform(0.005, 0.02) + cv2.GaussianBlur(fine, (3, 3), 0.8) * 0.01
        return paper * (1 + grain[..., None])

    def _rulings(self, paper: np.ndarray, spacing: float) -> None:
        """Ruled, squared or margin lines, drawn in place (sometimes none)."""
        rng = self.rng
        h, w = paper.shape[:2]
        kind = rng.choice(["none", "ruled", "ruled", "grid"], p=[0.35, 0.25, 0.2, 0.2])
        colour = np.array(rng.choice([[0.95, 0.78, 0.62], [0.8, 0.8, 0.8], [0.9, 0.72, 0.7]]))
        strength = rng.uniform(0.25, 0.7)  # how much the line darkens the paper
        thick = int(rng.integers(1, 3))
        if kind != "none":
            # All lines go into one coverage mask, applied once: a page has dozens of them.
            mask = np.zeros((h, w), np.float32)
            step = spacing * (0.5 if kind == "grid" else 1.0)
            offset = rng.uniform(0, step)
            ys = np.arange(offset, h, step)
            if kind == "grid":
                for x in np.arange(rng.uniform(0, step), w, step):
                    cv2.line(mask, (int(x), 0), (int(x), h), 0.8, thick, cv2.LINE_AA)
            for y in ys:
                cv2.line(mask, (0, int(y)), (w, int(y)), 1.0, thick, cv2.LINE_AA)
            _darken(paper, mask, colour, strength)
        if rng.random() < 0.25:
            mask = np.zeros((h, w), np.float32)
            x = int(rng.uniform(0.05, 0.25) * w)
            cv2.line(mask, (x, 0), (x, h), 1.0, 2, cv2.LINE_AA)
            _darken(paper, mask, np.array([0.55, 0.5, 0.95]), rng.uniform(0.4, 0.8))

    def _ink(self, glyph: np.ndarray, height: int) -> np.ndarray:
        """A pen-like ink coverage mask (float 0..1) of a glyph scaled to ``height`` px."""
        rng = self.rng
        ys, xs = np.nonzero(glyph > 20)
        crop = glyph[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255
        s = height / crop.shape[0]
        size = (max(1, round(crop.shape[1] * s)), max(1, height))
        big = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
        # The pen: thresholding the soft glyph at different levels gives thinner or bolder
        # strokes; a soft ramp keeps the edge anti-aliased like a real photo of ink. Above
        # about 0.55 the faint joins of MNIST strokes vanish: a pen leaves a thin line there,
        # not a gap.
        level = rng.uniform(0.25, 0.55)
        ramp = 0.08
        ink = np.clip((big - level) / ramp + 0.5, 0, 1)
        # Occasionally a fine pen on a big digit: thin the stroke further.
        if height > 60 and rng.random() < 0.3:
            r = max(1, int(height * rng.uniform(0.01, 0.025)))
            ink = cv2.erode(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
            if ink.max() < 0.5:
                ink = np.clip((big - level) / ramp + 0.5, 0, 1)
        return ink

    def _pen_colour(self) -> tuple[np.ndarray, float]:
        rng = self.rng
        name = rng.choice(["black", "blue", "grey", "black", "blue"])
        colour = {"black": [0.1, 0.1, 0.12], "blue": [0.55, 0.22, 0.1], "grey": [0.35, 0.35, 0.35]}
        return np.array(colour[name]) * rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.0)

    def _stamp(self, page: np.ndarray, ink: np.ndarray, x: int, y: int, colour, opacity) -> None:
        h, w = ink.shape
        ph, pw = page.shape[:2]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(pw, x + w), min(ph, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        a = ink[y0 - y : y1 - y, x0 - x : x1 - x, None] * opacity
        region = page[y0:y1, x0:x1]
        # Ink absorbs light: multiply the paper by the ink's colour where it covers it.
        region *= 1 - a * (1 - colour)

    def _camera(self, page: np.ndarray, boxes: list, table: bool) -> tuple[np.ndarray, list]:
        """Hold the page at an angle, light it unevenly, then blur, noise and JPEG it."""
        rng = self.rng
        h, w = page.shape[:2]
        for _ in range(10):  # hold the camera so that every digit is in the frame
            homography = self._pose((w, h), table)
            new_boxes = [_move_box(box, homography) for box in boxes]
            if all(x >= 0 and y >= 0 and x + bw <= w and y + bh <= h for x, y, bw, bh in new_boxes):
                break
        if table:
            backdrop = np.empty_like(page)
            backdrop[:] = rng.uniform(0.15, 0.55, 3)
            warped = cv2.warpPerspective(
                page,
                homography,
                (w, h),
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=tuple(float(v) for v in backdrop[0, 0]),
            )
        else:
            warped = cv2.warpPerspective(page, homography, (w, h), borderMode=cv2.BORDER_REFLECT)
        warped *= self._light((w, h))[..., None]
        if rng.random() < 0.7:
            warped = cv2.GaussianBlur(warped, (0, 0), rng.uniform(0.4, 1.4))
        warped *= 255.0
        warped += rng.normal(0, rng.uniform(1.0, 6.0), warped.shape).astype(np.float32)
        image = np.clip(warped, 0, 255).astype(np.uint8)
        quality = int(rng.integers(40, 96))
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.imdecode(jpeg, cv2.IMREAD_COLOR), new_boxes

    def _pose(self, size: tuple[int, int], table: bool) -> np.ndarray:
        """A homography: rotation +-10 degrees, zoom, mild perspective, a little shift."""
        rng, (w, h) = self.rng, size
        angle = np.deg2rad(rng.uniform(-10, 10))
        zoom = rng.uniform(0.55, 0.8) if table else rng.uniform(1.0, 1.15)
        c, s = np.cos(angle) * zoom, np.sin(angle) * zoom
        centre = np.array([w / 2, h / 2])
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = (src - centre) @ np.float32([[c, s], [-s, c]]) + centre
        dst += rng.uniform(-0.03, 0.03, (4, 2)) * [w, h]  # mild perspective
        dst += rng.uniform(-0.05, 0.05, 2) * [w, h] * (1 if table else 0.3)
        return cv2.getPerspectiveTransform(src, dst.astype(np.float32))

    def _light(self, size: tuple[int, int]) -> np.ndarray:
        """Illumination: gradient x vignetting x (sometimes) a soft cast shadow."""
        rng, (w, h) = self.rng, size
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        theta = rng.uniform(0, 2 * np.pi)
        t = ((xx - w / 2) * np.cos(theta) + (yy - h / 2) * np.sin(theta)) / max(w, h)
        light = 1 + t * rng.uniform(0, 0.6)
        r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
        light *= 1 - rng.uniform(0, 0.35) * r2
        if rng.random() < 0.45:
            # A hand or phone between the lamp and the page: a big blob from one side.
            shadow = np.zeros((h, w), np.float32)
            cx, cy = (
                rng.uniform(-0.2, 1.2) * w,
                rng.choice([rng.uniform(-0.3, 0.1), rng.uniform(0.9, 1.3)]) * h,
            )
            axes = (int(rng.uniform(0.3, 0.8) * w), int(rng.uniform(0.3, 0.7) * h))
            cv2.ellipse(shadow, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
            shadow = cv2.GaussianBlur(shadow, (0, 0), rng.uniform(4, 40))
            light *= 1 - shadow * rng.uniform(0.2, 0.55)
        return light / light.max() * rng.uniform(0.75, 1.0)

    # --- whole photos --------------------------------------------------------------------------

    def _blank_page(self, size: tuple[int, int], spacing: float) -> np.ndarray:
        page = self._paper(size)
        self._rulings(page, spacing)
        # Dust and paper fibres: a few tiny dark specks.
        for _ in range(int(self.rng.integers(0, 12))):
            x, y = int(self.rng.integers(size[0])), int(self.rng.integers(size[1]))
            cv2.circle(
                page,
                (x, y),
                int(self.rng.integers(0, 2)),
                tuple(float(v) * self.rng.uniform(0.4, 0.8) for v in page[y, x]),
                -1,
            )
        return page

    def single(self, size: tuple[int, int] = FRAME) -> Photo:
        """One digit, anywhere, small to large."""
        rng, (w, h) = self.rng, size
        height = int(min(h, w) * rng.uniform(0.07, 0.55))
        page = self._blank_page(size, spacing=height * rng.uniform(1.1, 1.6))
        glyph, label = self._glyph()
        ink = self._ink(glyph, height)
        x = int(rng.integers(int(0.12 * w), max(int(0.12 * w) + 1, int(0.88 * w) - ink.shape[1])))
        y = int(rng.integers(int(0.12 * h), max(int(0.12 * h) + 1, int(0.88 * h) - height)))
        colour, opacity = self._pen_colour()
        self._stamp(page, ink, x, y, colour, opacity)
        image, boxes = self._camera(page, [_box(ink, x, y)], table=rng.random() < 0.2)
        return Photo(image, str(label), tuple(boxes), "single")

    def string(self, n_digits: int, size: tuple[int, int] = FRAME) -> Photo:
        """A row of digits (a postcode, an amount) written with natural spacing and jitter."""
        rng, (w, h) = self.rng, size
        height = int(min(h, w) * rng.uniform(0.07, 0.2))
        height = min(height, int(0.7 * w / (n_digits * 0.85)))
        page = self._blank_page(size, spacing=height * rng.uniform(1.1, 1.6))
        colour, opacity = self._pen_colour()
        inks, labels = [], []
        for _ in range(n_digits):
            glyph, label = self._glyph()
            inks.append(self._ink(glyph, max(8, int(height * rng.uniform(0.9, 1.1)))))
            labels.append(label)
        gaps = [int(height * rng.uniform(0.12, 0.45)) for _ in inks]
        total = sum(i.shape[1] for i in inks) + sum(gaps[:-1])
        x = int(rng.integers(int(0.08 * w), max(int(0.08 * w) + 1, int(0.92 * w) - total)))
        base = int(rng.integers(int(0.15 * h), max(int(0.15 * h) + 1, int(0.85 * h) - height)))
        boxes = []
        for ink, gap in zip(inks, gaps, strict=True):
            y = base + int(height * rng.uniform(-0.06, 0.06)) + (height - ink.shape[0])
            self._stamp(page, ink, x, y, colour, opacity)
            boxes.append(_box(ink, x, y))
            x += ink.shape[1] + gap
        image, boxes = self._camera(page, boxes, table=rng.random() < 0.15)
        return Photo(image, "".join(map(str, labels)), tuple(boxes), "string")

    def blank(self, size: tuple[int, int] = FRAME) -> Photo:
        """Paper with no writing: gradients, shadows, rulings, specks, sometimes its edge."""
        rng, (w, h) = self.rng, size
        page = self._blank_page(size, spacing=min(w, h) * rng.uniform(0.06, 0.15))
        image, _ = self._camera(page, [], table=rng.random() < 0.3)
        return Photo(image, "", (), "blank")


def _box(ink: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(ink > 0.3)
    if ys.size == 0:
        return (x, y, ink.shape[1], ink.shape[0])
    return (x + int(xs.min()), y + int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)


def _move_box(box: tuple[int, int, int, int], homography: np.ndarray) -> tuple[int, ...]:
    """The axis-aligned box around a box's corners after a homography."""
    x, y, bw, bh = box
    corners = np.float32([[[x, y]], [[x + bw, y]], [[x + bw, y + bh]], [[x, y + bh]]])
    moved = cv2.perspectiveTransform(corners, homography)[:, 0]
    x0, y0 = np.floor(moved.min(axis=0)).astype(int)
    x1, y1 = np.ceil(moved.max(axis=0)).astype(int)
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def _darken(page: np.ndarray, mask: np.ndarray, colour: np.ndarray, strength: float) -> None:
    """Print lines (coverage ``mask``) by darkening the paper towards ``colour``."""
    page *= 1 - (mask * strength)[..., None] * (1 - colour)


def scan(glyph: np.ndarray, *, side: int, margin: float, light_ink: bool) -> np.ndarray:
    """A clean scan of one digit: upscale, crop to ``margin`` (0 = ink touches the border).

    Args:
        glyph: (h, w) uint8 white-on-black digit image of any size.
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
