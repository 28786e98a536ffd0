"""Is this ink a digit? Shape and surroundings tests for candidate pieces of ink.

Every single handwritten digit passes them; specks, dashes, blobs, hairline curves (shadow
edges), strips of table beyond a sheet's edge and the corners of a sheet mostly fail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from edge_app.vision.pieces import Piece

MIN_HEIGHT_FRACTION = 0.018  # of the working image's longer side ...
MIN_HEIGHT = 6  # ... and never below this many pixels
MAX_ASPECT = 1.9  # width / height of a single digit (a flat 2 or a wide 0 stays below)
MAX_STROKE = 0.42  # stroke width / height: above it the ink is a blob, not a stroke
MAX_ELONGATION = 220.0  # area / stroke_width**2: a long hairline curve is a shadow edge
MIN_STRONG_FRACTION = 0.12  # share of clearly-inked pixels
# Share of its box's outline a candidate may run along the image border. A digit cropped
# tightly touches the border where its strokes end (a 7's bar at most); a strip of table
# beyond the paper's edge, or a shadow's edge, runs along it.
MAX_BORDER_CONTACT = 0.4
# The paper on the darkest side of a candidate is at least this bright relative to the
# brightest side (soft shadows and gradients stay above it; a table beside the sheet not).
SAME_PAPER = 0.72
SAME_PAPER_WIDE = 0.45
DARKER_THAN_SHADOW = 0.5  # ink / darkest side: pen ink beside a shadow, not a table band
NARROW = 0.45  # width / height below which a candidate is a 1 or a band
BORDER_INK = 0.5  # median ink strength of a candidate cut by the image border


def touches_border(g: Piece, shape: tuple[int, int]) -> bool:
    """Whether the candidate's box reaches the edge of the image."""
    return g.x == 0 or g.y == 0 or g.x + g.w == shape[1] or g.y + g.h == shape[0]


def border_contact(g: Piece, shape: tuple[int, int]) -> float:
    """Length of the image border covered by the candidate, over its box's perimeter."""
    height, width = shape
    touch = 0
    if g.y == 0:
        touch += int(np.count_nonzero(g.mask[0]))
    if g.y + g.h == height:
        touch += int(np.count_nonzero(g.mask[-1]))
    if g.x == 0:
        touch += int(np.count_nonzero(g.mask[:, 0]))
    if g.x + g.w == width:
        touch += int(np.count_nonzero(g.mask[:, -1]))
    return touch / (2.0 * (g.w + g.h))


def on_paper(g: Piece, gray: np.ndarray) -> bool:
    """Whether the candidate has the same paper around it on every side.

    Ink sits on paper. A dark band along the edge of a sheet lying on a table, or the corner
    of the table beside it, has bright paper on one side and the dark table on the other.
    Narrow candidates (a 1, or such a band) and those touching the image border are judged
    strictly; wider ones leniently, since a hand's shadow falling across a wide digit can make
    its two sides differ nearly as much as paper and table. Sides that fall outside the image
    (a tight crop) are not judged.
    """
    strict = g.w < NARROW * g.h or touches_border(g, gray.shape)
    height, width = gray.shape
    # Strictly judged sides are looked at close up: a table's edge is a step right beside the
    # band, while a soft shadow changes little over a few pixels.
    pad = max(2, int(0.1 * g.h)) if strict else max(3, int(0.2 * max(g.h, g.w)))
    x0, x1, y0, y1 = g.x, g.x + g.w, g.y, g.y + g.h
    sides = [
        gray[y0:y1, max(0, x0 - pad) : x0],
        gray[y0:y1, x1 : min(width, x1 + pad)],
        gray[max(0, y0 - pad) : y0, x0:x1],
        gray[y1 : min(height, y1 + pad), x0:x1],
    ]
    # The bright end of each side: a neighbouring digit's ink in it must not count as table.
    levels = [float(np.percentile(side, 75)) for side in sides if side.size >= 4]
    if len(levels) < 2:
        return True
    if min(levels) >= (SAME_PAPER if strict else SAME_PAPER_WIDE) * max(max(levels), 1.0):
        return True
    # A band of table is as dark as the table beside it; pen ink in a shadow's neighbourhood
    # is still much darker than the shadowed paper.
    ink = float(np.percentile(gray[y0:y1, x0:x1][g.mask], 25))
    return ink < DARKER_THAN_SHADOW * min(levels)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a bool mask: twice the area over the boundary length."""
    m = mask.astype(np.uint8)
    inner = cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    boundary = int(np.count_nonzero(m)) - int(np.count_nonzero(inner))
    return 2.0 * np.count_nonzero(m) / max(boundary, 1)


def is_digit_like(
    g: Piece, shape: tuple[int, int], strength: np.ndarray | None = None, scan: bool = False
) -> bool:
    """Shape tests that every single digit passes and most non-digits fail.

    Args:
        g: the candidate.
        shape: (height, width) of the working image.
        strength: the ink strength image; when given, a candidate touching the image border
            must be dark like ink, not grey like the shadow of a hand coming in from the side.
        scan: a small clean crop, whose digit may fill it and touch every edge, with strokes
            as fat as an upscaled 8x8 sample's: only size and proportions are checked.
    """
    if g.h < max(MIN_HEIGHT, MIN_HEIGHT_FRACTION * max(shape)):
        return False
    if scan:
        return g.w <= MAX_ASPECT * g.h
    if border_contact(g, shape) > MAX_BORDER_CONTACT:
        return False
    if g.w > MAX_ASPECT * g.h:
        return False
    area = g.area
    if g.strong < MIN_STRONG_FRACTION * area:
        return False
    sw = stroke_width(g.mask)
    if sw > MAX_STROKE * g.h:
        return False
    if area / (sw * sw) > MAX_ELONGATION:
        return False
    # A solid rectangle (a sticker, a dark box) is not a digit; a 1 is solid but narrow.
    if area > 0.8 * g.w * g.h and g.h < 2.5 * g.w:
        return False
    if strength is not None and touches_border(g, shape):
        crop = strength[g.y : g.y + g.h, g.x : g.x + g.w]
        return float(np.median(crop[g.mask])) >= BORDER_INK * 255
    return True
