"""The real Kivy app, offscreen in a subprocess, reacting to events: touch strokes in draw
mode, a model picked from the menu, pause, resume and stop, a refused Android permission.

Each test runs a small driver script (tests/offscreen.py) that hands the app its parts through
its constructor, acts on it on the Kivy clock and prints what it saw as JSON. What the app
reads and shows from the command line: test_app_kivy.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from offscreen import BAND_INT8, DATA, SHIPPED_INT8, needs_shipped, run_driver

# find_spec, not importorskip: importing Kivy here would create ~/.kivy in the test process
pytestmark = [
    pytest.mark.kivy,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("kivy") is None, reason="Kivy is not installed"),
]


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
