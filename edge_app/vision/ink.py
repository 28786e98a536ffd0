"""Finding ink: polarity, illumination normalisation and the ink masks.

The page is rarely evenly lit. The paper's brightness is estimated by a morphological closing
(a max then a min filter, which erases strokes thinner than the kernel but keeps the outline of
large dark regions such as cast shadows) on a small copy of the image; dividing by it turns
"how dark is this pixel" into "how much darker than the paper around it", which is what ink is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

# The background is estimated on a copy this size: fast, and a kernel of a fifth of the image
# is wider than any pen stroke, even in a tight crop where the digit fills the frame.
BACKGROUND_SIDE = 160
BACKGROUND_KERNEL_FRACTION = 0.22
# Ink strength s = 1 - pixel / paper. Weak pixels make up the strokes; a component needs some
# strong pixels to count at all (hysteresis), which shrugs off soft shadows and faint rulings.
WEAK_INK = 0.20
STRONG_INK = 0.38
# Share of the bright pixels of a dark image that may survive a wide opening for it to be
# read as light strokes on a dark ground (a sheet of paper keeps over 90 %).
THIN_BRIGHT = 0.88


@dataclass(frozen=True)
class Ink:
    """Ink found in a working image.

    Attributes:
        strength: (h, w) uint8, 0 = paper, 255 = black ink (already polarity-corrected).
        weak: (h, w) uint8 0/255 mask of stroke pixels.
        strong: (h, w) bool mask of clearly inked pixels.
        inverted: True when the input was light ink on a dark background.
        paper: (h, w) uint8 estimated paper brightness (after polarity correction).
    """

    strength: np.ndarray
    weak: np.ndarray
    strong: np.ndarray
    inverted: bool
    paper: np.ndarray


def median_gray(gray: np.ndarray) -> int:
    """Median of a uint8 image from its histogram (much cheaper than np.median)."""
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    return int(np.searchsorted(np.cumsum(hist), hist.sum() / 2))


def _small(gray: np.ndarray) -> np.ndarray:
    height, width = gray.shape
    factor = max(1.0, max(height, width) / BACKGROUND_SIDE)
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def _kernel(small: np.ndarray) -> np.ndarray:
    k = max(3, int(round(BACKGROUND_KERNEL_FRACTION * max(small.shape))) | 1)
    return cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))


def light_ink(gray: np.ndarray) -> bool:
    """Guess whether the ink is lighter than its background (an MNIST-style image).

    Ink is made of strokes narrower than the background kernel. Light strokes on a dark
    ground show up in the white top-hat, dark strokes on light paper in the black-hat; the
    stronger one wins, provided the bright part of the image really is thin: a sheet of paper
    on a dark table is bright and wide and survives an opening, strokes do not.
    """
    small = _small(gray)
    kernel = _kernel(small)
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    light = float(cv2.subtract(small, opened).sum(dtype=np.float64))
    dark = float(cv2.subtract(closed, small).sum(dtype=np.float64))
    if not (light > 2.0 * dark and light > 20.0 * small.size**0.5):
        return False
    level, bright = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    wide = np.count_nonzero(opened > level)
    return wide < 0.5 * max(1, np.count_nonzero(bright))


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


def estimate_paper(gray: np.ndarray) -> np.ndarray:
    """Estimate the paper brightness under each pixel (dark ink on light paper).

    Returns:
        (h, w) uint8 background, never below 1 so it can be divided by.
    """
    height, width = gray.shape
    small = _small(gray)
    paper = cv2.morphologyEx(
        small, cv2.MORPH_CLOSE, _kernel(small), borderType=cv2.BORDER_REPLICATE
    )

    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.maximum(paper, 1)


def flat_paper(gray: np.ndarray) -> np.ndarray:
    """The paper level of an evenly lit scan: the median of Otsu's bright class."""
    level, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = gray[gray > level]
    value = int(np.median(bright)) if bright.size else 255
    return np.full(gray.shape, max(value, 1), np.uint8)


def find_ink(gray: np.ndarray, inverted: bool | None = None, *, scan: bool = False) -> Ink:
    """Normalise the illumination of a gray working image and threshold its ink.

    Args:
        gray: (h, w) uint8 working image.
        inverted: True for light ink on a dark ground, False for dark ink on light paper,
            None to guess (:func:`light_ink`).
        scan: the image is a small, evenly lit crop (a dataset sample, a form field): its
            strokes may be as wide as a quarter of the image, too wide for the closing, so
            the paper is taken as one level instead.

    Returns:
        The :class:`Ink` found (possibly none).
    """
    if inverted is None:
        inverted = light_ink(gray)
    if inverted:
        gray = cv2.bitwise_not(gray)
    paper = flat_paper(gray) if scan else estimate_paper(gray)
    # strength = 255 * (1 - gray / paper), saturating, all in uint8
    ratio = cv2.divide(gray, paper, scale=255)
    strength = cv2.bitwise_not(ratio)
    _, weak = cv2.threshold(strength, int(WEAK_INK * 255), 255, cv2.THRESH_BINARY)
    strong = strength > int(STRONG_INK * 255)
    log.debug(
        "ink: inverted=%s weak=%d strong=%d px", inverted, cv2.countNonZero(weak), int(strong.sum())
    )
    return Ink(strength=strength, weak=weak, strong=strong, inverted=inverted, paper=paper)
