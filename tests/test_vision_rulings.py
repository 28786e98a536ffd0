"""Ruled and grid lines, and the frame round a scan, are taken out; the digits on them are not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.vision import find_digits
from edge_app.vision.ink import Ink
from edge_app.vision.pieces import find_pieces
from edge_app.vision.rulings import goes_on_as_line, remove_rulings

CHAR = 90  # the writing's height in these masks (px)


def _grid(height: int = 320, width: int = 430, step: int = 40) -> np.ndarray:
    """A squared-paper mask: lines 2 px thick, edge to edge, the horizontal ones tilted 2 deg."""
    mask = np.zeros((height, width), np.uint8)
    tilt = int(round(width * np.tan(np.radians(2))))
    for y in range(10, height + tilt, step):
        cv2.line(mask, (0, y), (width, y - tilt), 255, 2)
    for x in range(15, width, step):
        cv2.line(mask, (x, 0), (x, height), 255, 2)
    return mask


def _digit_three(mask: np.ndarray, x: int, y: int) -> np.ndarray:
    """Draw a 3 (CHAR px tall, 3 px strokes) into a fresh mask and onto ``mask``."""
    three = np.zeros_like(mask)
    cv2.putText(three, "3", (x, y), cv2.FONT_HERSHEY_SIMPLEX, CHAR / 22, 255, 3, cv2.LINE_AA)
    three = (three > 127).astype(np.uint8) * 255
    mask |= three
    return three


def test_a_grid_is_taken_out_to_the_edges_of_the_image():
    mask = _grid()
    out = remove_rulings(mask, True, True, 3.0, CHAR, mask)
    # Not only the lines' middles: their last half run at the image's edges goes too, or
    # each grid line leaves a bar there that reads as a "1".
    n, _, stats, _ = cv2.connectedComponentsWithStats(out, connectivity=8)
    tallest = max((int(s[cv2.CC_STAT_HEIGHT]) for s in stats[1:]), default=0)
    widest = max((int(s[cv2.CC_STAT_WIDTH]) for s in stats[1:]), default=0)
    assert max(tallest, widest) < CHAR / 4, (tallest, widest)
    assert np.count_nonzero(out) < 0.05 * np.count_nonzero(mask)  # dots where lines crossed


def test_a_digit_on_a_grid_line_keeps_its_strokes():
    mask = _grid()
    three = _digit_three(mask, 185, 200)  # a vertical and a horizontal line run through it
    out = remove_rulings(mask, True, True, 3.0, CHAR, mask)
    kept = np.count_nonzero(out & three) / np.count_nonzero(three)
    # Only the ink lying straight along a line goes: the 3's curves beside the lines stay.
    assert kept > 0.85, kept


def test_dense_squared_paper_is_taken_out():
    # 3 px lines every 20 px: the crossings take 15% of each line, more than a run may miss
    mask = np.zeros((300, 500), np.uint8)
    for y in range(10, 300, 20):
        cv2.line(mask, (0, y), (500, y), 255, 2)
    for x in range(10, 500, 20):
        cv2.line(mask, (x, 0), (x, 300), 255, 2)
    out = remove_rulings(mask, True, True, 3.0, 24, mask)
    assert np.count_nonzero(out) < 0.05 * np.count_nonzero(mask)


def test_pieces_of_a_faint_grid_are_taken_out_round_the_digit_on_them():
    """A faint grid the ink threshold broke into patches, none across the image (as on a
    phone photo of squared paper in uneven light), a 3 written on one of them."""
    char = 40  # two squares tall
    mask = np.zeros((420, 620), np.uint8)
    for x0, y0, cols, rows in ((20, 20, 12, 10), (320, 180, 13, 11)):
        for k in range(rows + 1):
            cv2.line(mask, (x0, y0 + 20 * k), (x0 + 20 * cols, y0 + 20 * k), 255, 1)
        for k in range(cols + 1):
            cv2.line(mask, (x0 + 20 * k, y0), (x0 + 20 * k, y0 + 20 * rows), 255, 1)
    three = np.zeros_like(mask)
    cv2.putText(three, "3", (385, 295), cv2.FONT_HERSHEY_SIMPLEX, char / 22, 255, 4, cv2.LINE_AA)
    three = (three > 127).astype(np.uint8) * 255
    mask |= three
    ink = Ink(mask, mask, mask > 0, np.full(mask.shape, 200, np.uint8))
    pieces = find_pieces(ink, 4.0, char, (False,) * 4)
    # no patch of grid is left to swallow the 3 (each was one piece 5-6 heights across)
    assert max(p.w for p in pieces) < 2 * char, [(p.x, p.y, p.w, p.h) for p in pieces]


def _faint_margin_and_a_one(height: int = 300, width: int = 240) -> tuple[Ink, int]:
    """A margin line printed faint (ink strength 30 of 255) from top to bottom at x = 40, the
    ink threshold (60) keeping only its darker lengths; a pen "1" (3 px, strength 200, 60 px
    tall) at x = 150. Returns the ink and the writing's height."""
    char = 60
    strength = np.random.default_rng(0).integers(0, 4, (height, width)).astype(np.uint8)
    strength[:, 40:42] = 30
    for y0 in (20, 110, 200):  # where the line came out darker
        strength[y0 : y0 + 25, 40:42] = 80
    strength[120:180, 150:153] = 200
    weak = np.where(strength >= 60, 255, 0).astype(np.uint8)
    return Ink(strength, weak, strength >= 70, np.full(strength.shape, 200, np.uint8)), char


