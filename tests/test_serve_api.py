"""digits-serve's API in process: every endpoint, the token, the page and the schema.

The app runs with a real :class:`DigitReader` on the band fixture model and a fake vision step
that cuts an image into 28x28 tiles (tests/serve_client.py), so every expected digit is exact;
the reader's thread, the upload parsing and the decoding are the real ones. Bad input, limits
and the reader's queue are tested in test_serve_limits.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

sys.path.insert(0, str(Path(__file__).parent / "data"))
from make_fixture_models import band_image  # noqa: E402
from serve_client import MODEL, PNG, band_reader, check_error, client_for, encode, strip  # noqa: E402

from edge_app import cli  # noqa: E402
from edge_app.serve.config import ServeConfig  # noqa: E402
from edge_app.serve.errors import BY_CODE, COMMON  # noqa: E402
from edge_app.serve.openapi import OPERATION_ERRORS  # noqa: E402

TOKEN = "s3cret-token"


@pytest.fixture
def secured(shared_reader):
    with client_for(lambda: shared_reader, token=TOKEN) as c:
        yield c


# --- /v1/read --------------------------------------------------------------------------------


def test_read_multipart_answers_what_digits_predict_prints(client, tmp_path, capsys):
    png = encode(strip("90210"))
    response = client.post("/v1/read", files={"image": ("zip.png", png, "image/png")})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["digits"] == "90210"
    assert record["path"] == "zip.png"
    assert record["size"] == [140, 28]
    assert record["runtime"] == "litert"
    assert [d["box"] for d in record["detections"]][:2] == [[0, 0, 28, 28], [28, 0, 28, 28]]
    assert "queue;dur=" in response.headers["server-timing"]

    # the same file through digits-predict --json: the same object, apart from latency/size
    path = tmp_path / "zip.png"
    path.write_bytes(png)
    reader = band_reader()
    predicted = cli.result_record(path, next(cli.read_images(reader, [path]))[1], "litert")
    assert set(record) - set(predicted) == {"size"}
    for key in ("digits", "detections", "runtime"):
        assert record[key] == predicted[key]


@pytest.mark.parametrize("content_type", ["image/png", "application/octet-stream", None])
def test_read_raw_body(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/read", content=encode(strip("42")), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["digits"] == "42"
    assert response.json()["path"] is None


def test_read_jpeg_and_a_blank_page(client):
    response = client.post("/v1/read", content=encode(strip("7"), ".jpg"))
    assert response.json()["digits"] == "7"
    blank = client.post("/v1/read", content=encode(np.full((48, 64), 255, np.uint8)))
    assert blank.status_code == 200
    assert blank.json()["digits"] == "" and blank.json()["detections"] == []


# --- /v1/classify ----------------------------------------------------------------------------


def test_classify_pixels_gives_top_three(client):
    response = client.post("/v1/classify", json={"pixels": band_image(3).tolist()})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["digit"] == 3
    assert result["confidence"] > 0.99
    assert [t["digit"] for t in result["top"]][0] == 3 and len(result["top"]) == 3
    assert result["runtime"] == "litert"
    flat = client.post("/v1/classify", json={"pixels": band_image(8).ravel().tolist()})
    assert flat.json()["digit"] == 8


def test_classify_a_28x28_png_as_it_is_either_polarity(client):
    for image in (band_image(6), 255 - band_image(6)):  # white on black, and dark on light
        response = client.post("/v1/classify", files={"image": ("d.png", encode(image))})
        assert response.status_code == 200, response.text
        assert response.json()["digit"] == 6


def test_classify_frames_a_larger_drawing(client):
    """A big image is framed like MNIST first: a band drawn anywhere becomes a centred blob,
    which is not band 9 at the bottom of a 112x112 canvas any more."""
    canvas = np.full((112, 112), 255, np.uint8)
    canvas[100:108, 10:100] = 0
    response = client.post("/v1/classify", content=encode(canvas), headers={"Content-Type": "x"})
    assert response.status_code == 200, response.text
    assert response.json()["digit"] != 9


# --- the token -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, f"Basic {TOKEN}", "Bearer", "Bearer wrong-token", f"Bearer {TOKEN}x"],
)
def test_token_is_required_on_the_api(secured, header):
    headers = {"Authorization": header} if header else {}
    for method, path in (("post", "/v1/read"), ("get", "/v1/model"), ("post", "/v1/classify")):
        response = secured.request(method.upper(), path, content=PNG, headers=headers)
        check_error(response, "unauthorized", path, method)
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_right_token_passes_and_the_page_and_health_need_none(secured):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert secured.post("/v1/read", content=PNG, headers=auth).json()["digits"] == "1"
    assert secured.get("/v1/model", headers=auth).status_code == 200
    assert secured.get("/healthz").json()["status"] == "ok"
    assert secured.get("/").status_code == 200
    assert secured.get("/static/app.js").status_code == 200
    schema = secured.get("/openapi.json").json()
    assert schema["paths"]["/v1/read"]["post"]["security"] == [{"bearer": []}]
    assert schema["paths"]["/healthz"]["get"]["security"] == []


# --- model, health, page, schema -------------------------------------------------------------


def test_model_reports_the_contract_and_file_hash(client):
    import hashlib

    info = client.get("/v1/model").json()
    assert info["format"] == "int8" and info["runtime"] == "litert"
    assert info["contract"]["labels"] == [str(d) for d in range(10)]
    assert info["contract"]["ink"] == "white-on-black"
    assert info["file"] == {
        "name": MODEL.name,
        "bytes": MODEL.stat().st_size,
        "sha256": hashlib.sha256(MODEL.read_bytes()).hexdigest(),
    }
    assert info["min_confidence"] == 0.5


def test_healthz(client):
    before = client.get("/healthz").json()
    client.post("/v1/read", content=PNG)
    after = client.get("/healthz").json()
    assert after["status"] == "ok" and after["pending"] == 0
    assert after["served"] == before["served"] + 1


def test_page_and_assets_are_local(client):
    """No CDN, no external font or script: the page works on a network without internet."""
    import re

    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    texts = [page.text]
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        texts.append(asset.text)
    for text in texts:
        hosts = set(re.findall(r"(?:https?:)?//([A-Za-z0-9][\w.-]*\.[a-z]{2,})", text))
        assert hosts == set(), hosts  # only relative URLs, and http://localhost in prose
        assert "@import" not in text
    for ref in ('src="/static/app.js"', 'href="/static/style.css"'):
        assert ref in page.text


def test_openapi_documents_every_operation_and_error(client):
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail"]
    assert set(error["properties"]["error"]["enum"]) == set(BY_CODE)
    for (path, method), codes in OPERATION_ERRORS.items():
        responses = schema["paths"][path][method]["responses"]
        assert "200" in responses
        for code in (*codes, *COMMON):
            documented = responses[str(BY_CODE[code].status)]
            assert f"`{code}`" in documented["description"]
            ref = documented["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error"
    assert "multipart/form-data" in schema["paths"]["/v1/read"]["post"]["requestBody"]["content"]


# --- configuration ---------------------------------------------------------------------------


def test_config_round_trips_through_json():
    config = ServeConfig(model=Path("/m.tflite"), token="t", workers=3, tls_cert=Path("c.pem"))
    assert ServeConfig.from_json(config.to_json()) == config
    assert ServeConfig.from_json('{"port": 9, "unknown": 1}') == ServeConfig(port=9)
