"""Read any image file into a uint8 numpy array the vision step understands (BGR or gray).

OpenCV decodes first (fast, from bytes, so non-ASCII paths work on every OS); Pillow is the
fallback for what OpenCV cannot read (GIF, some TIFFs, ...). Whatever decodes it, the result is
normalised the same way, and by the same rules (:mod:`edge_app.pixels`) as an array handed
to the vision step:

* EXIF orientation is applied (a phone photo taken upright is read upright);
* 16-bit and float images are scaled to 8 bits;
* transparency is composited onto paper that contrasts with the visible strokes (dark ink on
  a transparent canvas lands on white, light ink on black, so neither vanishes);
* palette images are expanded.

Anything that is not a readable image - missing, empty, truncated, not an image, zero-size or
absurdly large (a decompression bomb) - raises :class:`~edge_app.errors.ImageError` with a
message a user can act on. That one message is all the user sees: what libpng and libjpeg
inside OpenCV print about a damaged file straight to stderr is dropped (shown with debug
logging, ``-v``).
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import numpy as np

from edge_app.errors import ImageError
from edge_app.native_output import quiet_native_output
from edge_app.pixels import flatten_alpha, to_uint8

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 256 * 1024 * 1024
"""Files larger than this are refused before reading them (no photo is this big)."""

MAX_PIXELS = 50_000_000
"""Images above this many pixels are decoded at 1/2, 1/4 or 1/8 scale when the format allows
it (JPEG), refused otherwise. 50 MP keeps a decoded BGR frame under 150 MB."""

#: What OpenCV's libpng and libjpeg print to fd 2 about a damaged file (libjpeg's warnings;
#: its errors go through OpenCV's handler, which prints nothing), and OpenCV's own log lines.
DECODER_NOISE: tuple[str, ...] = (
    "libpng warning",
    "libpng error",
    "Corrupt JPEG data",
    "Premature end of JPEG file",
    "Invalid SOS parameters for sequential JPEG",
    "Inconsistent progression sequence",
    "Unknown Adobe color transform code",
    "Warning: unknown JFIF revision number",
    "Application transferred too many scanlines",
    "[ WARN:",
    "[ERROR:",
)

_EXIF_ORIENTATION = 0x0112
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_REDUCED_FLAGS = {
    2: "IMREAD_REDUCED_COLOR_2",
    4: "IMREAD_REDUCED_COLOR_4",
    8: "IMREAD_REDUCED_COLOR_8",
}


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8, BGR ``(h, w, 3)`` or gray ``(h, w)``.

    Args:
        path: any image file OpenCV or Pillow can read (JPEG, PNG, BMP, TIFF, WebP, GIF, ...).

    Returns:
        A C-contiguous uint8 array, upright (EXIF orientation applied), alpha flattened
        (:func:`edge_app.pixels.flatten_alpha`).

    Raises:
        ImageError: the file is missing, empty, truncated, not an image, has zero size, or is
            too large to decode safely.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageError(f"{path} is a directory, not an image")
        size = path.stat().st_size
        if size == 0:
            raise ImageError(f"{path} is empty (0 bytes)")
        if size > MAX_FILE_BYTES:
            raise ImageError(
                f"{path} is {size / 2**20:.0f} MB; refusing files above "
                f"{MAX_FILE_BYTES // 2**20} MB"
            )
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageError(f"{path}: no such file") from exc
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return decode_image(data, source=str(path))


def decode_image(data: bytes, *, source: str = "image") -> np.ndarray:
    """Decode the bytes of an image file; see :func:`load_image` (``source`` names it in errors)."""
    if not data:
        raise ImageError(f"{source} is empty (0 bytes)")
    header = _peek(data, source)  # (format, width, height, orientation) or None
    reduce = 1
    if header is not None:
        fmt, width, height, _ = header
        if width <= 0 or height <= 0:
            raise ImageError(f"{source} has zero size ({width}x{height})")
        pixels = width * height
        if pixels > MAX_PIXELS:
            reduce = _reduction(pixels) if fmt == "JPEG" else 0
            if not reduce:
                raise ImageError(
                    f"{source} is {width}x{height} ({pixels / 1e6:.0f} MP); refusing images above "
                    f"{MAX_PIXELS / 1e6:.0f} MP (possible decompression bomb)"
                )
            log.info("%s is %dx%d; decoding at 1/%d scale", source, width, height, reduce)
    image = _decode_cv2(data, reduce)
    if image is None:
        image = _decode_pillow(data, source)
    elif header is not None:
        image = _orient(image, header[3])
    image = _to_uint8_bgr_or_gray(image)
    if image.size == 0:
        raise ImageError(f"{source} has zero size")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise ImageError(
            f"{source} is {image.shape[1]}x{image.shape[0]}; refusing images above "
            f"{MAX_PIXELS / 1e6:.0f} MP (possible decompression bomb)"
        )
    return np.ascontiguousarray(image)


def _reduction(pixels: int) -> int:
    for factor in (2, 4, 8):
        if pixels / (factor * factor) <= MAX_PIXELS:
            return factor
    return 0


def _peek(data: bytes, source: str) -> tuple[str, int, int, int] | None:
    """Format, size and EXIF orientation from the header only (Pillow opens lazily).

    Returns None when Pillow is missing or does not know the format (OpenCV may still).

    Raises:
        ImageError: Pillow's own bomb guard refuses to even open it.
    """
    try:
        from PIL import Image
    except ImportError:  # Pillow is optional for OpenCV-readable files
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit decides
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                try:
                    orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1))
                except Exception:  # a broken EXIF block must not make the photo unreadable
                    orientation = 1
                return (img.format or "", width, height, orientation)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{source} is too large to decode safely ({exc})") from exc
    except Exception:
        return None


def _decode_cv2(data: bytes, reduce: int) -> np.ndarray | None:
    try:
        import cv2
    except ImportError:
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    flags = cv2.IMREAD_UNCHANGED  # keeps 16-bit and alpha; ignores EXIF (we apply it ourselves)
    if reduce > 1:
        flags = getattr(cv2, _REDUCED_FLAGS[reduce]) | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        with quiet_native_output(not log.isEnabledFor(logging.DEBUG), DECODER_NOISE):
            image = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        log.debug("OpenCV cannot decode: %s", exc)
        return None
    if image is None or image.size == 0:
        return None
    if image.ndim == 3 and image.shape[2] == 4:
        image = flatten_alpha(image[..., :3], image[..., 3])
    elif image.ndim == 3 and image.shape[2] == 2:  # gray + alpha
        image = flatten_alpha(image[..., 0], image[..., 1])
    return image


def _decode_pillow(data: bytes, source: str) -> np.ndarray:
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as exc:
        raise ImageError(f"{source}: OpenCV cannot decode it and Pillow is not installed") from exc
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = np.asarray(img)
                return to_uint8(arr)
            if img.mode in _ALPHA_MODES:
                rgba = np.asarray(img.convert("RGBA"))
                return flatten_alpha(rgba[..., 2::-1], rgba[..., 3])
            if img.mode == "L":
                return np.asarray(img)
            rgb = np.asarray(img.convert("RGB"))
            return rgb[..., ::-1]
    except UnidentifiedImageError as exc:
        raise ImageError(f"{source} is not an image (unknown or unsupported format)") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{source} is too large to decode safely ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow says "image file is truncated", "broken data stream", ...
        raise ImageError(f"{source} is truncated or corrupt ({exc})") from exc


def _to_uint8_bgr_or_gray(image: np.ndarray) -> np.ndarray:
    image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] > 3:
        image = image[..., :3]
    return image


def _orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation tag (1..8) to an array decoded without it."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:  # transpose
        return np.swapaxes(image, 0, 1)
    if orientation == 6:  # rotate 90 clockwise
        return np.rot90(image, -1)
    if orientation == 7:  # transverse (mirror about the anti-diagonal)
        return np.swapaxes(image, 0, 1)[::-1, ::-1]
    if orientation == 8:  # rotate 90 counter-clockwise
        return np.rot90(image, 1)
    return image
