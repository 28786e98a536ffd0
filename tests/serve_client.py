"""digits-serve in process, for its tests: a reader whose answers are exact, images for it, a
test client, and the check of the one error shape.

The reader is a real :class:`DigitReader` on the band fixture model with the fake vision of
``fakes.tile_finder`` (every 28x28 tile with ink is one digit), so every expected digit is
exact. Import this module after ``pytest.importorskip("starlette")``; the ``shared_reader``
and ``client`` fixtures built on it are in conftest.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import httpx
import numpy as np
from fakes import tile_finder
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent / "data"))
from make_fixture_models import band_image  # noqa: E402

from edge_app.classifier import Classifier  # noqa: E402
from edge_app.reader import DigitReader  # noqa: E402
from edge_app.serve.app import create_app  # noqa: E402
from edge_app.serve.config import ServeConfig  # noqa: E402
from edge_app.serve.errors import BY_CODE, COMMON  # noqa: E402
from edge_app.serve.openapi import OPERATION_ERRORS  # noqa: E402

MODEL = Path(__file__).parent / "data" / "models" / "band_int8.tflite"


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


def client_for(reader_factory=None, **config) -> TestClient:
    app = create_app(ServeConfig(**config), reader_factory=reader_factory)
    return TestClient(app, raise_server_exceptions=False)


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


PNG = encode(strip("1"))  # a valid upload the band model reads as "1"
