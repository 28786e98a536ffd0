"""Handwriting styles MNIST has too few of, added to the training images.

MNIST's writers were American: hardly one 7 in fifty is crossed. Much of the world crosses its
7s (a short bar through the stem), and such a 7 with a curved top is close to a 9 and a 4. A
share of the training 7s gets a crossed twin: a bar through the stem at about half its height,
about as thick as the stroke, slightly tilted. The affine augmentation of training then moves
the twin as it moves every image.
"""

from __future__ import annotations

import cv2
import numpy as np

SEVEN = 7
# Where the bar crosses the stem (share of the ink's height from its top) and how far it
# reaches each side of it (share of the ink's height), as crossed 7s are written.
BAR_AT = (0.42, 0.62)
BAR_REACH = (0.15, 0.28)
BAR_TILT = 0.08  # rise of the bar per unit of its length, either way
INK = 128  # a pixel this bright is ink (white on black)


def cross_seven(image: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """``image`` (28x28 uint8, white ink on black) with a bar through its stem; None when no
    stem is found at the bar's height (a broken or odd 7 is left alone)."""
    rows = np.flatnonzero(image.max(axis=1) >= INK)
    if rows.size < 8:
        return None
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1
    r = int(round(top + rng.uniform(*BAR_AT) * height))
    cols = np.flatnonzero(image[r] >= INK)
    if cols.size == 0:
        return None
    # The stem is the widest run of ink on that row (the only one, on most 7s).
    runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    stem = max(runs, key=len)
    centre = float(stem.mean())
    thickness = int(np.clip(len(stem) // 2 + 1, 1, 3))
    reach = rng.uniform(*BAR_REACH) * height
    rise = rng.uniform(-BAR_TILT, BAR_TILT) * reach
    out = image.copy()
    shift = 4  # sub-pixel end points (1/16 px) for an anti-aliased bar
    a = (int(round((centre - reach) * 16)), int(round((r + rise) * 16)))
    b = (int(round((centre + reach) * 16)), int(round((r - rise) * 16)))
    cv2.line(out, a, b, 255, thickness, cv2.LINE_AA, shift)
    return out


def with_crossed_sevens(
    x: np.ndarray, y: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``x, y`` with a crossed twin of ``share`` of their 7s appended (see the module)."""
    if share <= 0:
        return x, y
    rng = np.random.default_rng(seed)
    sevens = np.flatnonzero(y == SEVEN)
    chosen = rng.choice(sevens, size=int(round(share * len(sevens))), replace=False)
    twins = [t for t in (cross_seven(x[i], rng) for i in chosen) if t is not None]
    if not twins:
        return x, y
    extra = np.stack(twins).astype(x.dtype)
    return np.concatenate([x, extra]), np.concatenate([y, np.full(len(extra), SEVEN, y.dtype)])
