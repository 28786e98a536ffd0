"""Removing ruled lines, grid lines and margin lines from an ink mask.

Notebook rulings are long and thin; pen strokes are short or thick. A pixel is taken for a
ruling when it is *thin* across the line's direction (no longer ink run than ``thickness``)
and lies on a long run of thin ink along it. Where a digit's stroke crosses a ruling, the
crossing pixels sit on the stroke's long run across the line and so are kept: the digit is
not cut in two.

A faint line comes out of the ink threshold in lengths, each too short to be a ruling and, framed
alone, a fine "1". :func:`goes_on_as_line` tells them apart by what lies past their ends: the
line goes on there, fainter; a pen stroke ends in paper.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

log = logging.getLogger(__name__)

# No stroke of a digit runs straight for longer than the digit is tall, and a tall "1" is at
# most half again as tall as the writing of its line, so thin ink running straight for LINE_RUN
# character heights is a line printed on the paper, and a component spanning more than
# LINE_SPAN heights is looked at as one.
LINE_RUN = 1.5
LINE_SPAN = 2.5
ACROSS = 0.6  # share of the region's width (height) a horizontal (vertical) ruling spans
# A ruling is no thicker than this many pen strokes (the image is scaled to its strokes; a
# blurred line reaches the ink threshold wider than it is printed).
LINE_THICKNESS = 2.5
# A printed line is straight across many pixels in each row it crosses; a digit's curve is not.
LINE_STRAIGHT = 0.25  # of a run: 0.375 character heights
# A piece of a faint ruling broken off by the threshold is looked at as a ruling when it is
# this many character heights long: three digits run into each other are about two.
LINE_PIECE = 5.0
EDGE_REACH = 2  # px: a box this close to the region's edge reaches it
# A run is a line where nine tenths of it is inked (the mean of 0/255 ink over it >= 230).
FULL_RUN = 230


# Near the image's edge, where only a share s (0..255) of a run lies in the image, the run is a
# line when its ink, scaled up to the whole run (x 255 / s, in float32 as it was first written,
# so a line ends at the same pixel), reaches FULL_RUN: the least ink that does, per share.
def _shared_run(share: np.float32) -> int:
    gain = np.float32(255.0) / max(share, np.float32(1.0))
    return next((u for u in range(256) if np.float32(u) * gain >= FULL_RUN), 255)


_SHARED_RUN = np.array([_shared_run(s) for s in np.arange(256, dtype=np.float32)], np.uint8)
HALF_IN = 128  # a run less than half in the image is no line's: too little of it is seen


def _horizontal_rulings(
    mask: np.ndarray, thickness: int, run: int, exact: bool, inside: np.ndarray | None = None
) -> np.ndarray:
    """Pixels of ``mask`` (uint8 0/255) on thin horizontal lines at most +-12 degrees off, as
    uint8 0/255 (``exact``: the lines' own pixels to the image's edges, else the band round
    their middles; ``inside``: which pixels of a turned canvas are the image's, None: all).

    Every step is a uint8 OpenCV operation: on a 12 MP page each numpy pass over the image
    costs milliseconds, and this runs for both families of lines of every region."""
    across = cv2.getStructuringElement(cv2.MORPH_RECT, (1, thickness + 1))
    thick = cv2.morphologyEx(mask, cv2.MORPH_OPEN, across)
    thin = cv2.subtract(mask, thick)
    lines = thin
    if exact:
        # Where a line crosses the other family's lines, its run goes on through them: ink
        # narrow along the line that runs a full run across it (a line of the other family,
        # not a digit's upright stroke, which is shorter) counts as the line's own. Dense
        # squared paper (3 px lines every 20 px) loses 15% of each line at its crossings, more
        # than the tenth a run may miss. (The first look's crude path does without: measured,
        # it then cut the faint 3 of tests/data/photos/faint.jpg away.)
        along = cv2.getStructuringElement(cv2.MORPH_RECT, (thickness + 1, 1))
        narrow = cv2.subtract(thick, cv2.morphologyEx(thick, cv2.MORPH_OPEN, along))
        upright = cv2.compare(
            cv2.blur(mask, (1, run), borderType=cv2.BORDER_REPLICATE), FULL_RUN, cv2.CMP_GE
        )
        lines = cv2.bitwise_or(thin, cv2.bitwise_and(narrow, upright))
    # Thicken the thin ink across the line so a line a degree or two off (perspective bends a
    # page's lines apart) still gives long runs.
    slack = max(2, thickness) + int(run * 0.03)
    grown = cv2.dilate(lines, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 2 * slack + 1)))
    filled = cv2.blur(grown, (run, 1), borderType=cv2.BORDER_CONSTANT)
    if exact:
        # Near the image's edge a run is measured on the part of it that is in the image, so
        # a line printed to the edge is a line to its last pixel, not half a run short of it
        # (the stub would be read as a "1").
        # The window runs along rows only: unturned, every row's share is the same one row's.
        inside = np.full((1, mask.shape[1]), 255, np.uint8) if inside is None else inside
        share = cv2.blur(inside, (run, 1), borderType=cv2.BORDER_CONSTANT)
        # Nine tenths of the part of the run in the image inked, where half the run or more is
        # in it: the level ``filled`` must reach for each share, looked up.
        need = cv2.LUT(share, _SHARED_RUN)
        seen = cv2.compare(share, HALF_IN, cv2.CMP_GE)
        if need.shape != filled.shape:  # one row for all rows
            need = np.ascontiguousarray(np.broadcast_to(need, filled.shape))
            seen = np.ascontiguousarray(np.broadcast_to(seen, filled.shape))
        seeds = cv2.bitwise_and(cv2.compare(filled, need, cv2.CMP_GE), seen)
    else:
        # Nine tenths of the run inked: crossings of a grid and JPEG gaps do not break a line.
        # A digit on the line is no thin ink: the line's run breaks there, and the digit is kept.
        seeds = cv2.compare(filled, FULL_RUN, cv2.CMP_GE)
    if not exact:
        # A seed marks the middle of a full run. Seeds shorter than a quarter run are dropped:
        # a line is cut only where it runs on for a quarter run more, so the long arm of a big
        # faint 3 (as long as the run the first look guesses) stays whole. Measured on
        # tests/data/photos/faint.jpg (read "2 2" without it) and a tilted grid (a quarter
        # leaves no stub of its lines beside the digit, a half does).
        seeds = cv2.morphologyEx(seeds, cv2.MORPH_OPEN, np.ones((1, max(1, run // 4)), np.uint8))
        return cv2.bitwise_and(thin, cv2.dilate(seeds, across))
    band = cv2.dilate(seeds, across)
    # The band is as wide as the slack; of the ink in it, only what lies on straight rows
    # (LINE_STRAIGHT of a run, small gaps bridged) is the line itself: a digit's stroke beside
    # the line bends away from the row sooner, and is kept.
    bridge = cv2.getStructuringElement(cv2.MORPH_RECT, (thickness, 1))
    straight = cv2.getStructuringElement(cv2.MORPH_RECT, (max(9, int(LINE_STRAIGHT * run)), 1))
    rows = cv2.morphologyEx(thin, cv2.MORPH_CLOSE, bridge)
    rows = cv2.morphologyEx(rows, cv2.MORPH_OPEN, straight)
    rows = cv2.dilate(rows, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 3)))
    return cv2.bitwise_and(cv2.bitwise_and(thin, band), rows)


def ruling_angle(lines: np.ndarray) -> float:
    """The angle (degrees, counter-clockwise, within +-15) of the straight lines in a mask.

    The mask is turned in small steps; where its lines lie horizontal, its row sums are
    sharpest (the sum of their squares is largest). A photo's rulings share one angle, the
    camera's tilt, whatever their length.
    """
    h, w = lines.shape
    factor = min(1.0, 160 / max(h, w))
    small = cv2.resize(lines, (max(1, int(w * factor)), max(1, int(h * factor))),
                       interpolation=cv2.INTER_AREA).astype(np.float32)  # fmt: skip
    centre = (small.shape[1] / 2, small.shape[0] / 2)

    def sharpness(angle: float) -> float:
        turn = cv2.getRotationMatrix2D(centre, -angle, 1.0)
        rows = cv2.warpAffine(small, turn, small.shape[::-1]).sum(axis=1)
        return float(np.dot(rows, rows))

    best = max(np.arange(-15.0, 15.1, 3.0), key=sharpness)
    best = max(np.arange(best - 2.0, best + 2.1, 1.0), key=sharpness)
    return float(max(np.arange(best - 0.75, best + 0.8, 0.25), key=sharpness))


def _turned(mask: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` turned by ``angle`` on a canvas large enough to hold it, and the turn."""
    h, w = mask.shape
    side = int(np.ceil(np.hypot(h, w))) + 2
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
    turn[:, 2] += ((side - w) / 2, (side - h) / 2)
    return cv2.warpAffine(mask, turn, (side, side), flags=cv2.INTER_NEAREST), turn


def remove_rulings(
    mask: np.ndarray,
    horizontal: bool,
    vertical: bool,
    stroke: float,
    char_height: float,
    lines: np.ndarray | None = None,
    *,
    exact: bool = True,
    run: int | None = None,
) -> np.ndarray:
    """Return a copy of ``mask`` without its ruled/grid/margin lines.

    Args:
        mask: (h, w) uint8 0/255 ink mask.
        horizontal: look for horizontal lines.
        vertical: look for vertical lines.
        stroke: the pen's stroke width in this image (px).
        char_height: the writing's typical height in this image (px).
        lines: the part of ``mask`` that looks like rulings, to measure their angle from
            (None: no tilt).
        exact: remove each line to its ends, and of the ink beside it only what lies
            straight along it. False takes out all thin ink in a band round the lines'
            middles and keeps half a run at each end: cruder, but where a sheet's edges meet
            on a table its corner stays one bent piece instead of two long bars that pass
            for strokes. The first look, which only measures the writing's size, wants
            that (measured on generated photos: 4 single digits in 200 more read).
        run: how far (px) thin ink must run straight to be a line (None: LINE_RUN
            character heights).

    Returns:
        The cleaned uint8 0/255 mask.
    """
    thickness = max(3, int(round(LINE_THICKNESS * stroke)))
    run = max(15, int(LINE_RUN * char_height) if run is None else run)
    out = mask.copy()
    # Perspective tilts a grid's two families of lines by different angles: one turn each.
    # The second family is looked for once the first is gone, so its crossings do not break
    # its lines into runs too short to count.
    for wanted, flip in ((horizontal, False), (vertical, True)):
        if not wanted:
            continue
        image = np.ascontiguousarray(out.T) if flip else out
        guide = None if lines is None else (np.ascontiguousarray(lines.T) if flip else lines)
        angle = ruling_angle(guide) if guide is not None else 0.0
        if abs(angle) >= 1.0:
            work, turn = _turned(image, angle)
            inside = _turned(np.full(image.shape, 255, np.uint8), angle)[0] if exact else None
            hit = _horizontal_rulings(work, thickness, run, exact, inside)
            back = cv2.invertAffineTransform(turn)
            hit = cv2.warpAffine(hit, back, image.shape[::-1], flags=cv2.INTER_NEAREST)
        else:
            hit = _horizontal_rulings(image, thickness, run, exact)
        out = cv2.bitwise_and(out, cv2.bitwise_not(np.ascontiguousarray(hit.T) if flip else hit))
    log.debug("rulings removed: %d px", int(np.count_nonzero(mask)) - int(np.count_nonzero(out)))
    return out


def looks_like_ruling(
    w: int, h: int, area: int, char_height: float, shape: tuple[int, int]
) -> tuple[bool, bool]:
    """Whether a component's box could hold a horizontal / vertical ruling.

    A ruling is printed across the page, so it spans most of the region being read (which
    reaches a line height beyond the writing on every side) and is far longer than a digit is
    tall; its box is mostly empty. A tall 1 alone in its region spans a third of it.
    """
    height, width = shape
    span = LINE_SPAN * char_height
    return _long_and_empty(w, h, area, max(span, ACROSS * width), max(span, ACROSS * height))


def _long_and_empty(w: int, h: int, area: int, long_w: float, long_h: float) -> tuple[bool, bool]:
    """Whether a box is at least ``long_w`` wide (``long_h`` tall) and under a quarter inked."""
    horizontal = w >= long_w and area < 0.25 * w * max(h, 1)
    vertical = h >= long_h and area < 0.25 * h * max(w, 1)
    return horizontal, vertical


def broken_off_ruling(w: int, h: int, area: int, char_height: float) -> tuple[bool, bool]:
    """Whether a component's box could hold a piece of a horizontal / vertical ruling that does
    not span the region: a faint line the ink threshold breaks into lengths.

    Such a piece is still far longer than a digit, or a few digits run into each other, and
    its box is mostly empty.
    """
    long = LINE_PIECE * char_height
    return _long_and_empty(w, h, area, long, long)


def runs_across(x: int, y: int, w: int, h: int, shape: tuple[int, int]) -> tuple[bool, bool]:
    """Whether a box reaches both the left and right (top and bottom) edges of the region.

    The region being read reaches a line height beyond the writing on every side, so a printed
    line runs through it edge to edge; a digit, however tall, stops short of them.
    """
    left, right, top, bottom = _at_edges(x, y, w, h, shape)
    return left and right, top and bottom


def at_sides(x: int, y: int, w: int, h: int, shape: tuple[int, int]) -> tuple[bool, bool]:
    """Whether a box reaches the left or right (the top or bottom) edge of the region."""
    left, right, top, bottom = _at_edges(x, y, w, h, shape)
    return left or right, top or bottom


def _at_edges(x: int, y: int, w: int, h: int, shape: tuple[int, int]) -> tuple[bool, ...]:
    height, width = shape
    return (
        x <= EDGE_REACH,
        x + w >= width - EDGE_REACH,
        y <= EDGE_REACH,
        y + h >= height - EDGE_REACH,
    )


# A piece of a printed line goes on as the line beyond its ends, fainter than the ink threshold
# (which broke it off) but still a ridge: darker on its course than beside it. A pen's straight
# stroke, a "1", ends in paper. Looked for along CONTINUE_REACH character heights past each end,
# at CONTINUE_SIDE strokes to either side; the line goes on where the course is RIDGE levels (of
# 255) darker than both sides along CONTINUE_SHARE of that reach. Only pieces as thin as a line
# (their ink spread across their axis, a standard deviation of at most LINE_SPREAD strokes; a
# drawn stroke of the same pen is wider and wavers) are looked at. Measured on generated photos
# of tuning seeds (700001 single digits, 700201 strings, 700301 blank pages): 155 -> 166 of 200
# singles read, 108 -> 112 of 200 strings, 273 -> 278 of 300 blank pages clean (a share of 0.45;
# 0.6 kept 3 blank pages fewer clean, the same otherwise); the real set unchanged.
CONTINUE_REACH = 1.0
CONTINUE_SIDE = 3.0
RIDGE = 4
CONTINUE_SHARE = 0.45
LINE_SPREAD = 0.5
LINE_MIN = 4.0  # strokes: shorter, a piece is a dot or a dash, no "1"
_ROOM = 0.25  # of the reach: less of it inside the image, and that end is at the image's edge


def _at(strength: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = strength.shape
    xi, yi = np.rint(x).astype(np.intp), np.rint(y).astype(np.intp)
    ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    out = np.zeros(x.shape, np.int16)
    out[ok] = strength[yi[ok], xi[ok]]
    return out, ok


def goes_on_as_line(
    mask: np.ndarray,
    x: int,
    y: int,
    strength: np.ndarray,
    stroke: float,
    char_height: float,
    paper: np.ndarray | None = None,
    off_sheet: float = 0.0,
) -> bool:
    """Whether a piece of ink (bool ``mask`` at ``x, y`` of ``strength``, the working image's
    ink strength) is a straight piece of a printed line that runs on past both its ends (or to
    the image's edge): a ruling, a margin or a grid line the ink threshold broke into lengths.
    An end with too little of the image beyond it to tell is at the image's edge; given the
    ``paper`` brightness map, so is an end whose course runs off the sheet (ground darker than
    ``off_sheet``), where a grid line stops at the table the sheet lies on."""
    h, w = mask.shape
    # Cheap tests first (most pieces are grain): a length of line is at least LINE_MIN strokes
    # long, and as thin as LINE_SPREAD allows it is under 2 strokes wide, so its area is small.
    if max(h, w) < LINE_MIN * stroke or np.count_nonzero(mask) > 2.0 * stroke * np.hypot(w, h):
        return False
    ys, xs = np.nonzero(mask)
    # The piece's axes from its second moments (a 2x2 eigenproblem, solved in closed form).
    mx, my = float(xs.mean()), float(ys.mean())
    dx, dy = xs - mx, ys - my
    sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
    n = max(xs.size - 1, 1)
    # The variances along and across the axis are mean +- spread.
    mean, spread = (sxx + syy) / (2 * n), np.hypot((sxx - syy) / (2 * n), sxy / n)
    if np.sqrt(max(mean - spread, 0.0)) > LINE_SPREAD * stroke:
        return False
    angle = 0.5 * np.arctan2(2 * sxy, sxx - syy)
    along = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-along[1], along[0]])
    half = np.sqrt(3.0 * (mean + spread))  # half the length of a uniform segment
    reach = max(4.0, CONTINUE_REACH * char_height)
    t = np.arange(2.0, reach, 1.0)
    side = CONTINUE_SIDE * stroke
    # Every sample at once: (end, offset across the course, distance past the end). Offsets
    # 0-2 are the course and a pixel either way of it (a line a little off the fitted axis),
    # 3 the course alone (is it inside the image), 4-5 the two sides.
    offsets = np.array([-1.0, 0.0, 1.0, 0.0, side, -side])[None, :, None]
    reach_out = np.array([1.0, -1.0])[:, None, None] * (half + t)[None, None, :]
    px = x + mx + along[0] * reach_out + across[0] * offsets
    py = y + my + along[1] * reach_out + across[1] * offsets
    value, ok = _at(strength, px, py)
    ground = _at(paper, px[:, 3], py[:, 3])[0] if paper is not None else None
    ends = edge = 0
    for end in range(2):
        inside = ok[end, 3]
        if ground is not None:
            # Past the sheet's edge (a table beyond it) is as good as past the image's.
            inside = inside & (ground[end] >= off_sheet)
        if np.count_nonzero(inside) < _ROOM * t.size:
            edge += 1  # runs to the image's (or the sheet's) edge
            continue
        course = value[end, :3].max(axis=0)
        near = np.where(ok[end, 4:], value[end, 4:], -1).max(axis=0)
        usable = inside & (near >= 0)
        if np.count_nonzero(usable) < _ROOM * t.size:
            return False
        ridge = (course - near)[usable] > RIDGE
        if np.count_nonzero(ridge) < CONTINUE_SHARE * ridge.size:
            return False
        ends += 1
    # Seen going on at one end at least; at neither (the piece spans the image), only a piece
    # longer than any digit is a line (a "1" filling a frame reaches its edges too).
    return ends + edge == 2 and (ends > 0 or 2 * half >= LINE_RUN * char_height)
