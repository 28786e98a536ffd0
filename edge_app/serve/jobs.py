"""The work of one request, done by a reader: module-level functions ``job(reader, *args)``.

They run on a reader thread or in a reader process (:mod:`edge_app.serve.engine`), so they are
plain functions of picklable arguments, and this module imports no web framework: a reader
process needs only what reading needs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edge_app.errors import CropFolderError
from edge_app.serve.engine import Reader
from edge_app.serve.errors import ApiError
from edge_app.serve.inputs import Upload, decode_upload, digit_from_image, digit_from_pixels

TOP_K = 3


def runtime_of(reader: Reader) -> str:
    return str(getattr(reader.classifier, "runtime", "unknown"))


def read_job(reader: Reader, upload: Upload, max_pixels: int) -> tuple[dict[str, Any], float]:
    """``POST /v1/read``: decode, read. Returns the record and the decoding time in ms.

    The record is what ``digits-predict --json`` prints for a file (``path`` is the upload's
    file name), plus ``size``: the ``[width, height]`` the boxes refer to.
    """
    start = time.perf_counter()
    image = decode_upload(upload, max_pixels)
    decoded = time.perf_counter()
    reading = reader.read(image)
    record = {
        "path": upload.filename,
        **reading.to_dict(),
        "runtime": runtime_of(reader),
        "size": [int(image.shape[1]), int(image.shape[0])],
    }
    return record, (decoded - start) * 1000.0


def save_job(
    reader: Reader, upload: Upload, max_pixels: int, folder: Path
) -> tuple[dict[str, Any], float]:
    """``POST /v1/save``: read as :func:`read_job` does, then file every digit read under
    ``folder`` (:class:`edge_app.collect.CropSaver`). The record gains ``saved``."""
    from edge_app.collect import CropSaver

    start = time.perf_counter()
    image = decode_upload(upload, max_pixels)
    decoded = time.perf_counter()
    reading = reader.read(image)
    model = getattr(reader.classifier, "model_path", None)
    try:
        saver = CropSaver(folder, model=Path(model).name if model else "")
        saved = saver.save_reading(image, reading, upload.filename or "upload", reader.classifier)
    except CropFolderError as exc:
        raise ApiError("save_failed", str(exc)) from exc
    record = {
        "path": upload.filename,
        **reading.to_dict(),
        "runtime": runtime_of(reader),
        "size": [int(image.shape[1]), int(image.shape[0])],
        "saved": {
            "new": sum(s.new for s in saved),
            "already": sum(not s.new for s in saved),
            "files": [str(s.crop.relative_to(folder)) for s in saved],
        },
    }
    return record, (decoded - start) * 1000.0


def classify_job(
    reader: Reader, upload: Upload | None, pixels: Any, max_pixels: int
) -> dict[str, Any]:
    """``POST /v1/classify``: one digit (an image, or 28x28 ``pixels``) -> the top 3 classes."""
    start = time.perf_counter()
    if upload is not None:
        digit = digit_from_image(decode_upload(upload, max_pixels))
    else:
        digit = digit_from_pixels(pixels)
    (prediction,) = reader.classifier.classify(digit[None], top_k=TOP_K)
    return {
        "digit": prediction.digit,
        "confidence": round(float(prediction.confidence), 4),
        "top": [{"digit": d, "confidence": round(float(p), 4)} for d, p in prediction.top],
        "latency_ms": round((time.perf_counter() - start) * 1000.0, 3),
        "runtime": runtime_of(reader),
    }
