"""The physical side of a synthetic photo: paper, pens, light and the camera.

Everything works on float32 BGR images 0..1 (1 = white). Ink absorbs light, so writing
multiplies the paper by the ink's colour where it covers it; light multiplies the whole page;
the camera warps, blurs, adds noise and JPEG-compresses. Every random choice comes from the
``numpy.random.Generator`` passed in, so a seed gives the same photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# BGR paper colours: white, cream, recycled grey, and tinted stationery (sticky notes, index
# cards, coloured exercise books), each scaled by a random brightness.
PAPERS = {
    "white": (0.95, 0.95, 0.95),
    "cream": (0.80, 0.92, 0.95),
    "grey": (0.82, 0.84, 0.85),
    "yellow": (0.45, 0.93, 0.97),
    "green": (0.70, 0.93, 0.78),
    "pink": (0.85, 0.80, 0.98),
    "blue": (0.96, 0.88, 0.75),
}
PAPER_ODDS = {"white": 0.45, "cream": 0.15, "grey": 0.1, "yellow": 0.1, "green": 0.07,
              "pink": 0.07, "blue": 0.06}  # fmt: skip
# BGR ink colours of pens, markers and pencil graphite.
INKS = {
    "black": (0.10, 0.10, 0.12),
    "blue": (0.55, 0.22, 0.10),
    "navy": (0.35, 0.15, 0.10),
    "red": (0.15, 0.15, 0.75),
    "green": (0.25, 0.50, 0.15),
    "graphite": (0.38, 0.38, 0.40),
}


@dataclass(frozen=True)
class Pen:
    """How one writer's strokes look.

    Attributes:
        kind: ``ballpoint``, ``gel``, ``marker``, ``pencil`` or ``mnist`` (MNIST's own stroke).
        colour: BGR ink colour 0..1.
        opacity: how much light the ink absorbs where it fully covers the paper.
        width: stroke width as a fraction of the digit height (the pen's width on paper is
            fixed, so smaller digits get relatively thicker strokes - see :meth:`width_px`).
        width_abs: the pen's width in pixels on a digit of reference height 60 px.
    """

    kind: str
    colour: tuple[float, float, float]
    opacity: float
    width_abs: float

    def width_px(self, height: int) -> float:
        """Stroke width in output pixels for a digit ``height`` px tall.

        Writing larger barely changes the pen; the camera's distance does. Both are folded
        into one rule: width grows with the square root of the digit height.
        """
        return self.width_abs * (height / 60.0) ** 0.5


def random_pen(rng: np.random.Generator) -> Pen:
    """A writer's pen: ballpoint and gel pens mostly, markers, pencils, MNIST-like blobs."""
    kind = str(rng.choice(["ballpoint", "gel", "marker", "pencil", "mnist"],
                          p=[0.35, 0.2, 0.15, 0.15, 0.15]))  # fmt: skip
    if kind == "pencil":
        colour, opacity, width = INKS["graphite"], rng.uniform(0.35, 0.8), rng.uniform(1.2, 3.5)
    elif kind == "marker":
        name = str(rng.choice(["black", "blue", "red", "green", "black"]))
        colour, opacity, width = INKS[name], rng.uniform(0.85, 1.0), rng.uniform(5.0, 11.0)
    else:
        name = str(rng.choice(["black", "blue", "navy", "blue", "black", "red"]))
        thin = (1.0, 3.0) if kind == "ballpoint" else (2.0, 4.5)
        colour, opacity, width = INKS[name], rng.uniform(0.75, 1.0), rng.uniform(*thin)
    colour = tuple(float(c) for c in np.clip(np.array(colour) * rng.uniform(0.8, 1.25), 0, 1))
    return Pen(kind, colour, float(opacity), float(width))


def paper(size: tuple[int, int], rng: np.random.Generator, name: str | None = None) -> np.ndarray:
    """A sheet of paper filling ``size`` (width, height): colour, brightness and grain."""
    w, h = size
    if name is None:
        names = list(PAPER_ODDS)
        name = str(rng.choice(names, p=[PAPER_ODDS[n] for n in names]))
    tint = np.array(PAPERS[name]) * rng.uniform(0.85, 1.03) * (1 + rng.uniform(-0.03, 0.03, 3))
    page = np.empty((h, w, 3), np.float32)
    page[:] = np.clip(tint, 0.2, 1.0)
    coarse = cv2.resize(
        rng.normal(0, 1, (max(2, h // 40), max(2, w // 40))).astype(np.float32),
        (w, h), interpolation=cv2.INTER_CUBIC,
    )  # fmt: skip
    fine = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=np.float32), (3, 3), 0.8)
    grain = coarse * rng.uniform(0.005, 0.025) + fine * rng.uniform(0.004, 0.015)
    return page * (1 + grain[..., None])


def darken(page: np.ndarray, mask: np.ndarray, colour, strength: float) -> None:
    """Print lines or patterns (coverage ``mask``) by darkening the paper towards ``colour``."""
    page *= 1 - (mask * strength)[..., None] * (1 - np.asarray(colour, np.float32))


def rulings(page: np.ndarray, spacing: float, rng: np.random.Generator, odds=None) -> str:
    """Ruled, squared, dotted or margin lines, drawn in place; returns the kind drawn."""
    h, w = page.shape[:2]
    kinds = ["none", "ruled", "grid", "dots"]
    kind = str(rng.choice(kinds, p=odds or [0.4, 0.3, 0.22, 0.08]))
    colour = np.array(rng.choice([[0.95, 0.78, 0.62], [0.8, 0.8, 0.8], [0.9, 0.72, 0.7],
                                  [0.6, 0.85, 0.6]]))  # fmt: skip
    strength = rng.uniform(0.2, 0.75)
    thick = int(rng.integers(1, 3 if max(h, w) < 1500 else 5))
    mask = np.zeros((h, w), np.float32)
    step = spacing * (0.5 if kind in ("grid", "dots") else 1.0)
    step = max(step, 6.0)
    if kind == "ruled" or kind == "grid":
        for y in np.arange(rng.uniform(0, step), h, step):
            cv2.line(mask, (0, int(y)), (w, int(y)), 1.0, thick, cv2.LINE_AA)
    if kind == "grid":
        for x in np.arange(rng.uniform(0, step), w, step):
            cv2.line(mask, (int(x), 0), (int(x), h), 0.8, thick, cv2.LINE_AA)
    if kind == "dots":
        for y in np.arange(rng.uniform(0, step), h, step):
            for x in np.arange(rng.uniform(0, step), w, step):
                cv2.circle(mask, (int(x), int(y)), thick, 1.0, -1, cv2.LINE_AA)
    if kind != "none":
        darken(page, mask, colour, strength)
    if rng.random() < 0.2:
        mask[:] = 0
        x = int(rng.uniform(0.05, 0.25) * w)
        cv2.line(mask, (x, 0), (x, h), 1.0, max(2, thick), cv2.LINE_AA)
        darken(page, mask, (0.55, 0.5, 0.95), rng.uniform(0.4, 0.8))
    return kind


def security_pattern(page: np.ndarray, rng: np.random.Generator) -> None:
    """The fine wavy lines printed behind a cheque's amount box (a guilloche), in place."""
    h, w = page.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3.0, 8.0)
    wave = rng.uniform(2.0, 10.0)
    phase = np.sin(xx / rng.uniform(8, 30)) * wave + yy * rng.uniform(-0.5, 0.5)
    lines = (0.5 + 0.5 * np.cos(2 * np.pi * (yy + phase) / period)) ** 4
    colour = np.array(rng.choice([[0.8, 0.7, 0.5], [0.6, 0.8, 0.8], [0.8, 0.6, 0.8]]))
    darken(page, lines.astype(np.float32), colour, rng.uniform(0.15, 0.5))


def stamp(page: np.ndarray, ink: np.ndarray, x: int, y: int, pen: Pen,
          rng: np.random.Generator) -> None:  # fmt: skip
    """Write ink coverage ``ink`` (h, w 0..1) onto the page at (x, y) with ``pen``, in place.

    Pressure varies along a stroke (a smooth random field); graphite sits only on the paper's
    tooth, so pencil strokes are grainy and broken.
    """
    h, w = ink.shape
    ph, pw = page.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(pw, x + w), min(ph, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    a = ink[y0 - y : y1 - y, x0 - x : x1 - x]
    rh, rw = a.shape
    pressure = cv2.resize(rng.uniform(0.65, 1.0, (max(2, rh // 12), max(2, rw // 12))),
                          (rw, rh), interpolation=cv2.INTER_LINEAR).astype(np.float32)  # fmt: skip
    a = a * pressure * pen.opacity
    if pen.kind == "pencil":
        tooth = cv2.GaussianBlur(rng.uniform(0, 1, (rh, rw)).astype(np.float32), (0, 0), 1.0)
        a = a * np.clip(0.5 + 2.0 * (tooth - 0.5) + 0.3, 0, 1)
    region = page[y0:y1, x0:x1]
    region *= 1 - a[..., None] * (1 - np.asarray(pen.colour, np.float32))


def light(size: tuple[int, int], rng: np.random.Generator, *, shadow_odds: float = 0.5,
          vignette: float = 0.35) -> np.ndarray:  # fmt: skip
    """Illumination: a gradient, vignetting, sometimes a hand's or phone's shadow and glare."""
    w, h = size
    # The light field is smooth: make it small and scale it up.
    sw, sh = max(8, w // 8), max(8, h // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xx, yy = xx * (w / sw), yy * (h / sh)
    theta = rng.uniform(0, 2 * np.pi)
    t = ((xx - w / 2) * np.cos(theta) + (yy - h / 2) * np.sin(theta)) / max(w, h)
    field = 1 + t * rng.uniform(0, 0.7)
    r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    field *= 1 - rng.uniform(0, vignette) * r2
    field = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < shadow_odds:
        field *= 1 - _shadow((w, h), rng) * rng.uniform(0.2, 0.6)
    if rng.random() < 0.12:
        # Glare: a bright patch where the lamp reflects, washing out the ink under it.
        glare = np.zeros((sh, sw), np.float32)
        centre = (int(rng.uniform(0.1, 0.9) * sw), int(rng.uniform(0.1, 0.9) * sh))
        axes = (int(rng.uniform(0.05, 0.3) * sw) + 1, int(rng.uniform(0.05, 0.3) * sh) + 1)
        cv2.ellipse(glare, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
        glare = cv2.GaussianBlur(glare, (0, 0), max(axes) * 0.4 + 1)
        field = field + cv2.resize(glare, (w, h)) * rng.uniform(0.2, 0.6)
    return (field / max(float(field.max()), 1e-3) * rng.uniform(0.7, 1.0)).astype(np.float32)


def _shadow(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A hand's or a phone's shadow coming in from one side: soft or hard-edged.

    Drawn at a quarter of the size (an eighth for soft ones) and scaled up: a shadow's edge
    is never sharper than the lamp allows, and full-size blurs of big kernels are slow.
    """
    w, h = size
    hard = rng.random() < 0.5
    f = 4 if hard else 8
    sw, sh = max(4, w // f), max(4, h // f)
    mask = np.zeros((sh, sw), np.float32)
    if rng.random() < 0.5:
        cx = rng.uniform(-0.2, 1.2) * sw
        cy = rng.choice([rng.uniform(-0.3, 0.1), rng.uniform(0.9, 1.3)]) * sh
        axes = (int(rng.uniform(0.3, 0.8) * sw), int(rng.uniform(0.3, 0.7) * sh))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    else:
        # A phone or a hand held above the page: a polygon from one edge.
        side = int(rng.integers(4))
        depth = rng.uniform(0.2, 0.7)
        a, b = sorted(rng.uniform(-0.2, 1.2, 2))
        corner = rng.uniform(0, 0.15)
        pts = np.array([[a, 0], [b, 0], [b - corner, depth], [a + corner, depth]])
        if side == 1:
            pts = pts[:, ::-1]
        elif side == 2:
            pts[:, 1] = 1 - pts[:, 1]
        elif side == 3:
            pts = pts[:, ::-1]
            pts[:, 0] = 1 - pts[:, 0]
        cv2.fillPoly(mask, [(pts * [sw, sh]).astype(np.int32)], 1.0, cv2.LINE_AA)
    sigma = max(sw, sh) * (rng.uniform(0.004, 0.015) if hard else rng.uniform(0.02, 0.06))
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, sigma))
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)


def pose(size: tuple[int, int], rng: np.random.Generator, *, table: bool,
         max_angle: float = 10.0) -> np.ndarray:  # fmt: skip
    """A camera pose as a homography: rotation, zoom, mild perspective, a little shift."""
    w, h = size
    angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
    zoom = rng.uniform(0.55, 0.85) if table else rng.uniform(1.0, 1.15)
    c, s = np.cos(angle) * zoom, np.sin(angle) * zoom
    centre = np.array([w / 2, h / 2])
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = (src - centre) @ np.float32([[c, s], [-s, c]]) + centre
    dst += rng.uniform(-0.04, 0.04, (4, 2)) * [w, h]
    dst += rng.uniform(-0.05, 0.05, 2) * [w, h] * (1 if table else 0.3)
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def table_top(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """What lies beyond the sheet: a dark or mid-grey table, plain or with a wood-like grain."""
    w, h = size
    top = np.empty((h, w, 3), np.float32)
    top[:] = rng.uniform(0.1, 0.6, 3)
    if rng.random() < 0.3:
        streaks = cv2.resize(rng.normal(0, 1, (max(2, h // 3), 4)).astype(np.float32), (w, h),
                             interpolation=cv2.INTER_CUBIC)  # fmt: skip
        top *= (1 + rng.uniform(0.02, 0.06) * streaks)[..., None]
    return top


@dataclass(frozen=True)
class Camera:
    """The camera's choices for one photo (drawn by :func:`random_camera`)."""

    homography: np.ndarray
    table: bool
    blur: float
    motion: float
    noise: float
    jpeg: int
    soften: float  # < 1: the sensor's resolution is lower than the frame's (a webcam)
    cast: tuple[float, float, float]


def random_camera(size: tuple[int, int], rng: np.random.Generator, *, table_odds: float = 0.2,
                  max_angle: float = 10.0) -> Camera:  # fmt: skip
    table = bool(rng.random() < table_odds)
    return Camera(
        homography=pose(size, rng, table=table, max_angle=max_angle),
        table=table,
        blur=float(rng.uniform(0.3, 1.6)) if rng.random() < 0.7 else 0.0,
        motion=float(rng.uniform(2, 6)) if rng.random() < 0.08 else 0.0,
        noise=float(rng.uniform(1.0, 7.0)),
        jpeg=int(rng.integers(35, 96)),
        soften=float(rng.uniform(0.45, 0.9)) if rng.random() < 0.25 else 1.0,
        cast=tuple(float(v) for v in 1 + rng.uniform(-0.08, 0.08, 3)),
    )


def shoot(page: np.ndarray, camera: Camera, lighting: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Photograph ``page`` (float BGR) with ``camera`` under ``lighting``: uint8 BGR."""
    h, w = page.shape[:2]
    if camera.table:
        back = table_top((w, h), rng)
        warped = cv2.warpPerspective(
            page, camera.homography, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)
        )
        inside = cv2.warpPerspective(np.ones((h, w), np.float32), camera.homography, (w, h))
        warped = warped + back * (1 - inside[..., None])
    else:
        warped = cv2.warpPerspective(page, camera.homography, (w, h),
                                     borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    warped *= lighting[..., None] * np.asarray(camera.cast, np.float32)
    if camera.blur:
        warped = cv2.GaussianBlur(warped, (0, 0), camera.blur * max(1.0, max(w, h) / 1280))
    if camera.motion:
        k = int(camera.motion * max(1.0, max(w, h) / 1280)) | 1
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        warped = cv2.filter2D(warped, -1, kernel / max(float(kernel.sum()), 1e-6))
    if camera.soften < 1.0:
        small = (max(1, int(w * camera.soften)), max(1, int(h * camera.soften)))
        warped = cv2.resize(cv2.resize(warped, small, interpolation=cv2.INTER_AREA), (w, h),
                            interpolation=cv2.INTER_LINEAR)  # fmt: skip
    warped *= 255.0
    warped += rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(camera.noise)
    warped += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(camera.noise * 0.4)
    image = np.clip(warped, 0, 255).astype(np.uint8)
    _, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def move_box(box: tuple[int, int, int, int], homography: np.ndarray) -> tuple[int, int, int, int]:
    """The axis-aligned box around a box's corners after a homography."""
    x, y, bw, bh = box
    corners = np.float32([[[x, y]], [[x + bw, y]], [[x + bw, y + bh]], [[x, y + bh]]])
    moved = cv2.perspectiveTransform(corners, homography)[:, 0]
    x0, y0 = np.floor(moved.min(axis=0)).astype(int)
    x1, y1 = np.ceil(moved.max(axis=0)).astype(int)
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
