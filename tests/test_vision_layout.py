"""Lines and the lattice: pieces of ink into lines in reading order, and the decoding of a
line's spans given the model's probabilities (cuts, joins, skips). Fast: no model, no photos -
boxes stand in for pieces and the probabilities are written by hand."""

from __future__ import annotations

import cv2
import numpy as np

from edge_app.vision import lattice, layout
from edge_app.vision.pieces import Piece

# --- lines and reading order -----------------------------------------------------------------


def _box_piece(x: int, y: int, w: int, h: int) -> Piece:
    return Piece(x, y, w, h, np.ones((h, w), bool), w * h)


def test_a_slanted_line_is_one_line_left_to_right():
    # six digits climbing 25 degrees, as on a tilted webcam frame
    pieces = [_box_piece(40 + 60 * k, 300 - int(28 * k), 40, 60) for k in range(6)]
    lines = layout.reading_lines(pieces[::-1])
    assert len(lines) == 1
    assert [p.x for p in lines[0].items] == sorted(p.x for p in pieces)


def test_a_line_curved_into_an_arch_is_one_line_left_to_right():
    # seven digits written over a hump: rising steeply, level at the top, falling; the course of
    # the rising digits overshoots the top ones, the level step from the last digit does not
    pieces = [_box_piece(40 + 48 * k, 200 + 6 * (k - 3) ** 2, 36, 50) for k in range(7)]
    lines = layout.reading_lines(pieces[::-1])
    assert len(lines) == 1
    assert [p.x for p in lines[0].items] == sorted(p.x for p in pieces)


def test_a_digit_the_curve_carried_below_its_neighbours_stays_in_its_line():
    # "0625" on a bent line: the 6 sits most of a line height below the 0 and the 2 beside it
    # (generated string 3 of seed 700201 read "025 6")
    zero, six, two, five = (_box_piece(80, 166, 56, 66), _box_piece(170, 232, 52, 60),
                            _box_piece(256, 138, 46, 82), _box_piece(332, 130, 80, 68))  # fmt: skip
    lines = layout.reading_lines([five, six, zero, two])
    assert [[p.x for p in line.items] for line in lines] == [[80, 170, 256, 332]]


def test_a_digit_of_the_next_line_under_a_gap_is_not_pulled_up():
    # two lines of a page 1.6 line heights apart; the lower one's digit sits under a gap
    top = [_box_piece(40, 100, 36, 50), _box_piece(160, 100, 36, 50), _box_piece(220, 100, 36, 50)]
    below = _box_piece(100, 180, 36, 50)
    lines = layout.reading_lines([*top, below])
    assert [[p.x for p in line.items] for line in lines] == [[40, 160, 220], [100]]


def test_two_lines_top_first_and_a_wide_gap_stays_in_its_line():
    top = [_box_piece(50, 50, 30, 50), _box_piece(90, 52, 30, 50), _box_piece(400, 55, 30, 50)]
    bottom = [_box_piece(60, 200, 30, 50), _box_piece(100, 198, 30, 50)]
    lines = layout.reading_lines(bottom + top)
    assert [len(line.items) for line in lines] == [3, 2]
    assert lines[0].items[0].y < lines[1].items[0].y


def _zeros_written_small(keep_all: bool) -> list[layout.Line]:
    # "510006" as written on a real page: 5 and 1 full height, three zeros a third as tall at
    # the foot of the line, then a 6 taller than the rest, with a wide gap before it
    five, one = _box_piece(128, 305, 19, 27), _box_piece(153, 301, 13, 35)
    zeros = [_box_piece(x, 311, 14, 14) for x in (171, 198, 226)]
    six = _box_piece(256, 286, 16, 45)
    # the other lines of the page set the typical height, which makes the zeros "small"
    other = [_box_piece(40 + 30 * k, 100, 20, 40) for k in range(8)]
    return layout.reading_lines([six, *zeros, one, five, *other], keep_all=keep_all)


