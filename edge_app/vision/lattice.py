"""Where one digit ends and the next begins, decided by the model: segmentation by recognition.

A line's clusters are over-segmented into *atoms*: a cluster narrow enough to be one digit is
one atom; a wide one (two or three digits written into each other, "1000") is also cut at the
columns where a cut is plausible. A *span* is a run of neighbouring atoms - one atom, a whole
cluster, a cluster and the fragment beside it, two halves of a cut. Every span is framed and
classified in one batch; then :func:`decode` picks, per line, the sequence of spans that covers
every atom once and is most probable: each span read as its best digit, or a whole cluster
skipped as not writing (its ``none`` probability).

The model's classes say which is which: ``0``..``9`` (exactly one digit), ``none`` (no digit:
a speck, a letter, a shadow's edge) and ``cut`` (digit ink, but not one whole digit - a part of
one, or two run together). A span the model calls ``cut`` scores low as a digit, so the decoder
looks for a better way to cut; only ``none`` makes skipping a cluster cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge_app.vision.layout import Line
from edge_app.vision.pieces import Piece, columns, merge

MAX_ATOMS = 4  # a span joins at most this many atoms
MAX_SPAN_WIDTH = 1.6  # line heights: no single digit is wider
MAX_JOIN_GAP = 0.6  # line heights: atoms further apart are not one digit
TALL, APART = 0.7, 0.08  # see _apart: full-height clusters this far apart are not joined
# A cluster at least this wide (in line heights, or in its own height) may hold several digits:
# it gets cut candidates (two digits run together are wider; a wide 0 is cut too, and the
# model keeps it whole).
WIDE = 1.1
DIGIT_WIDTH = 0.7  # a handwritten digit's typical width in line heights, for even cuts
LOG_FLOOR = 1e-6
# Each digit read adds this to a reading's log-probability. An int8 model's top probability
# stops at 255/256, so two readings it is sure of differ only in how many spans they have, and
# the one with fewer (two digits taken as one, "71" read as "7") would always win. With the
# bonus, a reading with more spans wins when the model is as sure of each of them within a
# probability ratio of e^0.01 = 1.01; any less sure reading still loses. A whole cluster read
# as its own digit adds CLUSTER_BONUS more: ink parted by paper is two digits more often than
# one digit whose pen lifted, while halves of one cluster must earn their cut. (Found on real
# webcam photos whose thin "1"s vanished into a neighbour: the 7 and 1 together read 0.973 as a
# 7, the two apart 0.988 and 0.969. One bonus of 0.03 for every span read the 1s too, but cut
# more single digits in two: seed 900001 one-digit photos 285 -> 281 of 400.)
DIGIT_BONUS = 0.01
CLUSTER_BONUS = 0.02
# A cluster smaller than this share of the line's tallest, both ways, is not a whole digit: a
# dot, a pen's touch, the end of a stroke the ink step broke off (a "1" is tall, a "0" wide).
SPECK = 0.25
# A cluster as tall as the digits the model is SURE of in its line is writing: its "none" is
# taken WRITING_ODDS times less likely than the model, which sees each span framed alone and
# so cannot know its size, says (a thin "1" framed alone is a bar like any other).
SURE = 0.9
WRITING_ODDS = 2.0
# A part of a cluster this much flatter than the cluster, that the model calls "none" before
# anything else, may be left out of it: a ruled line or an underline run into a digit leaves
# the digit's cluster as wide as the page, and skipping only whole clusters then lost the digit
# with the line. A flat part of a digit (a 7's bar, a 2's base) framed alone reads "cut" or a
# digit, and the digit read whole outscores it left out.
FLAT = 0.5
LONG = 2.5


@dataclass(frozen=True)
class Span:
    """A run of atoms of one line that may be one digit.

    Attributes:
        piece: the union of its atoms (working pixels).
        start, end: its atoms, ``[start, end)`` in the line's atom order.
        cut_left, cut_right: whether its left/right edge is a cut through ink (no margin of
            neighbouring ink may be taken there when it is framed).
        cluster: the cluster index when the span is exactly one whole cluster, else -1.
    """

    piece: Piece
    start: int
    end: int
    cut_left: bool
    cut_right: bool
    cluster: int


@dataclass(frozen=True)
class LineLattice:
    """The spans of one line and how its atoms make up its clusters."""

    atoms: int
    clusters: tuple[tuple[int, int], ...]  # per cluster, its atoms [start, end)
    spans: tuple[Span, ...]


def _cut_columns(c: Piece, height: float, stroke: float) -> list[int]:
    """Columns where ``c`` may be cut into digits: thin places of its column profile, and the
    even divisions into as many digits as its width holds.

    A cluster of ``n`` digits' width gets up to ``2 n`` cuts (at least 6) spread over its whole
    width: a whole string written into one stroke ("1525/89021", the pen never lifted) needs
    a cut between every two digits, not only near its left end.
    """
    profile = c.mask.sum(axis=0).astype(float)
    w = c.w
    n = max(2, round(w / (DIGIT_WIDTH * height)))
    lo = int(min(0.2 * w, 0.3 * height))
    hi = w - lo
    cuts: list[int] = []
    if hi > lo + 2:
        smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
        inner = smooth[lo:hi]
        minima = [
            lo + k
            for k in range(1, len(inner) - 1)
            if inner[k] <= inner[k - 1] and inner[k] <= inner[k + 1]
            and inner[k] <= 2.5 * stroke
        ]  # fmt: skip
        minima.sort(key=lambda col: smooth[col])
        cuts.extend(minima[: max(3, n + 1)])
    for parts in {n - 1, n, n + 1} - {0, 1}:
        cuts.extend(int(round(w * k / parts)) for k in range(1, parts))
    spaced: list[int] = []
    for col in sorted(set(cuts)):
        if 0.12 * height <= col <= w - 0.12 * height and all(
            abs(col - s) >= 0.15 * height for s in spaced
        ):
            spaced.append(col)
    cap = max(6, 2 * n)
    if len(spaced) <= cap:
        return spaced
    # Too many to keep: the thinnest places first, then even divisions, so every part of the
    # cluster keeps its cuts.
    keep = set(sorted(spaced, key=lambda col: profile[col])[: cap // 2])
    rest = [col for col in spaced if col not in keep]
    step = len(rest) / (cap - len(keep))
    keep.update(rest[int(k * step)] for k in range(cap - len(keep)))
    return sorted(keep)


def _atoms(c: Piece, height: float, stroke: float) -> list[tuple[Piece, bool, bool]]:
    """``(atom, cut on its left, cut on its right)`` for one cluster."""
    if c.w < WIDE * height and c.w < WIDE * 1.35 * c.h:
        return [(c, False, False)]
    edges = [0, *_cut_columns(c, height, stroke), c.w]
    out: list[tuple[Piece, bool, bool]] = []
    for k in range(len(edges) - 1):
        part = columns(c, edges[k], edges[k + 1])
        if part is not None:
            out.append((part, k > 0, k < len(edges) - 2))
    return out or [(c, False, False)]


MAX_SPANS = 160  # a line proposing more spans than this is texture: no more joins or cuts


def _apart(a: Piece, b: Piece, height: float) -> bool:
    """Two clusters that are each a whole digit's height and written apart are two digits:
    the pieces of one digit touch or overlap, or one of them is small (a bar, a hook)."""
    gap = max(a.x, b.x) - min(a.right, b.right)
    return min(a.h, b.h) >= TALL * height and gap > APART * height


def build(line: Line, stroke: float, budget: int = MAX_SPANS) -> LineLattice:
    """Every span worth classifying in one line (whole clusters first, then joins and cuts
    while fewer than ``budget`` spans were made)."""
    height = line.height
    atoms: list[tuple[Piece, bool, bool]] = []
    clusters: list[tuple[int, int]] = []
    for c in line.items:
        start = len(atoms)
        atoms.extend(_atoms(c, height, stroke))
        clusters.append((start, len(atoms)))
    # Every whole cluster is a span, however many atoms it was cut into: skipping a cluster
    # is judged on the cluster as a whole.
    spans = [
        Span(c, s, e, False, False, k)
        for k, (c, (s, e)) in enumerate(zip(line.items, clusters, strict=True))
    ]
    whole = set(clusters)
    owner = [k for k, (s, e) in enumerate(clusters) for _ in range(s, e)]
    for i in range(len(atoms)):
        piece, cut_left, _ = atoms[i]
        right = piece.right
        for j in range(i + 1, min(len(atoms), i + MAX_ATOMS) + 1):
            if j > i + 1:
                nxt = atoms[j - 1][0]
                if nxt.x - right > MAX_JOIN_GAP * height:
                    break
                a, b = line.items[owner[j - 2]], line.items[owner[j - 1]]
                if a is not b and _apart(a, b, height):
                    break
                piece = merge(piece, nxt)
                right = max(right, nxt.right)
            if piece.w > MAX_SPAN_WIDTH * max(height, piece.h):
                break
            if (i, j) not in whole:
                spans.append(Span(piece, i, j, cut_left, atoms[j - 1][2], -1))
        if len(spans) > min(MAX_SPANS, budget):
            break
    return LineLattice(len(atoms), tuple(clusters), tuple(spans))


@dataclass(frozen=True)
class Columns:
    """Which columns of a model's output are what.

    Attributes:
        digits: the columns that are digits, in label order.
        none: the column of "no digit here", or None for a plain digit classifier.
        cut: the column of "not one whole digit", or None.
    """

    digits: np.ndarray
    none: int | None = None
    cut: int | None = None

    @classmethod
    def of(cls, labels: tuple[str, ...]) -> Columns:
        """The columns of a model with ``labels`` (see :data:`edge_app.contract.VISION_LABELS`)."""
        from edge_app.contract import CUT_LABEL, NONE_LABEL

        digits = np.array([i for i, v in enumerate(labels) if v.isdigit()], int)
        none = labels.index(NONE_LABEL) if NONE_LABEL in labels else None
        cut = labels.index(CUT_LABEL) if CUT_LABEL in labels else None
        return cls(digits, none, cut)

    def confidence(self, row: np.ndarray, column: int, writing: bool = False) -> float:
        """How sure the model is of digit ``column`` once the decoder has taken the span as one
        whole digit: its probability among everything but "cut" (the decoder has weighed cuts
        against every other way to split the line already) and, for a cluster its line's
        context says is writing (``writing``, see :func:`_peer_height`), but "none" too."""
        whole = 1.0 - float(row[self.cut]) if self.cut is not None else 1.0
        if writing and self.none is not None:
            whole -= float(row[self.none])
        return float(row[column]) / max(whole, LOG_FLOOR)


def _speck(span: Span, tallest: int) -> bool:
    """Whether a whole cluster is too small to be a digit by itself beside the line's tallest
    (SPECK of its height both ways): "cut" then says it is a bit of ink, and skipping it costs
    only what the model gives to its being a digit."""
    return max(span.piece.w, span.piece.h) < SPECK * tallest


def _peer_height(lattice: LineLattice, whole: dict[int, int], top_p: np.ndarray) -> float:
    """The median height of the line's whole clusters the model is SURE are digits, when at
    least two are (else infinite): a cluster as tall as they are is writing (WRITING_ODDS)."""
    sure = [lattice.spans[k].piece.h for k in whole.values() if top_p[k] >= SURE]
    return float(np.median(sure)) if len(sure) >= 2 else math.inf


def _flat_parts(lattice: LineLattice, probs: np.ndarray, none: int) -> list[tuple[int, int, float]]:
    """The parts of clusters that may be left out (see :data:`FLAT`): ``(end atom, first atom,
    probability of "none")`` per span."""
    height = {}
    for span in lattice.spans:
        if span.cluster >= 0:
            start, end = lattice.clusters[span.cluster]
            height.update({atom: span.piece.h for atom in range(start, end)})
    return [
        (span.end, span.start, float(probs[k, none]))
        for k, span in enumerate(lattice.spans)
        if span.cluster < 0
        and span.piece.h < FLAT * height.get(span.start, 0)
        and span.piece.w >= LONG * span.piece.h
        and int(probs[k].argmax()) == none
    ]


def _skips(
    lattice: LineLattice, probs: np.ndarray, columns: Columns, top_p: np.ndarray
) -> tuple[dict[int, list[tuple[int, float]]], set[int]]:
    """What skipping each cluster as not writing costs: ``{first atom: [(end atom, probability)]}``,
    and the whole-cluster spans its line says are writing (their "none" counted WRITING_ODDS
    times less). A cluster with no whole span (too wide to be one digit) is skipped for free."""
    whole = {span.cluster: k for k, span in enumerate(lattice.spans) if span.cluster >= 0}
    tallest = max((lattice.spans[k].piece.h for k in whole.values()), default=0)
    peers = _peer_height(lattice, whole, top_p)
    skips: dict[int, list[tuple[int, float]]] = {}
    writing: set[int] = set()
    for cluster, (start, end) in enumerate(lattice.clusters):
        k = whole.get(cluster)
        if k is None:
            skips[start] = [(end, 1.0)]
            continue
        p_none = float(probs[k, columns.none])
        if columns.cut is not None and _speck(lattice.spans[k], tallest):
            p_none += float(probs[k, columns.cut])
        elif lattice.spans[k].piece.h >= TALL * peers:
            p_none /= WRITING_ODDS
            writing.add(k)
        skips[start] = [(end, p_none)]
    return skips, writing


def decode(
    lattice: LineLattice, probs: np.ndarray, columns: Columns
) -> list[tuple[int, int, float]]:
    """The most probable reading of one line.

    Args:
        lattice: the line's spans.
        probs: (len(spans), classes) class probabilities, one row per span.
        columns: which columns are digits, "none" and "cut". Without a "none" column (a
            plain digit classifier) every whole cluster is read, none cut, none skipped.

    Returns:
        ``(span index, digit column, confidence)`` of the spans read as digits, left to right
        (see :meth:`Columns.confidence`).
    """
    digit_columns, none_column = columns.digits, columns.none
    digit_p = probs[:, digit_columns]
    top = digit_p.argmax(axis=1)
    top_p = digit_p[np.arange(len(top)), top]
    if none_column is None:
        # A model that cannot say "not a digit" cannot judge cuts either: read whole clusters.
        return [
            (k, int(digit_columns[top[k]]), float(top_p[k]))
            for k, span in enumerate(lattice.spans)
            if span.cluster >= 0
        ]
    n = lattice.atoms
    best = [-math.inf] * (n + 1)
    back: list[tuple[int, int, int] | None] = [None] * (n + 1)  # (from, span or -1, column)
    best[0] = 0.0
    by_start: dict[int, list[int]] = {}
    for k, span in enumerate(lattice.spans):
        by_start.setdefault(span.start, []).append(k)
    skips, writing = _skips(lattice, probs, columns, top_p)
    for end, start, p_skip in _flat_parts(lattice, probs, columns.none):
        skips.setdefault(start, []).append((end, p_skip))
    for i in range(n):
        if best[i] == -math.inf:
            continue
        for end, p_skip in skips.get(i, ()):
            score = best[i] + math.log(max(p_skip, LOG_FLOOR))
            if score > best[end]:
                best[end], back[end] = score, (i, -1, -1)
        for k in by_start.get(i, []):
            span = lattice.spans[k]
            p = float(top_p[k])
            bonus = DIGIT_BONUS + (CLUSTER_BONUS if span.cluster >= 0 else 0.0)
            score = best[i] + math.log(max(p, LOG_FLOOR)) + bonus
            if score > best[span.end]:
                best[span.end], back[span.end] = score, (i, k, int(digit_columns[top[k]]))
    chosen: list[tuple[int, int, float]] = []
    at = n
    while at > 0:
        step = back[at]
        if step is None:  # unreachable: every cluster can be skipped or read whole
            break
        start, k, column = step
        if k >= 0:
            chosen.append((k, column, columns.confidence(probs[k], column, k in writing)))
        at = start
    chosen.reverse()
    return chosen
