"""What the bytes of a request mean: an image to read, or one digit to classify.

Runs on the reader thread (decoding is CPU work). Decoding is :func:`edge_app.imageio.decode_image`
- the same code ``digits-predict`` reads files with - behind two checks a server needs and a
command line does not: the pixel count is read from the header and refused before anything is
decoded, and a failure is named either ``not_an_image`` (no known format) or ``corrupt_image``
(a known format that does not decode: truncated, damaged).

A digit for ``/v1/classify`` is either 28x28 pixels given as numbers (MNIST's convention: white
ink on black, 0..255) or an image of one digit - a drawing, a crop - of any size and either
polarity, which is framed the way MNIST was made by :func:`edge_app.vision.frame_digit`, the
framing the camera path and the app's draw mode use.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_app.contract import IMAGE_SIZE
from edge_app.errors import ImageError
from edge_app.imageio import decode_image
from edge_app.serve.errors import ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """An image as sent: its bytes and, for a multipart upload, the file name given."""

    data: bytes
    filename: str | None = None

    @property
    def source(self) -> str:
        """How error messages name it."""
        return f"'{self.filename}'" if self.filename else "the body"


# The first bytes of the formats people upload: a file that starts like one of these but does
# not decode is a damaged image (cut off in transfer), not some other kind of file.
_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF, little endian
    b"MM\x00*",  # TIFF, big endian
)


def _looks_like_an_image(data: bytes) -> bool:
    return data.startswith(_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _header_size(data: bytes, source: str) -> tuple[int, int] | None:
    """``(width, height)`` from the header, or None when Pillow does not know the format.

    Raises:
        ApiError: ``image_too_large`` when Pillow's own bomb guard refuses to open it.
    """
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return img.size
    except Image.DecompressionBombError as exc:
        raise ApiError(
            "image_too_large", f"{source} is too large to decode safely ({exc})"
        ) from exc
    except Exception:  # unknown format: OpenCV may still read it
        return None


def _too_large(source: str, width: int, height: int, max_pixels: int) -> ApiError:
    return ApiError(
        "image_too_large",
        f"{source} is {width}x{height} ({width * height / 1e6:.1f} MP); this server accepts "
        f"up to {max_pixels / 1e6:g} MP (--max-megapixels)",
    )


def decode_upload(upload: Upload, max_pixels: int) -> np.ndarray:
    """Decode an uploaded image to uint8 BGR or gray (EXIF orientation applied).

    Raises:
        ApiError: ``image_too_large``, ``not_an_image``, ``corrupt_image``.
    """
    size = _header_size(upload.data, upload.source)
    if size is not None and size[0] * size[1] > max_pixels:
        raise _too_large(upload.source, *size, max_pixels)
    try:
        image = decode_image(upload.data, source=upload.source)
    except ImageError as exc:
        known = size is not None or _looks_like_an_image(upload.data)
        raise ApiError("corrupt_image" if known else "not_an_image", str(exc)) from exc
    if image.shape[0] * image.shape[1] > max_pixels:  # a format only OpenCV knows
        raise _too_large(upload.source, image.shape[1], image.shape[0], max_pixels)
    return image


def digit_from_image(image: np.ndarray) -> np.ndarray:
    """One digit's image -> the model's 28x28 input (:func:`edge_app.collect.digit_input`:
    the border decides the paper, a 28x28 image is taken as framed, any other is framed like
    MNIST).

    Raises:
        ApiError: ``bad_digit`` when the image holds no ink.
    """
    from edge_app.collect import digit_input

    try:
        return digit_input(image)
    except ImageError as exc:
        raise ApiError("bad_digit", str(exc)) from exc


def digit_from_pixels(value: Any) -> np.ndarray:
    """JSON ``pixels`` (28 rows of 28 numbers, or 784 numbers; white ink on black, 0..255) ->
    the model's input.

    Raises:
        ApiError: ``bad_digit`` naming what is wrong with the array.
    """
    if not isinstance(value, list):
        raise ApiError("bad_digit", f"'pixels' must be a list of numbers, not {_kind(value)}")
    if value and all(isinstance(row, list) for row in value):
        if len(value) != IMAGE_SIZE or any(len(row) != IMAGE_SIZE for row in value):
            shape = f"{len(value)} rows of " + "/".join(sorted({str(len(r)) for r in value}))
            raise ApiError("bad_digit", f"'pixels' must be 28 rows of 28 numbers, got {shape}")
        flat = [v for row in value for v in row]
    else:
        flat = value
    if len(flat) != IMAGE_SIZE * IMAGE_SIZE:
        raise ApiError(
            "bad_digit", f"'pixels' must hold 784 numbers (28x28), got {len(flat)} values"
        )
    bad = next(
        (v for v in flat if isinstance(v, bool) or not isinstance(v, int | float)),
        None,
    )
    if bad is not None or any(not math.isfinite(v) for v in flat):
        shown = bad if bad is not None else "a non-finite number"
        raise ApiError("bad_digit", f"'pixels' must hold numbers only, found {shown!r}")
    pixels = np.asarray(flat, dtype=np.float64)
    if pixels.min() < 0 or pixels.max() > 255:
        raise ApiError(
            "bad_digit",
            f"'pixels' must be within 0..255 (white ink on black), got "
            f"{pixels.min():g}..{pixels.max():g}",
        )
    return np.round(pixels).astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
