"""What cannot be writing: every rule by which the vision step drops ink before the model.

Whether a piece of ink is a digit is the model's decision (:mod:`edge_app.vision.lattice`);
these rules only take out what cannot be writing at all, so it costs neither time nor a wrong
reading. Two sets, for the two places ink is looked at:

* the first look's marks (:mod:`edge_app.vision.marks`), all pieces at once on their measured
  statistics: too small, shadows, strips along the border, blobs, printed lines;
* the working image's pieces (:mod:`edge_app.vision.pieces`), one by one: dust, bands along
  the photo's border, grain off the sheet, and more pieces than writing ever has.

Rulings are not dropped but erased, pixel by pixel, from the ink they cross (writing on ruled
paper touches its lines): that is :mod:`edge_app.vision.rulings`.
"""

from __future__ import annotations

import numpy as np

from edge_app.vision.ink import upper_tenth

# --- the first look's marks -------------------------------------------------------------------
MIN_MARK_AREA = 6  # px at the first look
MIN_MARK_HEIGHT = 3  # px at the first look
# Share of its box's half-perimeter a mark may run along the image border (not in a crop).
MAX_MARK_BORDER = 0.8
BLOB = 0.45  # a mark whose stroke is wider than this share of its longer side is a blob
# A piece of ink running ACROSS the image (that share of its width or height) whose area is no
# more than STRAIGHT times its stroke width by its box's diagonal is one straight line: printed,
# not written (rulings and margins run from edge to edge; a digit's strokes bend, and even a
# 1 filling a crop leaves some margin).
ACROSS, STRAIGHT = 0.85, 1.6
THIN_LINE = 0.03  # a printed line is thinner than this share of the image (a marker 1 is not)

# --- the working image's pieces ---------------------------------------------------------------
# A piece smaller than this many squared stroke widths is dust or paper texture: a pen's dot
# is about one stroke across, and a dot is punctuation, not a digit.
MIN_AREA_STROKES = 1.5
MAX_PIECES = 200  # more than this is texture, not writing: keep the most clearly inked
OFF_PAPER = 0.5  # a piece whose ground is darker than this share of the paper is off the sheet
# A hand's shadow can leave paper as dark as a table; what is written in it is still pen ink,
# far darker than its ground (the upper tenth of its pixels at least PEN_DARK darker: 1 - ink /
# its paper), and as tall as a digit (PEN_TALL of the writing's height). A table's grain is
# faint against the table. Measured on generated photos (seeds 700001 / 700201, shadows): 3 of
# 200 single digits and 5 of 200 strings more read, 3 lost.
PEN_DARK = 0.4
PEN_TALL = 0.5
# Share of its box's outline a piece may run along the image border. A digit cropped tightly
# touches the border where its strokes end; a strip of table or a sheet's edge runs along it.
MAX_BORDER_CONTACT = 0.4


def writing_marks(
    m: dict[str, np.ndarray],
    shape: tuple[int, int],
    crop: bool,
    min_stroke: float,
    outlined: float = 0.0,
) -> np.ndarray:
    """Which of the first look's measured pieces may be writing, as a bool per piece.

    Args:
        m: the measurements of every piece but the background (label 0 already dropped):
            ``stats`` (x, y, w, h, area), ``stroke``, ``strong``, ``border``, ``outlined``.
        shape: the looked-at image's (height, width).
        crop: a small crop: its digit may run along its border and fill it.
        min_stroke: strokes thinner than this are not looked for here.
        outlined: the least share of a piece its outline must cover (a fat stroke has edges;
            a shadow or a table has none).
    """
    height, width = shape
    stats = m["stats"]
    w, h, area = (stats[:, k].astype(np.float64) for k in (2, 3, 4))
    sw = m["stroke"]
    keep = (area >= MIN_MARK_AREA) & (m["strong"] > 0) & (h >= MIN_MARK_HEIGHT)
    keep &= sw >= min_stroke
    # no edges a few strokes wide: a shadow or a table, not a fat stroke
    keep &= m["outlined"] >= outlined
    if not crop:
        # a strip along the border: the table beyond a sheet, its edge
        keep &= m["border"] <= MAX_MARK_BORDER * (w + h)
        # a blob, not a stroke
        keep &= sw <= BLOB * np.maximum(w, h)
    # a thin straight line across the image: a ruling, a margin, an edge
    line = (
        (sw < THIN_LINE * max(width, height))
        & (np.maximum(w / width, h / height) > ACROSS)
        & (area < STRAIGHT * sw * np.hypot(w, h))
    )
    return keep & ~line


def min_piece_area(stroke: float) -> int:
    """The least area (working px) of a piece of writing with strokes ``stroke`` px wide."""
    return max(4, int(MIN_AREA_STROKES * stroke * stroke))


def inkiest(keep: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """``keep`` (piece labels), cut to the :data:`MAX_PIECES` with the most clearly inked pixels."""
    if len(keep) <= MAX_PIECES:
        return keep
    return keep[np.argsort(strong[keep])[::-1][:MAX_PIECES]]


def along_border(contact: float) -> bool:
    """A piece running along the photo's border for ``contact`` of its outline is not writing."""
    return contact > MAX_BORDER_CONTACT


def off_paper(ground: float, paper: float) -> bool:
    """Ink sits on paper: a piece on ``ground`` far darker than the ``paper`` is off the sheet."""
    return ground < OFF_PAPER * paper


def pen_in_shadow(strength: np.ndarray, height: int, char_height: float) -> bool:
    """Whether a piece on a dark ground is pen ink written in a shadow, not a table's grain:
    ``strength`` holds its pixels' ink strength (uint8, 255 = black), ``height`` its height."""
    if height < PEN_TALL * char_height or strength.size == 0:
        return False
    return upper_tenth(strength) >= PEN_DARK * 255
