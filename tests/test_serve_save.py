"""digits-serve --save-crops: POST /v1/save files every digit read, as digits-predict does.

The reader is the band fixture model with the tile-cutting fake vision of serve_client.py;
the saver finds the model's inputs with the same fake (the reader's default proposer,
patched), so the files are exactly what the model saw.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

sys.path.insert(0, str(Path(__file__).parent))
from fakes import tile_finder  # noqa: E402
from serve_client import PNG, band_reader, check_error, client_for, encode, strip  # noqa: E402

from edge_app import reader  # noqa: E402
from edge_app.serve.openapi import build_schema  # noqa: E402


@pytest.fixture(autouse=True)
def fake_vision(monkeypatch):
    monkeypatch.setattr(reader, "_default_propose", lambda: reader.taken_as_found(tile_finder))


def test_save_reads_and_files_each_digit(tmp_path):
    crops = tmp_path / "crops"
    with client_for(band_reader, save_crops=crops) as client:
        assert client.get("/v1/model").json()["save_crops"] is True
        body = encode(strip("427"))
        answer = client.post("/v1/save", files={"image": ("note.png", body)}).json()
        assert answer["digits"] == "427" and answer["saved"]["new"] == 3
        assert [f.split("/")[0] for f in answer["saved"]["files"]] == ["4", "2", "7"]
        assert answer["saved"]["files"][0].startswith("4/note-00-")
        again = client.post("/v1/save", files={"image": ("note.png", body)}).json()
        assert again["saved"] == answer["saved"] | {"new": 0, "already": 3}
    four = next(crops.glob("4/*.mnist.png"))
    pixels = cv2.imread(str(four), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(pixels, 255 - strip("4"))  # what the model saw: the tile, inverted
    assert (crops / "manifest.csv").read_text().count("note.png") == 3


def test_without_save_crops_the_page_hides_save_and_the_api_refuses(tmp_path):
    with client_for(band_reader) as client:
        assert client.get("/v1/model").json()["save_crops"] is False
        check_error(client.post("/v1/save", content=PNG), "saving_disabled", "/v1/save", "post")


def test_a_folder_gone_bad_is_save_failed_and_the_server_keeps_serving(tmp_path):
    crops = tmp_path / "crops"
    with client_for(band_reader, save_crops=crops) as client:
        assert client.post("/v1/save", content=PNG).status_code == 200
        shutil.rmtree(crops)
        crops.write_text("now a file")  # the disk changed under the running server
        body = check_error(client.post("/v1/save", content=PNG), "save_failed", "/v1/save", "post")
        assert "cannot write crops" in body["detail"]
        assert client.post("/v1/read", content=PNG).json()["digits"] == "1"


def test_schema_documents_save():
    schema = build_schema("1", token_required=False)
    responses = schema["paths"]["/v1/save"]["post"]["responses"]
    assert {"200", "403", "507"} <= set(responses)
    assert "Saved" in schema["components"]["schemas"]
