"""The writing, not the table or the shadow beside it, sets the scale; the ground round a
piece, not its middle, says whether it lies on the sheet."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.vision import find_digits, scale
from edge_app.vision.image import load
from trainer.data import read_idx_dir
from trainer.synth.scenes import SceneMaker

PHOTOS = Path(__file__).parent / "data" / "photos"


@pytest.fixture(scope="module")
def sheets_on_tables() -> list:
    """Generated photos of a string on a sheet lying on a table, a wedge of table at the
    photo's edge (seed 1, the first 20 such; MNIST test digits of the shipped mini subset).

    Searched for by tag, not picked by index: the generator's photos differ from one machine
    to another in their last bits (OpenCV's and NumPy's SIMD paths round differently), and a
    different last bit can send a photo down another branch of the generator.
    """
    mnist = read_idx_dir(Path(__file__).parent / "data" / "mnist-mini")
    maker = SceneMaker(mnist.x_test, mnist.y_test, seed=1)
    photos = []
    while len(photos) < 20:
        photo = maker.make("string")
        if "table" in photo.tags:
            photos.append(photo)
    return photos


def test_a_table_along_the_photos_edge_does_not_set_the_scale(sheets_on_tables):
    at_scale = []
    for photo in sheets_on_tables:
        source = load(photo.image)
        tall = float(np.median([box[3] for box in photo.boxes]))
        heights = [
            p.char_height / p.scale
            for inverted in scale.polarities(source)
            for p in scale.plan(source, inverted)
        ]
        # One reading is at the writing's own size (within a factor 2 of its digits' height).
        at_scale.append(any(0.5 <= h / tall <= 2.0 for h in heights))
    # Measured on an AMD EPYC (Zen 4): 15 of these 20 are (16 at 1001bd9); two of margin for
    # another machine's photos.
    assert sum(at_scale) >= 13, at_scale


def test_a_fat_marker_digit_is_not_taken_for_the_table():
    """A marker digit filling a 379 px photo (generated crop 79 of seed 2, kept as a file), whose
    stroke is wider than the paper's kernel, so the paper estimated at its middle is dark."""
    image = cv2.imread(str(PHOTOS / "fat_marker_crop.png"), cv2.IMREAD_UNCHANGED)
    truth = json.loads((PHOTOS / "regressions.json").read_text())["fat_marker_crop.png"]
    assert "marker" in truth["tags"]
    ((tx, ty, tw, th),) = truth["boxes"]
    boxes = [c.box for c in find_digits(image)]
    on_digit = [
        (x, y, w, h) for x, y, w, h in boxes
        if min(x + w, tx + tw) - max(x, tx) > tw / 2 and min(y + h, ty + th) - max(y, ty) > th / 2
    ]  # fmt: skip
    assert on_digit, (truth["boxes"], boxes)


def test_writing_measured_closer_is_not_swapped_for_the_table_beside_it():
    """Thin pencil digits on a sheet, a strip of blue table along the photo's left edge
    (generated string 43 of seed 700201, kept as a file). The first look sees the pencil too
    thin to measure and looks closer at the writing's region, which takes in the strip: the
    strip, heavier than the writing, set the scale (330 px "characters") and nothing was read."""
    image = cv2.imread(str(PHOTOS / "sheet_on_table.png"))
    truth = json.loads((PHOTOS / "regressions.json").read_text())["sheet_on_table.png"]
    assert "table" in truth["tags"]
    tall = float(np.median([box[3] for box in truth["boxes"]]))
    source = load(image)
    plans = scale.plan(source, False)

    def holds_the_writing(plan: scale.Plan) -> bool:
        x, y, w, h = plan.roi
        inside = all(
            x <= bx and y <= by and bx + bw <= x + w and by + bh <= y + h
            for bx, by, bw, bh in truth["boxes"]
        )
        return inside and 0.5 <= plan.char_height / plan.scale / tall <= 2.0

    assert any(holds_the_writing(p) for p in plans), (tall, plans)


@pytest.mark.parametrize(
    "shape", [(480, 640), (600, 800), (3000, 4000), (2592, 4608), (1001, 1999)]
)
def test_a_thumbnail_is_the_whole_image_at_its_side(shape):
    # a smooth photo-like image: light paper, a dark band, a vignette
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    gray = 200 - 60 * ((xx / shape[1] - 0.5) ** 2 + (yy / shape[0] - 0.5) ** 2)
    gray[:, shape[1] // 3 : shape[1] // 2] -= 80
    source = load(gray.astype(np.uint8))
    small = source.thumbnail(scale.COARSE_SIDE)
    whole = source.view(scale.COARSE_SIDE / max(shape))
    assert small.shape == whole.shape and max(small.shape) == scale.COARSE_SIDE
    assert np.abs(small.astype(int) - whole).mean() < 1.0
    assert abs(float(np.median(small)) - float(np.median(whole))) <= 1
