"""benchmarks.serve_load: a tiny bounded run against a real server, and the request mix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

from benchmarks import serve_load  # noqa: E402

MODEL = Path(__file__).parent / "data" / "models" / "band_int8.tflite"


def test_the_mix_holds_every_kind_of_bad_upload():
    photos = serve_load.make_photos(2, seed=3)
    assert all(jpeg[:3] == b"\xff\xd8\xff" and len(digits) >= 3 for jpeg, digits in photos)
    requests = serve_load.build_requests(photos, token="t")
    assert len(requests["good"]) == 2
    assert all(b"Authorization: Bearer t\r\n" in r.raw for r in requests["good"])
    kinds = {r.kind: r.expect_status for r in requests["bad"]}
    assert kinds == {
        "not_an_image": 422,
        "corrupt_image": 422,
        "empty_upload": 400,
        "missing_field": 400,
        "unsupported_media_type": 415,
        "image_too_large": 413,
        "upload_too_large": 413,
    }


@pytest.mark.slow
def test_a_short_run_starts_measures_and_stops_its_server(tmp_path, capsys):
    out = tmp_path / "load.json"
    argv = [
        "--model", str(MODEL), "--workers", "2", "--clients", "4", "--duration", "2",
        "--warmup", "0.5", "--single", "10", "--photos", "4", "--bad-fraction", "0.5",
        "--json", str(out),
    ]  # fmt: skip
    assert serve_load.main(argv) == 0
    result = json.loads(out.read_text())
    many = result["many_clients"]
    assert many["requests"] > 10 and many["errors"] == 0 and many["status_5xx"] == 0
    assert any(key.startswith("corrupt_image 422") for key in many["statuses"])
    assert result["single_client"]["round_trip_ms"]["count"] == 10
    assert result["server_alive"] and len(many["memory_mb"]["samples"]) >= 2
    assert "req/s" in capsys.readouterr().err
