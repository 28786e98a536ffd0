"""``digits-app`` flags: instant --help without Kivy, one clear line for bad flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge_app.app.cli import _config, build_parser, main
from edge_app.app.config import AppConfig

ROOT = Path(__file__).resolve().parents[1]


def test_help_is_instant_and_needs_no_kivy_or_display():
    code = (
        "import sys\n"
        "from edge_app.app.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0\n"
        "print('kivy' in sys.modules, 'cv2' in sys.modules)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}  # no DISPLAY, no SDL driver
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "digits-app" in out.stdout and "--quit-after" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_python_dash_m_runs_the_same_cli():
    out = subprocess.run(
        [sys.executable, "-m", "edge_app.app", "--help"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0 and "usage: digits-app" in out.stdout


def test_flags_become_a_frozen_config(tmp_path: Path):
    photo = tmp_path / "p.png"
    photo.write_bytes(b"x")
    parser = build_parser()
    args = parser.parse_args(
        ["--source", str(photo), "--mode", "image", "--threads", "2", "--quit-after", "1.5",
         "--screenshot", str(tmp_path / "s.png"), "--camera-index", "1"]
    )  # fmt: skip
    config = _config(parser, args)
    assert isinstance(config, AppConfig)
    assert config.source == str(photo) and config.source_is_file
    assert (config.mode, config.threads, config.quit_after, config.camera_index) == (
        "image", 2, 1.5, 1,
    )  # fmt: skip
    with pytest.raises(AttributeError):
        config.mode = "draw"  # type: ignore[misc]
    defaults = _config(parser, parser.parse_args([]))
    assert defaults == AppConfig()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--screenshot", "s.png"], "--screenshot needs --quit-after"),
        (["--quit-after", "0"], "--quit-after must be > 0"),
        (["--threads", "0"], "--threads: 0 must be at least 1"),
        (["--camera-index", "-1"], "--camera-index must be >= 0"),
        (["--min-confidence", "1.5"], "--min-confidence: 1.5 is not within 0..1"),
        (["--source", "camra"], "did you mean 'camera'?"),
        (["--source", "missing.jpg"], "--source missing.jpg: no such file"),
        (["--mode", "video"], "invalid choice: 'video'"),
    ],
)
def test_bad_flags_get_one_clear_line_and_exit_2(capsys, argv, expected):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert expected in captured.err
    assert "Traceback" not in captured.err


def test_a_directory_is_not_a_source(capsys, tmp_path: Path):
    assert main(["--source", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_library_errors_become_one_line_and_exit_code(monkeypatch, capsys):
    import types

    from edge_app.errors import ModelError

    def fail(config):
        raise ModelError("no usable model: int8: broken")

    fake_ui = types.ModuleType("edge_app.app.ui")  # stands in for the Kivy module
    fake_ui.run_app = fail
    monkeypatch.setitem(sys.modules, "edge_app.app.ui", fake_ui)
    assert main(["--mode", "draw"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().endswith("digits-app: error: no usable model: int8: broken")


def test_quit_after_prints_the_final_state_as_json(monkeypatch, capsys):
    import json
    import types

    fake_ui = types.ModuleType("edge_app.app.ui")
    fake_ui.run_app = lambda config: {"mode": config.mode, "number": "42"}
    monkeypatch.setitem(sys.modules, "edge_app.app.ui", fake_ui)
    assert main(["--mode", "draw", "--quit-after", "1"]) == 0
    assert json.loads(capsys.readouterr().out) == {"mode": "draw", "number": "42"}
