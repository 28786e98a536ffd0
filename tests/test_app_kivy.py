"""The real Kivy app, started offscreen in a subprocess (Kivy's global state must not leak).

``tests/conftest.py`` sets ``SDL_VIDEODRIVER=offscreen``, ``KIVY_NO_ARGS=1`` and a temporary
``KIVY_HOME``. Each test runs ``digits-app`` (or a small driver script that hands the app its
parts - models, frame source, permissions - through its constructor) and asserts on the final
state the app prints as JSON, and on the screenshot it saved.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.classifier import Classifier
from edge_app.reader import DigitReader

# find_spec, not importorskip: importing Kivy here would create ~/.kivy in the test process
pytestmark = [
    pytest.mark.kivy,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("kivy") is None, reason="Kivy is not installed"),
]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
BAND_INT8 = DATA / "models" / "band_int8.tflite"
SHIPPED_INT8 = ROOT / "edge_app" / "models" / "digits_int8.tflite"
SHIPPED_FLOAT = ROOT / "edge_app" / "models" / "digits_float32.tflite"
needs_shipped = pytest.mark.skipif(
    not SHIPPED_INT8.is_file(),
    reason="the shipped model edge_app/models/digits_int8.tflite is "
    "not there yet (make default-model)",
)


def kivy_env(tmp_path: Path) -> dict[str, str]:
    """The test environment plus a fresh KIVY_HOME (Kivy creates only its last path part)."""
    env = os.environ.copy()
    env["KIVY_HOME"] = str(tmp_path / "kivy_home")
    env.setdefault("SDL_VIDEODRIVER", "offscreen")
    env.setdefault("KIVY_NO_ARGS", "1")
    return env


def run_python(tmp_path: Path, args: list[str], timeout: int = 120):
    """``python ARGS`` in a fresh process, in ``tmp_path``, with its own KIVY_HOME."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True, text=True, cwd=tmp_path, env=kivy_env(tmp_path), timeout=timeout,
    )  # fmt: skip


def run_app(tmp_path: Path, args: list[str], timeout: int = 120):
    """``digits-app ARGS`` (as ``python -m edge_app.app``) in a fresh process."""
    return run_python(tmp_path, ["-m", "edge_app.app", *args], timeout)


