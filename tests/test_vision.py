"""Camera vision: photo -> spans of ink framed like MNIST. Fast: no TensorFlow, no Kivy.

What vision itself promises is checked here, without the model: where the writing is and at
what scale it is read, that every digit of a photo is covered by one of the spans it proposes,
reading order, lines, rulings, inputs of every kind, MNIST framing, and the decoding of spans
given the model's probabilities. Photos come from the project's generator
(:mod:`trainer.synth.scenes`) with digit shapes from the MNIST mini subset in tests/data.
Reading accuracy, model included, is measured by benchmarks.vision_bench and checked on
fixtures by tests/test_shipped_model.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.errors import ImageError
from edge_app.vision import (
    find_digits,
    frame_digit,
    lattice,
    layout,
    propose,
    scale,
)
from edge_app.vision.image import load
from edge_app.vision.pieces import Piece
from trainer.data import read_idx_dir
from trainer.synth.glyphs import hershey_glyphs
from trainer.synth.scenes import SceneMaker, clean_scan


@pytest.fixture(scope="module")
def glyphs() -> tuple[np.ndarray, np.ndarray]:
    """MNIST *test* digits from the shipped mini subset (the same files as ``data_dir``)."""
    mnist = read_idx_dir(Path(__file__).parent / "data" / "mnist-mini")
    return mnist.x_test, mnist.y_test


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / max(1, aw * ah + bw * bh - inter)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / max(1, min(aw * ah, bw * bh))


def _covered(photo) -> float:
    """Share of the photo's digits with a proposed span on them (IoU >= 0.4)."""
    boxes = [c.box for p in propose(photo.image) for c in p.candidates]
    hits = [any(_iou(truth, b) >= 0.4 for b in boxes) for truth in photo.boxes]
    return float(np.mean(hits)) if hits else 1.0


def _paper(height: int = 480, width: int = 640, level: int = 215) -> np.ndarray:
    page = np.full((height, width), level, np.uint8)
    return cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)


def _write(image: np.ndarray, text: str, org: tuple[int, int], scale: float = 2.5) -> None:
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (40, 40, 40), 7, cv2.LINE_AA)


# --- every digit gets a span, in every kind of photo ---------------------------------------------


@pytest.mark.parametrize(
    ("kind", "photos", "at_least"),
    [("single", 12, 0.8), ("string", 8, 0.8), ("scan", 10, 0.7), ("crop", 10, 0.8)],
)
def test_every_kind_of_photo_has_spans_on_its_digits(glyphs, kind, photos, at_least):
    maker = SceneMaker(*glyphs, seed=101, frame_sizes=((640, 480), (480, 640)))
    covered = [_covered(maker.make(kind)) for _ in range(photos)]
    assert np.mean(covered) >= at_least


def test_a_page_of_small_numbers_is_read_at_the_scale_of_its_writing(glyphs):
    maker = SceneMaker(*glyphs, seed=7)
    photo = maker.page((2016, 1512))
    proposal = next(p for p in propose(photo.image) if not p.plans[0].inverted)
    heights = [b[3] for b in photo.boxes]
    plan = proposal.plans[0]
    # small writing on a big photo: read near full resolution, digits MNIST-sized or larger
    assert np.median(heights) * plan.scale >= 0.7 * scale.CHAR_MIN
    assert _covered(photo) >= 0.8
    assert len(proposal.lines) >= photo.digits.count(" ") + 1


def test_a_tiny_scan_is_enlarged(glyphs):
    tiny = clean_scan(glyphs[0][3], side=20, margin=0.2, light_ink=False)
    plans = scale.plan(load(tiny), inverted=False)
    assert plans and min(p.scale for p in plans) > 1.0


def test_hershey_glyphs_work_without_mnist():
    images, labels = hershey_glyphs(5, seed=0)
    assert images.shape == (5, 28, 28) and labels.shape == (5,)
    photo = SceneMaker(images, labels, seed=0).single((640, 480))
    assert _covered(photo) == 1.0


# --- lines and reading order -----------------------------------------------------------------


