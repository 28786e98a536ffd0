"""The app asking Android for its permissions: AppController driven through fakes, no Kivy.

The controller's parts are the fakes of ``fakes.App`` (see test_app_controller.py), with
Android permissions the test answers; the adapter over p4a's ``android.permissions`` is tested
on a fake of that module.
"""

from __future__ import annotations

from pathlib import Path

from fakes import App

from edge_app.app.config import AppConfig
from edge_app.app.controller import CAMERA_PERMISSIONS, PHOTO_PERMISSIONS


class FakePermissions:
    def __init__(self, granted: bool = False) -> None:
        self.already = granted
        self.asked: list[list[str]] = []
        self.answer = None

    def granted(self, names) -> bool:
        return self.already

    def request(self, names, answered) -> None:
        self.asked.append(list(names))
        self.answer = answered


# ----------------------------------------------------------------------------- permissions
def test_a_refused_camera_permission_opens_draw_mode_without_touching_the_camera():
    permissions = FakePermissions()
    app = App(permissions=permissions)
    assert permissions.asked == [list(CAMERA_PERMISSIONS)] and app.cameras == []
    permissions.answer([False])
    app.loop.run()
    assert app.cameras == [] and app.view.mode == "draw"
    assert app.view.notice == "camera unavailable: camera permission refused - draw a digit instead"


def test_a_granted_camera_permission_connects_unless_the_user_left_camera_mode():
    permissions = FakePermissions()
    app = App(permissions=permissions)
    permissions.answer([True])
    app.loop.run()
    assert len(app.cameras) == 1
    late = FakePermissions()
    app = App(permissions=late)
    app.controller.set_mode("draw")
    late.answer([True])
    app.loop.run()
    assert app.cameras == []  # answered after leaving camera mode: no camera in draw mode


def test_a_permission_granted_before_is_not_asked_again():
    permissions = FakePermissions(granted=True)
    app = App(permissions=permissions)
    assert permissions.asked == [] and len(app.cameras) == 1


def test_the_photo_chooser_opens_even_when_reading_photos_is_refused(tmp_path: Path):
    permissions = FakePermissions()
    app = App(AppConfig(mode="draw"), permissions=permissions)
    app.controller.open_file_chooser()
    assert permissions.asked[-1] == list(PHOTO_PERMISSIONS)
    permissions.answer([False, False])
    app.loop.run()
    assert app.screen.chooser_folder == Path.home()  # it shows what it may


# ----------------------------------------------------------------------------- Android adapter
def test_android_permissions_skip_names_this_android_does_not_know():
    from types import SimpleNamespace

    from edge_app.app.permissions import AndroidPermissions

    asked = []
    api = SimpleNamespace(
        Permission=SimpleNamespace(READ_EXTERNAL_STORAGE="android.permission.READ_EXTERNAL"),
        check_permission=lambda name: name == "android.permission.READ_EXTERNAL",
        request_permissions=lambda names, callback: (asked.append(names), callback(names, [1])),
    )
    permissions = AndroidPermissions(api)
    assert permissions.granted(PHOTO_PERMISSIONS)  # READ_MEDIA_IMAGES is unknown before 13
    assert not permissions.granted(CAMERA_PERMISSIONS)  # unknown here: not granted
    answers = []
    permissions.request(PHOTO_PERMISSIONS, answers.append)
    assert asked == [["android.permission.READ_EXTERNAL"]] and answers == [[1]]
    permissions.request(CAMERA_PERMISSIONS, answers.append)
    assert answers[-1] == [] and len(asked) == 1  # nothing to ask: an empty answer, at once
