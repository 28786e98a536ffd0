"""The public entry points: an image -> the digit candidates worth classifying, and their decoding.

:func:`propose` runs the geometric stages (scale from the content, stroke ink, pieces, lines,
the lattice of spans) and frames every span like MNIST; the caller classifies all spans in one
batch and hands the probabilities back to :meth:`Proposal.decode`, which picks each line's most
probable reading (:mod:`edge_app.vision.lattice`). :class:`edge_app.reader.DigitReader` does
exactly that. :func:`find_digits` is the model-free view: every cluster of ink that may be a
digit, framed, in reading order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from edge_app.vision import lattice, layout, scale
from edge_app.vision.framing import frame_ink
from edge_app.vision.image import Box, Source, load
from edge_app.vision.ink import Ink, flat_paper, stroke_ink, upper_tenth
from edge_app.vision.pieces import Piece, find_pieces

log = logging.getLogger(__name__)

MARGIN = 2  # working px of soft edge kept around a span when it is framed
SAME_DIGIT = 0.3  # boxes overlapping this much (IoU) read the same digit
MAX_SPANS = 600  # spans classified per image, at most (about 150 digits' worth)
# A mark alone on its line in a scene (not a crop) is read only when the model is this sure of
# it: a scene holds letters, ticks and texture that, framed alone, look like digits, and nothing
# beside them says they are writing (the converse of lattice.WRITING_ODDS); a digit written
# alone is usually written clearly. Crops are digits on purpose and keep every reading.
ALONE_SURE = 0.85
# A mark alone on its line that the photo's edge cuts is read only when it fills most of the
# frame (a digit framed on purpose). Smaller, the camera cut off part of something: a letter's
# visible half, a shadow's corner, and the model reading a digit in that half says nothing.
FRAMED = 0.6
# When a scene reads as at most LONE_MARKS digits, none beside another on its line, a mark
# shorter than SPECK_ALONE of the photo's shorter side is not read: a digit photographed on its
# own is framed far bigger (the real photos' single digits are 21-59% of it, the generator's at
# least 4.4%), and what is that small with nothing written near it is a speck, a fibre or a
# shadow's grain. Small digits on a page have neighbours on their line or make a column of
# them, and crops keep every reading.
SPECK_ALONE = 0.03
LONE_MARKS = 2


@dataclass(frozen=True)
class DigitCandidate:
    """One span of ink that may be a digit.

    Attributes:
        image: (28, 28) uint8, white ink on black, MNIST-framed (ready for the classifier).
        box: x, y, w, h in the original image's pixel coordinates.
        line: reading line index (0 = top line).
    """

    image: np.ndarray
    box: tuple[int, int, int, int]
    line: int


@dataclass(frozen=True)
class Proposal:
    """Everything worth classifying in one image under one reading (polarity).

    Attributes:
        candidates: every span, framed, line by line (their ``line`` is the line's index
            within its plan; :meth:`decode` gives the reading's own line numbers).
        lines: per line of every plan, its lattice and the index of its first span in
            ``candidates``.
        plans: how the image was read (scale, region, polarity), one per size of writing.
        size: (width, height) of the image (boxes are in its pixels); (0, 0) if unknown.
    """

    candidates: tuple[DigitCandidate, ...]
    lines: tuple[tuple[lattice.LineLattice, int], ...]
    plans: tuple[scale.Plan, ...]
    size: tuple[int, int] = (0, 0)

    def decode(
        self, probs: np.ndarray, columns: lattice.Columns
    ) -> list[tuple[int, int, float, int]]:
        """The spans read as digits: ``(candidate index, digit column, confidence, line)`` in
        reading order. ``probs`` has one row per candidate."""
        chosen = []
        bar = 0.0 if any(plan.crop for plan in self.plans) else ALONE_SURE
        for line_lattice, offset in self.lines:
            rows = probs[offset : offset + len(line_lattice.spans)]
            alone = len(line_lattice.clusters) == 1
            for k, column, p in lattice.decode(line_lattice, rows, columns):
                if alone and bar and (p < bar or self._cut_off(offset + k)):
                    continue
                chosen.append((offset + k, column, p))
        if len(self.plans) > 1:
            chosen = _suppress(chosen, self.candidates)
        lines = [self.candidates[k].line for k, _, _ in chosen]
        if bar and len(lines) <= LONE_MARKS and len(set(lines)) == len(lines):
            chosen = [c for c in chosen if not self._speck(c[0])]
        return _in_lines(chosen, self.candidates)

    def _cut_off(self, index: int) -> bool:
        """Whether the photo's edge cuts the candidate and it does not fill the frame."""
        width, height = self.size
        x, y, w, h = self.candidates[index].box
        cut = x <= 0 or y <= 0 or x + w >= width or y + h >= height
        return bool(width) and cut and h < FRAMED * height and w < FRAMED * width

    def _speck(self, index: int) -> bool:
        """Whether the candidate is under SPECK_ALONE of the photo's shorter side."""
        h = self.candidates[index].box[3]
        return bool(self.size[0]) and h < SPECK_ALONE * min(self.size)


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(1, a[2] * a[3] + b[2] * b[3] - inter)


def _suppress(chosen: list, candidates: tuple[DigitCandidate, ...]) -> list:
    """One reading per digit where two plans (two sizes of writing) read the same ink."""
    kept: list = []
    for item in sorted(chosen, key=lambda c: -c[2]):
        box = candidates[item[0]].box
        if all(_iou(box, candidates[k[0]].box) < SAME_DIGIT for k in kept):
            kept.append(item)
    return kept


def _in_lines(chosen: list, candidates: tuple[DigitCandidate, ...]) -> list:
    """The digits read, arranged in reading lines by where they are in the image."""
    if not chosen:
        return []
    pieces = []
    for k, _, _ in chosen:
        x, y, w, h = candidates[k].box
        pieces.append(Piece(x, y, w, h, np.ones((1, 1), bool), 1))
    index = {id(p): item for p, item in zip(pieces, chosen, strict=True)}
    out = []
    for number, line in enumerate(layout.reading_lines(pieces, keep_all=True)):
        for p in line.items:
            k, column, prob = index[id(p)]
            out.append((k, column, prob, number))
    return out


def _frame(ink: Ink, span: lattice.Span) -> np.ndarray:
    """The span's own ink, soft edges kept, neighbours left out, MNIST-framed."""
    g = span.piece
    height, width = ink.strength.shape
    left = 0 if span.cut_left else MARGIN
    right = 0 if span.cut_right else MARGIN
    x0, y0 = max(0, g.x - left), max(0, g.y - MARGIN)
    x1, y1 = min(width, g.right + right), min(height, g.bottom + MARGIN)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mask[g.y - y0 : g.bottom - y0, g.x - x0 : g.right - x0] = g.mask
    near = cv2.dilate(mask, np.ones((2 * MARGIN + 1, 2 * MARGIN + 1), np.uint8))
    strength = cv2.bitwise_and(ink.strength[y0:y1, x0:x1], ink.strength[y0:y1, x0:x1], mask=near)
    core = strength[mask > 0]
    # Scale each span's own ink to full white: a grey pencil digit and a black marker digit
    # must look alike to a classifier trained on saturated MNIST strokes.
    level = upper_tenth(core) if core.size else 255.0
    gain = 1.0 / max(level, 0.05 * 255)
    return frame_ink(np.minimum(strength.astype(np.float32) * np.float32(gain), 1.0))


def _working(
    source: Source, plan: scale.Plan
) -> tuple[np.ndarray, tuple[bool, ...], np.ndarray | None]:
    """The working image of ``plan`` (dark ink on light), which of its sides are the photo's
    border, and its local paper when the first look already had it."""
    x, y, w, h = plan.roi
    height, width = source.gray.shape
    edges = (x == 0, y == 0, x + w >= width, y + h >= height)
    if plan.seen is not None:
        view, local = plan.seen
        s = plan.scale
        x0, y0 = int(x * s), int(y * s)
        x1, y1 = (
            min(view.shape[1], int(np.ceil((x + w) * s))),
            min(view.shape[0], int(np.ceil((y + h) * s))),
        )
        return view[y0:y1, x0:x1], edges, local[y0:y1, x0:x1]
    gray = source.view(plan.scale, plan.roi)
    if plan.inverted:
        gray = cv2.bitwise_not(gray)
    return gray, edges, None


def _box(source: Source, plan: scale.Plan, p: Piece) -> Box:
    x, y = plan.roi[0] + p.x / plan.scale, plan.roi[1] + p.y / plan.scale
    return source.box_to_original(x, y, p.w / plan.scale, p.h / plan.scale)


def _read(source: Source, plans: list[scale.Plan]) -> Proposal:
    candidates: list[DigitCandidate] = []
    lattices = []
    for plan in plans:
        gray, edges, paper = _working(source, plan)
        if plan.crop:  # a small crop: evenly lit, its strokes may be as wide as it
            paper = flat_paper(gray)
        ink = stroke_ink(gray, plan.stroke, paper)
        pieces = find_pieces(ink, plan.stroke, plan.char_height, edges, crop=plan.crop)
        lines = layout.reading_lines(layout.gather(pieces))
        # A bounded budget of spans per image, spent on the lines with the most ink first: a
        # page of grain must not cost unbounded time, and writing outweighs grain.
        budget = {id(line): 0 for line in lines}
        left = MAX_SPANS
        for line in sorted(lines, key=lambda ln: -sum(p.strong for p in ln.items)):
            budget[id(line)] = left
            left = max(0, left - 4 * len(line.items))
        for index, line in enumerate(lines):
            if budget[id(line)] <= 0:
                continue
            built = lattice.build(line, plan.stroke, budget[id(line)])
            lattices.append((built, len(candidates)))
            for span in built.spans:
                box = _box(source, plan, span.piece)
                candidates.append(DigitCandidate(_frame(ink, span), box, index))
    log.debug("%d plan(s), %d span(s) to classify", len(plans), len(candidates))
    return Proposal(tuple(candidates), tuple(lattices), tuple(plans), source.original_size)


def propose(image: np.ndarray) -> list[Proposal]:
    """Every reading worth trying of an image: one per plausible polarity, most likely first.

    Args:
        image: gray (H, W), BGR (H, W, 3) or BGRA (H, W, 4) array; uint8 preferred, bool,
            uint16 and float (0..1 or 0..255) accepted. Any size.

    Returns:
        Proposals (a proposal with no candidates when the image holds no ink).

    Raises:
        ImageError: the array is empty, has an impossible shape or a non-numeric dtype.
    """
    source = load(image)
    return [_read(source, scale.plan(source, inverted)) for inverted in scale.polarities(source)]


def find_digits(image: np.ndarray) -> list[DigitCandidate]:
    """Every cluster of ink that may be a digit, framed like MNIST, in reading order.

    The model-free view of :func:`propose` (every reading of it: both polarities of an image
    that may be light ink on dark): one candidate per whole cluster, none cut, none skipped.
    Reading digits needs the model's judgement: use :class:`edge_app.reader.DigitReader`.
    """
    out = []
    for proposal in propose(image):
        for line_lattice, offset in proposal.lines:
            for k, span in enumerate(line_lattice.spans):
                if span.cluster >= 0:
                    out.append(proposal.candidates[offset + k])
    return out
