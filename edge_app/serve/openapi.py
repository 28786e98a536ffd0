"""The API's OpenAPI 3.1 schema, served at ``/openapi.json``.

Written out rather than generated: the bodies are images, forms and a small JSON object, which
a schema generator would only guess at. Each operation lists the error codes it can answer
(:data:`OPERATION_ERRORS`); their statuses and meanings come from the one table in
:mod:`edge_app.serve.errors`, and a test checks that every error the API really sends is
documented on its operation.
"""

from __future__ import annotations

from typing import Any

from edge_app.serve.errors import BY_CODE, COMMON

_IMAGE_ERRORS = (
    "invalid_request",
    "missing_field",
    "empty_upload",
    "request_timeout",
    "upload_too_large",
    "image_too_large",
    "unsupported_media_type",
    "not_an_image",
    "corrupt_image",
    "busy",
    "timeout",
)

#: (path, method) -> the error codes that operation can answer (besides :data:`COMMON`)
OPERATION_ERRORS: dict[tuple[str, str], tuple[str, ...]] = {
    ("/v1/read", "post"): ("unauthorized", *_IMAGE_ERRORS),
    ("/v1/save", "post"): ("unauthorized", "saving_disabled", *_IMAGE_ERRORS, "save_failed"),
    ("/v1/classify", "post"): ("unauthorized", *_IMAGE_ERRORS, "bad_digit"),
    ("/v1/model", "get"): ("unauthorized",),
    ("/healthz", "get"): (),
}

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _image_body(extra_json: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {"image": {"type": "string", "format": "binary"}},
            }
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    }
    if extra_json:
        content["application/json"] = {"schema": extra_json}
    return {"required": True, "content": content}


def _responses(ok: str, ok_schema: str, codes: tuple[str, ...]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": ok, "content": {"application/json": {"schema": _ref(ok_schema)}}}
    }
    by_status: dict[int, list[str]] = {}
    for code in (*codes, *COMMON):
        by_status.setdefault(BY_CODE[code].status, []).append(code)
    for status, names in sorted(by_status.items()):
        lines = "; ".join(f"`{n}`: {BY_CODE[n].meaning}" for n in names)
        responses[str(status)] = {
            "description": lines,
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return responses


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "Every error response has this shape.",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "enum": sorted(BY_CODE), "description": "error code"},
            "detail": {"type": "string", "description": "what went wrong, for a person"},
        },
    },
    "Detection": {
        "type": "object",
        "required": ["digit", "confidence", "box", "line"],
        "properties": {
            "digit": {"type": "integer"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "box": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 4,
                "maxItems": 4,
                "description": "[x, y, w, h] in the uploaded image's pixels (EXIF applied)",
            },
            "line": {"type": "integer", "description": "0 for the top line of writing"},
        },
    },
    "Reading": {
        "type": "object",
        "description": "The object `digits-predict --json` prints for one file.",
        "required": ["digits", "detections", "latency_ms", "runtime", "size"],
        "properties": {
            "path": {"type": ["string", "null"], "description": "the upload's file name"},
            "digits": {
                "type": "string",
                "description": 'digits in reading order, lines joined by one space; "" for none',
            },
            "detections": {"type": "array", "items": _ref("Detection")},
            "latency_ms": {"type": "number", "description": "decoded image -> digits"},
            "runtime": {"type": "string", "description": "the TFLite interpreter used"},
            "size": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "[width, height] of the image read",
            },
        },
    },
    "Saved": {
        "type": "object",
        "description": "A `Reading`, plus what was saved.",
        "allOf": [_ref("Reading")],
        "properties": {
            "saved": {
                "type": "object",
                "properties": {
                    "new": {"type": "integer", "description": "digits written now"},
                    "already": {"type": "integer", "description": "saved before: left as is"},
                    "files": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "each digit's crop, relative to --save-crops DIR",
                    },
                },
            }
        },
    },
    "Pixels": {
        "type": "object",
        "required": ["pixels"],
        "properties": {
            "pixels": {
                "type": "array",
                "description": "28 rows of 28 numbers (or 784 numbers), white ink on black, "
                "0..255: an MNIST sample as it is",
                "items": {"oneOf": [{"type": "number"}, {"type": "array"}]},
            }
        },
    },
    "Classification": {
        "type": "object",
        "required": ["digit", "confidence", "top", "latency_ms", "runtime"],
        "properties": {
            "digit": {"type": "integer"},
            "confidence": {"type": "number"},
            "top": {
                "type": "array",
                "description": "the three most likely classes, most likely first",
                "items": {
                    "type": "object",
                    "properties": {
                        "digit": {"type": "integer"},
                        "confidence": {"type": "number"},
                    },
                },
            },
            "latency_ms": {"type": "number", "description": "framing + model"},
            "runtime": {"type": "string"},
        },
    },
    "Model": {
        "type": "object",
        "description": "The loaded model and the contract it carries.",
        "properties": {
            "format": {"type": "string"},
            "runtime": {"type": "string"},
            "min_confidence": {"type": "number"},
            "save_crops": {"type": "boolean", "description": "whether POST /v1/save works"},
            "file": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "bytes": {"type": "integer"},
                    "sha256": {"type": "string"},
                },
            },
            "contract": {
                "type": ["object", "null"],
                "description": "labels, input shape, ink, scaling, quantization, source model "
                "hash, accuracy measured by the converter",
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "pid": {"type": "integer"},
            "pending": {"type": "integer", "description": "requests waiting in this worker"},
            "served": {"type": "integer"},
        },
    },
}


