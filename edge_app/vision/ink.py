"""Finding ink: how much darker each pixel is than the paper right around it.

Two measures, for two jobs:

* :func:`paper_contrast` - darker than the brightest paper within a fifth of the image (a
  morphological closing on a small copy). It sees ink of any width, but also shadows and the
  table beyond a sheet; it is used for the first look, to find where the writing is and how
  wide its strokes are.
* :func:`stroke_ink` - darker than the paper within a few stroke widths (a closing with a
  kernel three strokes wide, i.e. a black-hat). Once the image is scaled so that strokes are
  about :data:`edge_app.vision.scale.TARGET_STROKE` px wide, this sees pen strokes and nothing
  wider: a shadow's edge, a gradient, vignetting or a dark table are wider than the kernel and
  vanish. Ink is judged against its own surroundings, the way a reader sees it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

# The first look estimates the paper on a copy this size with a kernel of this fraction of it:
# wider than any pen stroke, even in a tight crop where the digit fills the frame.
BACKGROUND_SIDE = 160
BACKGROUND_KERNEL_FRACTION = 0.22
# Share of the bright pixels of a dark image that may survive a wide opening for it to be
# read as light strokes on a dark ground (a sheet of paper keeps over 90 %).
THIN_BRIGHT = 0.88
# Stroke ink: a pixel is ink when it is this much darker than its paper (1 - pixel / paper),
# or this many times the image's own noise, whichever is more. The floor is what a pencil
# line keeps in a dim photo; the noise factor keeps JPEG grain and paper texture out.
WEAK_INK = 0.07
STRONG_INK = 0.1
NOISE_FACTOR = 4.0
STRONG_NOISE = 6.0  # a piece of ink needs some pixels this many times the noise
# Paper this much darker than the image's usual paper is in shade (see stroke_ink). A phone's
# vignetting darkens the corners of a sheet by up to a quarter: that is not shade, and raising
# the levels there breaks a faint grid into lengths read as digits (squared_paper.png at 1.25).
SHADE_RANGE = 1.35


@dataclass(frozen=True)
class Ink:
    """Ink found in a working image (dark ink on light paper after polarity correction).

    Attributes:
        strength: (h, w) uint8, 0 = paper, 255 = ink absorbing all light.
        weak: (h, w) uint8 0/255 mask of stroke pixels.
        strong: (h, w) bool mask of clearly inked pixels (a piece of ink needs some).
        paper: (h, w) uint8 estimated paper brightness around each pixel.
    """

    strength: np.ndarray
    weak: np.ndarray
    strong: np.ndarray
    paper: np.ndarray


def median_gray(gray: np.ndarray, q: float = 0.5) -> int:
    """Median (or quantile ``q``) of a uint8 image, from its histogram (cheaper than numpy)."""
    return gray_quantiles(gray, (q,))[0]


def gray_quantiles(gray: np.ndarray, qs: tuple[float, ...]) -> list[int]:
    """Quantiles ``qs`` of a uint8 image from one histogram."""
    cumulative = np.cumsum(cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel())
    return [int(np.searchsorted(cumulative, cumulative[-1] * q)) for q in qs]


def upper_tenth(values: np.ndarray) -> float:
    """The level nine tenths of ``values`` (a flat array, not empty) are at or below: how dark
    a piece's ink is, its palest fringe and a stray dark pixel aside."""
    k = int(0.9 * (values.size - 1))
    return float(np.partition(values, k)[k])


def _small(gray: np.ndarray) -> np.ndarray:
    height, width = gray.shape
    factor = max(1.0, max(height, width) / BACKGROUND_SIDE)
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def bright_is_thin(gray: np.ndarray) -> bool:
    """Whether the bright part of a dark image is made of strokes rather than a sheet.

    The bright pixels (Otsu) are opened with a disk a quarter of the image wide: strokes,
    even the fat ones of an upscaled 8x8 scan, mostly vanish; a sheet of paper lying on a
    dark table survives almost whole.
    """
    small = _small(gray)
    k = max(3, int(round(0.25 * max(small.shape))) | 1)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    _, bright = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    survived = cv2.morphologyEx(bright, cv2.MORPH_OPEN, disk)
    return np.count_nonzero(survived) < THIN_BRIGHT * max(1, np.count_nonzero(bright))


