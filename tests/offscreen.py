"""The real Kivy app in a fresh process, offscreen, for the tests (Kivy's global state must not
leak into the test process): ``python ARGS`` with its own KIVY_HOME, and driver scripts that
hand the app its parts through its constructor and print one JSON object last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
BAND_INT8 = DATA / "models" / "band_int8.tflite"
SHIPPED_INT8 = ROOT / "edge_app" / "models" / "digits_int8.tflite"
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
