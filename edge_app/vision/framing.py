"""MNIST framing: one digit crop -> 28x28, white ink on black, the way MNIST was made.

MNIST digits were size-normalised to fit a 20x20 box keeping their aspect ratio (which
anti-aliases them) and then placed in a 28x28 field with their centre of mass at the centre.
The fit is done here at 4x resolution and then area-averaged down, which gives the same soft
edges. Pen strokes come in every width, so the stroke is also brought towards MNIST's
(about 2.5 px of 28), which matters for thin ball-point lines on a large digit.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_app.contract import IMAGE_SIZE
from edge_app.vision.image import to_gray

BOX = 20  # MNIST's size-normalisation box
SUPER = 4  # work at 4x the final resolution, then area-average down (anti-aliasing)
CENTRE = 14.0  # MNIST's mean centre of mass (row, column) in pixel-index coordinates
# MNIST's median stroke width at 4x scale (about 2.1 px in 28x28), and the band left alone:
# only hairlines are thickened (gently, so small loops stay open) and markers thinned.
STROKE_TARGET = 8.5
STROKE_RANGE = (5.5, 16.0)


def _as_ink(image: np.ndarray) -> np.ndarray:
    """Any crop -> float32 (h, w) 0..1, white ink on black (values as :mod:`edge_app.pixels`)."""
    image = np.asarray(image)
    if image.size == 0 or image.ndim not in (2, 3):
        return np.zeros((0, 0), np.float32)
    return to_gray(image).astype(np.float32) / 255.0


def _ink_box(ink: np.ndarray, level: float = 0.1) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(ink.max(axis=1) > level)
    if rows.size == 0:
        return None
    cols = np.flatnonzero(ink.max(axis=0) > level)
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _fit(ink: np.ndarray, side: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Crop to the ink and resize so the longer side is ``side`` (aspect ratio kept).

    In float64: OpenCV's float32 resizing rounds differently on ARM than on x86.
    """
    box = box or _ink_box(ink)
    if box is None:
        return np.zeros((1, 1), np.float64)
    y0, y1, x0, x1 = box
    crop = ink[y0:y1, x0:x1].astype(np.float64, copy=False)
    h, w = crop.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(crop, size, interpolation=interp)


def _stroke_width(ink: np.ndarray) -> float:
    m = (ink > 0.5).astype(np.uint8)
    area = cv2.countNonZero(m)
    if area == 0:
        return 0.0
    inner = cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return 2.0 * area / max(area - cv2.countNonZero(inner), 1)


def normalise_stroke(big: np.ndarray) -> np.ndarray:
    """Thicken hairlines and thin marker strokes towards MNIST's width (at 4x scale).

    Returns ``big`` itself when its strokes are within MNIST's range.
    """
    width = _stroke_width(big)
    if width <= 0:
        return big
    low, high = STROKE_RANGE
    if width < low:
        r = int(round((STROKE_TARGET - width) / 2))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        pad = r + 1
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        return cv2.dilate(big, kernel)
    if width > high:
        r = int(round((width - STROKE_TARGET) / 2))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        thinner = cv2.erode(big, kernel)
        # Never erode a stroke away entirely.
        kept = cv2.countNonZero((thinner > 0.5).astype(np.uint8)) > 0.3 * cv2.countNonZero(
            (big > 0.5).astype(np.uint8)
        )
        return thinner if kept else big
    return big


def frame_ink(ink: np.ndarray, *, normalise_thickness: bool = True) -> np.ndarray:
    """:func:`frame_digit` for a crop already float 0..1 white on black (the vision step's)."""
    box = _ink_box(ink)
    if box is None:
        return np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    big = _fit(ink, BOX * SUPER, box)
    if normalise_thickness:
        normalised = normalise_stroke(big)
        if normalised is not big:
            big = _fit(normalised, BOX * SUPER)
    h, w = big.shape
    # Pad to a multiple of SUPER so the area-average lands on whole pixels.
    ph, pw = -h % SUPER, -w % SUPER
    if ph or pw:
        big = cv2.copyMakeBorder(
            big, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_CONSTANT, value=0
        )
    small = cv2.resize(
        big, (big.shape[1] // SUPER, big.shape[0] // SUPER), interpolation=cv2.INTER_AREA
    )
    sh, sw = small.shape
    total = float(small.sum())
    if total <= 0:
        return np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    cy = float(small.sum(axis=1) @ np.arange(sh)) / total
    cx = float(small.sum(axis=0) @ np.arange(sw)) / total
    # Whole-pixel offsets that put the centre of mass at CENTRE, clamped so the box stays
    # inside (as MNIST was centred; no resampling, so every CPU gives the same pixels).
    oy = min(max(round(CENTRE - cy), 0), IMAGE_SIZE - sh)  # plain ints: np.clip costs 10 us
    ox = min(max(round(CENTRE - cx), 0), IMAGE_SIZE - sw)
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    out[oy : oy + sh, ox : ox + sw] = np.clip(np.rint(small * 255.0), 0, 255)
    return out


def frame_digit(mask_or_gray: np.ndarray, *, normalise_thickness: bool = True) -> np.ndarray:
    """Frame one digit crop the way MNIST was made.

    Fits the ink into a 20x20 box keeping its aspect ratio (anti-aliased), optionally brings
    the stroke width towards MNIST's, and places the result in a 28x28 image with its centre
    of mass at the centre (shifted less if the digit would otherwise leave the image).

    Args:
        mask_or_gray: the crop, white ink on black: a bool mask, or gray uint8 0..255 /
            float 0..1, or colour (made gray as every input is, see
            :func:`edge_app.vision.image.to_gray`). It may be any size.
        normalise_thickness: bring very thin or very thick strokes towards MNIST's width.

    Returns:
        (28, 28) uint8, white ink on black; all zeros when the crop holds no ink.
    """
    ink = _as_ink(mask_or_gray)
    if ink.ndim != 2 or ink.size == 0:
        return np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    return frame_ink(ink, normalise_thickness=normalise_thickness)
