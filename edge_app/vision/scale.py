"""Scale from the content: a first look decides where the writing is and how big to read it.

Digits come 8 px to 1,000 px tall, on anything from a 77x38 scan to a 12-megapixel photo of a
page, so no fixed working resolution serves them all. A first look at a small copy of the image
finds the pieces of ink that look like strokes and measures them: their stroke width and their
height. The working scale then brings strokes to :data:`TARGET_STROKE` px (so the stroke-sized
morphology of :func:`edge_app.vision.ink.stroke_ink` fits every image), keeps digits between
:data:`CHAR_MIN` and :data:`CHAR_MAX` px tall (legible, and no costlier than needed), and only
the region holding the writing is read. Strokes too thin to measure at the first look are
measured again at twice the resolution, where they are. What the first look counts as a mark
of writing is :mod:`edge_app.vision.marks`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from edge_app.vision.image import Box, Source
from edge_app.vision.ink import bright_is_thin, median_gray
from edge_app.vision.marks import Mark, marks_of

log = logging.getLogger(__name__)

# The first look's longer side: a quarter of the photo's, within these bounds (px), so small
# writing on a big page stays visible and a camera frame costs little.
COARSE_SIDE, MAX_COARSE_SIDE = 320, 1024
# Inputs no longer than this (px) are crops - a data set sample, a form field, a cheque's
# amount box: evenly lit, mostly ground along their border, their digit filling them.
CROP_SIDE = 200
DARK = 100  # median gray below which an image may be light ink on a dark ground
TARGET_STROKE = 3.0  # px: wide enough for 3x3 morphology to keep a stroke, no wider
MIN_STROKE = 2.4  # px: thinner strokes break apart when thresholded
CHAR_MIN, CHAR_MAX = 24.0, 160.0  # px: MNIST's 20 px box with room; taller only costs time
MAX_UPSCALE = 5.0
MAX_WORK_PIXELS = 6_000_000  # the working image is never larger (a 12 MP page at most halved)
UNRESOLVED = 2.2  # a measured stroke this thin may be thinner: look again, closer
UNRESOLVED_HEIGHT = 14  # px: writing this small at the first look is a blur there
# Writing of one pen has one stroke width: pieces within this factor are one size of writing;
# another size is read too when it carries this share of the main one's ink.
MODE_SPREAD = 1.8
MODE_SHARE = 0.05
MAX_MODES = 3
BULK = 0.95
REUSE = 1.33  # a first look within this factor of the working scale is the working image
HEAVY = 0.1  # a mark with less than this share of the heaviest one's weight is not a digit


@dataclass(frozen=True)
class Plan:
    """How to read one image.

    Attributes:
        inverted: light ink on a dark ground: the working image is inverted first.
        scale: working pixels per source pixel.
        roi: the region of the source (x, y, w, h in source pixels) that holds the writing.
        stroke: the expected stroke width in working pixels.
        char_height: the typical height of a piece of writing in working pixels.
        crop: the image is a small crop (evenly lit, its digit may fill it).
        seen: the first look's own image of the whole source at ``scale`` (polarity-corrected)
            and its local paper, when the first look already saw the writing at the scale to
            read it: the working image is then cut from it instead of made again.
    """

    inverted: bool
    scale: float
    roi: Box
    stroke: float
    char_height: float
    crop: bool
    seen: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False, repr=False)


def _quantile(values: list[float], weights: list[float], q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(np.asarray(weights, float)[order])
    return float(np.asarray(values, float)[order][np.searchsorted(cum, q * cum[-1])])


def _modes(marks: list[Mark]) -> list[list[Mark]]:
    """Marks grouped by stroke width (within a factor MODE_SPREAD), heaviest group first; only
    groups carrying at least MODE_SHARE of the heaviest one's weight are kept."""
    groups: list[list[Mark]] = []
    for mark in sorted(marks, key=lambda m: m.stroke):
        if groups and mark.stroke <= MODE_SPREAD * groups[-1][0].stroke:
            groups[-1].append(mark)
        else:
            groups.append([mark])
    groups.sort(key=lambda g: -_weight(g))
    top = _weight(groups[0])
    return [g for g in groups if _weight(g) >= MODE_SHARE * top][:MAX_MODES]


