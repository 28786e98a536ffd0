"""The public entry point: a whole image -> MNIST-framed digit candidates in reading order."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from edge_app.vision.framing import frame_digit
from edge_app.vision.image import WorkImage, prepare
from edge_app.vision.ink import (
    WEAK_INK,
    Ink,
    bright_is_thin,
    find_ink,
    median_gray,
)
from edge_app.vision.pieces import Piece
from edge_app.vision.segment import segment

log = logging.getLogger(__name__)

# Ink is found and segmented at up to this size (a camera frame at half resolution: four times
# fewer pixels to label), while each digit is framed from the sharper working image.
SEGMENT_SIDE = 320
MARGIN = 2  # px of working image kept around a candidate so its soft edges survive
# Images this small (longest side, px) are crops - a dataset sample, a form field - not
# camera frames: evenly lit, with the digit filling them.
SCAN_SIDE = 200
BLACK_GROUND = 60  # median gray below which a photo may be light ink on a black ground


@dataclass(frozen=True)
class DigitCandidate:
    """One digit-like piece of ink found in an image.

    Attributes:
        image: (28, 28) uint8, white ink on black, MNIST-framed (ready for the classifier).
        box: x, y, w, h in the original image's pixel coordinates.
        line: reading line index (0 = top line).
    """

    image: np.ndarray
    box: tuple[int, int, int, int]
    line: int


def _candidate_ink(gray: np.ndarray, ink: Ink, g: Piece, factor: float) -> np.ndarray:
    """The candidate's own ink from the working image: soft edges kept, neighbours left out.

    Args:
        gray: the working image.
        ink: ink found on the segmentation image.
        g: the candidate (segmentation-image coordinates).
        factor: working pixels per segmentation pixel.

    Returns:
        float32 crop, white ink 0..255 on black.
    """
    height, width = gray.shape
    x0 = max(0, int(g.x * factor) - MARGIN)
    y0 = max(0, int(g.y * factor) - MARGIN)
    x1 = min(width, int(np.ceil((g.x + g.w) * factor)) + MARGIN)
    y1 = min(height, int(np.ceil((g.y + g.h) * factor)) + MARGIN)
    size = (x1 - x0, y1 - y0)
    crop = gray[y0:y1, x0:x1]
    if ink.inverted:
        crop = 255 - crop
    # The paper estimate is smooth: resampling its crop is as good as recomputing it.
    sx0, sy0 = int(x0 / factor), int(y0 / factor)
    sx1, sy1 = int(np.ceil(x1 / factor)), int(np.ceil(y1 / factor))
    paper = cv2.resize(ink.paper[sy0:sy1, sx0:sx1], size, interpolation=cv2.INTER_LINEAR)
    strength = 1.0 - crop.astype(np.float32) / np.maximum(paper, 1).astype(np.float32)
    # Where the candidate is: its mask from segmentation, scaled up and grown a little.
    mask = np.zeros((sy1 - sy0, sx1 - sx0), np.uint8)
    mask[g.y - sy0 : g.y - sy0 + g.h, g.x - sx0 : g.x - sx0 + g.w] = g.mask
    mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    grow = 2 * max(1, int(round(factor))) + 1
    near = cv2.dilate(mask, np.ones((grow, grow), np.uint8)) > 0
    strength = np.clip(strength, 0.0, 1.0) * near
    core = strength[(mask > 0) & (strength > WEAK_INK)]
    # Scale each candidate's own ink to full white: a grey pen digit and a black marker digit
    # must look alike to a classifier trained on saturated MNIST strokes.
    level = float(np.percentile(core, 90)) if core.size else 1.0
    return np.clip(strength * (255.0 / max(level, 0.05)), 0, 255)


def _border_median(gray: np.ndarray) -> int:
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return int(np.median(border))


def _ink_and_digits(gray: np.ndarray, scan: bool) -> tuple[Ink, list[Piece]]:
    """Find ink of the right polarity and its digit candidates.

    Paper is usually the brighter part of a photo, so a photo is read as dark ink on light
    paper in one pass unless it is mostly black. Then it may be light ink on black (a drawing
    canvas, a screen, a chalkboard) or a sheet of paper on a black table: if the bright part
    of the image is thin (strokes, not a sheet) both readings are tried and the one that finds
    more digits wins; on a tie, dark ink on paper wins.
    A small scan is evenly lit and mostly ground along its border, so the border alone tells
    its polarity.
    """
    if scan:
        ink = find_ink(gray, inverted=_border_median(gray) < 128, scan=True)
        return ink, segment(ink, cv2.bitwise_not(gray) if ink.inverted else gray, scan=True)
    median = median_gray(gray)
    if median >= BLACK_GROUND or not bright_is_thin(gray):
        ink = find_ink(gray, inverted=False)
        return ink, segment(ink, gray)
    readings = []
    for inverted in (False, True):
        ink = find_ink(gray, inverted=inverted)
        readings.append((ink, segment(ink, cv2.bitwise_not(gray) if inverted else gray)))
    dark, light = readings[0][1], readings[1][1]
    # On a tie, "a light digit" is more often the sheet itself on a black table than chalk:
    # paper wins.
    return readings[1] if len(light) > len(dark) else readings[0]


def find_digits(image: np.ndarray, *, max_side: int = 640) -> list[DigitCandidate]:
    """Find the handwritten digits in an image and frame each one like MNIST.

    Works on anything from a whole page with a small digit somewhere to a tight crop whose
    digit touches the border, dark ink on light paper or light ink on dark (polarity is
    detected). Non-digits (specks, rulings, shadow edges, page borders) are left out.

    Args:
        image: gray (H, W), BGR (H, W, 3) or BGRA (H, W, 4) array; uint8 preferred, bool,
            uint16 and float (0..1 or 0..255) accepted. Any size.
        max_side: the longer side of the working image; larger images are downscaled first,
            which bounds time and memory.

    Returns:
        Candidates in reading order (lines top to bottom, each left to right); ``[]`` when
        the image holds no digit.

    Raises:
        ImageError: the array is empty, has an impossible shape or a non-numeric dtype, or
            ``max_side`` is below 32.
    """
    work: WorkImage = prepare(image, max_side)
    gray = work.gray
    longest = max(gray.shape)
    if longest > SEGMENT_SIDE * 1.25:
        factor = longest / SEGMENT_SIDE
        size = (max(1, round(gray.shape[1] / factor)), max(1, round(gray.shape[0] / factor)))
        seg_gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        factor = gray.shape[1] / size[0]
    else:
        seg_gray, factor = gray, 1.0
    scan = max(work.original_size) <= SCAN_SIDE
    ink, groups = _ink_and_digits(seg_gray, scan)
    log.debug("%d digit candidate(s)", len(groups))
    out = []
    for g in groups:
        image28 = frame_digit(_candidate_ink(gray, ink, g, factor))
        box = work.box_to_original(
            int(g.x * factor),
            int(g.y * factor),
            int(np.ceil(g.w * factor)),
            int(np.ceil(g.h * factor)),
        )
        out.append(DigitCandidate(image=image28, box=box, line=g.line))
    return out
