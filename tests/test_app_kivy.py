"""The real Kivy app, started offscreen in a subprocess (Kivy's global state must not leak):
what it reads and shows in camera and image mode, with a bad model, and what Save files.

``tests/conftest.py`` sets ``SDL_VIDEODRIVER=offscreen``, ``KIVY_NO_ARGS=1`` and a temporary
``KIVY_HOME``. Each test runs ``digits-app`` (or a small driver script that hands the app its
parts - models, frame source, permissions - through its constructor, tests/offscreen.py) and
asserts on the final state the app prints as JSON, and on the screenshot it saved. Touches,
the model menu, pause and resume and permissions: test_app_kivy_events.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from offscreen import BAND_INT8, SHIPPED_INT8, needs_shipped, run_driver, run_python

from edge_app.classifier import Classifier
from edge_app.reader import DigitReader

# find_spec, not importorskip: importing Kivy here would create ~/.kivy in the test process
pytestmark = [
    pytest.mark.kivy,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("kivy") is None, reason="Kivy is not installed"),
]


def run_app(tmp_path: Path, args: list[str], timeout: int = 120):
    """``digits-app ARGS`` (as ``python -m edge_app.app``) in a fresh process."""
    return run_python(tmp_path, ["-m", "edge_app.app", *args], timeout)


def state_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout  # stdout carries the result only; logs go to stderr
    return json.loads(lines[0])


@pytest.fixture
def blank(tmp_path: Path) -> Path:
    path = tmp_path / "blank.png"
    page = np.full((480, 640, 3), 230, np.uint8)
    page += np.linspace(0, 18, 480, dtype=np.uint8)[:, None, None]
    cv2.imwrite(str(path), page)
    return path


def green_pixels(png: Path) -> int:
    """How many pixels of the box colour (bright green) the screenshot has."""
    image = cv2.imread(str(png))
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(((g > 200) & (r < 120) & (b < 160)).sum())


# ----------------------------------------------------------------------------- camera mode
def test_camera_mode_on_an_image_source_shows_the_reading(tmp_path: Path, photo: Path):
    model = SHIPPED_INT8 if SHIPPED_INT8.is_file() else BAND_INT8
    png = tmp_path / "camera.png"
    args = ["--model", str(model), "--source", str(photo), "--screenshot", str(png)]
    state = state_of(run_app(tmp_path, [*args, "--quit-after", "2"]))
    expected = DigitReader(Classifier(model)).read(cv2.imread(str(photo))).digits
    assert state["mode"] == "camera" and state["camera_available"]
    assert state["number"] == expected  # what the same model reads, shown steadily
    # --model naming a shipped file selects it under its shipped name
    assert state["model"] == ("int8" if model == SHIPPED_INT8 else f"{model.stem} (--model)")
    assert state["latency_ms"] > 0 and state["preview_fps"] > 0 and state["analysis_fps"] > 0
    for part in ("read", "preview", "analysis", "ui"):
        assert part in state["status"]
    assert png.is_file() and cv2.imread(str(png)).shape[:2] == (600, 800)
    if state["boxes"]:
        assert not state["boxes_stale"]  # a still image: the boxes are always of the frame shown
        assert green_pixels(png) > 200  # the boxes are drawn
    assert state["message"] == ("" if expected else "no digits found")
    run = state["run"]
    assert run["frames_shown"] > 3 and run["ui_ms"]["median"] is not None


@needs_shipped
def test_camera_mode_reads_handwritten_digits_with_the_shipped_model(tmp_path: Path, photo):
    png = tmp_path / "camera_shipped.png"
    state = state_of(
        run_app(tmp_path, ["--source", str(photo), "--screenshot", str(png), "--quit-after", "2"])
    )
    assert state["number"] == "385"
    assert [b["digit"] for b in state["boxes"]] == [3, 8, 5]
    assert state["model"] == "int8" and set(state["models"]) >= {"int8", "float32"}
    assert green_pixels(png) > 200


@pytest.fixture
def clip(tmp_path: Path, photo: Path) -> Path:
    """Two seconds of 640x480 video at 30 fps: the photo drifting to the right."""
    page = cv2.imread(str(photo))
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for i in range(60):
        writer.write(np.roll(page, i, axis=1))
    writer.release()
    return path


@needs_shipped
def test_a_video_source_is_previewed_at_its_own_rate_and_read_as_fast_as_it_can(tmp_path, clip):
    state = state_of(run_app(tmp_path, ["--source", str(clip), "--quit-after", "3"]))
    run = state["run"]
    assert run["frames_captured"] >= 30 and run["frames_analysed"] >= 10
    assert 15 <= run["capture_fps"] <= 31  # the clip's own 30 fps (less on a very busy machine)
    assert run["frames_shown"] >= 0.3 * run["frames_captured"]  # shown whether read or not
    assert run["analysis_fps"] > 0 and run["readings_shown"] > 0
    assert run["ui_ms"]["median"] < 50 and run["read_ms"]["median"] > 0
    assert state["number"] == "385"


SLOW_READER_DRIVER = """
    from edge_app.classifier import Classifier
    from edge_app.reader import DigitReader

    class SlowReader:
        def __init__(self, reader):
            self.reader = reader

        def read(self, image):
            time.sleep(0.3)  # a reader ten times slower than the camera
            return self.reader.read(image)

    def load(name, path):
        classifier = Classifier(path)
        return Engine(name, path, classifier, SlowReader(DigitReader(classifier)))

    book = EngineBook({"int8": Path(sys.argv[2])}, None, loader=load)
    state = ui.run_app(AppConfig(source=sys.argv[1], quit_after=3.0), book=book)
    print(json.dumps(state))
    """


def test_a_slow_reader_does_not_slow_the_preview(tmp_path: Path, clip: Path):
    state = run_driver(tmp_path, SLOW_READER_DRIVER, str(clip), str(BAND_INT8))
    run = state["run"]
    assert run["analysis_fps"] is not None and run["analysis_fps"] < 4
    assert run["preview_fps"] >= 3 * run["analysis_fps"]  # before: preview rate = read rate
    assert run["analysis_dropped"] >= run["frames_analysed"]


def test_no_camera_starts_in_draw_mode_with_a_message(tmp_path: Path):
    args = ["--source", "opencv", "--camera-index", "63", "--quit-after", "1"]
    state = state_of(run_app(tmp_path, [*args, "--model", str(BAND_INT8)]))
    assert state["mode"] == "draw"
    assert not state["camera_available"]
    assert state["notice"].startswith("camera unavailable: no camera at index 63")
    assert state["message"] == "draw a digit"


# ----------------------------------------------------------------------------- bad model
@needs_shipped
def test_broken_model_falls_back_to_the_shipped_model(tmp_path: Path, photo: Path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"this is not a model")
    args = ["--model", str(broken), "--source", str(photo), "--mode", "image"]
    state = state_of(run_app(tmp_path, [*args, "--quit-after", "1"]))
    assert state["model"] == "int8" and state["models"] == ["int8", "float32"]
    assert state["notice"].startswith("cannot use --model: ")
    assert "broken.tflite" in state["notice"]


@needs_shipped
def test_missing_model_gives_a_clear_message_and_keeps_running(tmp_path: Path, blank: Path):
    args = ["--model", str(tmp_path / "nope.tflite"), "--source", str(blank), "--mode", "draw"]
    proc = run_app(tmp_path, [*args, "--quit-after", "1"])
    state = state_of(proc)
    assert state["model"] == "int8"
    assert "cannot use --model" in proc.stderr and "nope.tflite" in proc.stderr
    assert "XNNPACK" not in proc.stderr  # the interpreter's load chatter is filtered


# ----------------------------------------------------------------------------- image mode
def test_image_mode_without_digits_says_no_digits_found(tmp_path: Path, blank: Path):
    png = tmp_path / "blank.png.shot.png"
    args = ["--source", str(blank), "--mode", "image", "--screenshot", str(png)]
    state = state_of(run_app(tmp_path, [*args, "--model", str(BAND_INT8), "--quit-after", "1"]))
    assert state["mode"] == "image"
    assert state["number"] == "" and state["boxes"] == []
    assert state["message"] == "no digits found"
    assert png.is_file()


# ----------------------------------------------------------------------------- save
SAVE_DRIVER = """
    from kivy.uix.button import Button

    photo, crops = sys.argv[1], Path(sys.argv[2])
    app = ui.DigitsApp(AppConfig(mode="image", source=photo, save_crops=crops))
    seen = {}

    def read():
        seen["number"] = app.presenter.view().number
        (button,) = [w for w in app.root.walk() if isinstance(w, Button) and w.text == "Save"]
        button.dispatch("on_release")
        poll(lambda: app.presenter.view().message.startswith("saved"), saved, first=0.1)

    def saved():
        seen["message"] = app.presenter.view().message
        seen["files"] = sorted(p.parent.name for p in crops.glob("*/*.mnist.png"))
        finish(app, seen)

    poll(lambda: app.presenter.view().number != "", read)
    app.run()
    """


@needs_shipped
def test_the_save_button_files_the_digits_of_the_photo(tmp_path: Path, photo: Path):
    crops = tmp_path / "crops"
    out = run_driver(tmp_path, SAVE_DRIVER, str(photo), str(crops))
    assert out["number"] == "385"
    assert out["message"] == f"saved 3 digits to {crops}"
    assert out["files"] == ["3", "5", "8"]
