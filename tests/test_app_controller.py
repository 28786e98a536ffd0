"""The app's behaviour without Kivy and without threads: AppController driven through fakes.

Every part the controller is given is a fake (``fakes.App``): a screen that records what it is
told, a UI loop whose clock the test moves, a job runner that runs jobs at once and a camera the
test feeds frames into. Start-up, camera frames, modes and drawing, and ``--quit-after`` here;
Android permissions in test_app_permissions.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import App, FakeSource

from edge_app.app.config import AppConfig
from edge_app.app.controller import DRAW_THROTTLE_S, FIRST_READING_GRACE_S
from edge_app.app.presenter import DRAW_HINT


# ----------------------------------------------------------------------------- start-up
def test_start_loads_a_model_off_the_ui_thread_then_connects_the_camera():
    app = App()
    assert app.jobs.kinds == ["model"]
    assert app.controller.engine.name == "int8"
    assert app.view.model == "int8" and app.view.models == ("int8", "float32")
    assert len(app.cameras) == 1 and app.camera.state == "running"
    assert app.camera.open_in_thread and app.camera.previous is None
    assert app.screen.placeholder == "connecting fake camera..."


def test_no_usable_model_says_so_and_starts_no_camera():
    app = App(broken={"int8", "float32"})
    assert app.cameras == []
    assert app.view.message.startswith("no model can be loaded: no usable model")


def test_a_camera_that_must_open_on_the_ui_thread_is_opened_before_the_pipeline():
    source = FakeSource(on_main_thread=True)
    app = App(source=source)
    assert source.opened == 1 and not app.camera.open_in_thread


def test_a_camera_that_does_not_open_moves_to_draw_mode():
    app = App(source=FakeSource(on_main_thread=True, fail=True))
    assert app.cameras == []
    assert app.view.mode == "draw" and not app.view.camera_available
    assert app.view.notice == "camera unavailable: no camera here - draw a digit instead"


# ----------------------------------------------------------------------------- camera frames
def test_each_frame_is_shown_and_a_reading_shows_its_boxes_on_its_own_frame():
    app = App()
    first = app.camera.deliver()
    app.loop.run()
    assert app.screen.frames == [first] and app.view.boxes == ()
    app.camera.read(first)
    app.loop.run()
    assert [b.digit for b in app.view.boxes] == [4, 2] and not app.view.boxes_stale
    second = app.camera.deliver()  # a new frame before its reading: the boxes are from before
    app.loop.run()
    assert app.screen.frames == [first, second] and app.view.boxes_stale
    app.camera.read(second)
    app.loop.run()
    assert not app.view.boxes_stale
    assert app.screen.view.boxes_stale is False  # ...and the screen was told so


def test_frames_arriving_faster_than_the_ui_are_shown_newest_first_in_one_redraw():
    app = App()
    app.camera.deliver()
    app.camera.deliver()
    newest = app.camera.deliver()  # three wake-ups before the UI thread gets to run
    shown_before = len(app.screen.views)
    app.loop.run()
    assert app.screen.frames == [newest]  # one coalesced redraw, with the newest frame
    assert len(app.screen.views) == shown_before + 1


def test_readings_are_smoothed_and_timed():
    app = App()
    for digits in ("42", "42", "42", "47"):
        app.camera.read(app.camera.deliver(), digits)
        app.loop.advance(1 / 30)
    view = app.view
    assert view.number == "42"  # one odd frame changes nothing
    assert view.latency_ms == 4.0 and view.model_ms == 0.2
    assert view.preview_fps == pytest.approx(30, rel=0.01)
    assert view.analysis_fps == pytest.approx(30, rel=0.01)
    assert view.ui_ms is not None
    assert "preview 30 fps" in view.status and "analysis 30 fps" in view.status
    run = app.controller.state()["run"]
    assert run["frames_shown"] == 4 and run["readings_shown"] == 4
    assert run["read_ms"]["median"] == 3.0 and run["read_cpu_ms"]["median"] == 2.5


def test_freeze_pauses_the_camera_and_holds_the_reading():
    app = App()
    for _ in range(3):
        app.camera.read(app.camera.deliver(), "12")
        app.loop.run()
    app.controller.primary_action()  # the button reads "Freeze" in camera mode
    assert app.camera.state == "paused" and app.view.frozen
    app.camera.read(app.camera.deliver(), "99")
    app.loop.run()
    assert app.view.number == "12" and app.screen.frames[-1] == 3  # nothing new shown
    app.controller.toggle_freeze()
    assert app.camera.state == "running" and not app.view.frozen


def test_a_failing_camera_moves_to_draw_mode_and_a_replaced_cameras_error_is_ignored():
    app = App()
    old = app.camera
    app.controller.pause()
    app.controller.resume()
    assert len(app.cameras) == 2 and app.camera.previous is old  # waits for old's release
    old.on_error("late error from the camera stopped before")
    app.loop.run()
    assert app.view.mode == "camera"
    app.camera.on_error("camera unplugged")
    app.loop.run()
    assert app.camera.state == "stopped"
    assert app.view.mode == "draw" and "camera unplugged" in app.view.notice


def test_pause_releases_the_camera_and_resume_reconnects_only_in_camera_mode():
    app = App()
    app.controller.pause()
    assert app.camera.state == "stopped" and app.controller.camera is None
    app.controller.set_mode("draw")
    app.controller.resume()
    assert len(app.cameras) == 1


# ----------------------------------------------------------------------------- modes and drawing
def test_draw_mode_stops_the_camera_and_classifies_the_canvas_at_most_every_throttle():
    app = App()
    app.screen.strokes = [[(200.0, 60.0 + 6 * i) for i in range(50)]]  # a "1"
    app.controller.set_mode("draw")
    assert app.camera.state == "stopped"
    app.loop.advance(0.001)
    assert app.jobs.kinds == ["model", "draw"]
    assert app.view.number == "1" and [b.digit for b in app.view.bars] == [1, 7, 4]
    assert app.classifier.images[-1].shape == (28, 28)  # framed like MNIST
    for _ in range(10):  # a stroke moving: ten changes within one throttle period
        app.controller.on_drawing_changed()
        app.loop.advance(DRAW_THROTTLE_S / 20)
    assert app.jobs.kinds.count("draw") == 1
    app.loop.advance(DRAW_THROTTLE_S)
    assert app.jobs.kinds.count("draw") == 2  # ...classified once more, not ten times


def test_an_empty_canvas_shows_the_hint_and_the_clear_button_clears():
    app = App(AppConfig(mode="draw"))
    app.loop.advance(0.001)
    assert app.view.message == DRAW_HINT and app.classifier.images == []
    app.controller.primary_action()
    assert app.screen.cleared == 1


def test_image_mode_reads_the_source_photo_and_shows_it_with_its_boxes(tmp_path: Path):
    import cv2

    photo = tmp_path / "form.png"
    cv2.imwrite(str(photo), np.full((30, 40, 3), 200, np.uint8))
    app = App(AppConfig(source=str(photo), mode="image"))
    assert app.jobs.kinds == ["model", "image"] and app.cameras == []
    assert app.screen.photos[-1].size == (40, 30)
    assert app.view.number == "42" and app.view.message == "form.png"
    app.controller.open_photo(str(tmp_path / "missing.png"))
    app.loop.run()
    assert app.screen.photos[-1] is None and "missing.png" in app.view.message


def test_a_model_that_fails_to_load_keeps_the_current_one_and_resets_the_menu():
    app = App(broken={"float32"})
    app.controller.select_model("float32")
    app.loop.run()
    assert app.controller.engine.name == "int8"
    assert app.screen.model_menu == "int8" and app.view.models == ("int8",)


# ----------------------------------------------------------------------------- --quit-after
def test_quit_after_waits_for_a_first_reading_then_saves_the_screenshot(tmp_path: Path):
    shot = tmp_path / "shot.png"
    app = App(AppConfig(quit_after=2.0, screenshot=shot))
    app.loop.advance(2.5)
    assert not app.screen.quit_called  # no reading yet: it waits
    app.camera.read(app.camera.deliver())
    app.loop.advance(0.5)
    assert app.screen.quit_called and app.screen.screenshots == [shot]
    state = app.controller.final_state
    assert state["number"] == "" and state["boxes"]  # 1 of 3 frames: not stable yet
    assert state["screenshot"] == str(shot) and state["source"] == "camera"
    assert state["run"]["frames_captured"] == 1 and state["run"]["frames_shown"] == 1


def test_quit_after_gives_up_waiting_for_a_reading_eventually():
    app = App(AppConfig(quit_after=1.0))
    app.loop.advance(1.0 + FIRST_READING_GRACE_S - 0.5)
    assert not app.screen.quit_called
    app.loop.advance(1.0)
    assert app.screen.quit_called and app.controller.final_state["mode"] == "camera"


def test_quit_after_in_draw_mode_does_not_wait():
    app = App(AppConfig(mode="draw", quit_after=1.0))
    app.loop.advance(1.01)
    assert app.screen.quit_called and "run" not in app.controller.final_state
