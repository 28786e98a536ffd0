"""The first look's marks: the pieces of ink in a small copy of the image that look like strokes.

:mod:`edge_app.vision.scale` measures them (stroke width, height, where they are) to decide
where the writing is and how big to read it. Ink is found against the paper a few strokes
around, then, for strokes too fat for that, against the paper far around; of the pieces found,
shadows, table strips along the border, blobs and printed lines are not marks of writing
(:func:`edge_app.vision.junk.writing_marks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_app.vision.image import Box
from edge_app.vision.ink import contrast, flat_contrast, paper_contrast, small_copy, wide_paper
from edge_app.vision.junk import writing_marks
from edge_app.vision.rulings import remove_rulings

# Thresholds of the first look (ink contrast 0..1): anything a pen or pencil leaves.
LOOK_WEAK, LOOK_STRONG = 0.1, 0.15
# The first look's local paper: a closing this share of its side wide, wider than a pen's
# stroke there and narrower than a shadow; strokes FAT of it wide or more are too fat for it.
FINE_KERNEL = 0.04
FAT = 0.3
HOLLOW = 1.8  # this many times more ink against the wide paper than the local one: fat strokes
OUTLINED = 0.08  # share of a fat stroke's pixels that its outline (the first way's ink) covers
MAX_MARKS = 80  # the first look measures the largest pieces of ink, no more


@dataclass(frozen=True)
class Mark:
    """A piece of ink seen at the first look, measured in source pixels."""

    stroke: float
    height: float
    weight: float  # how much it counts: dark ink on bright paper counts most
    box: Box


def _labelled(mask: np.ndarray):
    n, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        mask, 8, cv2.CV_32S, cv2.CCL_GRANA
    )
    return n, labels, stats


def _without_rulings(mask: np.ndarray):
    """Label the mask's pieces, a grid's lines taken out first: ``(n, labels, stats)``.

    Writing on ruled paper merges with its lines into wide pieces whose height is still the
    writing's; only a grid (squared paper) joins everything into one piece as tall as the
    image, which would pass for the writing's size. Only then are the lines removed.
    """
    n, labels, stats = _labelled(mask)
    height, width = mask.shape
    w, h, area = stats[:, 2], stats[:, 3], stats[:, 4]
    sparse = area < 0.3 * w * h
    grid = np.flatnonzero((w > 0.4 * width) & (h > 0.4 * height) & sparse)
    grid = grid[grid != 0]
    if not len(grid):
        return n, labels, stats
    horizontal = (w > 0.4 * width) & sparse
    vertical = (h > 0.4 * height) & sparse
    lines = np.flatnonzero(horizontal | vertical)
    lines = lines[lines != 0]
    ruled = np.isin(labels, lines).astype(np.uint8) * 255
    # No digit at the first look is taller than a tenth of it, nor its strokes thicker than 2 px:
    # thin ink running straight for a tenth of it is a line.
    tenth = 0.1 * max(height, width)
    cleaned = remove_rulings(
        mask * 255, bool(horizontal[lines].any()), bool(vertical[lines].any()), 2.0,
        tenth, ruled, exact=False, run=int(tenth),
    )  # fmt: skip
    return _labelled(cleaned // 255)


def _measured(
    contrast: np.ndarray, paper: np.ndarray, outline: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per piece of ink (contrast above LOOK_WEAK with some above LOOK_STRONG): box, area,
    stroke width, mean contrast, the paper around it and its contact with the image border.

    Counted over the ink pixels only (a few percent of the image), all pieces at once.
    ``outline``: a second ink mask whose share inside each piece is counted too.
    """
    n, labels, stats = _without_rulings((contrast > int(LOOK_WEAK * 255)).astype(np.uint8))
    mask = labels > 0
    inner = cv2.erode(mask.view(np.uint8), np.ones((3, 3), np.uint8),
                      borderType=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    ink = np.flatnonzero(mask)  # on a bool array: several times faster than on uint8
    at = labels.ravel()[ink]
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    values = contrast.ravel()[ink]
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return {
        "stats": stats,
        "stroke": 2.0 * area / np.maximum(np.bincount(at[inner.ravel()[ink] == 0], minlength=n), 1),
        "strong": np.bincount(at[values > int(LOOK_STRONG * 255)], minlength=n),
        "contrast": np.bincount(at, weights=values, minlength=n) / area,
        "paper": np.bincount(at, weights=paper.ravel()[ink], minlength=n) / area,
        "border": np.bincount(edge, minlength=n),
        "outlined": (
            np.bincount(at[outline.ravel()[ink] > 0], minlength=n) / area
            if outline is not None
            else np.ones(n)
        ),
    }


def marks_of(
    gray: np.ndarray, crop: bool, factor: float, offset: tuple[int, int], kernel: int | None
) -> tuple[list[Mark], np.ndarray]:
    """The stroke-like pieces of ink in ``gray`` (a view ``factor`` times the source, whose
    top-left is ``offset`` in the source), measured in source pixels; and the local paper.

    Ink is looked for against the paper a few strokes around (a closing of
    :data:`FINE_KERNEL` of the side): pen and pencil strokes stand out, a shadow's edge, a
    vignette or a dark table do not. When that finds nothing, or strokes too fat for it (a
    marker filling the frame), it is looked for again against the paper a fifth of the image
    around (one paper level for a crop), for the strokes too wide for the first way only.
    """
    height, width = gray.shape
    k = kernel or max(5, int(FINE_KERNEL * max(height, width)) | 1)
    local = cv2.morphologyEx(
        gray, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    )
    fine = contrast(gray, local)
    marks = _select(_measured(fine, local), gray.shape, crop, factor, offset, 0.0)
    level = int(LOOK_WEAK * 255)
    if not marks or crop or _hollow(gray, fine, level):
        wide = flat_contrast(gray) if crop else paper_contrast(gray)
        paper = cv2.add(gray, wide)  # ~ the paper level the wide contrast was taken against
        # A fat stroke is outlined by the first way's ink (its edges); a shadow, a table or a
        # dark band is not, having no edge a few strokes wide.
        outline = cv2.compare(fine, level, cv2.CMP_GT)
        found = _measured(wide, paper, outline)
        marks += _select(found, gray.shape, crop, factor, offset, FAT * k, OUTLINED)
    return marks, local


def _hollow(gray: np.ndarray, fine: np.ndarray, level: int) -> bool:
    """Whether strokes wider than the local kernel may be there: far more ink is seen against
    the wide paper than against the local one (a shadow does the same; it only costs the wide
    look). Judged on a small copy, which is all a share needs."""
    small = small_copy(gray)
    wide = cv2.countNonZero(cv2.compare(contrast(small, wide_paper(small)), level, cv2.CMP_GT))
    local = cv2.countNonZero(cv2.compare(fine, level, cv2.CMP_GT)) * small.size / gray.size
    return wide > HOLLOW * max(local, 1.0)


def _select(
    m: dict[str, np.ndarray],
    shape: tuple[int, int],
    crop: bool,
    factor: float,
    offset: tuple[int, int],
    min_stroke: float,
    outlined: float = 0.0,
) -> list[Mark]:
    """The pieces that may be writing (:func:`edge_app.vision.junk.writing_marks`), the largest
    :data:`MAX_MARKS` of them, as marks in source pixels (see :func:`marks_of`)."""
    pieces = {name: values[1:] for name, values in m.items()}  # label 0 is the background
    stats = pieces["stats"]
    x, y, w, h, area = (stats[:, k].astype(np.float64) for k in range(5))
    sw = pieces["stroke"]
    chosen = np.flatnonzero(writing_marks(pieces, shape, crop, min_stroke, outlined))
    if not len(chosen):
        return []
    chosen = chosen[np.argsort(area[chosen])[::-1][:MAX_MARKS]]
    paper = pieces["paper"]
    bright = max(float(np.percentile(paper, 90)), 1.0)
    # Writing is dark ink on bright paper; grain on a dark table is on a dark ground.
    weight = area * (pieces["contrast"] / 255.0) ** 2 * np.minimum(1.0, paper / bright) ** 2
    # Writing lies on the sheet; what runs along the photo's edge (the table beyond a sheet, a
    # shadow cut off by the frame) weighs less by the share of its outline there: a wedge of
    # table as heavy as all the writing must not set the scale the writing is read at.
    weight = weight * np.clip(1.0 - pieces["border"] / np.maximum(w + h, 1.0), 0.0, 1.0)
    return [
        Mark(
            float(sw[i]) / factor,
            float(h[i]) / factor,
            float(weight[i]),
            (offset[0] + x[i] / factor, offset[1] + y[i] / factor, w[i] / factor, h[i] / factor),
        )
        for i in chosen
    ]
