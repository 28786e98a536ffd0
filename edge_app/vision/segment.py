"""From an ink mask to digit-sized groups of ink, non-digits rejected, in reading order.

Connected components are the pieces of ink. Pieces that overlap in x and almost touch in y are
one digit whose stroke broke (the top bar of a 5, the two strokes of a 4). What is left is
judged on its shape: specks, dashes, blobs, hairline curves (shadow edges) and anything too
small next to its neighbours are not digits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_app.vision.ink import Ink
from edge_app.vision.lines import looks_like_ruling, remove_rulings

log = logging.getLogger(__name__)

MIN_AREA = 6  # px in the working image: less is sensor noise or dust
MIN_HEIGHT_FRACTION = 0.018  # of the working image's longer side ...
MIN_HEIGHT = 6  # ... and never below this many pixels
MAX_ASPECT = 1.9  # width / height of a single digit (a flat 2 or a wide 0 stays below)
MAX_STROKE = 0.42  # stroke width / height: above it the ink is a blob, not a stroke
MAX_ELONGATION = 220.0  # area / stroke_width**2: a long hairline curve is a shadow edge
MIN_STRONG_FRACTION = 0.12  # share of clearly-inked pixels
PIECE_INK = 0.3  # median ink strength of a piece of pen ink (a soft shadow stays below)
MIN_LINE_HEIGHT_RATIO = 0.45  # a piece this much smaller than its line's digits is punctuation
MAX_PIECES = 400  # more candidate pieces than this is texture, not writing
# Share of its box's outline a candidate may run along the image border. A digit cropped
# tightly touches the border where its strokes end (a 7's bar at most); a strip of table
# beyond the paper's edge, or a shadow's edge, runs along it.
MAX_BORDER_CONTACT = 0.4
# The paper on the darkest side of a candidate is at least this bright relative to the
# brightest side (soft shadows and gradients stay above it; a table beside the sheet not).
SAME_PAPER = 0.72
SAME_PAPER_WIDE = 0.45
NARROW = 0.45  # width / height below which a candidate is a 1 or a band
BORDER_INK = 0.5  # median ink strength of a candidate cut by the image border


@dataclass
class Piece:
    """A connected piece of ink, or a group of pieces forming one digit candidate."""

    x: int
    y: int
    w: int
    h: int
    mask: np.ndarray  # bool (h, w)
    strong: int
    line: int = 0
    parts: list[Piece] = field(default_factory=list)

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


def _components(
    weak: np.ndarray, strong: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    # Grana's block-based labelling: 3x faster than the default here, same labels.
    n, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        weak, 8, cv2.CV_32S, cv2.CCL_GRANA
    )
    strong_counts = np.bincount(labels[strong], minlength=n)
    return n, labels, stats, strong_counts


def find_pieces(ink: Ink, gray: np.ndarray, scan: bool = False) -> list[Piece]:
    """Connected pieces of ink big enough to matter, rulings removed.

    Args:
        ink: the ink found in the working image.
        gray: that image, polarity-corrected (dark ink on light paper).
        scan: a small clean crop: no rulings, tables or shadows to look for.

    Returns:
        Pieces (unordered).
    """
    height, width = ink.weak.shape
    weak = ink.weak
    n, labels, stats, strong_counts = _components(weak, ink.strong)
    big = np.flatnonzero((stats[:, cv2.CC_STAT_AREA] >= MIN_AREA) & (strong_counts > 0))
    big = big[big != 0]
    horizontal = vertical = False
    for i in big:
        x, y, w, h, area = (int(v) for v in stats[i])
        hor, ver = looks_like_ruling(w, h, area, width, height)
        horizontal, vertical = horizontal or hor, vertical or ver
    if (horizontal or vertical) and not scan:
        weak = remove_rulings(weak, horizontal, vertical)
        n, labels, stats, strong_counts = _components(weak, ink.strong & (weak > 0))
        big = np.flatnonzero((stats[:, cv2.CC_STAT_AREA] >= MIN_AREA) & (strong_counts > 0))
        big = big[big != 0]
    if len(big) > MAX_PIECES:
        # Keep the largest: a textured or noisy page must not cost unbounded time.
        big = big[np.argsort(stats[big, cv2.CC_STAT_AREA])[::-1][:MAX_PIECES]]
    pieces = []
    for i in big:
        x, y, w, h, _area = (int(v) for v in stats[i])
        piece = Piece(x, y, w, h, labels[y : y + h, x : x + w] == i, int(strong_counts[i]))
        if scan:
            pieces.append(piece)
            continue
        # Dark table beyond the sheet's edge runs along the image border, and the grey of a
        # soft shadow is fainter than ink: drop both before they are merged with a digit.
        if border_contact(piece, (height, width)) > MAX_BORDER_CONTACT:
            continue
        if np.median(ink.strength[y : y + h, x : x + w][piece.mask]) < PIECE_INK * 255:
            continue
        if touches_border(piece, (height, width)) and not on_paper(piece, gray):
            continue
        pieces.append(piece)
    return pieces


def _merge(a: Piece, b: Piece) -> Piece:
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    x1, y1 = max(a.x + a.w, b.x + b.w), max(a.y + a.h, b.y + b.h)
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    for p in (a, b):
        mask[p.y - y0 : p.y - y0 + p.h, p.x - x0 : p.x - x0 + p.w] |= p.mask
    parts = (a.parts or [a]) + (b.parts or [b])
    return Piece(x0, y0, x1 - x0, y1 - y0, mask, a.strong + b.strong, parts=parts)


def _same_digit(a: Piece, b: Piece) -> bool:
    """Whether two pieces are parts of one broken digit."""
    overlap_x = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    # A small fragment (the loop of a 2, the end of a stroke) whose box runs into the
    # digit's box belongs to it.
    small, big = (a, b) if a.area < b.area else (b, a)
    if (
        overlap_x > 0
        and max(a.y, b.y) < min(a.y + a.h, b.y + b.h)
        and small.h <= 0.5 * big.h
        and small.area <= 0.25 * big.area
    ):
        return True
    if overlap_x < 0.4 * min(a.w, b.w):
        return False
    gap_y = max(a.y, b.y) - min(a.y + a.h, b.y + b.h)
    tall = max(a.h, b.h)
    union_h = max(a.y + a.h, b.y + b.h) - min(a.y, b.y)
    # Stacked full digits (two lines of writing) are far apart and make a too-tall union;
    # the halves of a digit whose pen skipped almost touch, and one of them is short.
    if gap_y > 0.3 * tall:
        return False
    return union_h <= 1.45 * tall or (gap_y <= 0.08 * tall and min(a.h, b.h) <= 0.8 * tall)


def group_pieces(pieces: list[Piece]) -> list[Piece]:
    """Merge the pieces of broken digits (repeated until nothing changes)."""
    groups = sorted(pieces, key=lambda p: -p.area)
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if _same_digit(groups[i], groups[j]):
                    groups[i] = _merge(groups[i], groups[j])
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return groups


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a bool mask: twice the area over the boundary length."""
    m = mask.astype(np.uint8)
    inner = cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    boundary = int(np.count_nonzero(m)) - int(np.count_nonzero(inner))
    return 2.0 * np.count_nonzero(m) / max(boundary, 1)


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
    return min(levels) >= (SAME_PAPER if strict else SAME_PAPER_WIDE) * max(max(levels), 1.0)


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


