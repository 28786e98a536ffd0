"""From pieces of ink to lines of writing: broken strokes gathered, then lines in reading order.

Two geometric steps, each about where things are, not what they look like:

* :func:`gather` - pieces stacked on each other (the bar and the body of a 5, the halves of a
  digit whose pen skipped) become one cluster. Side-by-side pieces are left apart: whether they
  are one digit or two is for the model to say (:mod:`edge_app.vision.lattice`).
* :func:`reading_lines` - clusters chained into lines along the direction the writing runs, so
  slanted and gently curved lines stay whole; lines sorted top to bottom, each left to right.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from edge_app.vision.pieces import Piece, merge

# A piece shorter than this share of the writing's typical height does not start a line of its
# own (a dot, a dash, a fragment); it joins the line it sits in.
SMALL = 0.45
# A short line lying in a gap of a longer one, within this many of its line heights of the
# level the gap's two sides are at, is part of it: a digit the curve of a line carried below
# (or above) its neighbours. Another line of writing is usually further off (ruled lines are
# about 1.5 line heights apart), and it is not held within one gap of the line above it.
GAP_OFF = 1.0
GAP_CLUSTERS = 3  # a line of at most this many clusters may be such a digit
# How far the next digit of a line may be: its gap (in line heights) and how far off the line's
# course its centre may be (in line heights), for the second digit (no course known yet) and
# for the later ones.
MAX_GAP = 2.6
FIRST_OFF, LATER_OFF = 0.7, 0.45
MAX_FIRST_SLOPE = 0.75  # tan(37 degrees): steeper than that is another line
NEAR = 0.5
SHARED = 0.8  # share of the shorter one's height two neighbours sharing rows are one line


def _stacked(a: Piece, b: Piece) -> bool:
    """Whether two pieces are parts of one digit, one above the other."""
    overlap_x = min(a.right, b.right) - max(a.x, b.x)
    small, big = (a, b) if a.area < b.area else (b, a)
    # A small fragment (the end of a stroke, the loop of a 2) inside the digit's box.
    if (
        overlap_x > 0.5 * small.w
        and max(a.y, b.y) < min(a.bottom, b.bottom)
        and small.h <= 0.5 * big.h
        and small.area <= 0.25 * big.area
    ):
        return True
    if overlap_x < 0.5 * min(a.w, b.w):
        return False
    gap_y = max(a.y, b.y) - min(a.bottom, b.bottom)
    tall = max(a.h, b.h)
    union_h = max(a.bottom, b.bottom) - min(a.y, b.y)
    # Stacked full digits (two lines of writing) are far apart and make a too-tall union;
    # the halves of a digit whose pen skipped almost touch, and one of them is short.
    if gap_y > 0.3 * tall:
        return False
    return union_h <= 1.45 * tall or (gap_y <= 0.08 * tall and min(a.h, b.h) <= 0.8 * tall)


def _root(parent: list[int], k: int) -> int:
    """Union-find: the representative of ``k`` (paths halved on the way)."""
    while parent[k] != k:
        parent[k] = parent[parent[k]]
        k = parent[k]
    return k


def gather(pieces: list[Piece]) -> list[Piece]:
    """Merge pieces stacked on one another into clusters (until nothing changes)."""
    groups = list(pieces)
    while True:
        # Pairs are only looked for among pieces whose columns overlap (sorted by left edge).
        order = sorted(range(len(groups)), key=lambda k: groups[k].x)
        parent = list(range(len(groups)))
        root = functools.partial(_root, parent)
        for a, i in enumerate(order):
            gi = groups[i]
            for j in order[a + 1 :]:
                gj = groups[j]
                if gj.x >= gi.right:
                    break
                if _stacked(gi, gj):
                    parent[root(j)] = root(i)
        clusters: dict[int, Piece] = {}
        for k, g in enumerate(groups):
            r = root(k)
            clusters[r] = merge(clusters[r], g) if r in clusters else g
        if len(clusters) == len(groups):
            return groups
        groups = list(clusters.values())


@dataclass
class Line:
    """A line of writing: its clusters left to right and its course."""

    items: list[Piece] = field(default_factory=list)

    @property
    def height(self) -> float:
        """The writing's height: the upper quartile of its clusters' heights. Digits written
        small (a run of zeros) are common and must not shrink the line's scale; a tall one (the
        tail of a 7) is one among several."""
        heights = sorted(p.h for p in self.items)
        pos = 0.75 * (len(heights) - 1)
        low = int(pos)
        high = min(low + 1, len(heights) - 1)
        return float(heights[low] + (pos - low) * (heights[high] - heights[low]))

    def course(self) -> tuple[float, float]:
        """(slope, intercept) of the centres of its last few clusters (a curve bends): a
        least-squares line through at most four points, in plain arithmetic."""
        tail = self.items[-4:]
        n = len(tail)
        mx = sum(p.cx for p in tail) / n
        my = sum(p.cy for p in tail) / n
        sxx = sum((p.cx - mx) ** 2 for p in tail)
        slope = sum((p.cx - mx) * (p.cy - my) for p in tail) / sxx if sxx > 1e-9 else 0.0
        return slope, my - slope * mx

    def y_at(self, x: float) -> float:
        slope, intercept = self.course()
        return slope * x + intercept


def _fit(line: Line, p: Piece) -> float | None:
    """How well ``p`` continues ``line`` (lower is better), or None if it does not."""
    last = line.items[-1]
    h = line.height
    if not 0.4 <= p.h / h <= 2.5:
        return None
    gap = p.x - last.right
    if gap < -0.5 * h or gap > MAX_GAP * h:
        return None
    if len(line.items) == 1:
        dy = p.cy - last.cy
        dx = max(p.cx - last.cx, 1.0)
        # Side by side with most of one's height shared is one line, whatever the centres say
        # (the stem of a 4 written apart from its hook).
        shared = min(p.bottom, last.bottom) - max(p.y, last.y)
        side_by_side = shared >= SHARED * min(p.h, last.h)
        if not side_by_side and (abs(dy) > FIRST_OFF * h or abs(dy) > MAX_FIRST_SLOPE * dx):
            return None
    else:
        # On the line's course, or near its last digit's height: where a curved line turns
        # (the top of an arch), the course of the last few digits overshoots the next one. A
        # digit close beside the last (NEAR line heights) may step as far as a second one may.
        # Measured on generated strings (seed 700201): 115 -> 119 of 200 read exactly, pages
        # (700001) the same, the real set unchanged.
        course, level = abs(p.cy - line.y_at(p.cx)), abs(p.cy - last.cy)
        step = FIRST_OFF if gap <= NEAR * h else LATER_OFF
        if course > LATER_OFF * h and level > step * h:
            return None
        dy = min(course, level)
    return abs(dy) / h + 0.3 * max(gap, 0.0) / h


def _typical_height(pieces: list[Piece]) -> float:
    heights = np.array([p.h for p in pieces], float)
    weights = np.array([p.area for p in pieces], float)
    order = np.argsort(heights)
    cum = np.cumsum(weights[order])
    return float(heights[order][np.searchsorted(cum, cum[-1] / 2)])


def reading_lines(clusters: list[Piece], *, keep_all: bool = False) -> list[Line]:
    """Lines of writing, top to bottom, each left to right.

    Clusters at least :data:`SMALL` of the typical height are chained left to right: each
    joins the line it continues best (near its end, on its course), else starts a line. Lines
    on the same course with a wide gap between them are one line. Smaller clusters join the
    line they sit in, or are left out (``keep_all``: one that sits in no line starts its own,
    as digits already read must).
    """
    if not clusters:
        return []
    typical = _typical_height(clusters)
    small_h = SMALL * typical
    big = sorted((c for c in clusters if c.h >= small_h), key=lambda c: c.cx)
    small = [c for c in clusters if c.h < small_h]
    lines: list[Line] = []
    for c in big:
        scored = [(f, line) for line in lines if (f := _fit(line, c)) is not None]
        if scored:
            min(scored, key=lambda s: s[0])[1].items.append(c)
        else:
            lines.append(Line([c]))
    lines = _fill_gaps(_join_rows(lines))
    # Each small cluster is placed by the lines as chained (their extent, height and course),
    # not as the small ones already placed change them: a run of small zeros is all kept.
    placed = []
    for c in small:
        best, best_off = None, 0.8
        for line in lines:
            h = line.height
            if not line.items[0].x - 0.5 * h <= c.cx <= line.items[-1].right + 0.5 * h:
                continue
            off = abs(c.cy - line.y_at(c.cx)) / h
            if off < best_off:
                best, best_off = line, off
        if best is not None:
            placed.append((best, c))
        elif keep_all:
            placed.append((Line(), c))
    for line, c in placed:
        line.items.append(c)
        if len(line.items) == 1:
            lines.append(line)
    for line in lines:
        line.items.sort(key=lambda p: p.cx)
    lines.sort(key=lambda line: float(np.mean([p.cy for p in line.items])))
    return lines


def _join_rows(lines: list[Line]) -> list[Line]:
    """Join lines that are one row of writing with a wide gap (a grid's row, a spaced number).

    Left to right: each line is joined to the nearest earlier line whose course it continues
    (each line's height and course are measured once, before any joining).
    """
    lines = sorted(lines, key=lambda line: line.items[0].x)
    heights = [line.height for line in lines]
    courses = [line.course() for line in lines]
    kept: list[int] = []  # indices of the lines that remain, in order
    ends: dict[int, int] = {}  # line index -> the right edge of what it holds so far
    for j, b in enumerate(lines):
        first = b.items[0]
        best, best_off = None, None
        for i in kept:
            if first.x <= ends[i] or not 0.6 <= heights[i] / heights[j] <= 1.6:
                continue
            slope, intercept = courses[i]
            off = abs(slope * first.cx + intercept - first.cy)
            if off <= 0.35 * max(heights[i], heights[j]) and (best_off is None or off < best_off):
                best, best_off = i, off
        if best is None:
            kept.append(j)
            ends[j] = max(p.right for p in b.items)
        else:
            lines[best].items.extend(b.items)
            ends[best] = max(ends[best], max(p.right for p in b.items))
    return [lines[i] for i in kept]


def _fill_gaps(lines: list[Line]) -> list[Line]:
    """Put a short line that lies within a gap of another line into it (see GAP_OFF)."""
    if len(lines) < 2:
        return lines
    # Measured once: each line's clusters left to right, its extent and its height.
    rows = [sorted(line.items, key=lambda p: p.cx) for line in lines]
    extents = [(min(p.x for p in r), max(p.right for p in r)) for r in rows]
    heights = [line.height for line in lines]
    hosts = sorted(range(len(lines)), key=lambda k: -len(rows[k]))
    gone: set[int] = set()
    for j in sorted(range(len(lines)), key=lambda k: len(rows[k])):
        if len(rows[j]) > GAP_CLUSTERS:
            break
        left, right = extents[j]
        cy = float(np.mean([p.cy for p in rows[j]]))
        for i in hosts:
            if len(rows[i]) <= len(rows[j]):
                break
            h = heights[i]
            if (i in gone or not extents[i][0] < left < right < extents[i][1]
                    or not 0.5 <= heights[j] / h <= 2.0):  # fmt: skip
                continue
            between = [
                (a, b) for a, b in zip(rows[i], rows[i][1:], strict=False)
                if left >= a.right - 0.2 * h and right <= b.x + 0.2 * h
            ]  # fmt: skip
            if not between:
                continue
            a, b = between[0]
            t = (0.5 * (left + right) - a.cx) / max(b.cx - a.cx, 1.0)
            if abs(cy - (a.cy + t * (b.cy - a.cy))) <= GAP_OFF * h:
                lines[i].items.extend(rows[j])
                lines[i].items.sort(key=lambda p: p.cx)
                gone.add(j)
                break
    return [line for k, line in enumerate(lines) if k not in gone]
