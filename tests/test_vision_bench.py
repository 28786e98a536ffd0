"""The vision benchmark runs end to end on tiny counts and reports every target (no TF)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import vision_bench

DATA = Path(__file__).parent / "data"


def test_vision_bench_smoke(capsys, tmp_path):
    pytest.importorskip("sklearn")
    model = DATA / "models" / "band_int8.tflite"  # a fixture model: numbers are meaningless
    real = tmp_path / "real"
    (real / "images").mkdir(parents=True)
    import cv2
    import numpy as np

    cv2.imwrite(str(real / "images" / "blank.png"), np.full((60, 80), 230, np.uint8))
    (real / "labels.csv").write_text('kind,file,digits\n"single","images/blank.png",""\n')
    argv = [
        "--model", str(model), "--data-dir", str(DATA / "mnist-mini"), "--real", str(real),
        "--counts", "single=2,string=1,blank=2,page=1", "--scans", "4",
        "--latency-frames", "2", "--latency-repeats", "1", "--page-photos", "1", "--json",
    ]  # fmt: skip
    assert vision_bench.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"single", "string", "blank_fp", "frame_ms", "page_ms", "real_single"} <= set(out["met"])
    assert out["photos"]["single"]["photos"] == 2 and out["scan_uci"]["images"] == 4
    assert out["real"]["single"]["images"] == 1
    assert out["latency"]["frame"]["runs"] == 2 and out["latency"]["frame"]["median_ms"] > 0
    assert out["latency"]["page_12mp"]["runs"] == 2
    assert out["config"]["seed"] == vision_bench.BENCH_SEED


def test_vision_bench_rejects_an_unknown_kind(capsys):
    assert vision_bench.main(["--counts", "singel=3"]) == 2
    assert "KIND=N" in capsys.readouterr().err


def test_vision_bench_missing_model_is_one_line(capsys, tmp_path):
    assert vision_bench.main(["--model", str(tmp_path / "nope.tflite")]) != 0
    err = capsys.readouterr().err
    assert "model not found" in err and "Traceback" not in err


def test_vision_bench_without_page_photos_says_the_page_was_not_timed(capsys):
    """--page-photos 0 skips the slow 12 MP timing; the table says so instead of failing."""
    pytest.importorskip("sklearn")
    argv = [
        "--model", str(DATA / "models" / "band_int8.tflite"), "--data-dir",
        str(DATA / "mnist-mini"), "--real", str(DATA / "no-such-folder"),
        "--counts", "single=1", "--scans", "2", "--latency-frames", "1",
        "--latency-repeats", "1", "--page-photos", "0",
    ]  # fmt: skip
    assert vision_bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "12 MP page not timed" in out and "page_ms" not in out
