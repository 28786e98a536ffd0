"""Shapes to write with: digit glyphs, letters and symbols, and the pen strokes drawn along them.

Handwritten digit *shapes* come from a data set passed in by the caller (MNIST train digits
when making training data, MNIST test digits in the benchmark, Hershey script glyphs when no
data set is at hand). A glyph is a 28x28 white-on-black image; :func:`skeleton_field` reduces
it to the distance from its centre line, so the same shape can be drawn with any pen: a hair-
thin ballpoint on a digit 300 px tall, a fat marker, a grey pencil.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Characters that are not digits, for negatives. Letters a digit is easily written like
# (O o D Q l I i j S s Z z g q b G B T t) are left out: calling a real "0" or "1" not-a-digit
# because it looks like an "O" or an "l" would teach the model to reject digits.
LETTERS = "ACEFHKLMNPRUVWXYacefhkmnprtuvwxy"
# Nor symbols a 1 or a 0 is written like (| ! / ( ) [ ] { } < >): the same shapes as digits,
# taught as "not a digit", would make the model drop real 1s.
SYMBOLS = "+=%#&*?@$~^"
PUNCTUATION = ".,:-"

_FONTS = (
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
)
SUPER = 4  # skeletons are found at 4x the glyph's 28 px


def render_text_glyph(text: str, rng: np.random.Generator) -> np.ndarray:
    """One character (or a short string) drawn with a Hershey font: 28x28-framed, white on black.

    A random font, stroke width and slant, so printed and script-like shapes both appear.
    """
    canvas = np.zeros((112, 112 * max(1, len(text))), np.uint8)
    font = _FONTS[int(rng.integers(len(_FONTS)))]
    thickness = int(rng.integers(4, 10))
    cv2.putText(canvas, text, (14, 86), font, 2.4, 255, thickness, cv2.LINE_AA)
    slant = float(rng.uniform(-0.3, 0.3))
    h, w = canvas.shape
    shear = np.float32([[1, slant, -slant * h / 2], [0, 1, 0]])
    canvas = cv2.warpAffine(canvas, shear, (w, h))
    return frame_glyph(canvas)


def hershey_glyphs(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Handwriting-like digit glyphs drawn with OpenCV's fonts, for tests that have no MNIST.

    Returns:
        (images (count, 28, 28) uint8 white on black, labels (count,) uint8).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = np.stack([render_text_glyph(str(int(d)), rng) for d in labels])
    return images, labels


def frame_glyph(canvas: np.ndarray) -> np.ndarray:
    """Fit ink into 20x20 (aspect kept) and centre it in 28x28: just enough for synthetic glyphs."""
    ys, xs = np.nonzero(canvas > 30)
    if ys.size == 0:
        return np.zeros((28, 28), np.uint8)
    crop = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    s = 20 / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    out = np.zeros((28, 28), np.uint8)
    y0, x0 = (28 - crop.shape[0]) // 2, (28 - crop.shape[1]) // 2
    out[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return out


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a bool mask to its one-pixel centre line."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:]
            p5, p6, p7 = img[2:, 2:], img[2:, 1:-1], img[2:, :-2]
            p8, p9 = img[1:-1, :-2], img[:-2, :-2]
            ring = (p2, p3, p4, p5, p6, p7, p8, p9, p2)
            neighbours = sum(p.astype(np.int32) for p in ring[:8])
            transitions = sum(
                ((ring[k] == 0) & (ring[k + 1] == 1)).astype(np.int32) for k in range(8)
            )
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (c == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                c[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


_STEPS = ((1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))


def _neighbours(points: set[tuple[int, int]]) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """8-neighbours, without the diagonal shortcut where a corner of two straight steps exists
    (a staircase would otherwise make little triangles)."""
    out = {}
    for x, y in points:
        near = []
        for dx, dy in _STEPS:
            q = (x + dx, y + dy)
            if q not in points:
                continue
            if dx and dy and ((x + dx, y) in points or (x, y + dy) in points):
                continue
            near.append(q)
        out[(x, y)] = near
    return out


def _chains(points: set[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """The centre line as chains of points between ends and junctions (loops closed)."""
    near = _neighbours(points)
    nodes = {p for p, n in near.items() if len(n) != 2}
    seen: set[tuple[tuple[int, int], tuple[int, int]]] = set()
    chains = []
    starts = list(nodes) + [p for p in points if p not in nodes]
    for start in starts:
        for q in near[start]:
            if (start, q) in seen:
                continue
            chain, prev, cur = [start, q], start, q
            seen |= {(start, q), (q, start)}
            while cur not in nodes and cur != start:
                step = [r for r in near[cur] if r != prev and (cur, r) not in seen]
                if not step:
                    break
                prev, cur = cur, step[0]
                seen |= {(prev, cur), (cur, prev)}
                chain.append(cur)
            chains.append(chain)
    return chains


def _smooth(chain: list[tuple[int, int]], window: int = 5) -> list[tuple[float, float]]:
    """A chain's points averaged along it (its ends kept): a pen's line, not a staircase."""
    pts = np.asarray(chain, np.float32)
    if len(pts) <= 2:
        return [tuple(p) for p in pts]
    half = window // 2
    pad = np.concatenate([np.repeat(pts[:1], half, 0), pts, np.repeat(pts[-1:], half, 0)])
    kernel = np.ones(window, np.float32) / window
    out = np.stack([np.convolve(pad[:, k], kernel, mode="valid") for k in (0, 1)], axis=1)
    out[0], out[-1] = pts[0], pts[-1]
    return [tuple(p) for p in out]


@dataclass(frozen=True)
class Skeleton:
    """A glyph's centre line, ready to be drawn at any size with any pen.

    Attributes:
        edges: (n, 2, 2) float32 segments ((x, y), (x, y)) joining neighbouring centre-line
            pixels, in field pixels (4x the glyph) relative to the ink box's top-left.
        size: (width, height) of the ink box in field pixels.
        blob: the glyph's own soft ink at field resolution (MNIST's pen), cropped to the box.
    """

    edges: np.ndarray
    size: tuple[int, int]
    blob: np.ndarray


def skeleton_field(glyph: np.ndarray) -> Skeleton:
    """Centre line and soft ink of a 28x28 white-on-black glyph, at 4x resolution."""
    big = cv2.resize(glyph.astype(np.float32) / 255.0, None, fx=SUPER, fy=SUPER,
                     interpolation=cv2.INTER_CUBIC)  # fmt: skip
    mask = big > 0.35  # low enough to keep MNIST's faint joins, which a pen does not skip
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return Skeleton(np.zeros((0, 2, 2), np.float32), (1, 1), np.zeros((1, 1), np.float32))
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    line = thin(mask[y0:y1, x0:x1])
    py, px = np.nonzero(line)
    points = {(int(x), int(y)) for x, y in zip(px, py, strict=True)}
    edges = [
        np.asarray(pair, np.float32)
        for chain in _chains(points)
        for pair in zip(_smooth(chain), _smooth(chain)[1:], strict=False)
    ]
    if not edges:  # a dot
        edges = [np.asarray([p, p], np.float32) for p in points]
    segs = np.asarray(edges, np.float32).reshape(-1, 2, 2) + 0.5
    return Skeleton(segs, (int(x1 - x0), int(y1 - y0)), big[y0:y1, x0:x1])


def draw_stroke(
    skeleton: Skeleton, height: int, width_px: float, *, blob: bool = False
) -> np.ndarray:
    """Ink coverage (float32 0..1) of a glyph drawn ``height`` px tall with a round pen.

    Args:
        skeleton: from :func:`skeleton_field`.
        height: the ink's height in output pixels.
        width_px: the pen's width in output pixels (below 1 px the line gets fainter, the way
            a hairline does in a photo).
        blob: draw with the glyph's own varying stroke (MNIST's pen) instead of a round pen.
    """
    w, h = skeleton.size
    scale = height / max(1, h)
    radius = max(width_px, 1.0) / 2
    pad = int(np.ceil(radius)) + 2
    size = (max(1, round(w * scale)) + 2 * pad, max(1, round(h * scale)) + 2 * pad)
    if blob:
        soft = cv2.resize(skeleton.blob, (size[0] - 2 * pad, size[1] - 2 * pad),
                          interpolation=cv2.INTER_CUBIC)  # fmt: skip
        return np.clip((soft - 0.4) / 0.12 + 0.5, 0, 1).astype(np.float32)
    canvas = np.full((size[1], size[0]), 255, np.uint8)
    shift = 4  # sub-pixel precision of the segment ends
    pts = np.round((skeleton.edges * scale + pad) * (1 << shift)).astype(np.int32)
    cv2.polylines(canvas, list(pts), False, 0, 1, cv2.LINE_8, shift)
    distance = cv2.distanceTransform(canvas, cv2.DIST_L2, 5)
    ink = np.clip(radius + 0.5 - distance, 0, 1)
    if width_px < 1.0:
        ink *= width_px
    return ink.astype(np.float32)
