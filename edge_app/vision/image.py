"""Input normalisation: any image array -> a bounded-size uint8 gray working image.

Bit depth and transparency follow :mod:`edge_app.pixels`, as for an image read from a file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from edge_app.errors import ImageError
from edge_app.pixels import flatten_alpha, to_uint8

log = logging.getLogger(__name__)

# Beyond this many pixels an input is not a photo but a mistake (or an attack).
MAX_INPUT_PIXELS = 1 << 30
# Inputs larger than this are subsampled by striding before anything else: a 24-megapixel gray
# copy is 24 MB and digits readable in it stay readable at half the resolution.
MAX_GRAY_PIXELS = 24_000_000

Box = tuple[int, int, int, int]


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) of an image of that size resized by ``scale``, at least 1 px a side."""
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True)
class Source:
    """The input as one gray image, and the way back to the input's pixel coordinates.

    Attributes:
        gray: (h, w) uint8 gray image of the whole input (subsampled if it was huge).
        scale: ``gray`` pixels per input pixel (1.0 unless subsampled).
        original_size: (width, height) of the input image.
    """

    gray: np.ndarray
    scale: float
    original_size: tuple[int, int]

    def view(self, scale: float, roi: Box | None = None) -> np.ndarray:
        """The part ``roi`` (x, y, w, h in ``gray`` pixels; None = all) resized by ``scale``.

        Shrinking averages pixels (INTER_AREA); enlarging interpolates (INTER_LINEAR_EXACT:
        integer arithmetic, the same result on x86_64 and ARM).
        """
        x, y, w, h = roi if roi is not None else (0, 0, self.gray.shape[1], self.gray.shape[0])
        crop = self.gray[y : y + h, x : x + w]
        size = _scaled(w, h, scale)
        if size == (w, h):
            return np.ascontiguousarray(crop)
        method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR_EXACT
        return cv2.resize(crop, size, interpolation=method)

    def thumbnail(self, side: int) -> np.ndarray:
        """The whole image shrunk to at most ``side`` px a side, for judging it as a whole (its
        median, where its bright part is): ``view`` at that scale, only faster. OpenCV shrinks
        fast by a whole factor only; by any other it is halved first while over twice as big
        (a 12 MP photo's thumbnail took 27 ms in one step, 5 ms so).
        """
        height, width = self.gray.shape
        scale = min(1.0, side / max(height, width))
        size = _scaled(width, height, scale)
        if size == (width, height):
            return np.ascontiguousarray(self.gray)
        small = self.gray
        if width % size[0] or height % size[1]:
            while small.shape[1] >= 2 * size[0] and small.shape[0] >= 2 * size[1]:
                even = small[: small.shape[0] // 2 * 2, : small.shape[1] // 2 * 2]
                small = cv2.resize(even, (even.shape[1] // 2, even.shape[0] // 2),
                                   interpolation=cv2.INTER_AREA)  # fmt: skip
        return cv2.resize(small, size, interpolation=cv2.INTER_AREA)

    def box_to_original(self, x: float, y: float, w: float, h: float) -> Box:
        """Map a box in ``gray`` pixels to the input image's pixel coordinates (clipped)."""
        width, height = self.original_size
        x0 = int(np.floor(x / self.scale))
        y0 = int(np.floor(y / self.scale))
        x1 = int(np.ceil((x + w) / self.scale))
        y1 = int(np.ceil((y + h) / self.scale))
        x0, y0 = max(0, min(x0, width - 1)), max(0, min(y0, height - 1))
        x1, y1 = max(x0 + 1, min(x1, width)), max(y0 + 1, min(y1, height))
        return x0, y0, x1 - x0, y1 - y0


def _check_shape(image: np.ndarray) -> None:
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise ImageError(
            f"expected a gray (H, W) or colour (H, W, 3|4) image, got shape {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"image is empty (shape {image.shape})")
    if image.shape[0] * image.shape[1] > MAX_INPUT_PIXELS:
        raise ImageError(f"image is too large ({image.shape[1]}x{image.shape[0]} pixels)")


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return a (H, W) uint8 gray image from gray, gray+alpha, BGR or BGRA input.

    Raises:
        ImageError: wrong number of dimensions/channels, empty or unsupported dtype.
    """
    image = np.asarray(image)
    _check_shape(image)
    image = to_uint8(image)
    if image.ndim == 2:
        return image
    channels = image.shape[2]
    if channels == 1:
        return image[:, :, 0]
    if channels == 2:
        gray, alpha = image[:, :, 0], image[:, :, 1]
    elif channels == 3:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY)
    else:
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2GRAY)
        alpha = image[:, :, 3]
    if alpha.min() == 255:
        return np.ascontiguousarray(gray)
    return flatten_alpha(gray, alpha)


def load(image: np.ndarray) -> Source:
    """Any input array -> the gray :class:`Source` the vision step works from.

    Raises:
        ImageError: the array is not an image (see :func:`to_gray`).
    """
    image = np.asarray(image)
    _check_shape(image)
    height, width = image.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(height * width / MAX_GRAY_PIXELS))))
    if step > 1:  # a strided view: no full-size copy of a huge input is made
        image = image[::step, ::step]
    gray = np.ascontiguousarray(to_gray(image))
    return Source(gray=gray, scale=1.0 / step, original_size=(width, height))
