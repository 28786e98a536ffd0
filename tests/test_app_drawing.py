"""Drawing, screen geometry and the job worker - all without Kivy.

Strokes become an MNIST-like digit, image boxes become widget boxes (Kivy's origin is
bottom-left), frames become RGBA previews, and the worker runs the app's jobs off the UI thread.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge_app.app.drawing import Drawing, drawing_to_digit, rasterize
from edge_app.app.geometry import downscale_for_display, fit_image, make_preview
from edge_app.app.worker import JobWorker
from edge_app.vision import frame_digit


# ----------------------------------------------------------------------------- job worker
def test_job_worker_keeps_only_the_newest_waiting_job_of_a_kind():
    worker = JobWorker()
    gate, ran, out = threading.Event(), [], []
    worker.submit("slow", lambda: gate.wait(5), lambda r: None, out.append)
    for i in range(5):
        worker.submit("draw", lambda i=i: ran.append(i) or i, out.append, out.append)
    gate.set()
    assert worker.idle()
    worker.stop()
    assert ran == [4] and out == [4]


def test_job_worker_passes_errors_to_the_error_callback():
    worker = JobWorker()
    errors = []

    def boom():
        raise ValueError("bad")

    worker.submit("x", boom, lambda r: None, errors.append)
    assert worker.idle()
    worker.stop()
    assert isinstance(errors[0], ValueError)


def test_job_worker_stop_does_not_wait_for_the_running_job():
    worker = JobWorker()
    running, release, done = threading.Event(), threading.Event(), []
    worker.submit("load", lambda: (running.set(), release.wait(5)), done.append, done.append)
    worker.submit("draw", lambda: "never", done.append, done.append)
    assert running.wait(5) and worker.busy
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 0.05  # the UI thread calls stop(): it must not block
    release.set()
    assert worker.join(5)
    assert len(done) == 1  # the running job finished; the waiting one was dropped


# ----------------------------------------------------------------------------- drawing
def one_stroke():  # a "1": one vertical stroke, y down, in canvas pixels
    return [[(200.0, 60.0 + 6 * i) for i in range(50)]]


def seven_strokes():  # a "7": a bar across the top, then a diagonal down to the left
    bar = [(100.0 + 8 * i, 60.0) for i in range(26)]
    leg = [(300.0 - 4 * i, 60.0 + 9 * i) for i in range(36)]
    return [bar + leg]


def test_rasterize_draws_white_ink_on_black_at_a_relative_width():
    image = rasterize(one_stroke(), size=112)
    assert image.shape == (112, 112) and image.dtype == np.uint8
    assert image[0, 0] == 0 and image[56, 56] == 255
    cols = np.flatnonzero(image[56] > 127)
    assert 8 <= len(cols) <= 14  # 12% of the drawing's size, wherever it was drawn
    small = rasterize([[(x / 10, y / 10) for x, y in s] for s in one_stroke()], size=112)
    assert np.array_equal(image, small)  # scale-free: a small drawing looks the same


def test_a_tap_is_a_dot_and_nothing_is_black():
    assert rasterize([[(5.0, 5.0)]]).max() == 255
    assert rasterize([]).max() == 0


def test_drawing_model_records_strokes_and_skips_repeats():
    d = Drawing()
    assert d.empty and d.render() is None and drawing_to_digit(d) is None
    d.add(1, 1)  # a move without a down starts a stroke
    d.add(1, 1)
    d.add(2, 3)
    d.begin(5, 5)
    assert d.strokes == [[(1.0, 1.0), (2.0, 3.0)], [(5.0, 5.0)]]
    d.clear()
    assert d.empty


def test_a_drawn_one_is_framed_like_mnist():
    d = Drawing()
    d.strokes = one_stroke()
    digit = drawing_to_digit(d, framer=frame_digit)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    rows = np.flatnonzero(digit.max(axis=1) > 127)
    cols = np.flatnonzero(digit.max(axis=0) > 127)
    assert 18 <= rows[-1] - rows[0] + 1 <= 21  # fitted to the 20-pixel box
    assert cols[-1] - cols[0] + 1 <= 5  # still a thin vertical stroke
    assert 12 <= cols.mean() <= 15  # centred


def test_a_drawn_seven_has_its_bar_on_top():
    d = Drawing()
    d.strokes = seven_strokes()
    digit = drawing_to_digit(d, framer=frame_digit)
    top, bottom = digit[4:9], digit[19:24]
    assert (top > 127).sum(axis=1).max() >= 12  # a long horizontal bar at the top
    assert (bottom > 127).sum(axis=1).max() <= 6  # only the leg at the bottom
    assert (bottom > 127).any(axis=0)[:14].any()  # ... which ends left of centre


def test_drawing_goes_through_the_given_framer():
    seen = []
    d = Drawing()
    d.strokes = one_stroke()
    out = drawing_to_digit(d, framer=lambda img: seen.append(img.shape) or np.ones((28, 28)))
    assert seen == [(112, 112)] and out.dtype == np.uint8


# ----------------------------------------------------------------------------- geometry
def test_fit_keeps_the_aspect_ratio_and_centres():
    fit = fit_image((640, 480), (10, 20), (800, 300))
    assert fit.scale == pytest.approx(300 / 480)
    assert (fit.w, fit.h) == pytest.approx((400, 300))
    assert (fit.x, fit.y) == pytest.approx((10 + 200, 20))


def test_boxes_flip_from_image_rows_to_kivy_bottom_left_origin():
    fit = fit_image((100, 50), (0, 0), (200, 100))  # scale 2
    # a box touching the image's top edge ends at the widget's top
    assert fit.box_to_widget((10, 0, 20, 10)) == pytest.approx((20, 80, 40, 20))
    assert fit.widget_to_image(20, 100) == pytest.approx((10, 0))


def test_frames_become_rgba_previews_with_rows_top_down():
    frame = np.zeros((2, 3, 3), np.uint8)
    frame[0, 0] = (255, 0, 0)  # top-left pixel is blue in BGR
    preview = make_preview(frame, seq=7)
    assert preview.size == (3, 2) and preview.texture_size == (3, 2) and preview.seq == 7
    assert tuple(preview.rgba[0, 0]) == (0, 0, 255, 255)  # RGBA, first row = top (texture flips)
    assert preview.rgba.flags.c_contiguous  # uploaded as is
    gray = make_preview(np.full((2, 3), 9, np.uint8))
    assert tuple(gray.rgba[1, 2]) == (9, 9, 9, 255)
    big = np.zeros((2000, 1000, 3), np.uint8)
    small, factor = downscale_for_display(big)
    assert small.shape == (667, 334, 3) and factor == pytest.approx(1 / 3)
    assert make_preview(big).size == (1000, 2000)  # boxes stay in the frame's own pixels
