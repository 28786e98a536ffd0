"""Receiving what a client sends: the body (bounded in size), then the image or JSON inside it.

Runs on the event loop and does no image work: the bytes found here are decoded later, on the
reader thread (:mod:`edge_app.serve.inputs`). Every way a body can be wrong becomes an
:class:`~edge_app.serve.errors.ApiError` naming the problem.

An image arrives either as a multipart form with a file field ``image`` (``curl -F
image=@photo.jpg``; what a browser form sends) or as the raw body (``curl --data-binary
@photo.jpg -H 'Content-Type: image/jpeg'``). A raw body is taken whatever its Content-Type,
except JSON and text, which are refused with 415 so a misdirected request learns why.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from edge_app.serve.config import MB
from edge_app.serve.errors import ApiError
from edge_app.serve.inputs import Upload

FIELD = "image"
"""The multipart field that carries the image."""

_MAX_FORM_FILES, _MAX_FORM_FIELDS, _MAX_TEXT_FIELD = 4, 16, 64 * 1024


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower case (``""`` when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB // 10 else f"{n} bytes"


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refusing it as soon as it is known to exceed ``max_bytes``.

    Raises:
        ApiError: ``upload_too_large`` (from Content-Length, before reading, or while
            reading a chunked body), ``invalid_request`` (bad Content-Length, client gone).
    """
    limit = f"this server accepts up to {_size(max_bytes)} (--max-upload-mb)"
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise ApiError(
                "invalid_request", f"Content-Length '{declared}' is not a number"
            ) from None
        if length > max_bytes:
            raise ApiError("upload_too_large", f"the body is {_size(length)}; {limit}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError("upload_too_large", f"the body is over {_size(max_bytes)}; {limit}")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(
            "invalid_request", "the client disconnected before the body arrived"
        ) from None
    return b"".join(chunks)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _parse_form(request: Request, body: bytes) -> list[tuple[str, str | UploadFile]]:
    parser = MultiPartParser(
        request.headers,
        _once(body),
        max_files=_MAX_FORM_FILES,
        max_fields=_MAX_FORM_FIELDS,
        max_part_size=_MAX_TEXT_FIELD,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError("invalid_request", f"malformed multipart upload: {exc.message}") from exc
    return list(form.multi_items())


async def image_from_form(request: Request, body: bytes) -> Upload:
    """The file in field :data:`FIELD` of a multipart body.

    Raises:
        ApiError: ``invalid_request`` (malformed), ``missing_field`` (no such file field; the
            message lists the fields that were sent), ``empty_upload``.
    """
    items = await _parse_form(request, body)
    try:
        found = [value for name, value in items if name == FIELD]
        if not found or not isinstance(found[0], UploadFile):
            sent = ", ".join(f"'{name}'" for name, _ in items) or "none"
            what = "a text field" if found else "no field"
            raise ApiError(
                "missing_field",
                f"the multipart upload has {what} '{FIELD}'; send the image as a file in "
                f"field '{FIELD}' (fields sent: {sent})",
            )
        upload = found[0]
        data = await upload.read()
        name = upload.filename or None
    finally:
        for _, value in items:
            if isinstance(value, UploadFile):
                await value.close()
    if not data:
        raise ApiError("empty_upload", f"the file '{name or FIELD}' in field '{FIELD}' is empty")
    return Upload(data, name)


async def receive_image(request: Request, max_bytes: int) -> Upload:
    """The image of a ``/v1/read`` or ``/v1/classify`` request (multipart or raw body).

    Raises:
        ApiError: see :func:`read_body`, :func:`image_from_form`; ``unsupported_media_type``
            for JSON or text; ``empty_upload`` for an empty raw body.
    """
    kind = media_type(request)
    if kind == "application/json" or kind.startswith("text/"):
        raise ApiError(
            "unsupported_media_type",
            f"Content-Type {kind} is not an image; send the image as the body (image/jpeg, "
            f"image/png, ...) or as the file field '{FIELD}' of multipart/form-data",
        )
    body = await read_body(request, max_bytes)
    if kind == "multipart/form-data":
        return await image_from_form(request, body)
    if not body:
        raise ApiError("empty_upload", "the body is empty; send the image's bytes")
    return Upload(body)


async def receive_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """A JSON object body.

    Raises:
        ApiError: see :func:`read_body`; ``invalid_request`` when it is not a JSON object.
    """
    body = await read_body(request, max_bytes)
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("invalid_request", f"the body is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ApiError(
            "invalid_request", f"the JSON body must be an object, not {type(value).__name__}"
        )
    return value