def test_lengths_of_a_faint_margin_line_are_not_taken_for_ones():
    """Each length the threshold left of a faint line looks like a "1" framed alone; the line
    going on past its ends, fainter, says it is printed."""
    ink, char = _faint_margin_and_a_one()
    pieces = find_pieces(ink, 3.0, char, (False,) * 4)
    assert [(p.x, p.y, p.w, p.h) for p in pieces] == [(150, 120, 3, 60)]


def test_a_one_is_not_a_line_even_beside_one_or_filling_its_frame():
    ink, char = _faint_margin_and_a_one()
    one = np.ones((60, 3), bool)
    assert not goes_on_as_line(one, 150, 120, ink.strength, 3.0, char)
    # a 1 from the top of its frame to the bottom: nothing beyond its ends to say it goes on
    frame = np.zeros((62, 40), np.uint8)
    frame[1:61, 18:21] = 200
    assert not goes_on_as_line(np.ones((60, 3), bool), 18, 1, frame, 3.0, char)
    # but thin ink spanning a frame twice the writing's height is a line
    tall = np.zeros((124, 40), np.uint8)
    tall[1:123, 18:20] = 200
    assert goes_on_as_line(np.ones((122, 2), bool), 18, 1, tall, 3.0, char)


def test_a_grid_line_running_off_the_sheet_onto_the_table_is_a_line():
    """A grid line's last length, from a break in it to the sheet's edge, goes on (fainter) at
    one end only: past the other lies the dark table, as good as the image's edge. A 1 of the
    same length whose end is on paper is still a 1."""
    char, stroke = 60, 3.0
    strength = np.random.default_rng(1).integers(0, 4, (240, 80)).astype(np.uint8)
    paper = np.full(strength.shape, 200, np.uint8)
    paper[150:] = 40  # the sheet ends at row 150; a dark table beyond
    strength[:90, 30:32] = 30  # the line, faint above the break
    strength[92:150, 30:32] = 200  # its last length, to the sheet's edge
    stub = np.ones((58, 2), bool)
    assert goes_on_as_line(stub, 30, 92, strength, stroke, char, paper, 0.5 * 200)
    # without the paper to say where the sheet ends the table reads as paper with no line on it
    assert not goes_on_as_line(stub, 30, 92, strength, stroke, char)
    # a 1 ending on paper, short of the sheet's edge, is no line
    strength[100:140, 60:62] = 200
    assert not goes_on_as_line(np.ones((40, 2), bool), 60, 100, strength, stroke, char, paper, 100)


@pytest.fixture(scope="module")
def framed_scans() -> list[np.ndarray]:
    """Two tiny scans with a box printed round the amount (generated scans 13 and 38 of seed 5,
    kept as files): the box's sides ran edge to edge."""
    photos = Path(__file__).parent / "data" / "photos"
    names = ("framed_scan_1.png", "framed_scan_2.png")
    return [cv2.imread(str(photos / name), cv2.IMREAD_UNCHANGED) for name in names]


def test_the_sides_of_a_box_round_a_scan_are_not_read(framed_scans):
    for scan in framed_scans:
        height, width = scan.shape[:2]
        boxes = [c.box for c in find_digits(scan)]
        # Once the box's top and bottom are taken out as lines, its sides are bars from edge
        # to edge at the scan's sides, made of nothing but the box's ink: no digit.
        sides = [
            (x, y, w, h) for x, y, w, h in boxes
            if h >= 0.9 * height and (x <= 2 or x + w >= width - 2)
        ]  # fmt: skip
        assert not sides, boxes
        assert boxes, "the digits are still found"
