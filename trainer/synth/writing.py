"""Writing on paper and photographing it: the steps every kind of synthetic photo shares.

:class:`SceneWriter` holds the glyph pool and the random generator. It draws digits, letters,
symbols, scribbles and punctuation with a pen, writes them along a line (slanted, curved,
touching, grouped), lays out a sheet of paper with rulings and specks, and photographs it
(camera pose, lighting, blur, noise) into a :class:`Photo` with its truth. What is written where
- the kinds of photo - is :class:`trainer.synth.scenes.SceneMaker`, built on this class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import cv2
import numpy as np

from trainer.synth import render
from trainer.synth.glyphs import (
    LETTERS,
    PUNCTUATION,
    SYMBOLS,
    draw_stroke,
    render_text_glyph,
    skeleton_field,
)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Photo:
    """A synthetic photo and what is written on it.

    Attributes:
        image: (H, W, 3) uint8 BGR (gray (H, W) for some scans).
        digits: the digits written, in reading order, lines joined by one space ("" if none).
        boxes: per digit (in reading order), (x, y, w, h) around its ink in the photo.
        lines: per digit, its line number (0 = top).
        kind: one of :data:`trainer.synth.scenes.KINDS`.
        tags: what makes it hard (``pencil``, ``marker``, ``touching``, ``slanted``, ``curved``,
            ``shadow``, ``tinted``, ``table``, ``tiny``, ``light-ink``, ``letters`` ...).
        others: boxes of things written that are not digits (letters, symbols, scribbles).
    """

    image: np.ndarray
    digits: str
    boxes: tuple[Box, ...]
    lines: tuple[int, ...]
    kind: str
    tags: tuple[str, ...] = ()
    others: tuple[Box, ...] = ()


@dataclass
class Mark:
    ink: np.ndarray
    x: int
    y: int
    digit: int | None  # None: not a digit
    line: int = 0


@dataclass
class Sheet:
    """A page being written on, in page coordinates (= photo coordinates before the camera)."""

    page: np.ndarray
    marks: list[Mark] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)


def _ink_box(ink: np.ndarray, x: int, y: int) -> Box:
    ys, xs = np.nonzero(ink > 0.3)
    if ys.size == 0:
        return (x, y, ink.shape[1], ink.shape[0])
    return (x + int(xs.min()), y + int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)


class SceneWriter:
    """Writes on seeded sheets of paper and photographs them, from a pool of digit glyphs.

    Args:
        glyphs: (N, 28, 28) uint8, white ink on black (MNIST layout).
        labels: (N,) digit labels.
        seed: seeds every random choice; the same seed gives the same photos.
    """

    def __init__(self, glyphs: np.ndarray, labels: np.ndarray, seed: int = 0) -> None:
        self.glyphs = np.asarray(glyphs)
        self.labels = np.asarray(labels).astype(int)
        self.rng = np.random.default_rng(seed)

    # --- writing ---------------------------------------------------------------------------

    def _digit_ink(self, height: int, pen: render.Pen, digit: int | None = None):
        """A random digit glyph (of ``digit`` when given) drawn ``height`` px tall."""
        rng = self.rng
        if digit is None:
            i = int(rng.integers(len(self.glyphs)))
        else:
            pool = np.flatnonzero(self.labels == digit)
            i = int(pool[rng.integers(len(pool))])
        ink = self._draw(self.glyphs[i], height, pen)
        return ink, int(self.labels[i])

    def _draw(self, glyph: np.ndarray, height: int, pen: render.Pen) -> np.ndarray:
        rng = self.rng
        skeleton = skeleton_field(glyph)
        if pen.kind == "mnist":
            return draw_stroke(skeleton, height, 0, blob=True)
        width = pen.width_px(height) * rng.uniform(0.85, 1.15)
        width = float(np.clip(width, 0.7, 0.22 * height))
        ink = draw_stroke(skeleton, height, width)
        if rng.random() < 0.15:  # the pen skipped: a short gap in one stroke
            h, w = ink.shape
            cy, cx = int(rng.uniform(0.2, 0.8) * h), int(rng.uniform(0.2, 0.8) * w)
            r = max(1, int(width * rng.uniform(0.6, 1.2)))
            cv2.circle(ink, (cx, cy), r, 0.0, -1)
        return ink

    def _other_ink(self, height: int, pen: render.Pen) -> np.ndarray:
        """Something written that is not a digit: a letter, a symbol, a scribble."""
        rng = self.rng
        choice = rng.random()
        if choice < 0.6:
            glyph = render_text_glyph(str(rng.choice(list(LETTERS))), rng)
        elif choice < 0.85:
            glyph = render_text_glyph(str(rng.choice(list(SYMBOLS))), rng)
        else:
            glyph = np.zeros((28, 28), np.uint8)
            pts = rng.uniform(4, 24, (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.polylines(glyph, [pts], False, 255, int(rng.integers(1, 3)), cv2.LINE_AA)
        return self._draw(glyph, height, pen)

    def _punctuation(self, height: int, pen: render.Pen) -> np.ndarray:
        mark = str(self.rng.choice(list(PUNCTUATION)))
        glyph = np.zeros((28, 28), np.uint8)
        if mark in ".,":
            cv2.circle(glyph, (14, 22), 2, 255, -1)
            if mark == ",":
                cv2.line(glyph, (14, 22), (11, 27), 255, 2)
        elif mark == ":":
            cv2.circle(glyph, (14, 10), 2, 255, -1)
            cv2.circle(glyph, (14, 22), 2, 255, -1)
        else:
            cv2.line(glyph, (8, 16), (20, 15), 255, 2)
        skeleton = skeleton_field(glyph)
        scale_to = max(3, int(height * (0.25 if mark != ":" else 0.6)))
        return draw_stroke(skeleton, scale_to, max(1.0, pen.width_px(height)))

    def _write_line(
        self, sheet: Sheet, pen: render.Pen, n: int, x: float, y: float, height: int,
        line: int, *, angle: float = 0.0, curve: float = 0.0, touching: bool = False,
        groups: bool = False,
    ) -> float:  # fmt: skip
        """Write ``n`` digits from (x, y) (top-left of the first) along a line; returns the end x.

        ``angle`` (radians) tilts the line, ``curve`` bends it (px at the middle), ``touching``
        runs digits into each other, ``groups`` leaves wider gaps inside the line (a phone
        number), which get no space in the label.
        """
        rng = self.rng
        length = n * height * 0.75
        advance = 0.0
        marks: list[Mark] = []
        for k in range(n):
            h = max(6, int(height * rng.uniform(0.88, 1.12)))
            ink, digit = self._digit_ink(h, pen)
            if abs(angle) > 0.05 and rng.random() < 0.5:
                ink = _rotate(ink, np.rad2deg(angle) * rng.uniform(0.3, 1.0))
            t = min(1.0, advance / max(length, 1.0))
            dy = np.sin(angle) * advance + curve * 4 * t * (1 - t)
            jitter = height * rng.uniform(-0.06, 0.06)
            px, py = int(x + advance * np.cos(angle)), int(y + dy + jitter + (height - h))
            marks.append(Mark(ink, px, py, digit, line))
            if touching:
                gap = height * rng.uniform(-0.18, 0.02)
            else:
                gap = height * rng.uniform(0.1, 0.45)
                if groups and k < n - 1 and rng.random() < 0.2:
                    gap += height * rng.uniform(0.6, 1.2)
            if not touching and k < n - 1 and rng.random() < 0.05:
                mark = self._punctuation(height, pen)
                mx = int(px + ink.shape[1] + gap * 0.2)
                my = int(py + height - mark.shape[0] * (0.5 if mark.shape[0] > height / 3 else 1))
                marks.append(Mark(mark, mx, my, None, line))
                gap += mark.shape[1] + height * 0.15
            advance += ink.shape[1] + gap
        sheet.marks.extend(_on_page(marks, sheet.page.shape))
        return x + advance

    # --- finishing -------------------------------------------------------------------------

    def _sheet(self, size: tuple[int, int], spacing: float, *, paper: str | None = None,
               rulings: bool = True) -> Sheet:  # fmt: skip
        page = render.paper(size, self.rng, paper)
        sheet = Sheet(page)
        if paper is None and float(page[..., 0].mean()) < 0.75 * float(page[..., 2].mean()):
            sheet.tags.add("tinted")
        if rulings and render.rulings(page, spacing, self.rng) != "none":
            sheet.tags.add("rulings")
        for _ in range(int(self.rng.integers(0, 12))):  # dust, fibres, specks
            w, h = size
            x, y = int(self.rng.integers(w)), int(self.rng.integers(h))
            shade = tuple(float(v) * self.rng.uniform(0.4, 0.8) for v in page[y, x])
            radius = int(self.rng.integers(0, 2 + max(w, h) // 1500)) if max(w, h) > 200 else 0
            cv2.circle(page, (x, y), radius, shade, -1)
        return sheet

    def _clutter(self, sheet: Sheet, pen: render.Pen, count: int, height: int) -> None:
        """Letters, symbols and scribbles written where nothing else is."""
        h, w = sheet.page.shape[:2]
        for _ in range(count):
            size = max(6, int(height * self.rng.uniform(0.6, 1.4)))
            ink = self._other_ink(size, pen)
            for _ in range(12):
                x = int(self.rng.uniform(0.05, 0.95) * w - ink.shape[1] / 2)
                y = int(self.rng.uniform(0.05, 0.95) * h - ink.shape[0] / 2)
                if not any(_overlaps((x, y, *ink.shape[::-1]), _mark_box(m), 0.3 * size)
                           for m in sheet.marks):  # fmt: skip
                    sheet.marks.append(Mark(ink, x, y, None, -1))
                    break
        sheet.tags.add("letters")

    def _photo(
        self,
        sheet: Sheet,
        pen: render.Pen,
        kind: str,
        *,
        table_odds: float = 0.2,
        shadow_odds: float = 0.5,
        vignette: float = 0.45,
        camera: bool = True,
    ) -> Photo:
        rng = self.rng
        for mark in sheet.marks:
            render.stamp(sheet.page, mark.ink, mark.x, mark.y, pen, rng)
        h, w = sheet.page.shape[:2]
        digits = [m for m in sheet.marks if m.digit is not None]
        boxes = [_ink_box(m.ink, m.x, m.y) for m in digits]
        others = [_ink_box(m.ink, m.x, m.y) for m in sheet.marks if m.digit is None]
        if camera:
            for _ in range(10):  # hold the camera so that every digit stays in the frame
                cam = render.random_camera((w, h), rng, table_odds=table_odds)
                moved = [render.move_box(b, cam.homography) for b in boxes]
                if all(x >= 0 and y >= 0 and x + bw <= w and y + bh <= h for x, y, bw, bh in moved):
                    break
            else:  # a digit filling the frame: square on
                cam = dataclasses.replace(cam, homography=np.eye(3), table=False)
                moved = boxes
            lighting = render.light((w, h), rng, shadow_odds=shadow_odds, vignette=vignette)
            image = render.shoot(sheet.page, cam, lighting, rng)
            boxes = moved
            others = [render.move_box(b, cam.homography) for b in others]
            if cam.table:
                sheet.tags.add("table")
            if float(lighting.min()) < 0.55 * float(lighting.max()):
                sheet.tags.add("shadow")
        else:
            image = np.clip(sheet.page * 255 + rng.normal(0, 2, sheet.page.shape), 0, 255)
            image = image.astype(np.uint8)
        if pen.kind in ("pencil", "marker"):
            sheet.tags.add(pen.kind)
        order = _reading_order(digits)
        text, line_of = _label(digits, order)
        return Photo(
            image=image,
            digits=text,
            boxes=tuple(boxes[i] for i in order),
            lines=tuple(line_of),
            kind=kind,
            tags=tuple(sorted(sheet.tags)),
            others=tuple(others),
        )


def _rotate(ink: np.ndarray, degrees: float) -> np.ndarray:
    h, w = ink.shape
    side = int(np.hypot(h, w)) + 2
    pad = cv2.copyMakeBorder(ink, (side - h) // 2, side - h - (side - h) // 2,
                             (side - w) // 2, side - w - (side - w) // 2,
                             cv2.BORDER_CONSTANT, value=0)  # fmt: skip
    m = cv2.getRotationMatrix2D((side / 2, side / 2), degrees, 1.0)
    out = cv2.warpAffine(pad, m, (side, side))
    ys, xs = np.nonzero(out > 0.05)
    return out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] if ys.size else ink


def _on_page(marks: list[Mark], shape: tuple[int, ...]) -> list[Mark]:
    """A line of marks moved back onto the page if it ran off; what still does not fit is left
    unwritten (a writer reaching the paper's edge stops there)."""
    if not marks:
        return marks
    h, w = shape[:2]
    pad = 2
    x0 = min(m.x for m in marks)
    x1 = max(m.x + m.ink.shape[1] for m in marks)
    y0 = min(m.y for m in marks)
    y1 = max(m.y + m.ink.shape[0] for m in marks)
    dx = (w - pad - x1 if x1 > w - pad else 0) or (pad - x0 if x0 < pad else 0)
    dy = (h - pad - y1 if y1 > h - pad else 0) or (pad - y0 if y0 < pad else 0)
    moved = [dataclasses.replace(m, x=m.x + dx, y=m.y + dy) for m in marks]
    return [
        m for m in moved
        if m.x >= 0 and m.y >= 0 and m.x + m.ink.shape[1] <= w and m.y + m.ink.shape[0] <= h
    ]  # fmt: skip


def _mark_box(m: Mark) -> Box:
    return (m.x, m.y, m.ink.shape[1], m.ink.shape[0])


def _overlaps(a: Box, b: Box, pad: float) -> bool:
    return not (a[0] > b[0] + b[2] + pad or b[0] > a[0] + a[2] + pad
                or a[1] > b[1] + b[3] + pad or b[1] > a[1] + a[3] + pad)  # fmt: skip


def _reading_order(marks: list[Mark]) -> list[int]:
    """Digits by line, then along the line (the order they were written in)."""
    return sorted(range(len(marks)), key=lambda i: (marks[i].line, i))


def _label(marks: list[Mark], order: list[int]) -> tuple[str, list[int]]:
    parts: list[str] = []
    lines: list[int] = []
    previous = None
    line_index = -1
    for i in order:
        if marks[i].line != previous:
            if parts:
                parts.append(" ")
            line_index += 1
            previous = marks[i].line
        parts.append(str(marks[i].digit))
        lines.append(line_index)
    return "".join(parts), lines
