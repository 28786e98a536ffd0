"""Removing ruled lines, grid lines and margin lines from an ink mask.

Notebook rulings are long and thin; pen strokes are short or thick. A pixel is taken for a
ruling when it is *thin* across the line's direction (no longer ink run than ``thickness``)
and lies on a long run of thin ink along it. Where a digit's stroke crosses a ruling, the
crossing pixels sit on the stroke's long run across the line and so are kept: the digit is
not cut in two.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

log = logging.getLogger(__name__)

# Fraction of the image side a component must span before it is looked at as a line.
LINE_SPAN = 0.3
# Length of straight thin run that makes a line, as a fraction of the image side.
LINE_RUN = 0.08
# Thickest ruling, as a fraction of the image's longer side (at least 3 px).
LINE_THICKNESS = 0.008


def _horizontal_rulings(mask: np.ndarray, thickness: int, run: int) -> np.ndarray:
    """Pixels of ``mask`` (uint8 0/255) on thin horizontal lines at most +-12 degrees off."""
    across = cv2.getStructuringElement(cv2.MORPH_RECT, (1, thickness + 1))
    thick = cv2.morphologyEx(mask, cv2.MORPH_OPEN, across)
    thin = cv2.subtract(mask, thick)
    # Thicken the thin ink across the line so a slightly tilted ruling still gives long runs.
    slack = max(2, thickness)
    grown = cv2.dilate(thin, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 2 * slack + 1)))
    filled = cv2.blur(grown, (run, 1), borderType=cv2.BORDER_CONSTANT)
    seeds = (filled >= 250).astype(np.uint8)
    band = cv2.blur(seeds, (run, 1), borderType=cv2.BORDER_CONSTANT) > 0
    band = cv2.dilate(band.astype(np.uint8), across) > 0
    return (thin > 0) & band


def remove_rulings(mask: np.ndarray, horizontal: bool, vertical: bool) -> np.ndarray:
    """Return a copy of ``mask`` without its ruled/grid/margin lines.

    Args:
        mask: (h, w) uint8 0/255 ink mask.
        horizontal: look for horizontal lines.
        vertical: look for vertical lines.

    Returns:
        The cleaned uint8 0/255 mask.
    """
    height, width = mask.shape
    thickness = max(3, int(round(LINE_THICKNESS * max(height, width))))
    out = mask.copy()
    if horizontal:
        run = max(15, int(LINE_RUN * width))
        out[_horizontal_rulings(mask, thickness, run)] = 0
    if vertical:
        run = max(15, int(LINE_RUN * height))
        out[_horizontal_rulings(np.ascontiguousarray(mask.T), thickness, run).T] = 0
    log.debug("rulings removed: %d px", int(np.count_nonzero(mask)) - int(np.count_nonzero(out)))
    return out


def looks_like_ruling(w: int, h: int, area: int, width: int, height: int) -> tuple[bool, bool]:
    """Whether a component's box could hold a horizontal / vertical ruling."""
    horizontal = w >= LINE_SPAN * width and area < 0.25 * w * max(h, 1)
    vertical = h >= LINE_SPAN * height and area < 0.25 * h * max(w, 1)
    return horizontal, vertical
