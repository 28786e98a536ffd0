"""digits-predict: output formats, the --json schema, bad files among good ones, bad models.

The CLI runs with the band fixture models and a fake vision step that cuts an image into 28x28
tiles (tests/data/make_fixture_models.py explains the models), so every expected digit is
exact. One test at the end runs the real vision on a blank page.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from fakes import png_bomb, tile_finder  # noqa: E402
from make_fixture_models import band_image  # noqa: E402

from edge_app import cli, reader  # noqa: E402

REAL_PROPOSE = reader._default_propose
MODELS = Path(__file__).parent / "data" / "models"
INT8 = str(MODELS / "band_int8.tflite")


@pytest.fixture(autouse=True)
def fake_vision(monkeypatch):
    monkeypatch.setattr(reader, "_default_propose", lambda: reader.taken_as_found(tile_finder))


@pytest.fixture(autouse=True)
def _restore_opencv_settings():
    """main() sets OpenCV's process-wide threads and log level; leave them as found."""
    from cv2.utils import logging as cv_logging

    threads, level = cv2.getNumThreads(), cv_logging.getLogLevel()
    yield
    cv2.setNumThreads(threads)
    cv_logging.setLogLevel(level)


def strip(digits: str, *, extra: dict[int, int] | None = None) -> np.ndarray:
    """Dark-on-light image the band model reads as ``digits`` ("" -> blank paper)."""
    tiles = [255 - band_image(int(d)) for d in digits] or [np.full((28, 28), 255, np.uint8)]
    img = np.hstack(tiles)
    for position, band in (extra or {}).items():  # a second band: the model is 50/50
        img[:, 28 * position : 28 * (position + 1)] &= 255 - band_image(band)
    return img


def save(path: Path, image: np.ndarray) -> str:
    ok, buf = cv2.imencode(path.suffix, image)
    assert ok
    path.write_bytes(buf.tobytes())
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_human_output(tmp_path, capsys):
    a = save(tmp_path / "zip.png", strip("90210"))
    b = save(tmp_path / "one.png", strip("7"))
    code, out, err = run(capsys, a, b, "--model", INT8)
    assert code == 0
    assert len(out.splitlines()) == 2
    assert out.splitlines()[0].startswith(f"{a}: 90210  (5 digits, ")
    assert out.splitlines()[1].startswith(f"{b}: 7  (1 digit, ")
    assert out.splitlines()[0].endswith(" ms)")
    assert "with litert" in err  # which runtime loaded is logged, on stderr


def test_json_schema(tmp_path, capsys):
    path = save(tmp_path / "zip.png", strip("90210"))
    code, out, _ = run(capsys, path, "--model", INT8, "--json")
    assert code == 0
    (line,) = out.splitlines()
    record = json.loads(line)
    assert set(record) == {"path", "digits", "detections", "latency_ms", "runtime"}
    assert record["path"] == path
    assert record["digits"] == "90210"
    assert record["runtime"] == "litert"
    assert isinstance(record["latency_ms"], float) and record["latency_ms"] > 0
    assert [d["digit"] for d in record["detections"]] == [9, 0, 2, 1, 0]
    first = record["detections"][0]
    assert set(first) == {"digit", "confidence", "box", "line"}
    assert isinstance(first["digit"], int) and 0.99 < first["confidence"] <= 1.0
    assert first["box"] == [0, 0, 28, 28] and first["line"] == 0


def test_blank_image_reads_as_empty_digits(tmp_path, capsys):
    path = save(tmp_path / "blank.png", strip(""))
    code, out, _ = run(capsys, path, "--model", INT8, "--json")
    assert code == 0
    record = json.loads(out)
    assert record["digits"] == "" and record["detections"] == []
    code, out, _ = run(capsys, path, "--model", INT8)
    assert out.strip().startswith(f"{path}: -  (no digits, ")


def test_bad_files_among_good_ones(tmp_path, capfd):
    """capfd, not capsys: OpenCV's C++ warnings go straight to file descriptor 2."""
    good1 = save(tmp_path / "good1.png", strip("12"))
    good2 = save(tmp_path / "good2.jpg", strip("3"))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture\n")
    cut = tmp_path / "cut.png"
    cut.write_bytes(Path(good1).read_bytes()[:60])
    missing = tmp_path / "missing.png"
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(100_000, 100_000))
    paths = [good1, str(empty), str(text), good2, str(cut), str(missing), str(bomb)]

    code, out, err = run(capfd, *paths, "--model", INT8, "--json")
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == paths  # every input, in order
    assert [r.get("digits") for r in records] == ["12", None, None, "3", None, None, None]
    for record in (records[1], records[2], records[4], records[5], records[6]):
        assert set(record) == {"path", "error"} and record["path"] in record["error"]
    assert "empty" in records[1]["error"] and "not an image" in records[2]["error"]
    assert "no such file" in records[5]["error"] and "too large" in records[6]["error"]
    assert "Traceback" not in err and "WARN" not in err  # OpenCV's own warnings stay quiet
    error_lines = [line for line in err.splitlines() if "ERROR" in line]
    assert len(error_lines) == 6  # one per bad file + the summary
    assert "5 of 7 images could not be read" in err

    code, out, err = run(capfd, *paths, "--model", INT8)  # human format: results only
    assert code == 1 and len(out.splitlines()) == 2


