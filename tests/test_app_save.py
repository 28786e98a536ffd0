"""The app's Save button: what each mode keeps, what a press saves, what the screen says.

Driven through the controller fakes of fakes.py (no Kivy, no threads), with a fake crop saver
that records what it was asked to save; the real saver is tested in test_collect.py, and the
whole app offscreen in test_app_kivy.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fakes import App

from edge_app.app.config import AppConfig
from edge_app.app.controller import DRAW_THROTTLE_S
from edge_app.app.saving import SaveAction
from edge_app.errors import CropFolderError


@dataclass
class FakeSaved:
    new: bool


class FakeSaver:
    def __init__(self, folder: Path, fail: bool = False) -> None:
        self.folder, self.fail = folder, fail
        self.readings: list = []
        self.digits: list = []

    def save_reading(self, image, reading, source, classifier=None):
        if self.fail:
            raise CropFolderError(f"cannot save {self.folder}/4/x.png: No space left on device")
        self.readings.append((image.copy(), reading, source, classifier))
        first = len(self.readings) == 1
        return [FakeSaved(first) for _ in reading.detections]

    def save_digit(self, pixels, digit, confidence, source, **kwargs):
        self.digits.append((pixels, digit, confidence, source))
        return FakeSaved(True)


def app_with_saver(tmp_path, fail: bool = False, **config):
    savers: list[FakeSaver] = []

    def make(folder: Path) -> FakeSaver:
        savers.append(FakeSaver(folder, fail))
        return savers[-1]

    saving = SaveAction(tmp_path / "crops", make_saver=make)
    return App(AppConfig(**config), saving=saving), savers


def test_camera_save_saves_the_last_frame_read(tmp_path):
    app, savers = app_with_saver(tmp_path)
    app.controller.save()
    app.loop.run()
    assert app.screen.view.message == "nothing read here yet to save" and savers == []
    seq = app.camera.deliver()
    app.camera.read(seq)
    app.loop.run()
    app.controller.toggle_freeze()
    app.controller.save()
    app.loop.run()
    ((image, reading, source, classifier),) = savers[0].readings
    assert reading.digits == "42" and source == "camera" and image.shape == (4, 6, 3)
    assert classifier is app.classifier
    assert app.screen.view.message == f"saved 2 digits to {tmp_path / 'crops'}"
    app.controller.save()  # the same frame again: nothing new
    app.loop.run()
    assert app.screen.view.message.endswith("(2 saved before)")
    assert "save" in app.jobs.kinds


def test_image_mode_saves_the_photo_read(tmp_path):
    import cv2

    photo = tmp_path / "form.png"
    cv2.imwrite(str(photo), np.full((30, 40), 255, np.uint8))
    app, savers = app_with_saver(tmp_path, mode="image")
    app.controller.open_photo(str(photo))
    app.loop.run()
    app.controller.save()
    app.loop.run()
    assert savers[0].readings[0][2] == "form.png"
    assert app.screen.view.message.startswith("saved 2 digits to")


def test_draw_mode_saves_the_drawing_as_its_digit(tmp_path):
    app, savers = app_with_saver(tmp_path, mode="draw")
    app.screen.strokes = [[(10.0, 10.0), (10.0, 60.0)]]
    app.controller.on_drawing_changed()
    app.loop.advance(DRAW_THROTTLE_S)
    app.controller.save()
    app.loop.run()
    ((pixels, digit, confidence, source),) = savers[0].digits
    assert pixels.shape == (28, 28) and digit == 1 and confidence == pytest.approx(0.9)
    assert source == "drawing" and app.screen.view.message.startswith("saved 1 digit to")
    app.screen.strokes = []  # cleared: nothing left to save
    app.controller.on_drawing_changed()
    app.loop.advance(DRAW_THROTTLE_S)
    app.controller.save()
    app.loop.run()
    assert app.screen.view.message == "nothing read here yet to save"


def test_a_failed_save_says_why_and_the_app_goes_on(tmp_path):
    app, _ = app_with_saver(tmp_path, fail=True)
    seq = app.camera.deliver()
    app.camera.read(seq)
    app.loop.run()
    app.controller.save()
    app.loop.run()
    assert app.screen.view.message.startswith("cannot save: cannot save")
    assert "No space left" in app.screen.view.message
    seq = app.camera.deliver()
    app.camera.read(seq, "7")
    app.loop.run()
    assert [b.digit for b in app.screen.view.boxes] == [7]  # still reading frames


def test_save_crops_flag(tmp_path):
    from edge_app.app.cli import _config, build_parser

    parser = build_parser()
    default = _config(parser, parser.parse_args([]))
    assert default.save_crops == Path("~/digitlite-crops")
    given = _config(parser, parser.parse_args(["--save-crops", str(tmp_path)]))
    assert given.save_crops == tmp_path
