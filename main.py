"""Entry point of the Android APK: python-for-android runs ``main.py`` from ``source.dir``.

buildozer.spec packages this file and the ``edge_app`` package only. On a desktop or a Raspberry
Pi use the ``digits-app`` command instead (same app, same flags).
"""

import os

os.environ.setdefault("KIVY_NO_ARGS", "1")  # p4a passes no useful argv; Kivy must not parse it

from edge_app.app.cli import main  # noqa: E402

if __name__ == "__main__":
    main([])
