"""The API's errors as data: one JSON shape, and one table of every error the API can answer.

Every error response is ``{"error": CODE, "detail": "what went wrong, in a sentence"}`` with the
status of its code in :data:`ERRORS`. The table is the single source of truth: the route
handlers raise :class:`ApiError` with a code from it, and :mod:`edge_app.serve.openapi`
documents each operation's responses from it, so the schema cannot drift from what is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorKind:
    """One error code: its HTTP status and what it means (shown in the OpenAPI schema)."""

    code: str
    status: int
    meaning: str


ERRORS: tuple[ErrorKind, ...] = (
    ErrorKind("invalid_request", 400, "malformed multipart body or JSON, bad Content-Length"),
    ErrorKind("missing_field", 400, "the multipart form or JSON object lacks the field needed"),
    ErrorKind("empty_upload", 400, "the image sent has 0 bytes"),
    ErrorKind("unauthorized", 401, "the server was started with --token; send the bearer token"),
    ErrorKind("saving_disabled", 403, "the server was started without --save-crops DIR"),
    ErrorKind("not_found", 404, "no such path"),
    ErrorKind("method_not_allowed", 405, "the path exists but not for this HTTP method"),
    ErrorKind("request_timeout", 408, "the request body did not arrive within the timeout"),
    ErrorKind("upload_too_large", 413, "the body is larger than --max-upload-mb"),
    ErrorKind("image_too_large", 413, "the image has more pixels than --max-megapixels"),
    ErrorKind("unsupported_media_type", 415, "a Content-Type this endpoint does not take"),
    ErrorKind("not_an_image", 422, "the bytes are not an image format the server can read"),
    ErrorKind("corrupt_image", 422, "a known image format, but truncated or corrupt"),
    ErrorKind("bad_digit", 422, "pixels or strokes that are not one 28x28 digit / a drawing"),
    ErrorKind("internal", 500, "a bug; logged by the server (no traceback is sent)"),
    ErrorKind("save_failed", 507, "the --save-crops folder cannot be written (disk full?)"),
    ErrorKind("busy", 503, "more requests are queued than --max-queue; retry later"),
    ErrorKind("timeout", 503, "the request was not answered within --timeout; retry later"),
)

BY_CODE: Mapping[str, ErrorKind] = {kind.code: kind for kind in ERRORS}

#: errors any operation can answer, whatever it is (documented on every operation)
COMMON = ("not_found", "method_not_allowed", "internal")


class ApiError(Exception):
    """An error response: raise it anywhere in a request; the app turns it into JSON.

    Args:
        code: a code of :data:`ERRORS`.
        detail: what went wrong, naming the problem so the caller can fix it.
        headers: extra response headers (``WWW-Authenticate``, ``Retry-After``).

    Raises:
        KeyError: ``code`` is not in the table (a bug, caught by the tests).
    """

    def __init__(self, code: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.kind = BY_CODE[code]
        self.detail = detail
        self.headers = dict(headers or {})

    def __reduce__(self) -> tuple[Any, ...]:
        # sent back from a reader process (the default pickles only the detail)
        return (ApiError, (self.kind.code, self.detail, self.headers))

    @property
    def status(self) -> int:
        return self.kind.status

    @property
    def code(self) -> str:
        return self.kind.code

    def body(self) -> dict[str, Any]:
        """The JSON body: ``{"error": code, "detail": detail}``."""
        return {"error": self.kind.code, "detail": self.detail}


def codes_for(status: int) -> list[str]:
    """The codes sent with ``status`` (for the schema's descriptions)."""
    return [kind.code for kind in ERRORS if kind.status == status]