def _box_piece(x: int, y: int, w: int, h: int) -> Piece:
    return Piece(x, y, w, h, np.ones((h, w), bool), w * h)


def test_a_slanted_line_is_one_line_left_to_right():
    # six digits climbing 25 degrees, as on a tilted webcam frame
    pieces = [_box_piece(40 + 60 * k, 300 - int(28 * k), 40, 60) for k in range(6)]
    lines = layout.reading_lines(pieces[::-1])
    assert len(lines) == 1
    assert [p.x for p in lines[0].items] == sorted(p.x for p in pieces)


def test_two_lines_top_first_and_a_wide_gap_stays_in_its_line():
    top = [_box_piece(50, 50, 30, 50), _box_piece(90, 52, 30, 50), _box_piece(400, 55, 30, 50)]
    bottom = [_box_piece(60, 200, 30, 50), _box_piece(100, 198, 30, 50)]
    lines = layout.reading_lines(bottom + top)
    assert [len(line.items) for line in lines] == [3, 2]
    assert lines[0].items[0].y < lines[1].items[0].y


def test_the_bar_of_a_five_joins_its_body():
    body = _box_piece(100, 120, 40, 50)
    bar = _box_piece(110, 100, 40, 8)
    (cluster,) = layout.gather([body, bar])
    assert (cluster.y, cluster.bottom) == (100, 170)


# --- the lattice: cuts, joins and skips decided by the model's probabilities -------------------


COLUMNS = lattice.Columns(np.arange(10), none=10, cut=11)


def _line_of(widths: list[int], height: int = 50, gap: int = 10) -> layout.Line:
    items, x = [], 10
    for w in widths:
        items.append(_box_piece(x, 10, w, height))
        x += w + gap
    return layout.Line(items)


def _probs(spans, reading: dict) -> np.ndarray:
    """One row per span: ``reading[(start, end)]`` = (label index, p) else "cut" for sure."""
    rows = np.zeros((len(spans), 12), np.float32)
    for k, span in enumerate(spans):
        label, p = reading.get((span.start, span.end), (11, 0.99))
        rows[k, label] = p
        rows[k, 11 if label != 11 else 10] += 1 - p
    return rows


def test_decode_joins_two_pieces_of_one_digit():
    built = lattice.build(_line_of([30, 12], gap=2), stroke=3)
    probs = _probs(built.spans, {(0, 1): (6, 0.6), (1, 2): (1, 0.6), (0, 2): (5, 0.98)})
    chosen = lattice.decode(built, probs, COLUMNS)
    assert [(built.spans[k].start, built.spans[k].end, c) for k, c, _ in chosen] == [(0, 2, 5)]


def test_decode_cuts_two_digits_run_together():
    built = lattice.build(_line_of([70]), stroke=3)  # 1.4 heights wide: two digits
    assert built.atoms >= 2
    reading = {(0, built.atoms): (11, 0.95)}
    for span in built.spans:
        if span.piece.w < 45:  # each half
            reading[(span.start, span.end)] = (0, 0.97)
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == [0, 0]


def test_decode_skips_what_is_not_a_digit_and_reads_the_rest():
    built = lattice.build(_line_of([30, 30, 30], gap=40), stroke=3)
    reading = {(0, 1): (4, 0.99), (1, 2): (10, 0.97), (2, 3): (2, 0.95)}
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == [4, 2]


def test_decode_reads_every_digit_when_the_model_is_sure_of_both_readings():
    # a thin "1" between two digits, and the model (int8: 255/256 at most) just as sure the
    # three clusters are "7", "1", "2" as that the first two together are a "7"
    built = lattice.build(_line_of([30, 8, 30], gap=3), stroke=3)
    sure = 255 / 256
    reading = {(0, 1): (7, sure), (1, 2): (1, sure), (2, 3): (2, sure), (0, 2): (7, sure)}
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == [7, 1, 2]


def test_decode_still_joins_when_the_parts_are_less_sure():
    built = lattice.build(_line_of([30, 8], gap=3), stroke=3)
    reading = {(0, 1): (7, 0.97), (1, 2): (1, 0.97), (0, 2): (7, 255 / 256)}
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == [7]


