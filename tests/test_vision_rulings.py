"""Ruled and grid lines, and the frame round a scan, are taken out; the digits on them are not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.vision import find_digits
from edge_app.vision.rulings import remove_rulings
from trainer.data import read_idx_dir
from trainer.synth.scenes import SceneMaker

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


@pytest.fixture(scope="module")
def framed_scans() -> list[np.ndarray]:
    """Two generated tiny scans with a box printed round the amount (seed 5, scans 13 and 38,
    MNIST test digits of the shipped mini subset): the box's sides ran edge to edge."""
    mnist = read_idx_dir(Path(__file__).parent / "data" / "mnist-mini")
    maker = SceneMaker(mnist.x_test, mnist.y_test, seed=5)
    scans = [maker.make("scan").image for _ in range(39)]
    return [scans[13], scans[38]]


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