def test_a_run_of_small_zeros_stays_in_its_line():
    for keep_all in (False, True):
        lines = _zeros_written_small(keep_all)
        assert [[p.x for p in line.items] for line in lines][1] == [128, 153, 171, 198, 226, 256]
        assert len(lines) == 2


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


def test_a_whole_string_written_in_one_stroke_is_cut_along_its_whole_width():
    """Eight zeros the pen never left, each joined to the next by a stroke along the bottom
    (a touching string is one cluster): a cut between every two, not only near the left
    end, so each digit can be read alone."""
    height, digit, n = 50, 34, 8
    mask = np.zeros((height, n * digit), np.uint8)
    for k in range(n):
        cv2.ellipse(mask, (k * digit + digit // 2, height // 2), (digit // 2 - 3, height // 2 - 2),
                    0, 0, 360, 1, 3)  # fmt: skip
    cv2.line(mask, (digit // 2, height - 3), (n * digit - digit // 2, height - 3), 1, 3)
    ring = Piece(10, 10, mask.shape[1], height, mask > 0, int(mask.sum()))
    built = lattice.build(layout.Line([ring]), stroke=3)
    reading = {(0, built.atoms): (11, 0.99)}
    for span in built.spans:
        offset = (span.piece.x - 10) / digit
        if abs(span.piece.w - digit) <= 8 and abs(offset - round(offset)) <= 0.2:
            reading[(span.start, span.end)] = (round(offset), 0.97)
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == list(range(n))


def test_a_ruled_line_run_into_a_digit_is_left_out_and_the_digit_read():
    """A "2" whose base runs into a ruling: one cluster as wide as the page. The model calls
    the whole "cut" and the ruling's lengths "none"; the digit is read, not lost with the line
    (seed 700001's photo 174 read nothing)."""
    height = 50
    mask = np.zeros((height, 340), np.uint8)
    cv2.ellipse(mask, (20, 25), (17, 22), 0, 0, 360, 1, 3)
    cv2.line(mask, (20, height - 3), (339, height - 3), 1, 3)
    cluster = Piece(10, 10, mask.shape[1], height, mask > 0, int(mask.sum()))
    built = lattice.build(layout.Line([cluster]), stroke=3)
    reading = {(0, built.atoms): (11, 0.8)}
    for span in built.spans:
        if span.piece.x + span.piece.w <= 10 + 45 and span.start == 0:
            reading[(span.start, span.end)] = (2, 0.99)
        elif span.piece.x >= 10 + 40 and span.cluster < 0:
            reading[(span.start, span.end)] = (10, 0.8)
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == [2]


def test_a_flat_part_the_model_calls_cut_stays_in_its_digit():
    """A "7" with a long bar: the bar alone is flat too, but the model calls it "cut" (digit
    ink) before "none", so the digit is read whole, not as the "1" of its stem, however unsure
    of the whole the model is."""
    height = 50
    mask = np.zeros((height, 120), np.uint8)
    cv2.line(mask, (0, 1), (119, 1), 1, 3)
    cv2.line(mask, (119, 1), (100, height - 1), 1, 3)
    seven = Piece(10, 10, mask.shape[1], height, mask > 0, int(mask.sum()))
    built = lattice.build(layout.Line([seven]), stroke=3)
    reading = {(0, built.atoms): (7, 0.4)}
    for span in built.spans:
        if span.end == built.atoms and span.cluster < 0:
            reading[(span.start, span.end)] = (1, 0.99)
        elif span.cluster < 0:  # the bar: "none" 0.45, "cut" 0.55
            reading[(span.start, span.end)] = (10, 0.45)
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == [7]


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


def test_a_digit_is_not_cut_in_two_when_the_model_is_as_sure_of_the_halves():
    # a wide "0" (a real phone photo read "10"): the whole and each half read as surely
    built = lattice.build(_line_of([70]), stroke=3)
    sure = 255 / 256
    reading = {(0, built.atoms): (0, sure)}
    for span in built.spans:
        if span.piece.w < 45:
            reading[(span.start, span.end)] = (1 if span.start == 0 else 0, sure)
    chosen = lattice.decode(built, _probs(built.spans, reading), COLUMNS)
    assert [c for _, c, _ in chosen] == [0]


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


# --- a proposal's reading: marks alone on their line -------------------------------------------


def _lone_mark(crop: bool, p: float, box=(10, 10, 30, 50), size=(100, 100)):
    from edge_app.vision import api, scale

    built = lattice.build(layout.Line([_box_piece(10, 10, 30, 50)]), stroke=3)
    candidates = tuple(
        api.DigitCandidate(np.zeros((28, 28), np.uint8), box, 0) for _ in built.spans
    )
    plan = scale.Plan(False, 1.0, (0, 0, *size), 3.0, 50.0, crop)
    proposal = api.Proposal(candidates, ((built, 0),), (plan,), size)
    probs = _probs(built.spans, {})
    probs[0] = 0
    probs[0, [5, 10]] = p, 1 - p  # a 5, or not writing
    return proposal.decode(probs, COLUMNS)


def test_a_mark_alone_in_a_scene_is_read_only_when_the_model_is_sure():
    # a letter on a page the model takes for a 5 at 0.7 (one photo in four with letters)
    assert _lone_mark(crop=False, p=0.7) == []
    assert [c for _, c, _, _ in _lone_mark(crop=False, p=0.97)] == [5]


def test_a_crop_keeps_its_one_digit_however_unsure():
    assert [c for _, c, _, _ in _lone_mark(crop=True, p=0.7)] == [5]


def test_a_lone_mark_the_photos_edge_cuts_is_not_read_unless_it_fills_the_frame():
    # the visible half of a letter at the top of a frame, which the model takes for a 0
    assert _lone_mark(crop=False, p=0.97, box=(160, 0, 150, 150), size=(480, 640)) == []
    # a digit written big enough to touch the frame, framed on purpose
    big = _lone_mark(crop=False, p=0.97, box=(160, 0, 200, 500), size=(480, 640))
    assert [c for _, c, _, _ in big] == [5]
    # the same mark clear of the edge
    clear = _lone_mark(crop=False, p=0.97, box=(160, 20, 150, 150), size=(480, 640))
    assert [c for _, c, _, _ in clear] == [5]
    # a crop is a digit on purpose, cut or not
    assert [c for _, c, _, _ in _lone_mark(True, 0.97, (0, 0, 20, 20), (480, 640))] == [5]


def _column_of(count: int, tall: int, size=(640, 480)):
    """``count`` lone marks ``tall`` px high, one per line, each read a 5 at 0.97."""
    from edge_app.vision import api, scale

    candidates, lines, rows = [], [], []
    for k in range(count):
        built = lattice.build(layout.Line([_box_piece(10, 10, 30, 50)]), stroke=3)
        lines.append((built, len(candidates)))
        box = (300, 40 + 3 * tall * k, tall * 3 // 4, tall)
        candidates += [api.DigitCandidate(np.zeros((28, 28), np.uint8), box, k)] * len(built.spans)
        probs = _probs(built.spans, {})
        probs[0] = 0
        probs[0, [5, 10]] = 0.97, 0.03
        rows.append(probs)
    plan = scale.Plan(False, 1.0, (0, 0, *size), 3.0, 50.0, False)
    proposal = api.Proposal(tuple(candidates), tuple(lines), (plan,), size)
    return [c for _, c, _, _ in proposal.decode(np.concatenate(rows), COLUMNS)]


def test_a_speck_with_nothing_written_near_it_is_not_read():
    # 12 px in a 640x480 frame (2.5% of its height): a speck of dust the model takes for a 5
    assert _column_of(1, tall=12) == []
    assert _column_of(2, tall=12) == []
    # a digit photographed on its own is framed far bigger
    assert _column_of(1, tall=40) == [5]
    # small marks in a column, one per line, are writing (a list of marks on a page)
    assert _column_of(3, tall=12) == [5, 5, 5]
    # a crop keeps its digit however small
    assert [c for _, c, _, _ in _lone_mark(True, 0.97, (40, 40, 10, 12), (640, 480))] == [5]