def test_decode_skips_a_speck_the_model_calls_a_bit_of_ink():
    # a dot beside a digit (a real phone photo of a "0" read "10"): the model calls the dot "cut"
    # (ink, not a whole digit), and the dot with the digit's edge looks like a "1"
    dot_and_digit = layout.Line([_box_piece(10, 30, 8, 8), _box_piece(24, 10, 40, 50)])
    built = lattice.build(dot_and_digit, stroke=3)
    whole = (1, built.atoms)
    reading = {(0, 1): (10, 0.41), whole: (3, 0.996), (0, 2): (1, 0.7), (2, built.atoms): (0, 0.6)}
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == [3]


def test_a_thin_one_the_model_half_calls_cut_is_still_read():
    built = lattice.build(_line_of([30, 8], gap=30), stroke=3)
    reading = {(0, 1): (4, 0.99), (1, 2): (1, 0.45)}
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == [4, 1]


def _ones_line(one_height: int) -> layout.Line:
    # "2", "3", a thin mark ``one_height`` tall, "9": a real page's "1" the model was unsure of
    return layout.Line([_box_piece(10, 10, 30, 50), _box_piece(50, 10, 30, 50),
                        _box_piece(90, 60 - one_height, 8, one_height),
                        _box_piece(108, 10, 30, 50)])  # fmt: skip


def _unsure_one(built) -> np.ndarray:
    reading = {(0, 1): (2, 0.99), (1, 2): (3, 0.99), (2, 3): (10, 0.48), (3, 4): (9, 0.99)}
    probs = _probs(built.spans, reading)
    k = next(k for k, s in enumerate(built.spans) if (s.start, s.end) == (2, 3))
    probs[k] = 0
    probs[k, [10, 1, 11]] = 0.48, 0.36, 0.16  # none, "1", cut
    return probs


def test_a_mark_as_tall_as_the_digits_beside_it_is_read_when_the_model_hesitates():
    built = lattice.build(_ones_line(48), stroke=3)
    chosen = lattice.decode(built, _unsure_one(built), COLUMNS)
    assert [c for _, c, _ in chosen] == [2, 3, 1, 9]
    assert chosen[2][2] > 0.9  # sure which digit, once its line says it is writing


def test_a_short_mark_the_model_hesitates_over_is_skipped():
    built = lattice.build(_ones_line(20), stroke=3)
    chosen = lattice.decode(built, _unsure_one(built), COLUMNS)
    assert [c for _, c, _ in chosen] == [2, 3, 9]


def test_a_model_without_none_reads_whole_clusters():
    built = lattice.build(_line_of([70, 30]), stroke=3)
    probs = np.full((len(built.spans), 10), 0.1, np.float32)
    chosen = lattice.decode(built, probs, lattice.Columns(np.arange(10)))
    assert [built.spans[k].cluster for k, _, _ in chosen] == [0, 1]


# --- rulings -----------------------------------------------------------------------------------


def test_ruled_and_squared_paper_leave_the_digit_alone():
    page = _paper(480, 640)
    for y in range(20, 480, 32):  # ruled, slightly tilted
        cv2.line(page, (0, y), (640, y + 40), (150, 150, 150), 1, cv2.LINE_AA)
    for x in range(25, 640, 32):
        cv2.line(page, (x, 0), (x - 30, 480), (160, 160, 160), 1, cv2.LINE_AA)
    _write(page, "4", (280, 300), scale=3)
    found = find_digits(page)
    boxes = [c.box for c in found if c.box[3] > 40]
    assert len(boxes) == 1 and boxes[0][2] < 120  # the 4 alone, no line attached


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


def test_the_working_image_is_bounded_and_fits_the_writing():
    from edge_app.vision import scale
    from edge_app.vision.image import load

    big = load(_page_with_digit(3000, 4000))
    (plan,) = scale.plan(big, inverted=False)
    x, y, w, h = plan.roi
    assert w * h * plan.scale**2 <= scale.MAX_WORK_PIXELS
    assert w < 2000 and h < 2000  # the region around the one digit, not the whole page
    assert scale.CHAR_MIN <= plan.char_height <= scale.CHAR_MAX


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