#: (path, method) -> (description, schema) of its 200 answer
_OK: dict[tuple[str, str], tuple[str, str]] = {
    ("/v1/read", "post"): ("digits read", "Reading"),
    ("/v1/save", "post"): ("digits read and saved", "Saved"),
    ("/v1/classify", "post"): ("top three classes", "Classification"),
    ("/v1/model", "get"): ("model and contract", "Model"),
    ("/healthz", "get"): ("this worker is serving", "Health"),
}


def build_schema(version: str, *, token_required: bool) -> dict[str, Any]:
    """The OpenAPI document for this server (``token_required``: started with ``--token``)."""
    paths: dict[str, Any] = {
        "/v1/read": {
            "post": {
                "summary": "Read the digits in a photo, scan or frame",
                "description": "Send the image as the file field `image` of a multipart form, "
                "or as the raw body. Answers what `digits-predict --json` prints.",
                "requestBody": _image_body(),
            }
        },
        "/v1/save": {
            "post": {
                "summary": "Read the digits in an image and file each one for fine-tuning",
                "description": "Takes what `/v1/read` takes and answers the same, plus `saved`. "
                "Every digit read is written under the server's `--save-crops DIR` as "
                "`DIR/<digit>/<id>.png` (the crop) and `<id>.mnist.png` (the model's input), "
                "with `DIR/manifest.csv`; move wrong ones to the right folder, then "
                "`digits-train --finetune RUN --extra-data DIR`.",
                "requestBody": _image_body(),
            }
        },
        "/v1/classify": {
            "post": {
                "summary": "Classify one digit: a drawing, a crop, or 28x28 pixels",
                "description": "An image of one digit (any size, dark on light or light on "
                'dark; framed like MNIST unless it is 28x28), or JSON `{"pixels": ...}` '
                "with the model's own input. Answers the top three classes.",
                "requestBody": _image_body(_ref("Pixels")),
            }
        },
        "/v1/model": {"get": {"summary": "The loaded model's contract"}},
        "/healthz": {
            "get": {"summary": "Liveness for a supervisor or load balancer (no token needed)"}
        },
    }
    for (path, method), codes in OPERATION_ERRORS.items():
        operation = paths[path][method]
        operation["responses"] = _responses(*_OK[path, method], codes)
        needs_token = token_required and path.startswith("/v1/")
        operation["security"] = [{"bearer": []}] if needs_token else []
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DigitLite digits-serve",
            "version": version,
            "description": "Offline handwritten-digit reading. Every error is JSON "
            '`{"error": code, "detail": sentence}` (schema `Error`).',
        },
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
