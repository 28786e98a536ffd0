"""digits-serve's API in process: every endpoint, every bad input, the token, the queue.

The app runs with a real :class:`DigitReader` on the band fixture model and a fake vision step
that cuts an image into 28x28 tiles (as tests/test_predict_cli.py does), so every expected
digit is exact; the reader's thread, the upload parsing and the decoding are the real ones.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
import httpx  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "data"))
from fakes import png_bomb, tile_finder  # noqa: E402
from make_fixture_models import band_image  # noqa: E402

from edge_app import cli  # noqa: E402
from edge_app.classifier import Classifier  # noqa: E402
from edge_app.reader import DigitReader  # noqa: E402
from edge_app.serve.app import create_app  # noqa: E402
from edge_app.serve.config import ServeConfig  # noqa: E402
from edge_app.serve.errors import BY_CODE, COMMON, ERRORS, ApiError  # noqa: E402
from edge_app.serve.openapi import OPERATION_ERRORS  # noqa: E402

MODEL = Path(__file__).parent / "data" / "models" / "band_int8.tflite"
TOKEN = "s3cret-token"


def strip(digits: str) -> np.ndarray:
    """Dark-on-light image the band model reads as ``digits`` ("" -> blank paper)."""
    tiles = [255 - band_image(int(d)) for d in digits] or [np.full((28, 28), 255, np.uint8)]
    return np.hstack(tiles)


def encode(image: np.ndarray, suffix: str = ".png") -> bytes:
    ok, buf = cv2.imencode(suffix, image)
    assert ok
    return buf.tobytes()


def band_reader() -> DigitReader:
    return DigitReader(Classifier(MODEL), min_confidence=0.5, find=tile_finder)


@pytest.fixture(scope="module")
def shared_reader() -> DigitReader:
    return band_reader()


def client_for(reader_factory=None, **config) -> TestClient:
    app = create_app(ServeConfig(**config), reader_factory=reader_factory)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(shared_reader):
    with client_for(lambda: shared_reader) as c:
        yield c


@pytest.fixture
def secured(shared_reader):
    with client_for(lambda: shared_reader, token=TOKEN) as c:
        yield c


def check_error(response: httpx.Response, code: str, path: str, method: str) -> dict:
    """The response is the one error shape, with ``code``, documented on its operation."""
    assert response.status_code == BY_CODE[code].status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and len(body["detail"]) > 10
    assert "Traceback" not in body["detail"]
    documented = OPERATION_ERRORS.get((path, method), ())
    assert code in (*documented, *COMMON), f"{code} not documented on {method} {path}"
    return body


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


# --- errors ----------------------------------------------------------------------------------

PNG = encode(strip("1"))


def raw(body: bytes, content_type: str | None = None) -> dict:
    return {"content": body, "headers": {"Content-Type": content_type} if content_type else {}}


def upload(name: str | None, data: bytes | str, field: str = "image") -> dict:
    return {"files": {field: (name, data)}}


JSON, MULTIPART = "application/json", "multipart/form-data"
CASES = [
    # (code, method, path, request kwargs)
    ("invalid_request", "post", "/v1/classify", raw(b"{nope", JSON)),
    ("invalid_request", "post", "/v1/classify", raw(b"[1, 2]", JSON)),
    ("invalid_request", "post", "/v1/read", raw(b"xx", MULTIPART)),
    ("invalid_request", "post", "/v1/read", raw(b"xx", MULTIPART + "; boundary=b")),
    ("missing_field", "post", "/v1/read", upload("a.png", PNG, field="photo")),
    ("missing_field", "post", "/v1/read", upload(None, "not a file")),
    ("missing_field", "post", "/v1/classify", {"json": {"pixel": []}}),
    ("empty_upload", "post", "/v1/read", raw(b"", "image/png")),
    ("empty_upload", "post", "/v1/read", upload("a.png", b"")),
    ("not_found", "get", "/v2/read", {}),
    ("not_found", "get", "/static/nothing.js", {}),
    ("method_not_allowed", "get", "/v1/read", {}),
    ("method_not_allowed", "post", "/v1/model", {}),
    ("saving_disabled", "post", "/v1/save", raw(PNG)),
    ("upload_too_large", "post", "/v1/read", raw(bytes(2_000_000), "image/png")),
    ("image_too_large", "post", "/v1/read", raw(png_bomb(30_000, 30_000))),
    ("image_too_large", "post", "/v1/classify", upload("b.png", png_bomb(5000, 5000))),
    ("unsupported_media_type", "post", "/v1/read", {"json": {"pixels": []}}),
    ("unsupported_media_type", "post", "/v1/read", raw(b"hi", "text/plain")),
    ("not_an_image", "post", "/v1/read", raw(b"this is not an image at all")),
    ("not_an_image", "post", "/v1/classify", upload("notes.txt", b"hello world")),
    ("corrupt_image", "post", "/v1/read", raw(PNG[: len(PNG) // 2])),
    ("corrupt_image", "post", "/v1/read", raw(encode(strip("12"), ".jpg")[:300])),
    ("bad_digit", "post", "/v1/classify", {"json": {"pixels": [[0] * 28] * 27}}),
    ("bad_digit", "post", "/v1/classify", {"json": {"pixels": [0] * 783}}),
    ("bad_digit", "post", "/v1/classify", {"json": {"pixels": [300] * 784}}),
    ("bad_digit", "post", "/v1/classify", {"json": {"pixels": ["x"] * 784}}),
    ("bad_digit", "post", "/v1/classify", {"json": {"pixels": "0" * 784}}),
    ("bad_digit", "post", "/v1/classify", raw(encode(np.full((50, 50), 250, np.uint8)))),
]


@pytest.mark.parametrize(
    ("code", "method", "path", "kwargs"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input_gets_its_4xx_and_the_server_keeps_serving(
    shared_reader, code, method, path, kwargs
):
    with client_for(
        lambda: shared_reader, max_upload_bytes=1_000_000, max_pixels=10_000_000
    ) as client:
        response = client.request(method.upper(), path, **kwargs)
        check_error(response, code, path, method)
        assert client.post("/v1/read", content=PNG).json()["digits"] == "1"


def test_every_error_code_is_exercised_by_a_test():
    tested_here = {case[0] for case in CASES}
    tested_below = {"unauthorized", "request_timeout", "busy", "timeout", "internal"}
    tested_below |= {"save_failed"}  # tests/test_serve_save.py
    assert {kind.code for kind in ERRORS} == tested_here | tested_below


def test_messages_name_the_problem(client):
    wrong_field = client.post("/v1/read", files={"photo": ("a.png", PNG)}).json()["detail"]
    assert "'image'" in wrong_field and "'photo'" in wrong_field
    big = client.post("/v1/read", content=png_bomb(8000, 6000)).json()["detail"]
    assert "8000x6000" in big and "--max-megapixels" in big
    png = encode(strip("90210"))
    truncated = client.post("/v1/read", files={"image": ("cut.png", png[: len(png) // 2])}).json()
    assert truncated["error"] == "corrupt_image" and "'cut.png'" in truncated["detail"]
    assert "truncated" in truncated["detail"]


def test_too_large_is_refused_before_the_body_is_read(shared_reader):
    """A Content-Length above the limit is answered without reading a byte of the body."""
    app = create_app(ServeConfig(max_upload_bytes=1000), reader_factory=lambda: shared_reader)
    sent, reads = [], []

    async def receive():
        reads.append(1)
        return {"type": "http.request", "body": b"x" * 10, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": "/v1/read",
        "raw_path": b"/v1/read",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"content-type", b"image/png"), (b"content-length", b"999999999")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }

    async def run():
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    asyncio.run(run())
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"] == "upload_too_large"
    assert reads == []


def test_a_chunked_body_is_cut_off_at_the_limit(shared_reader):
    chunks_sent = []

    def body():
        for _ in range(100):
            chunks_sent.append(1)
            yield bytes(100_000)

    with client_for(lambda: shared_reader, max_upload_bytes=250_000) as client:
        response = client.post("/v1/read", content=body(), headers={"Content-Type": "image/png"})
    check_error(response, "upload_too_large", "/v1/read", "post")


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


# --- the reader thread: queue, timeouts, failures --------------------------------------------


class SlowReader:
    """A fake reader that takes ``delay`` seconds and records how many reads overlap."""

    def __init__(self, delay: float, fail: bool = False):
        self.delay, self.fail = delay, fail
        self.active = self.most_active = 0
        self.threads: set[str] = set()
        self.lock = threading.Lock()
        self.classifier = types.SimpleNamespace(runtime="fake", format="fake", contract=None)

    def read(self, image):
        from edge_app.reader import Reading

        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(self.delay)
            if self.fail:
                raise RuntimeError("the vision step blew up")
            return Reading("5", [], latency_ms=self.delay * 1000)
        finally:
            with self.lock:
                self.active -= 1


async def _concurrent_reads(app, count: int) -> list[httpx.Response]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return list(
                await asyncio.gather(*(client.post("/v1/read", content=PNG) for _ in range(count)))
            )


def test_requests_queue_for_one_reader_thread():
    """Interpreters are not thread-safe: concurrent requests never read at the same time."""
    reader = SlowReader(0.05)
    app = create_app(ServeConfig(max_queue=16), reader_factory=lambda: reader)
    responses = asyncio.run(_concurrent_reads(app, 8))
    assert [r.status_code for r in responses] == [200] * 8
    assert reader.most_active == 1
    assert len(reader.threads) == 1 and next(iter(reader.threads)).startswith("digit-reader")


def test_a_full_queue_answers_busy():
    reader = SlowReader(0.1)
    app = create_app(ServeConfig(max_queue=2), reader_factory=lambda: reader)
    responses = asyncio.run(_concurrent_reads(app, 5))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 503, 503, 503]
    for r in responses:
        if r.status_code == 503:
            check_error(r, "busy", "/v1/read", "post")
            assert r.headers["retry-after"] == "1"


def test_a_slow_read_times_out_with_503():
    reader = SlowReader(0.5)
    with client_for(lambda: reader, timeout_s=0.1) as client:
        response = client.post("/v1/read", content=PNG)
        check_error(response, "timeout", "/v1/read", "post")
        assert client.get("/healthz").status_code == 200


def test_a_slow_body_times_out_with_408(shared_reader):
    app = create_app(ServeConfig(timeout_s=0.2), reader_factory=lambda: shared_reader)

    async def slow_body():
        yield PNG[:10]
        await asyncio.sleep(2)
        yield PNG[10:]

    async def run():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.post(
                    "/v1/read", content=slow_body(), headers={"Content-Type": "image/png"}
                )

    check_error(asyncio.run(run()), "request_timeout", "/v1/read", "post")


def test_a_bug_is_a_500_without_traceback_and_the_next_request_is_served(caplog):
    reader = SlowReader(0.0, fail=True)
    with client_for(lambda: reader) as client:
        response = client.post("/v1/read", content=PNG)
        body = check_error(response, "internal", "/v1/read", "post")
        assert "blew up" not in body["detail"]
        reader.fail = False
        assert client.post("/v1/read", content=PNG).json()["digits"] == "5"
    assert "the vision step blew up" in caplog.text  # logged for whoever runs the server


def test_reader_is_built_once_on_the_reader_thread():
    built_on = []

    def factory():
        built_on.append(threading.current_thread().name)
        return SlowReader(0.0)

    with client_for(factory) as client:
        client.post("/v1/read", content=PNG)
        client.post("/v1/read", content=PNG)
    assert len(built_on) == 1 and built_on[0].startswith("digit-reader")


def test_config_round_trips_through_json():
    config = ServeConfig(model=Path("/m.tflite"), token="t", workers=3, tls_cert=Path("c.pem"))
    assert ServeConfig.from_json(config.to_json()) == config
    assert ServeConfig.from_json('{"port": 9, "unknown": 1}') == ServeConfig(port=9)


def test_errors_survive_the_trip_from_a_reader_process():
    import pickle

    error = ApiError("busy", "full", headers={"Retry-After": "1"})
    back = pickle.loads(pickle.dumps(error))
    assert (back.code, back.status, back.detail, back.headers) == (
        "busy",
        503,
        "full",
        error.headers,
    )