def _grow(box: Box, margin: float, shape: tuple[int, int]) -> Box:
    x, y, w, h = box
    height, width = shape
    x0, y0 = max(0, int(x - margin)), max(0, int(y - margin))
    x1, y1 = min(width, int(np.ceil(x + w + margin))), min(height, int(np.ceil(y + h + margin)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def polarities(source: Source) -> list[bool]:
    """The polarities worth trying (``True`` = light ink on dark), most likely first.

    Paper is usually the brighter part of a photo. A mostly dark image may be light ink on a
    dark ground (a drawing canvas, a screen, a chalkboard) or a sheet on a dark table: both
    readings are tried. A crop is evenly lit and mostly ground along its border, so its border
    tells.
    """
    gray = source.gray
    if max(source.original_size) <= CROP_SIDE:
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        return [bool(np.median(border) < 128)]
    small = source.thumbnail(COARSE_SIDE)
    if median_gray(small) >= DARK:
        return [False]
    # A dark image: light ink on a black ground, or a sheet on a dark table. Strokes, not a
    # sheet, make the bright part: light ink first; else paper first. The model's reading of
    # both decides (edge_app.reader).
    return [True, False] if bright_is_thin(small) else [False, True]


def _look(
    source: Source,
    inverted: bool,
    factor: float,
    roi: Box | None,
    crop: bool,
    stroke: float | None = None,
) -> tuple[list[Mark], np.ndarray, np.ndarray]:
    """The marks of one look at ``roi`` (None: all) scaled by ``factor``, the image looked at and
    its local paper. ``stroke``: the stroke width (source px) an earlier look measured, which
    sizes the local paper's kernel."""
    if factor < 0.5:
        # Shrinking averages a hairline away; a min filter first keeps it (a max filter for
        # light ink), at the cost of the noise's darkest grain, which the contrast ignores.
        view = source.view(2 * factor, roi)
        view = (cv2.dilate if inverted else cv2.erode)(view, np.ones((2, 2), np.uint8))
        view = cv2.resize(view, (max(1, view.shape[1] // 2), max(1, view.shape[0] // 2)),
                          interpolation=cv2.INTER_AREA)  # fmt: skip
    else:
        view = source.view(factor, roi)
    if inverted:
        view = cv2.bitwise_not(view)
    offset = (roi[0], roi[1]) if roi is not None else (0, 0)
    kernel = None if stroke is None else max(5, int(round(4 * stroke * factor)) | 1)
    marks, local = marks_of(view, crop, factor, offset, kernel)
    if factor < 0.5:
        # The min filter widened every stroke by about half a pixel of this view.
        marks = [replace(m, stroke=max(1.0, m.stroke - 0.5 / factor)) for m in marks]
    return marks, view, local


def _box_of(marks: list[Mark], margin: float, shape: tuple[int, int]) -> Box:
    b = np.array([m.box for m in marks], float)
    x0, y0 = b[:, 0].min(), b[:, 1].min()
    x1, y1 = (b[:, 0] + b[:, 2]).max(), (b[:, 1] + b[:, 3]).max()
    return _grow((int(x0), int(y0), int(np.ceil(x1 - x0)), int(np.ceil(y1 - y0))), margin, shape)


def plan(source: Source, inverted: bool) -> list[Plan]:
    """Where the writing is and at what scale to read it: one plan per size of writing found
    (usually one; a shadow's wedge or a table's grain beside thin pen strokes make more).
    Empty when the image holds no ink at all.

    Args:
        source: the input, gray.
        inverted: read light ink on a dark ground.
    """
    gray = source.gray
    crop = max(source.original_size) <= CROP_SIDE
    longest = max(gray.shape)
    factor = min(max(COARSE_SIDE, longest / 4), MAX_COARSE_SIDE) / longest
    if not crop:
        factor = min(factor, 1.0)
    marks, view, local = _look(source, inverted, factor, None, crop)
    # The first look's image is a plain reduction unless hairlines were kept by a min filter.
    seen = (view, local) if factor >= 0.5 else None
    plans = []
    for group in _modes(marks) if marks else []:
        look = factor
        # Strokes about two pixels wide, or writing a few pixels tall, at the first look are
        # not resolved there: measure them closer.
        while look < 1.0:
            weights = [m.weight for m in group]
            height = _quantile([m.height for m in group], weights, 0.75)
            stroke = _quantile([m.stroke for m in group], weights, 0.5)
            if stroke * look >= UNRESOLVED and height * look >= UNRESOLVED_HEIGHT:
                break
            roi = _box_of(group, height, gray.shape)
            look = min(1.0, 2 * look)
            closer, _, _ = _look(source, inverted, look, roi, crop, stroke)
            if not closer:
                break
            # The same writing, measured closer: the heaviest size of ink lying mostly where
            # this group's marks lie (not a table's strip the region took in beside them).
            modes = _modes(closer)
            inside = [g for g in modes if _weight_within(g, group) >= 0.5 * _weight(g)]
            group = (inside or modes)[0]
        found = _plan(group, inverted, crop, gray.shape)
        if seen is not None and look == factor and 1 / REUSE <= found.scale / factor <= REUSE:
            ratio = factor / found.scale
            found = replace(found, scale=factor, stroke=found.stroke * ratio,
                            char_height=found.char_height * ratio, seen=seen)  # fmt: skip
        plans.append(found)
    return _merged(plans)


def _weight(group: list[Mark]) -> float:
    """How much a group of marks counts: the sum of its marks' weights."""
    return sum(m.weight for m in group)


def _weight_within(group: list[Mark], where: list[Mark]) -> float:
    """The weight of the marks of ``group`` whose centre lies in a box of ``where``."""
    boxes = np.array([m.box for m in where], float)
    total = 0.0
    for m in group:
        cx, cy = m.box[0] + m.box[2] / 2, m.box[1] + m.box[3] / 2
        inside = (boxes[:, 0] <= cx) & (cx <= boxes[:, 0] + boxes[:, 2])
        inside &= (boxes[:, 1] <= cy) & (cy <= boxes[:, 1] + boxes[:, 3])
        total += m.weight * bool(inside.any())
    return total


def _bulk(group: list[Mark]) -> list[Mark]:
    """The marks that carry BULK of a group's weight: the writing, not the grain around it."""
    ordered = sorted(group, key=lambda m: -m.weight)
    total = sum(m.weight for m in ordered)
    kept, running = [], 0.0
    for m in ordered:
        kept.append(m)
        running += m.weight
        if running >= BULK * total:
            break
    return kept


def _plan(group: list[Mark], inverted: bool, crop: bool, shape: tuple[int, int]) -> Plan:
    weights = [m.weight for m in group]
    stroke = _quantile([m.stroke for m in group], weights, 0.5)
    # The writing's digits are the tallest of its stroke-like pieces of some weight; fragments,
    # specks and grain are shorter.
    heavy = [m for m in group if m.weight >= HEAVY * max(weights)]
    char = _quantile([m.height for m in heavy], [m.weight for m in heavy], 0.75)
    roi = _box_of(_bulk(group), char, shape)
    scale = TARGET_STROKE / stroke
    scale = float(np.clip(scale, CHAR_MIN / char, max(CHAR_MIN / char, CHAR_MAX / char)))
    scale = min(max(scale, MIN_STROKE / stroke), MAX_UPSCALE)
    pixels = roi[2] * roi[3] * scale * scale
    if pixels > MAX_WORK_PIXELS:
        scale *= float(np.sqrt(MAX_WORK_PIXELS / pixels))
    log.debug(
        "plan: stroke %.1f px, height %.0f px in the source -> scale %.3f, roi %s%s",
        stroke, char, scale, roi, " (inverted)" if inverted else "",
    )  # fmt: skip
    return Plan(inverted, scale, roi, stroke * scale, char * scale, crop)


def _merged(plans: list[Plan]) -> list[Plan]:
    """One plan for writing of about the same size: nearly equal scales, overlapping regions."""
    out: list[Plan] = []
    for p in plans:
        for k, q in enumerate(out):
            if max(p.scale, q.scale) <= 1.5 * min(p.scale, q.scale) and _overlap(p.roi, q.roi):
                x0, y0 = min(p.roi[0], q.roi[0]), min(p.roi[1], q.roi[1])
                x1 = max(p.roi[0] + p.roi[2], q.roi[0] + q.roi[2])
                y1 = max(p.roi[1] + p.roi[3], q.roi[1] + q.roi[3])
                out[k] = replace(q, roi=(x0, y0, x1 - x0, y1 - y0))
                break
        else:
            out.append(p)
    return out


def _overlap(a: Box, b: Box) -> bool:
    return not (a[0] >= b[0] + b[2] or b[0] >= a[0] + a[2] or a[1] >= b[1] + b[3]
                or b[1] >= a[1] + a[3])  # fmt: skip
