"""What pixel values mean: the one policy for bit depth and transparency.

An image arrives as a file (:mod:`edge_app.imageio` decodes it) or as an array (the camera, a
caller of :func:`edge_app.vision.find_digits`, a drawing); both go through these two functions,
so a picture means the same whichever way it came in.

* :func:`to_uint8`: any numeric image -> uint8 0..255 without changing what it shows;
* :func:`flatten_alpha`: a transparent image -> an opaque one, on paper of the opposite
  brightness to its visible strokes (dark ink on clear goes on white, light ink on clear on
  black), so a digit drawn on a transparent canvas survives in either colour.

numpy only: this is the bottom floor, importable by everything (no OpenCV, no Pillow).
"""

from __future__ import annotations

import numpy as np

from edge_app.errors import ImageError

#: BGR weights of the gray an ink level is judged by (ITU-R BT.601, as OpenCV's BGR2GRAY).
_GRAY_WEIGHTS = np.array([0.114, 0.587, 0.299], np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert any numeric image to uint8 0..255 without changing its meaning.

    bool -> 0/255; uint16 -> scaled from 0..65535; float -> 0..1 scaled to 0..255 when its
    maximum is at most 1, else clipped to 0..255 (NaN -> 0); other integers: taken as they are
    when they fit 0..255, scaled from 0..65535 when that is their range (16-bit data in 32-bit
    ints, as Pillow reads some PNGs), else stretched from 0 to their maximum.

    Raises:
        ImageError: the dtype is not numeric.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * np.uint8(255)
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)  # the high byte: 0..65535 -> 0..255
    if np.issubdtype(image.dtype, np.floating):
        data = np.nan_to_num(image.astype(np.float32, copy=False), nan=0.0, posinf=255.0)
        if data.size and float(data.max()) <= 1.0:
            data = data * 255.0
        return np.clip(data, 0, 255).astype(np.uint8)
    if np.issubdtype(image.dtype, np.integer):
        top = int(image.max(initial=0))
        if top <= 255:
            return np.clip(image, 0, 255).astype(np.uint8)
        if top <= 65535:
            return (np.clip(image, 0, 65535) >> 8).astype(np.uint8)
        return (np.clip(image, 0, None).astype(np.float64) * (255.0 / top)).astype(np.uint8)
    raise ImageError(f"unsupported image dtype {image.dtype}")


def flatten_alpha(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite gray ``(h, w)`` or BGR ``(h, w, 3)`` pixels with ``alpha`` onto plain paper.

    The paper is black when the mostly opaque pixels are light (light ink), else white.

    Returns:
        uint8, the shape of ``color``.
    """
    color = to_uint8(color)
    a = to_uint8(alpha).astype(np.float32) / 255.0
    opaque = a > 0.5
    if opaque.any():
        visible = color[opaque].astype(np.float32)
        ink_level = float((visible @ _GRAY_WEIGHTS).mean() if color.ndim == 3 else visible.mean())
    else:
        ink_level = 0.0
    paper = 0.0 if ink_level > 127 else 255.0
    if color.ndim == 3:
        a = a[..., None]
    return np.round(color.astype(np.float32) * a + paper * (1.0 - a)).astype(np.uint8)
