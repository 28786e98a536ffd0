"""The ASGI app: ``create_app(config, reader_factory)``; routes parse, call the reader, shape JSON.

* ``POST /v1/read``: an image -> the object ``digits-predict --json`` prints for a file;
* ``POST /v1/save``: the same, and every digit read is filed under ``--save-crops DIR``;
* ``POST /v1/classify``: one digit (an image of any size, or 28x28 pixels) -> the top 3 classes;
* ``GET /v1/model``: the loaded model and its contract; ``GET /healthz``: liveness;
* ``GET /``: the web page (upload, draw, camera), its assets from the package, nothing from a CDN;
* ``GET /openapi.json``: the schema, every error response documented.

Every error is ``{"error": code, "detail": sentence}`` (:mod:`edge_app.serve.errors`); an
unexpected exception is logged with its traceback and answered with a 500 that holds none.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge_app.serve.config import ServeConfig
from edge_app.serve.engine import ReaderFactory, Readers, ThreadReaders, default_reader_factory
from edge_app.serve.errors import ApiError
from edge_app.serve.inputs import Upload
from edge_app.serve.jobs import classify_job, read_job, save_job
from edge_app.serve.openapi import build_schema
from edge_app.serve.uploads import media_type, receive_image, receive_json

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

# The page loads only its own files; the camera stream and uploaded photos are blob: URLs.
_PAGE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
        b"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    ),
]


def _version() -> str:
    from edge_app.versions import package_version

    return package_version("digitlite") or "0+unknown"


def _error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


class _Guard:
    """Pure ASGI middleware: the bearer token on ``/v1/*``, and safe headers on every answer."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is not None and scope["path"].startswith("/v1/"):
            problem = self._token_problem(dict(scope["headers"]).get(b"authorization"))
            if problem:
                error = ApiError(
                    "unauthorized", problem, headers={"WWW-Authenticate": 'Bearer realm="digits"'}
                )
                await _error_response(error)(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_PAGE_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _token_problem(self, header: bytes | None) -> str | None:
        assert self.token is not None
        if not header:
            return "this server needs 'Authorization: Bearer <token>' (it was started with --token)"
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not given.strip():
            return "the Authorization header must be 'Bearer <token>'"
        if not hmac.compare_digest(given.strip(), self.token):
            return "the bearer token is not the one this server was started with"
        return None


def _timing(**parts_ms: float) -> dict[str, str]:
    return {"Server-Timing": ", ".join(f"{k};dur={v:.2f}" for k, v in parts_ms.items())}


def create_app(config: ServeConfig, reader_factory: ReaderFactory | None = None) -> Starlette:
    """The ``digits-serve`` ASGI app.

    Args:
        config: limits, token and model choice (see :class:`ServeConfig`).
        reader_factory: builds the reader (on the reader thread, or once in each of the
            ``config.workers`` reader processes: then it must be picklable); default: the
            model of ``config`` loaded as ``digits-predict`` loads it. Tests pass a fake.

    Returns:
        A Starlette app; its lifespan builds the reader (it must be run with lifespan, as
        uvicorn and ``TestClient`` used as a context manager do).
    """
    factory = reader_factory if reader_factory is not None else default_reader_factory(config)
    service: Readers
    if config.workers > 1:
        from edge_app.serve.pool import ProcessReaders

        service = ProcessReaders(
            factory, workers=config.workers, max_queue=config.max_queue, log_level=config.log_level
        )
    else:
        service = ThreadReaders(factory, max_queue=config.max_queue)
    schema = build_schema(_version(), token_required=bool(config.token))
    state: dict[str, Any] = {}

    def deadline() -> float:
        return asyncio.get_running_loop().time() + config.timeout_s

    async def receive(coro_factory: Callable[[], Any], until: float) -> Any:
        try:
            async with asyncio.timeout_at(until):
                return await coro_factory()
        except TimeoutError:
            raise ApiError(
                "request_timeout",
                f"the request body did not arrive within {config.timeout_s:g} s (--timeout)",
            ) from None

    async def read(request: Request) -> Response:
        until = deadline()
        upload = await receive(lambda: receive_image(request, config.max_upload_bytes), until)

        (record, decode_ms), queued_ms = await service.run(
            read_job, (upload, config.max_pixels), until
        )
        headers = _timing(queue=queued_ms, decode=decode_ms, read=record["latency_ms"])
        return JSONResponse(record, headers=headers)

    async def save(request: Request) -> Response:
        if config.save_crops is None:
            raise ApiError(
                "saving_disabled",
                "this server does not save digits; start digits-serve with --save-crops DIR",
            )
        until = deadline()
        upload = await receive(lambda: receive_image(request, config.max_upload_bytes), until)
        (record, decode_ms), queued_ms = await service.run(
            save_job, (upload, config.max_pixels, config.save_crops), until
        )
        headers = _timing(queue=queued_ms, decode=decode_ms, read=record["latency_ms"])
        return JSONResponse(record, headers=headers)

    async def classify(request: Request) -> Response:
        until = deadline()
        pixels: Any = None
        upload: Upload | None = None
        if media_type(request) == "application/json":
            body = await receive(lambda: receive_json(request, config.max_upload_bytes), until)
            if "pixels" not in body:
                sent = ", ".join(f"'{k}'" for k in body) or "none"
                raise ApiError(
                    "missing_field",
                    f"the JSON object needs 'pixels' (28x28 numbers); keys sent: {sent}",
                )
            pixels = body["pixels"]
        else:
            upload = await receive(lambda: receive_image(request, config.max_upload_bytes), until)

        result, queued_ms = await service.run(
            classify_job, (upload, pixels, config.max_pixels), until
        )
        return JSONResponse(result, headers=_timing(queue=queued_ms, work=result["latency_ms"]))

    async def model(request: Request) -> Response:
        return JSONResponse({**state["model"], "save_crops": config.save_crops is not None})

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "pid": os.getpid(),
                "readers": service.pids(),
                "pending": service.pending,
                "served": service.served,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(schema)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        log.debug("%s %s -> %d %s: %s", request.method, request.url.path, exc.status, exc.code, exc)
        return _error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            allowed = exc.headers.get("Allow", "") if exc.headers else ""
            error = ApiError(
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})",
                headers={"Allow": allowed} if allowed else None,
            )
        else:
            error = ApiError("not_found", f"no such path: {request.url.path} (see /openapi.json)")
        return _error_response(error)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=exc)
        error = ApiError(
            "internal", f"the server failed on this request ({type(exc).__name__}); it is logged"
        )
        return _error_response(error)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        state["model"] = service.model_info
        log.debug("worker %d ready: %s model", os.getpid(), state["model"]["format"])
        try:
            yield
        finally:
            service.close()

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/read", read, methods=["POST"]),
        Route("/v1/classify", classify, methods=["POST"]),
        Route("/v1/save", save, methods=["POST"]),
        Route("/v1/model", model, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: api_error,
            HTTPException: http_error,
            Exception: unexpected,
        },
    )
    app.add_middleware(_Guard, token=config.token)
    app.state.service = service
    return app