def test_an_unexpected_failure_costs_only_that_file(tmp_path, capsys, monkeypatch):
    def flaky(image):
        if image.shape[1] == 28 * 3:
            raise RuntimeError("vision bug")
        return tile_finder(image)

    monkeypatch.setattr(reader, "_default_propose", lambda: reader.taken_as_found(flaky))
    good = save(tmp_path / "good.png", strip("12"))
    bad = save(tmp_path / "bad.png", strip("345"))
    code, out, err = run(capsys, bad, good, "--model", INT8, "--json")
    assert code == 1
    first, second = (json.loads(line) for line in out.splitlines())
    assert "RuntimeError: vision bug" in first["error"] and second["digits"] == "12"
    assert "Traceback" not in err


def test_min_confidence_drops_uncertain_digits(tmp_path, capsys):
    path = save(tmp_path / "x.png", strip("456", extra={1: 8}))  # middle tile: 5 or 8, ~50/50
    _, out, _ = run(capsys, path, "--model", INT8, "--json", "--min-confidence", "0.6")
    assert json.loads(out)["digits"] == "46"
    _, out, _ = run(capsys, path, "--model", INT8, "--json", "--min-confidence", "0.3")
    assert len(json.loads(out)["digits"]) == 3


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("band_no_contract.tflite", "carries no DigitLite contract"),
        ("wrong_shape.tflite", "expected [1, 28, 28, 1]"),
        ("does_not_exist.tflite", "cannot read model"),
        ("../make_fixture_models.py", "is not a TFLite model"),
    ],
)
def test_model_problems_are_one_line(tmp_path, capsys, model, message):
    image = save(tmp_path / "a.png", strip("1"))
    code, out, err = run(capsys, image, "--model", str(MODELS / model), "-q")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("digits-predict: error: ")
    assert message in err


def test_truncated_model(tmp_path, capsys):
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(Path(INT8).read_bytes()[:5000])
    code, out, err = run(capsys, save(tmp_path / "a.png", strip("1")), "--model", str(cut), "-q")
    assert code == 2 and out == "" and "cut.tflite" in err and "Traceback" not in err


def test_no_shipped_model_says_what_to_do(tmp_path, capsys, monkeypatch):
    import edge_app.models as models

    monkeypatch.setattr(models, "MODELS_DIR", tmp_path / "empty")
    code, _, err = run(capsys, save(tmp_path / "a.png", strip("1")), "-q")
    assert code == 2 and "--model FILE" in err


def test_python_dash_m_runs_the_command():
    result = subprocess.run(
        [sys.executable, "-m", "edge_app", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.startswith("usage: digits-predict")


def test_runtime_and_threads_flags(tmp_path, capsys):
    image = save(tmp_path / "a.png", strip("5"))
    code, out, _ = run(capsys, image, "--model", INT8, "--runtime", "litert", "--threads", "2")
    assert cv2.getNumThreads() == 2  # OpenCV follows --threads like the interpreter
    assert code == 0 and ": 5  (1 digit" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runtime", "litrt"], "did you mean 'litert'?"),
        (["--runtime", "onnx"], "choose from litert, tflite-runtime, tensorflow"),
        (["--min-confidence", "1.5"], "1.5 is not within 0..1"),
        (["--min-confidence", "high"], "'high' is not a number"),
        (["--threads", "0"], "0 must be at least 1"),
        (["-v", "-q"], "not allowed with argument"),
    ],
)
def test_bad_flags(capsys, argv, message):
    assert cli.main(["a.png", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_help_teaches(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "digits-predict photo.jpg" in out
    assert "(default: 0.5)" in out and "(default: 1)" in out
    assert '"digits": "90210"' in out


def test_quiet_and_verbose(tmp_path, capsys):
    image = save(tmp_path / "a.png", strip("42"))
    _, _, err = run(capsys, image, "--model", INT8, "-q")
    assert err == ""
    _, _, err = run(capsys, image, "--model", INT8, "-v")
    assert "4 (0.99" in err and "line 0" in err


def test_real_vision_on_blank_paper(tmp_path, capsys, monkeypatch):
    """No fake: the real vision step must report nothing on a blank, unevenly lit page."""
    pytest.importorskip("edge_app.vision")
    monkeypatch.setattr(reader, "_default_propose", REAL_PROPOSE)
    ramp = np.linspace(170, 235, 640, dtype=np.float32)[None, :].repeat(480, axis=0)
    path = save(tmp_path / "blank.jpg", ramp.astype(np.uint8))
    code, out, _ = run(capsys, path, "--model", INT8, "--json")
    assert code == 0 and json.loads(out)["digits"] == ""


@pytest.mark.tf
def test_forcing_the_tensorflow_runtime(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    path = save(tmp_path / "zip.png", strip("90210"))
    code, out, err = run(capsys, path, "--model", INT8, "--json", "--runtime", "tensorflow")
    assert code == 0
    record = json.loads(out)
    assert record["runtime"] == "tensorflow" and record["digits"] == "90210"
    assert "with tensorflow" in err


def test_native_load_chatter_is_filtered_but_logs_are_kept(tmp_path):
    """LiteRT prints an XNNPACK INFO line from C++ on fd 2 (once per process, hence the fresh
    interpreters): -v shows it, the default hides it and keeps our own log lines."""
    image = save(tmp_path / "a.png", strip("7"))

    def stderr_of(*flags: str) -> str:
        argv = [sys.executable, "-m", "edge_app", image, "--model", INT8, *flags]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stderr

    verbose, default = stderr_of("-v"), stderr_of()
    assert "with litert" in default and "int8" in default
    assert "XNNPACK" not in default
    if "XNNPACK" not in verbose:
        pytest.skip("this LiteRT does not print the XNNPACK line; nothing to filter")
