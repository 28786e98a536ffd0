"""The vision benchmark runs end to end on tiny counts and reports every target (no TF)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import vision_bench

DATA = Path(__file__).parent / "data"


def test_vision_bench_smoke(capsys):
    pytest.importorskip("sklearn")
    model = DATA / "models" / "band_int8.tflite"  # a fixture model: numbers are meaningless
    argv = [
        "--model", str(model), "--data-dir", str(DATA / "mnist-mini"), "--singles", "2",
        "--strings", "1", "--blanks", "2", "--scans", "4", "--latency-frames", "2",
        "--latency-repeats", "1", "--json",
    ]  # fmt: skip
    assert vision_bench.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["met"]) == {"single", "string", "blank_fp", "scan", "latency_ms"}
    assert out["single"]["photos"] == 2 and out["scan"]["images"] == 4
    assert out["latency"]["runs"] == 2 and out["latency"]["median_ms"] > 0
    assert out["config"]["seed"] == 0


def test_vision_bench_missing_model_is_one_line(capsys, tmp_path):
    assert vision_bench.main(["--model", str(tmp_path / "nope.tflite")]) != 0
    err = capsys.readouterr().err
    assert "model not found" in err and "Traceback" not in err
