"""What a /v1/classify image means: polarity, paper level, framing; and decoding with limits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import edge_app.models as models
from edge_app.serve.errors import ApiError
from edge_app.serve.inputs import decode_upload, digit_from_image, digit_from_pixels
from edge_app.serve.uploads import Upload


def drawn_seven(side: int = 280, ink: int = 0, paper: int = 255) -> np.ndarray:
    """A 7 drawn the way the page's pad draws it: a 20 px round pen on a square."""
    image = np.full((side, side), paper, np.uint8)
    s = side / 280
    points = np.array([[65, 55], [215, 52], [175, 140], [140, 230]]) * s
    cv2.polylines(image, [points.astype(np.int32)], False, ink, int(20 * s), cv2.LINE_AA)
    return image


def test_a_dark_drawing_on_white_becomes_mnist_white_on_black():
    digit = digit_from_image(drawn_seven())
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit[0].max() == 0 and digit[:, 0].max() == 0  # black background, as MNIST
    assert digit.max() > 200
    ys, xs = np.nonzero(digit > 30)
    assert max(np.ptp(ys), np.ptp(xs)) + 1 <= 21  # fitted into MNIST's 20x20 box


def test_polarity_and_paper_level_do_not_matter():
    dark_on_light = digit_from_image(drawn_seven(ink=30, paper=225))
    light_on_dark = digit_from_image(drawn_seven(ink=225, paper=30))
    assert np.abs(dark_on_light.astype(int) - light_on_dark.astype(int)).max() <= 2


def test_a_colour_drawing_works_like_a_gray_one():
    gray = drawn_seven()
    colour = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    assert np.array_equal(digit_from_image(colour), digit_from_image(gray))


def test_a_28x28_image_is_taken_as_framed():
    mnist_like = np.zeros((28, 28), np.uint8)
    mnist_like[5:23, 12:16] = 255
    assert np.array_equal(digit_from_image(mnist_like), mnist_like)


def test_a_blank_image_holds_no_digit():
    with pytest.raises(ApiError) as exc:
        digit_from_image(np.full((100, 100), 240, np.uint8))
    assert exc.value.code == "bad_digit" and "blank" in exc.value.detail


@pytest.mark.skipif(not models.model_path("int8").is_file(), reason="no shipped int8 model")
def test_the_shipped_model_reads_the_drawn_seven():
    from edge_app.classifier import Classifier

    (prediction,) = Classifier(models.default_model_path()).classify(
        digit_from_image(drawn_seven())[None], top_k=3
    )
    assert prediction.digit == 7 and prediction.confidence > 0.8


def test_pixels_rounding_and_shape():
    rows = [[0.4] * 28 for _ in range(28)]
    rows[3][4] = 254.6
    digit = digit_from_pixels(rows)
    assert digit[3, 4] == 255 and digit.sum() == 255
    assert np.array_equal(digit_from_pixels(np.asarray(rows).ravel().tolist()), digit)
    for bad in ([True] * 784, [float("nan")] * 784, None, [[0] * 28] * 28 + [[0]]):
        with pytest.raises(ApiError):
            digit_from_pixels(bad)


def test_decode_names_the_source_and_applies_the_pixel_limit():
    ok, buf = cv2.imencode(".png", np.zeros((100, 200), np.uint8))
    data = buf.tobytes()
    assert decode_upload(Upload(data, "a.png"), max_pixels=20_000).shape == (100, 200)
    with pytest.raises(ApiError) as exc:
        decode_upload(Upload(data, "a.png"), max_pixels=19_999)
    assert exc.value.code == "image_too_large" and "'a.png' is 200x100" in exc.value.detail
    with pytest.raises(ApiError) as exc:
        decode_upload(Upload(data[:40]), max_pixels=10**6)
    assert exc.value.code == "corrupt_image" and exc.value.detail.startswith("the body")
    with pytest.raises(ApiError) as exc:
        decode_upload(Upload(b"%PDF-1.7 not an image"), max_pixels=10**6)
    assert exc.value.code == "not_an_image"