DRIVER_PRELUDE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from kivy.clock import Clock
    from edge_app.app import ui
    from edge_app.app.config import AppConfig
    from edge_app.app.engines import Engine, EngineBook

    # on the Kivy clock: step() after `first` s, then every `every` s until it returns true
    # (or `tries` calls were made); then then()
    def poll(step, then, *, first=0.3, every=0.1, tries=None):
        calls = [0]

        def tick(_dt):
            calls[0] += 1
            if not step() and (tries is None or calls[0] < tries):
                Clock.schedule_once(tick, every)
                return
            then()

        Clock.schedule_once(tick, first)

    def finish(app, out):  # the driver's result is its last line
        print(json.dumps(out))
        app.stop()
    """
)


def run_driver(tmp_path: Path, code: str, *args: str, timeout: int = 120) -> dict:
    """Run a driver script (after :data:`DRIVER_PRELUDE`); it prints one JSON object last."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER_PRELUDE + textwrap.dedent(code))
    proc = run_python(tmp_path, [str(script), *args], timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def state_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout  # stdout carries the result only; logs go to stderr
    return json.loads(lines[0])


def mnist_digits(labels_wanted: str) -> list[np.ndarray]:
    """Real handwritten digits from the shipped MNIST subset, one per wanted label."""
    mini = DATA / "mnist-mini"
    with gzip.open(mini / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(mini / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    out = []
    for ch in labels_wanted:
        index = int(np.flatnonzero(labels == int(ch))[0])
        out.append(images[index])
    return out


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A 'photo' of the handwritten number 3 8 5: dark ink on light paper, off-centre."""
    page = np.full((480, 640, 3), 225, np.uint8)
    page += np.linspace(0, 20, 640, dtype=np.uint8)[None, :, None]  # uneven light
    for i, digit in enumerate(mnist_digits("385")):
        big = cv2.resize(digit, (112, 112), interpolation=cv2.INTER_CUBIC)
        ink = big.astype(np.float32) / 255.0
        x, y = 150 + i * 110, 150
        region = page[y : y + 112, x : x + 112].astype(np.float32)
        page[y : y + 112, x : x + 112] = (region * (1 - ink[..., None] * 0.85)).astype(np.uint8)
    path = tmp_path / "number.png"
    cv2.imwrite(str(path), page)
    return path


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


# ----------------------------------------------------------------------------- draw mode
DRAW_DRIVER = """
    from kivy.tests.common import UnitTestTouch
    from edge_app.classifier import Prediction

    model, shape, shot = sys.argv[1], sys.argv[2], sys.argv[3]
    STROKES = {  # fractions of the canvas, y from the top
        "1": [[(0.52, 0.15 + 0.014 * i) for i in range(51)]],
        "7": [[(0.25 + 0.02 * i, 0.18) for i in range(26)]
              + [(0.75 - 0.0085 * i, 0.18 + 0.0135 * i) for i in range(51)]],
    }

    class Recorder:
        format, runtime = "fake", "fake"

        def __init__(self):
            self.images = []

        def classify(self, images):
            self.images.append(images.copy())
            return [Prediction(1, 0.9, ((1, 0.9), (7, 0.06), (4, 0.02)))]

    recorder = Recorder()
    if model == "fake":
        book = EngineBook({"fake": Path("fake.tflite")}, None,
                          loader=lambda n, p: Engine(n, p, recorder, None))
    else:
        book = EngineBook({"int8": Path(model)}, None)
    app = ui.DigitsApp(AppConfig(mode="draw"), book=book)

    def draw():
        pad = app.root.ids.draw_canvas
        for stroke in STROKES[shape]:
            # the pad sits in a Screen (a RelativeLayout): touches come in window coordinates
            points = [pad.to_window(pad.x + fx * pad.width, pad.top - fy * pad.height)
                      for fx, fy in stroke]
            touch = UnitTestTouch(*points[0])
            touch.touch_down()
            for p in points[1:]:
                touch.touch_move(*p)
            touch.touch_up()
        poll(lambda: app.presenter.view().bars and not app.jobs.busy, check, first=0.5, tries=100)

    def check():
        app.root_window.screenshot(shot)
        out = {
            "view": app.presenter.view().as_dict(),
            "strokes": len(app.root.ids.draw_canvas.drawing.strokes),
            "points": sum(map(len, app.root.ids.draw_canvas.drawing.strokes)),
            "framed": recorder.images[-1].tolist() if recorder.images else None,
        }
        finish(app, out)

    poll(lambda: app.controller.engine is not None, draw)
    app.run()
    """


def run_draw(tmp_path: Path, model: str, shape: str) -> tuple[dict, Path]:
    shot = tmp_path / f"draw_{shape}.png"
    out = run_driver(tmp_path, DRAW_DRIVER, model, shape, str(shot))
    shots = sorted(tmp_path.glob(f"draw_{shape}*.png"))  # Kivy numbers its screenshots
    return out, shots[-1]


def test_draw_mode_frames_touch_strokes_like_mnist(tmp_path: Path):
    out, shot = run_draw(tmp_path, "fake", "1")
    assert out["strokes"] == 1 and out["points"] > 40
    framed = np.array(out["framed"], dtype=np.uint8).reshape(28, 28)
    rows = np.flatnonzero(framed.max(axis=1) > 127)
    cols = np.flatnonzero(framed.max(axis=0) > 127)
    assert 18 <= rows[-1] - rows[0] + 1 <= 21  # fitted to MNIST's 20-pixel box...
    assert cols[-1] - cols[0] + 1 <= 5 and 12 <= cols.mean() <= 15  # ...a centred upright "1"
    view = out["view"]
    assert view["mode"] == "draw" and view["number"] == "1"
    assert [b["digit"] for b in view["bars"]] == [1, 7, 4]
    assert shot.is_file()


@needs_shipped
@pytest.mark.parametrize("shape", ["1", "7"])
def test_draw_mode_predicts_a_drawn_digit_with_the_shipped_model(tmp_path: Path, shape: str):
    out, _ = run_draw(tmp_path, str(SHIPPED_INT8), shape)
    view = out["view"]
    assert view["number"] == shape, view["bars"]
    assert view["bars"][0]["digit"] == int(shape) and view["bars"][0]["probability"] > 0.5
    assert len(view["bars"]) == 3


# ----------------------------------------------------------------------------- model switch
SWITCH_DRIVER = """
    photo, first, second = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    book = EngineBook({"int8": first, "float32": second}, None)
    app = ui.DigitsApp(AppConfig(source=photo), book=book)
    log = []

    picked = []

    def watch():
        view = app.presenter.view()
        log.append((view.model, view.model_ms, view.analysis_fps))
        if not picked and view.model == "int8" and view.analysis_fps:
            picked.append(len(log))  # int8 is reading: pick float32 like a user would
            app.root.ids.model_spinner.text = "float32"
        switched = bool(picked) and view.model == "float32" and bool(view.analysis_fps)
        return switched and len(log) > picked[0] + 5

    def report():
        finish(app, {"log": log, "view": app.presenter.view().as_dict(),
                     "spinner": app.root.ids.model_spinner.text,
                     "engine": app.controller.engine.name})

    poll(watch, report, first=0.5, tries=300)  # <= 30 s when busy
    app.run()
    """


def test_switching_model_live_changes_the_engine_and_keeps_reading(tmp_path: Path, photo):
    band_float = DATA / "models" / "band_float32.tflite"
    out = run_driver(tmp_path, SWITCH_DRIVER, str(photo), str(BAND_INT8), str(band_float))
    assert out["engine"] == "float32" and out["spinner"] == "float32"
    view = out["view"]
    assert view["model"] == "float32" and view["models"] == ["int8", "float32"]
    assert view["status"].startswith("float32  |  model ")
    assert {m for m, _, _ in out["log"]} - {""} == {"int8", "float32"}  # "": still loading
    assert view["model_ms"] is not None and view["analysis_fps"]  # the new model reads live


# ----------------------------------------------------------------------------- camera lifecycle
LIFECYCLE_DRIVER = """
    import numpy as np
    from edge_app.app.sources import FrameSource

    events = []

    class CountingCamera(FrameSource):
        name = "counting camera"

        def open(self):
            events.append("open")

        def read(self):
            time.sleep(0.02)
            return np.full((48, 64, 3), 200, np.uint8)

        def close(self):
            events.append("close")

    book = EngineBook({"int8": Path(sys.argv[1])}, None)
    app = ui.DigitsApp(AppConfig(), book=book, make_source=lambda config: CountingCamera())
    seen = {}

    def released():  # the capture thread closes the camera after its last read
        app.controller.last_camera.released.wait(5)
        return list(events)

    def camera_reading():
        camera = app.controller.camera
        return camera is not None and camera.stats().analysed >= 3

    def started():
        seen["before_pause"] = list(events)
        began = time.monotonic()
        app.on_pause()
        seen["pause_ms"] = (time.monotonic() - began) * 1e3
        seen["after_pause"] = released()
        app.on_resume()
        Clock.schedule_once(resumed, 0.5)

    def resumed(_dt):
        seen["after_resume"] = list(events)
        seen["frames_after_resume"] = app.controller.camera.stats().captured
        app.controller.toggle_freeze()
        seen["frozen"] = app.presenter.view().frozen
        app.controller.set_mode("draw")
        seen["after_draw_mode"] = released()
        app.stop()

    poll(camera_reading, started)
    app.run()
    seen["after_stop"] = list(events)
    print(json.dumps(seen))
    """


def test_camera_connects_after_start_and_is_released_on_pause_and_stop(tmp_path: Path):
    seen = run_driver(tmp_path, LIFECYCLE_DRIVER, str(BAND_INT8))
    assert seen["before_pause"] == ["open"]
    assert seen["pause_ms"] < 15  # on_pause does not wait for the capture thread
    assert seen["after_pause"] == ["open", "close"]  # released while in the background
    assert seen["after_resume"] == ["open", "close", "open"]
    assert seen["frames_after_resume"] > 0 and seen["frozen"]
    assert seen["after_draw_mode"] == ["open", "close", "open", "close"]  # no camera in draw
    assert seen["after_stop"] == seen["after_draw_mode"]


# ----------------------------------------------------------------------------- Android permission
PERMISSION_DRIVER = """
    import types
    from edge_app.app.permissions import AndroidPermissions

    asked = []

    def request_permissions(names, callback):
        asked.append(list(names))
        callback(names, [False] * len(names))  # the user taps "Don't allow"

    api = types.SimpleNamespace(  # what p4a's android.permissions provides
        Permission=types.SimpleNamespace(CAMERA="android.permission.CAMERA"),
        check_permission=lambda name: False,
        request_permissions=request_permissions,
    )

    def no_camera(config):
        raise AssertionError("camera opened")

    app = ui.DigitsApp(
        AppConfig(), book=EngineBook({"int8": Path(sys.argv[1])}, None),
        make_source=no_camera, permissions=AndroidPermissions(api),
    )

    def left_camera_mode():
        view = app.presenter.view()
        return not (view.mode == "camera" and view.camera_available)

    def report():
        finish(app, {"asked": asked, "view": app.presenter.view().as_dict()})

    poll(left_camera_mode, report)
    app.run()
    """


def test_refused_camera_permission_opens_draw_mode_without_touching_the_camera(tmp_path: Path):
    out = run_driver(tmp_path, PERMISSION_DRIVER, str(BAND_INT8))
    assert out["asked"] == [["android.permission.CAMERA"]]
    view = out["view"]
    assert view["mode"] == "draw" and not view["camera_available"]
    assert view["notice"] == "camera unavailable: camera permission refused - draw a digit instead"


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
