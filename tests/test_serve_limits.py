"""digits-serve's limits in process: every bad input, the size limits, the reader's queue.

Each bad request gets its 4xx in the one error shape, documented on its operation, and the
server keeps serving; the reader thread queues, times out and survives a bug. The reader is
the band fixture model with fake vision (tests/serve_client.py), or a slow fake one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import types

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
import httpx  # noqa: E402
from fakes import png_bomb  # noqa: E402
from serve_client import PNG, check_error, client_for, encode, strip  # noqa: E402

from edge_app.serve.app import create_app  # noqa: E402
from edge_app.serve.config import ServeConfig  # noqa: E402
from edge_app.serve.errors import ERRORS, ApiError  # noqa: E402

# --- errors ----------------------------------------------------------------------------------


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
    tested_below = {"request_timeout", "busy", "timeout", "internal"}
    tested_below |= {"unauthorized"}  # tests/test_serve_api.py
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
