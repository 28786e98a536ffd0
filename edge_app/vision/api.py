"""The public entry point: a whole image -> MNIST-framed digit candidates in reading order."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from edge_app.vision.framing import frame_digit
from edge_app.vision.image import WorkImage, prepare
from edge_app.vision.ink import Ink, find_ink, light_ink
from edge_app.vision.segment import Piece, segment

log = logging.getLogger(__name__)

MARGIN = 2  # px of working image kept around a candidate so its soft edges survive
DARK_IMAGE = 110  # median gray below which light ink on a dark ground is considered
BLACK_GROUND = 60  # median gray of a truly black ground (MNIST, a drawing canvas)


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


def _candidate_ink(strength: np.ndarray, g: Piece) -> np.ndarray:
    """The candidate's own ink (soft edges kept, neighbours' ink left out), 0..255 float."""
    height, width = strength.shape
    x0, y0 = max(0, g.x - MARGIN), max(0, g.y - MARGIN)
    x1, y1 = min(width, g.x + g.w + MARGIN), min(height, g.y + g.h + MARGIN)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mask[g.y - y0 : g.y - y0 + g.h, g.x - x0 : g.x - x0 + g.w] = g.mask
    near = cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0
    crop = strength[y0:y1, x0:x1].astype(np.float32)
    # Scale each candidate's own ink to full white: a grey pencil digit and a black marker
    # digit must look alike to a classifier trained on saturated MNIST strokes.
    level = float(np.percentile(crop[mask > 0], 90)) if mask.any() else 255.0
    return np.clip(crop * near * (255.0 / max(level, 1.0)), 0, 255)


def _to_candidate(work: WorkImage, strength: np.ndarray, g: Piece) -> DigitCandidate:
    image = frame_digit(_candidate_ink(strength, g))
    return DigitCandidate(image=image, box=work.box_to_original(g.x, g.y, g.w, g.h), line=g.line)


def _ink_and_digits(gray: np.ndarray) -> tuple[Ink, list[Piece]]:
    """Find ink of the right polarity and its digit candidates.

    Paper is usually the brighter part of a photo, so a bright image is read as dark ink on
    light paper in one pass. A dark image may be light ink on black (an MNIST-style sample, a
    drawing canvas) or a sheet of paper on a dark table: both readings are tried, and the one
    that finds more digits wins; on a tie, white-on-black wins only on a truly black ground
    whose thin structures are light.
    """
    if float(np.median(gray)) >= DARK_IMAGE:
        ink = find_ink(gray, inverted=False)
        return ink, segment(ink)
    readings = []
    for inverted in (False, True):
        ink = find_ink(gray, inverted=inverted)
        readings.append((ink, segment(ink)))
    (dark_ink, dark), (light_ink_, light) = readings
    if len(light) != len(dark):
        return readings[0] if len(dark) > len(light) else readings[1]
    prefer_light = float(np.median(gray)) < BLACK_GROUND and light_ink(gray)
    return readings[1] if prefer_light else readings[0]


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
        ImageError: the array is empty, has an impossible shape or a non-numeric dtype.
    """
    work = prepare(image, max_side)
    ink, groups = _ink_and_digits(work.gray)
    log.debug("%d digit candidate(s)", len(groups))
    return [_to_candidate(work, ink.strength, g) for g in groups]