def contrast(gray: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """How much darker than ``paper`` each pixel is: uint8 255 * (1 - gray / paper), clipped.

    Divided by numpy in float32: IEEE division is rounded alike on every CPU, while OpenCV's
    ``divide`` (uint8 and float32 alike) gives other last bits on aarch64 than on x86 (found by
    ``scripts/cv_arch_diff.py``; enough to change a digit read on the Pi). Then rounded to the
    nearest and saturated to uint8.
    """
    ratio = gray.astype(np.float32) * np.float32(255.0)
    ratio /= np.maximum(paper, 1).astype(np.float32)
    return cv2.bitwise_not(cv2.convertScaleAbs(ratio))


def wide_paper(small: np.ndarray) -> np.ndarray:
    """The paper under a small copy of an image: a closing (max then min filter) with a kernel a
    fifth of it wide, which erases every stroke but follows gradients and large shadows."""
    k = max(3, int(round(BACKGROUND_KERNEL_FRACTION * max(small.shape))) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    return cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)


def small_copy(gray: np.ndarray) -> np.ndarray:
    """The image reduced to BACKGROUND_SIDE (the paper is estimated at that size)."""
    return _small(gray)


def paper_contrast(gray: np.ndarray) -> np.ndarray:
    """How much darker each pixel is than the brightest paper nearby: uint8, 255 = black
    (the paper: :func:`wide_paper` of a small copy, scaled back up)."""
    height, width = gray.shape
    paper = wide_paper(_small(gray))
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR_EXACT)
    return contrast(gray, paper)


def flat_paper(gray: np.ndarray) -> np.ndarray:
    """One paper level for the whole image (the median of Otsu's bright class): for small,
    evenly lit crops whose strokes may be as wide as a quarter of the image - too wide for
    any local estimate."""
    level, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = gray[gray > level]
    value = max(int(np.median(bright)) if bright.size else 255, 1)
    return np.full_like(gray, value)


def flat_contrast(gray: np.ndarray) -> np.ndarray:
    """Contrast against :func:`flat_paper`."""
    return contrast(gray, flat_paper(gray))


def stroke_kernel(stroke: float) -> int:
    """Side of the square closing that erases a stroke ``stroke`` px wide with room to spare."""
    return max(5, int(round(3.0 * stroke + 1)) | 1)


def stroke_ink(gray: np.ndarray, stroke: float, paper: np.ndarray | None = None) -> Ink:
    """Ink as strokes about ``stroke`` px wide, against the paper a few strokes around them.

    Args:
        gray: (h, w) uint8 working image, dark ink on light paper.
        stroke: the expected stroke width in this image's pixels.
        paper: that local paper if already known (a closing of about :func:`stroke_kernel`).

    Returns:
        The :class:`Ink` (possibly none).
    """
    k = stroke_kernel(stroke)
    if paper is None:
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        paper = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    paper = np.maximum(paper, 1)
    strength = contrast(gray, paper)
    # At least a quarter of the pixels are paper, even in a crop filled by its digit: the
    # lower quartile of the strength is the paper's own texture and noise.
    noise = median_gray(strength, 0.25)
    weak_level = max(int(WEAK_INK * 255), int(NOISE_FACTOR * noise))
    strong_level = max(int(STRONG_INK * 255), weak_level + 8, int(STRONG_NOISE * noise))
    darkest, ref = gray_quantiles(paper, (0.02, 0.5))
    if darkest * SHADE_RANGE < ref:
        # Part of the sheet lies in shade: there the same grain is a larger share of a darker
        # paper, so each pixel's levels grow as its paper darkens.
        weak_lut, strong_lut = _shaded_levels(ref, noise, weak_level, strong_level)
        weak = cv2.compare(strength, cv2.LUT(paper, weak_lut), cv2.CMP_GT)
        strong = strength > cv2.LUT(paper, strong_lut)
    else:
        _, weak = cv2.threshold(strength, weak_level, 255, cv2.THRESH_BINARY)
        strong = strength > strong_level
    log.debug(
        "stroke ink (kernel %d, noise %d): weak > %d, strong > %d", k, noise, weak_level,
        strong_level,
    )  # fmt: skip
    return Ink(strength=strength, weak=weak, strong=strong, paper=paper)


def _shaded_levels(
    ref: int, noise: int, weak_level: int, strong_level: int
) -> tuple[np.ndarray, np.ndarray]:
    """The weak and strong levels for each paper brightness (uint8 look-up tables): the noise
    was measured on the usual paper, ``ref``; on paper ``p`` darker than that the same grain is
    ``ref / p`` times as large a share of it."""
    gain = np.maximum(np.float32(ref) / np.maximum(np.arange(256, dtype=np.float32), 1), 1)
    weak = np.maximum(weak_level, NOISE_FACTOR * noise * gain)
    strong = np.maximum(strong_level, np.maximum(weak + 8, STRONG_NOISE * noise * gain))
    return np.minimum(weak, 255).astype(np.uint8), np.minimum(strong, 255).astype(np.uint8)
