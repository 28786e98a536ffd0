"""The app's decisions, without Kivy: smoothing, freeze, messages, model switching, failures,
stale boxes, and the rates and timings it reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fakes import reading

from edge_app.app.engines import Engine, EngineBook
from edge_app.app.meters import RateMeter, RollingMedian, RunStats
from edge_app.app.pipeline import PipelineStats
from edge_app.app.presenter import (
    DRAW_HINT,
    NO_DIGITS,
    STATUS_REFRESH_S,
    Presenter,
    ReadingSmoother,
)
from edge_app.classifier import Prediction
from edge_app.errors import ModelError
from edge_app.reader import Reading

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


# ----------------------------------------------------------------------------- smoothing
def test_smoother_needs_k_of_n_frames_before_showing():
    s = ReadingSmoother(window=5, min_count=3)
    assert s.push("42") is None
    assert s.push("42") is None
    assert s.push("42") == "42"


def test_smoother_ignores_a_flicker_and_switches_after_k_frames():
    s = ReadingSmoother(window=5, min_count=3)
    for _ in range(3):
        s.push("42")
    assert s.push("47") == "42"  # one odd frame changes nothing
    assert s.push("42") == "42"
    assert s.push("47") == "42"
    assert s.push("47") == "47"  # 47 now seen in 3 of the last 5


def test_smoother_validates_its_parameters():
    with pytest.raises(ValueError):
        ReadingSmoother(window=3, min_count=4)


def test_camera_number_is_smoothed_and_boxes_follow_the_frame():
    p = Presenter("camera")
    for _ in range(3):
        view = p.on_frame_reading(reading("90210"))
    assert view.number == "90210"
    flicker = p.on_frame_reading(reading("90216"))
    assert flicker.number == "90210"
    assert [b.digit for b in flicker.boxes] == [9, 0, 2, 1, 6]  # boxes show this frame
    assert flicker.boxes[0].label == "9 90%"


def test_no_digits_in_view_says_so_once_stable():
    p = Presenter("camera")
    view = p.on_frame_reading(reading(""))
    assert view.message == ""  # not decided yet
    p.on_frame_reading(reading(""))
    view = p.on_frame_reading(reading(""))
    assert view.number == ""
    assert view.message == NO_DIGITS


def test_preview_and_analysis_rates_read_time_and_ui_time_are_shown():
    clock = FakeClock()
    p = Presenter("camera", clock=clock)
    p.set_models(["int8", "float32"], "int8")
    for seq in range(1, 13):  # a frame every 1/30 s, read every other frame
        p.on_frame_shown(seq)
        if seq % 2:
            p.on_model_timing(1.25)
            p.on_frame_reading(reading("7", latency_ms=8.0), seq)
        p.on_ui_time(1.0 + seq % 3)
        clock.t += 1 / 30
    clock.t += STATUS_REFRESH_S
    view = p.on_ui_time(2.0) or p.view()
    assert view.preview_fps == pytest.approx(30.0) and view.analysis_fps == pytest.approx(15.0)
    assert view.ui_ms == 2.0 and view.latency_ms == 8.0
    assert view.status == (
        "int8  |  model 1.2 ms  |  read 8.0 ms  |  preview 30 fps  |  analysis 15 fps  |  ui 2.0 ms"
    )
    as_dict = view.as_dict()
    assert as_dict["preview_fps"] == pytest.approx(30.0) and as_dict["ui_ms"] == 2.0


def test_status_figures_change_at_most_twice_a_second():
    clock = FakeClock()
    p = Presenter("camera", clock=clock)
    p.on_frame_shown(1)
    p.on_frame_reading(reading("7", latency_ms=8.0), 1)
    assert "read 8.0 ms" in p.view().status  # a figure appearing shows at once
    clock.t += 0.1
    p.on_frame_reading(reading("7", latency_ms=9.0), 2)
    assert p.view().latency_ms == 9.0 and "read 8.0 ms" in p.view().status  # label unchanged
    clock.t += STATUS_REFRESH_S
    p.on_frame_reading(reading("7", latency_ms=9.5), 3)
    assert "read 9.5 ms" in p.view().status


def test_boxes_from_an_earlier_frame_are_marked_stale_until_their_frame_is_read():
    p = Presenter("camera")
    p.on_frame_shown(1)
    assert not p.on_frame_reading(reading("42"), 1).boxes_stale  # boxes of the frame on screen
    assert p.on_frame_shown(2).boxes_stale  # frame 2 shown, its reading not in yet
    assert p.on_frame_shown(3).boxes_stale
    assert p.on_frame_reading(reading("42"), 2).boxes_stale  # read frame 2, frame 3 is up
    assert not p.on_frame_reading(reading("42"), 3).boxes_stale
    assert not p.on_frame_reading(reading(""), 3).boxes_stale  # no boxes: nothing stale
    assert not p.on_frame_shown(4).boxes_stale
    p.on_frame_reading(reading("1"), 4)
    assert not p.set_mode("image").boxes_stale


def test_rate_meter_needs_two_ticks():
    clock = FakeClock()
    meter = RateMeter(clock=clock)
    assert meter.tick() is None
    clock.t += 0.5
    assert meter.tick() == pytest.approx(2.0)


def test_rolling_median_of_the_last_values():
    median = RollingMedian(window=3)
    assert median.value is None
    for value in (100.0, 1.0, 2.0, 3.0):  # the 100 has left the window by the end
        median.add(value)
    assert median.value == 2.0


def test_run_stats_report_rates_times_and_the_ui_threads_cpu_per_frame():
    wall, cpu, process = FakeClock(), FakeClock(), FakeClock()
    stats = RunStats(clock=wall, thread_clock=cpu, process_clock=process)
    for i in range(31):  # 30 frame intervals in one second, every frame read
        stats.on_shown(ui_ms=1.0 + (i % 2))
        stats.on_reading(wall_ms=6.0, cpu_ms=4.0)
        wall.t += 1 / 30
        cpu.t += 0.002  # 2 ms of UI-thread CPU per frame
    process.t += 1.5
    pipeline = PipelineStats(captured=33, analysed=31, analysis_dropped=2, analysis_fps=29.5)
    out = stats.as_dict(pipeline)
    assert out["preview_fps"] == pytest.approx(30.0)
    assert out["readings_shown_fps"] == pytest.approx(30.0)
    assert out["analysis_fps"] == 29.5  # frames analysed per second, from the pipeline
    assert out["ui_ms"] == {"median": 1.0, "p90": 2.0}
    assert out["ui_cpu_ms_per_frame"] == pytest.approx(2.0)
    assert out["read_ms"]["median"] == 6.0 and out["read_cpu_ms"]["median"] == 4.0
    assert (out["frames_captured"], out["frames_shown"], out["analysis_dropped"]) == (33, 31, 2)
    assert out["cpu_s"] == 1.5 and out["wall_s"] == pytest.approx(31 / 30, abs=1e-3)
    empty = RunStats().as_dict()
    assert empty["preview_fps"] is None and empty["ui_ms"] == {"median": None, "p90": None}


# ----------------------------------------------------------------------------- freeze
def test_freeze_holds_the_reading_and_ignores_new_frames():
    p = Presenter("camera")
    for _ in range(3):
        p.on_frame_reading(reading("12"))
    view = p.toggle_freeze()
    assert view.frozen and not p.accepts_frames
    assert "frozen" in view.status
    for _ in range(5):
        view = p.on_frame_reading(reading("99"))
    assert view.number == "12"
    view = p.toggle_freeze()
    assert not view.frozen and p.accepts_frames


def test_freeze_only_applies_to_camera_mode():
    p = Presenter("draw")
    assert not p.toggle_freeze().frozen


# ----------------------------------------------------------------------------- image
def test_a_picture_without_digits_says_no_digits_found_not_a_guess():
    p = Presenter("image")
    view = p.on_image_reading(Reading("", [], 12.0), "blank.jpg")
    assert view.number == ""
    assert view.boxes == ()
    assert view.message == NO_DIGITS


def test_a_picture_with_digits_shows_them_and_their_boxes():
    p = Presenter("image")
    view = p.on_image_reading(reading("305"), "form.jpg")
    assert view.number == "305"
    assert len(view.boxes) == 3
    assert view.as_dict()["boxes"][1] == {"digit": 0, "confidence": 0.9, "box": [10, 5, 8, 12]}


def test_unreadable_picture_shows_the_reason():
    view = Presenter("image").on_image_failed("cannot read x.jpg: not an image")
    assert view.message == "cannot read x.jpg: not an image"


# ----------------------------------------------------------------------------- draw
def test_drawing_prediction_shows_the_top_three_as_bars():
    p = Presenter("draw")
    assert p.view().message == ""  # set by set_mode / first prediction
    pred = Prediction(7, 0.91, ((7, 0.91), (1, 0.05), (9, 0.02), (4, 0.01)))
    view = p.on_drawing_prediction(pred, 0.7)
    assert view.number == "7"
    assert [(b.digit, b.probability) for b in view.bars] == [(7, 0.91), (1, 0.05), (9, 0.02)]
    assert view.bars[0].label == "7  91%"
    empty = p.on_drawing_prediction(None)
    assert empty.bars == () and empty.number == "" and empty.message == DRAW_HINT


def test_switching_mode_clears_what_belongs_to_the_old_one():
    p = Presenter("camera")
    for _ in range(3):
        p.on_frame_reading(reading("5"))
    view = p.set_mode("draw")
    assert view.mode == "draw" and view.number == "" and view.boxes == ()
    assert view.message == DRAW_HINT
    with pytest.raises(ValueError):
        p.set_mode("video")


# ----------------------------------------------------------------------------- camera failure
def test_camera_failure_moves_to_draw_mode_with_a_clear_message():
    p = Presenter("camera")
    view = p.on_camera_failed("no camera at index 0 (OpenCV)")
    assert view.mode == "draw"
    assert not view.camera_available
    assert view.notice == (
        "camera unavailable: no camera at index 0 (OpenCV) - draw a digit instead"
    )
    assert view.message == DRAW_HINT
    again = p.set_mode("camera")  # the camera button cannot bring back a dead camera
    assert again.mode == "draw"
    drawn = p.on_drawing_prediction(Prediction(3, 0.8, ((3, 0.8),)))
    assert "camera unavailable" in drawn.notice  # the warning stays while the user draws
    assert p.set_mode("image").mode == "image"


def test_permission_refused_while_in_image_mode_keeps_the_mode():
    p = Presenter("image")
    view = p.on_camera_failed("camera permission refused")
    assert view.mode == "image" and "permission refused" in view.notice


# ----------------------------------------------------------------------------- models
def test_model_switch_state():
    p = Presenter("camera")
    p.set_models(["int8", "float32"], "int8")
    assert p.request_model("int8") is None  # already in use
    assert p.request_model("onnx") is None  # not on offer
    assert p.request_model("float32") == "float32"
    for _ in range(3):
        p.on_frame_reading(reading("3"))
    view = p.on_model_loaded("float32", model_ms=2.5)
    assert view.model == "float32" and view.models == ("int8", "float32")
    assert view.message == "model float32 loaded"
    assert view.number == "3"  # the shown number stays until the new model re-reads
    assert p.smoother.stable is None  # ... but the vote starts again with the new model


def test_model_that_fails_to_load_is_dropped_and_the_current_one_kept():
    p = Presenter("camera")
    p.set_models(["mine (--model)", "int8"], "int8")
    p.request_model("mine (--model)")
    view = p.on_model_failed("mine (--model)", "not a TFLite model")
    assert view.model == "int8"
    assert view.models == ("int8",)
    assert view.notice == "cannot use model mine (--model): not a TFLite model; still using int8"
    p.request_model("int8")
    assert p.on_model_loaded("int8").notice == ""  # picking a model clears the warning


def test_set_models_shows_a_fallback_warning():
    view = Presenter().set_models(["int8"], "int8", "cannot use --model: gone")
    assert view.notice == "cannot use --model: gone"


# ----------------------------------------------------------------------------- engine book
def fake_loader(broken: set[str]):
    loads = []

    def load(name: str, path: Path) -> Engine:
        loads.append(name)
        if name in broken or not str(path).endswith(".tflite"):
            raise ModelError(f"{path} is not a TFLite model")
        return Engine(name, path, classifier=object(), reader=object())

    return load, loads


def test_broken_user_model_falls_back_to_the_shipped_one_with_a_warning():
    load, loads = fake_loader(broken=set())
    book = EngineBook(
        {"float32": Path("f.tflite"), "int8": Path("i.tflite")}, Path("mine.txt"), load
    )
    assert book.names == ["mine (--model)", "int8", "float32"]  # int8 before float32
    engine, warning = book.first_usable()
    assert engine.name == "int8"
    assert warning.startswith("cannot use --model: mine.txt is not a TFLite model")
    assert book.names == ["int8", "float32"]
    assert book.get("int8") is engine and loads == ["mine (--model)", "int8"]  # cached


def test_good_user_model_is_used_first():
    load, _ = fake_loader(broken=set())
    book = EngineBook({"int8": Path("i.tflite")}, Path("mine.tflite"), load)
    engine, warning = book.first_usable()
    assert (engine.name, warning) == ("mine (--model)", "")


def test_user_model_that_is_a_shipped_file_is_offered_once():
    load, _ = fake_loader(broken=set())
    shipped = {"int8": Path("m/digits_int8.tflite"), "float32": Path("m/digits_float32.tflite")}
    book = EngineBook(shipped, Path("m/../m/digits_float32.tflite"), load)
    assert book.names == ["float32", "int8"]
    assert book.first_usable()[0].name == "float32"


def test_no_model_at_all_is_a_clear_error():
    load, _ = fake_loader(broken=set())
    with pytest.raises(ModelError, match="no model to run"):
        EngineBook({}, None, load).first_usable()
    load, _ = fake_loader(broken={"int8"})
    with pytest.raises(ModelError, match="no usable model: int8"):
        EngineBook({"int8": Path("i.tflite")}, None, load).first_usable()
    with pytest.raises(ModelError, match="no model named"):
        EngineBook({}, None, load).get("float16")


def test_engine_book_loads_real_fixture_models():
    models = ROOT / "tests" / "data" / "models"
    book = EngineBook({"int8": models / "band_int8.tflite"}, models / "wrong_shape.tflite")
    engine, warning = book.first_usable()
    assert engine.name == "int8" and engine.classifier.format == "int8"
    assert "cannot use --model" in warning and "expected [1, 28, 28, 1]" in warning


# ----------------------------------------------------------------------------- the rule
def test_app_logic_imports_neither_kivy_nor_tensorflow():
    code = (
        "import sys\n"
        "import edge_app.app.cli, edge_app.app.presenter, edge_app.app.engines\n"
        "import edge_app.app.sources, edge_app.app.worker, edge_app.app.drawing\n"
        "import edge_app.app.geometry, edge_app.app.controller, edge_app.app.pipeline\n"
        "import edge_app.app.meters, edge_app.app.ports, edge_app.app.permissions\n"
        "import edge_app.app.android_camera, edge_app.process\n"
        "bad = [m for m in ('kivy', 'tensorflow', 'keras', 'trainer', 'converter', 'benchmarks')"
        " if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"
