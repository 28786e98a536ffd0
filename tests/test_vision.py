"""Camera vision: photo -> MNIST-framed digits. Fast: no TensorFlow, no classifier, no Kivy.

Photos come from the project's own seeded generator (benchmarks.photos) with digit shapes from
the MNIST mini subset in tests/data; reading accuracy is measured by benchmarks.vision_bench,
here only what vision itself promises is checked: how many candidates, where, in which order.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.photos import PhotoMaker, hershey_glyphs, scan
from edge_app.errors import ImageError
from edge_app.vision import DigitCandidate, find_digits, frame_digit
from trainer.data import read_idx_dir


@pytest.fixture(scope="module")
def glyphs() -> tuple[np.ndarray, np.ndarray]:
    """MNIST *test* digits from the shipped mini subset (the same files as ``data_dir``)."""
    mnist = read_idx_dir(Path(__file__).parent / "data" / "mnist-mini")
    return mnist.x_test, mnist.y_test


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / max(1, min(aw * ah, bw * bh))


def _check_candidate(c: DigitCandidate, image: np.ndarray) -> None:
    assert c.image.shape == (28, 28) and c.image.dtype == np.uint8
    assert c.image.max() > 200  # white ink on black, scaled to full white
    assert c.image[0].max() < 128 and c.image[:, 0].max() < 128  # framed, not cropped
    x, y, w, h = c.box
    assert x >= 0 and y >= 0 and x + w <= image.shape[1] and y + h <= image.shape[0]


def _paper(height: int = 480, width: int = 640, level: int = 215) -> np.ndarray:
    page = np.full((height, width), level, np.uint8)
    return cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)


def _write(image: np.ndarray, text: str, org: tuple[int, int], scale: float = 2.5) -> None:
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (40, 40, 40), 7, cv2.LINE_AA)


# --- photos ----------------------------------------------------------------------------------


def test_single_digit_photos_give_one_candidate_on_the_digit(glyphs):
    maker = PhotoMaker(*glyphs, seed=11)
    good = 0
    for _ in range(30):
        photo = maker.single()
        found = find_digits(photo.image)
        for c in found:
            _check_candidate(c, photo.image)
        good += len(found) == 1 and _overlap(found[0].box, photo.boxes[0]) > 0.5
    assert good >= 28


def test_digit_strings_come_in_reading_order(glyphs):
    maker = PhotoMaker(*glyphs, seed=12)
    good = 0
    for i in range(16):
        photo = maker.string(3 + i % 4)
        found = find_digits(photo.image)
        if len(found) != len(photo.digits):
            continue
        xs = [c.box[0] for c in found]
        in_order = xs == sorted(xs) and {c.line for c in found} == {0}
        on_truth = all(_overlap(c.box, t) > 0.4 for c, t in zip(found, photo.boxes, strict=True))
        good += in_order and on_truth
    assert good >= 14


def test_blank_pages_from_the_generator_are_mostly_empty(glyphs):
    maker = PhotoMaker(*glyphs, seed=13)
    reported = sum(bool(find_digits(maker.blank().image)) for _ in range(30))
    assert reported <= 2


def test_ruled_page_with_shadow_and_specks_yields_nothing():
    page = _paper().astype(np.float32)
    for y in range(30, 480, 32):  # blue rulings
        cv2.line(page, (0, y), (640, y + 25), (215, 170, 140), 2, cv2.LINE_AA)
    cv2.line(page, (90, 0), (95, 480), (120, 110, 220), 2, cv2.LINE_AA)  # red margin
    shadow = np.zeros((480, 640), np.float32)
    cv2.ellipse(shadow, (640, 480), (380, 260), 0, 0, 360, 1.0, -1)
    page *= 1 - 0.45 * cv2.GaussianBlur(shadow, (0, 0), 15)[..., None]
    for x, y in ((300, 200), (410, 90), (50, 400)):
        cv2.circle(page, (x, y), 1, (60, 60, 60), -1)  # dust
    ramp = np.linspace(0.75, 1.05, 640, dtype=np.float32)[None, :, None]
    page = np.clip(page * ramp + np.random.default_rng(0).normal(0, 3, page.shape), 0, 255)
    assert find_digits(page.astype(np.uint8)) == []


def test_blank_and_uniform_images_yield_nothing():
    assert find_digits(np.full((480, 640), 255, np.uint8)) == []
    assert find_digits(np.zeros((480, 640), np.uint8)) == []
    assert find_digits(np.full((28, 28), 128, np.uint8)) == []


def test_two_lines_are_read_top_line_first():
    page = _paper()
    _write(page, "12", (120, 170))
    _write(page, "345", (120, 360))
    found = find_digits(page)
    assert [c.line for c in found] == [0, 0, 1, 1, 1]
    xs = [c.box[0] for c in found]
    assert xs[:2] == sorted(xs[:2]) and xs[2:] == sorted(xs[2:])
    assert found[0].box[1] < found[2].box[1]


def test_a_digit_whose_pen_skipped_is_one_candidate():
    page = _paper()
    ink = (40, 40, 40)
    cv2.line(page, (300, 200), (365, 200), ink, 7, cv2.LINE_AA)  # the 5's bar ...
    cv2.line(page, (300, 212), (297, 250), ink, 7, cv2.LINE_AA)  # ... apart from its stem
    cv2.ellipse(page, (322, 282), (34, 34), 0, -150, 140, ink, 7, cv2.LINE_AA)
    pieces = cv2.connectedComponents((page[..., 0] < 150).astype(np.uint8))[0] - 1
    assert pieces == 2
    assert len(find_digits(page)) == 1


# --- crops, scans and polarity ---------------------------------------------------------------


@pytest.mark.parametrize("light_ink", [False, True])
@pytest.mark.parametrize("side", [28, 64, 150])
def test_tight_crop_touching_the_border_is_one_candidate(glyphs, light_ink, side):
    images, _ = glyphs
    for glyph in images[:10]:
        image = scan(glyph, side=side, margin=0.0, light_ink=light_ink)
        found = find_digits(image)
        assert len(found) == 1
        assert found[0].box[2] >= 0.8 * image.shape[1] or found[0].box[3] >= 0.8 * image.shape[0]


def test_mnist_sample_white_on_black_is_framed_like_mnist(glyphs):
    images, _ = glyphs
    for glyph in images[:20]:
        found = find_digits(glyph)
        assert len(found) == 1
        a = found[0].image.astype(np.float32).ravel()
        b = glyph.astype(np.float32).ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.7  # framing an MNIST digit changes it little


def test_dark_ink_and_light_ink_give_the_same_digit(glyphs):
    images, _ = glyphs
    glyph = images[3]
    dark = find_digits(scan(glyph, side=90, margin=0.3, light_ink=False))
    light = find_digits(scan(glyph, side=90, margin=0.3, light_ink=True))
    assert len(dark) == len(light) == 1
    diff = np.abs(dark[0].image.astype(int) - light[0].image.astype(int))
    assert diff.mean() < 3


def test_hershey_glyphs_work_without_mnist():
    images, labels = hershey_glyphs(5, seed=0)
    assert images.shape == (5, 28, 28) and labels.shape == (5,)
    maker = PhotoMaker(images, labels, seed=0)
    photo = maker.single()
    assert len(find_digits(photo.image)) == 1


# --- input types and sizes ---------------------------------------------------------------------


def _page_with_digit(height: int = 480, width: int = 640) -> np.ndarray:
    page = _paper(height, width)
    scale = min(height, width) / 200
    _write(page, "7", (width // 2, height // 2), scale=scale)
    return page


def test_gray_bgr_bgra_float_bool_uint16_inputs():
    bgr = _page_with_digit()
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    boxes = [
        find_digits(x)[0].box
        for x in (
            bgr,
            gray,
            gray[..., None],
            bgra,
            gray.astype(np.float32) / 255,
            gray.astype(np.float64),
            gray < 128,
            gray.astype(np.uint16) * 257,
        )
    ]
    for box in boxes:
        assert _overlap(box, boxes[0]) > 0.9


def test_transparent_drawing_is_read():
    drawing = np.zeros((200, 200, 4), np.uint8)  # transparent black
    cv2.putText(drawing, "3", (50, 160), cv2.FONT_HERSHEY_SIMPLEX, 5, (0, 0, 0, 255), 14)
    assert len(find_digits(drawing)) == 1


def test_huge_image_is_downscaled_and_boxes_are_in_its_coordinates():
    big = _page_with_digit(3000, 4000)
    found = find_digits(big)
    assert len(found) == 1
    x, y, w, h = found[0].box
    assert 1900 < x + w / 2 < 2400 and 1000 < y + h / 2 < 1600  # around the digit, full res


def test_max_side_bounds_the_work(monkeypatch):
    import edge_app.vision.api as api

    seen = []
    real = api.prepare

    def spy(image, max_side):
        work = real(image, max_side)
        seen.append(work.gray.shape)
        return work

    monkeypatch.setattr(api, "prepare", spy)
    find_digits(_page_with_digit(3000, 4000), max_side=320)
    assert max(seen[0]) == 320


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (8, 8), (1, 400), (16, 16, 3)])
def test_tiny_images_do_not_crash(shape):
    found = find_digits(np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8))
    assert isinstance(found, list)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((0, 0), np.uint8),
        np.zeros((0, 10, 3), np.uint8),
        np.zeros((10, 10, 5), np.uint8),
        np.zeros((2, 2, 2, 2), np.uint8),
        np.zeros(10, np.uint8),
        np.array([["a", "b"]], dtype=object),
    ],
)
def test_bad_arrays_raise_image_error(bad):
    with pytest.raises(ImageError):
        find_digits(bad)


# --- framing -----------------------------------------------------------------------------------


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    m = image.astype(np.float64)
    rows, cols = np.indices(m.shape)
    return float((rows * m).sum() / m.sum()), float((cols * m).sum() / m.sum())


def _ink_box(image: np.ndarray, level: int = 30) -> tuple[int, int]:
    rows = np.flatnonzero((image > level).any(axis=1))
    cols = np.flatnonzero((image > level).any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


@pytest.mark.parametrize("kind", ["mnist", "blob", "bar", "bool", "float", "wide"])
def test_frame_digit_is_mnist_framed(glyphs, kind):
    crop = {
        "mnist": lambda: cv2.resize(glyphs[0][5], (300, 300)),
        "blob": lambda: cv2.circle(np.zeros((50, 80), np.uint8), (20, 25), 12, 255, 3),
        "bar": lambda: cv2.line(np.zeros((120, 40), np.uint8), (20, 5), (22, 115), 255, 6),
        "bool": lambda: cv2.resize(glyphs[0][7], (60, 60)) > 100,
        "float": lambda: glyphs[0][9].astype(np.float32) / 255,
        "wide": lambda: cv2.line(np.zeros((30, 200), np.uint8), (5, 10), (195, 20), 255, 5),
    }[kind]()
    out = frame_digit(crop)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() > 200
    cy, cx = _centre_of_mass(out)
    if kind != "wide":  # a flat stroke's centre is pinned by the 20x20 box staying inside
        assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0
    h, w = _ink_box(out)
    assert max(h, w) <= 21 and max(h, w) >= 18  # fitted to the 20x20 box


def test_frame_digit_of_nothing_is_black():
    assert not frame_digit(np.zeros((40, 40), np.uint8)).any()
    assert not frame_digit(np.zeros((0, 0), np.uint8)).any()


def test_frame_digit_thickens_hairlines_towards_mnist():
    hair = cv2.circle(np.zeros((400, 300), np.uint8), (150, 200), 120, 255, 2)
    out = frame_digit(hair)
    thin = frame_digit(hair, normalise_thickness=False)
    assert (out > 128).sum() > 1.5 * (thin > 128).sum()
