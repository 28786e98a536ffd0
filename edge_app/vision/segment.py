"""From ink to digit candidates in reading order: pieces, grouped, judged, ordered in lines."""

from __future__ import annotations

import logging

import numpy as np

from edge_app.vision.ink import Ink
from edge_app.vision.judge import is_digit_like, on_paper
from edge_app.vision.pieces import Piece, find_pieces, group_pieces

log = logging.getLogger(__name__)

MIN_LINE_HEIGHT_RATIO = 0.45  # a piece this much smaller than its line's digits is punctuation


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
    """Drop dots, commas, dashes and stubs: much smaller than the tallest digit beside them."""
    if len(line) < 2:
        return line
    tallest = float(max(p.h for p in line))
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