def reading_order(groups: list[Piece]) -> list[list[Piece]]:
    """Arrange candidates into lines (top to bottom), each left to right.

    A candidate joins the line whose last candidate it overlaps most in y, so a slanted or
    wavy line of writing stays one line.
    """
    lines: list[list[Piece]] = []
    for g in sorted(groups, key=lambda p: p.x):
        best, best_overlap = None, 0.0
        for line in lines:
            last = line[-1]
            overlap = min(g.y + g.h, last.y + last.h) - max(g.y, last.y)
            score = overlap / min(g.h, last.h)
            if score > 0.4 and score > best_overlap:
                best, best_overlap = line, score
        if best is None:
            lines.append([g])
        else:
            best.append(g)
    lines.sort(key=lambda line: float(np.mean([p.cy for p in line])))
    return lines


def drop_small_in_line(line: list[Piece]) -> list[Piece]:
    """Drop dots, commas and dashes: much smaller than the digits they sit with."""
    if len(line) < 2:
        return line
    tallest = float(np.median([p.h for p in line]))
    return [p for p in line if p.h >= MIN_LINE_HEIGHT_RATIO * tallest]


def segment(ink: Ink, gray: np.ndarray, scan: bool = False) -> list[Piece]:
    """Digit candidates in reading order, with ``line`` set.

    Args:
        ink: the ink found in the working image.
        gray: that image, polarity-corrected (dark ink on light paper).
        scan: a small clean crop (see :func:`is_digit_like`).

    Returns:
        Candidate groups, lines top to bottom, each left to right.
    """
    shape = ink.weak.shape
    groups = [
        g
        for g in group_pieces(find_pieces(ink, gray, scan))
        if is_digit_like(g, shape, ink.strength, scan) and (scan or on_paper(g, gray))
    ]
    out: list[Piece] = []
    for index, line in enumerate(reading_order(groups)):
        for g in drop_small_in_line(line):
            g.line = index
            out.append(g)
    return out
