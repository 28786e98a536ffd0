"""load_image: every image file a user may hand over, and every way one can be broken."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from edge_app import imageio
from edge_app.errors import ImageError
from edge_app.imageio import decode_image, load_image


def scene(h: int = 60, w: int = 80) -> np.ndarray:
    """A BGR picture with no symmetry, so any flip or rotation shows."""
    img = np.full((h, w, 3), 230, np.uint8)
    img[5:20, 5:40] = (10, 20, 200)  # a red block top-left
    img[30:55, 50:60] = (200, 30, 10)  # a blue bar lower right
    return img


def write_cv2(path: Path, image: np.ndarray, *params: int) -> Path:
    ok, buf = cv2.imencode(path.suffix, image, list(params))
    assert ok
    path.write_bytes(buf.tobytes())
    return path


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".webp"])
def test_lossless_formats_round_trip(tmp_path, suffix):
    if suffix == ".webp":
        img = scene()
        path = write_cv2(tmp_path / f"a{suffix}", img, cv2.IMWRITE_WEBP_QUALITY, 101)
    else:
        img = scene()
        path = write_cv2(tmp_path / f"a{suffix}", img)
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == img.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, img)


def test_jpeg_and_gray(tmp_path):
    img = scene()
    out = load_image(write_cv2(tmp_path / "a.jpg", img, cv2.IMWRITE_JPEG_QUALITY, 95))
    assert out.shape == img.shape and np.abs(out.astype(int) - img).mean() < 4
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    out = load_image(write_cv2(tmp_path / "g.png", gray))
    assert out.shape == gray.shape
    np.testing.assert_array_equal(out, gray)


def test_non_ascii_path(tmp_path):
    img = scene()
    path = write_cv2(tmp_path / "café ünïcødé 数字.png", img)
    np.testing.assert_array_equal(load_image(path), img)


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    gray16 = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    out = load_image(write_cv2(tmp_path / "deep.png", gray16))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, (gray16 >> 8).astype(np.uint8))


def test_transparent_canvas_becomes_white_paper(tmp_path):
    """A digit drawn in black on a transparent canvas (RGB all zero) must not read as black."""
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 18:22, 3] = 255  # opaque black stroke, transparent elsewhere
    rgba[5, 5, 3] = 128  # half-transparent black pixel
    out = load_image(write_cv2(tmp_path / "canvas.png", rgba))
    assert out.shape == (40, 40, 3)
    assert (out[0, 0] == 255).all() and (out[20, 20] == 0).all()
    assert abs(int(out[5, 5, 0]) - 127) <= 1


def test_palette_gif_with_transparency_goes_through_pillow(tmp_path):
    pal = Image.new("P", (30, 20), 0)
    pal.putpalette([255, 0, 0, 0, 0, 0] + [0] * 762)
    pal.paste(1, (10, 5, 20, 15))
    path = tmp_path / "p.gif"
    pal.save(path, transparency=0)
    out = load_image(path)
    assert out.shape == (20, 30, 3)
    assert (out[0, 0] == 255).all()  # transparent red -> white paper
    assert (out[10, 15] == 0).all()  # opaque black


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(tmp_path, orientation):
    img = scene()
    pil = Image.fromarray(img[..., ::-1])
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    pil.save(path, quality=95, exif=exif)
    with Image.open(path) as ref_img:
        expected = np.asarray(ImageOps.exif_transpose(ref_img).convert("RGB"))[..., ::-1]
    out = load_image(path)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).mean() < 2


def test_pillow_fallback_is_oriented_too(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio, "_decode_cv2", lambda data, reduce: None)
    img = scene()
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "o6.jpg"
    Image.fromarray(img[..., ::-1]).save(path, quality=95, exif=exif)
    out = load_image(path)
    assert out.shape == (80, 60, 3)  # rotated 90 degrees


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio, "MAX_PIXELS", 100 * 100)
    img = cv2.resize(scene(), (400, 300))
    out = load_image(write_cv2(tmp_path / "big.jpg", img))
    assert out.shape == (75, 100, 3)  # 1/4 in each direction: 7,500 pixels <= 10,000


def test_large_png_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio, "MAX_PIXELS", 100 * 100)
    path = write_cv2(tmp_path / "big.png", cv2.resize(scene(), (400, 300)))
    with pytest.raises(ImageError, match=r"big.png is 400x300 .*decompression bomb"):
        load_image(path)


def _png(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    """A 1 KB PNG claiming 100,000 x 100,000 pixels (10 Gpx, 10 GB decoded)."""
    bomb = _png(100_000, 100_000, zlib.compress(b"\0" * 1000))
    with pytest.raises(ImageError, match="too large"):
        decode_image(bomb, source="bomb.png")


def test_moderate_bomb_is_refused_by_our_limit():
    bomb = _png(9000, 9000, zlib.compress(b"\0" * 1000))  # 81 MP: under Pillow's hard limit
    with pytest.raises(ImageError, match="9000x9000 .*refusing images above 50 MP"):
        decode_image(bomb, source="bomb.png")


def test_zero_size_png():
    with pytest.raises(ImageError, match="zero.png"):
        decode_image(_png(0, 10, zlib.compress(b"")), source="zero.png")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "no such file"),
        (lambda d: d.mkdir(), "is a directory"),
        (lambda d: d.write_bytes(b""), r"is empty \(0 bytes\)"),
        (lambda d: d.write_text("just some text, not pixels\n"), "not an image"),
        (lambda d: d.write_bytes(bytes(range(256)) * 4), "not an image"),
    ],
    ids=["missing", "directory", "empty", "text", "binary"],
)
def test_unreadable_files(tmp_path, make, message):
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(ImageError, match=message) as err:
        load_image(path)
    assert "photo.jpg" in str(err.value)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_files(tmp_path, suffix, fraction):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # incompressible: cuts land in data
    data = write_cv2(tmp_path / f"full{suffix}", noisy).read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ImageError, match=f"cut{suffix}"):
        load_image(path)


def test_huge_file_is_refused_without_reading_it(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "huge.png"
    path.write_bytes(b"\0" * 2000)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read the whole file"))
    with pytest.raises(ImageError, match="refusing files above"):
        load_image(path)


def test_decode_from_bytes():
    buf = io.BytesIO()
    Image.new("L", (7, 5), 200).save(buf, format="PNG")
    out = decode_image(buf.getvalue())
    assert out.shape == (5, 7) and (out == 200).all()


def test_white_ink_on_a_transparent_canvas_is_read_as_the_same_array_is():
    """From disk or as an array, a picture means the same: light strokes on clear land on black."""
    pytest.importorskip("edge_app.vision")
    from edge_app.vision import find_digits
    from edge_app.vision.image import to_gray

    drawing = np.zeros((120, 200, 4), np.uint8)  # transparent black
    cv2.putText(drawing, "42", (20, 95), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255, 255), 10)
    from_disk = decode_image(cv2.imencode(".png", drawing)[1].tobytes())
    assert from_disk[5, 5].tolist() == [0, 0, 0]  # black paper: the white strokes survive
    assert abs(to_gray(from_disk).astype(int) - to_gray(drawing).astype(int)).max() <= 1
    on_disk = [c.box for c in find_digits(from_disk)]
    assert len(on_disk) == 2 and on_disk == [c.box for c in find_digits(drawing)]


def test_one_depth_policy_for_files_and_arrays():
    from edge_app.pixels import to_uint8

    assert to_uint8(np.array([0, 1], bool)).tolist() == [0, 255]
    assert to_uint8(np.array([0, 257, 65535], np.uint16)).tolist() == [0, 1, 255]
    assert to_uint8(np.array([0.0, 0.5, 1.0])).tolist() == [0, 127, 255]
    assert to_uint8(np.array([0.0, 300.0, np.nan])).tolist() == [0, 255, 0]
    assert to_uint8(np.array([0, 200], np.int32)).tolist() == [0, 200]  # already 8-bit values
    assert to_uint8(np.array([0, 65535], np.int32)).tolist() == [0, 255]  # Pillow's 16-bit "I"
