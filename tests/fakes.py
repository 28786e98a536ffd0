"""Stand-ins the tests share: a vision step whose answer is known exactly, readings built from
the real result types, and a job runner that runs each job at once."""

from __future__ import annotations

import types
import zlib

import cv2
import numpy as np

from edge_app.reader import Detection, Reading


def tile_finder(image: np.ndarray) -> list[types.SimpleNamespace]:
    """Fake vision: every 28x28 tile of a dark-on-light strip that has ink is one candidate."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    out = []
    for i in range(gray.shape[1] // 28):
        tile = 255 - gray[:28, 28 * i : 28 * (i + 1)]
        if tile.max() > 0:
            out.append(types.SimpleNamespace(image=tile, box=(28 * i, 0, 28, 28), line=0))
    return out


def reading(digits: str, latency_ms: float = 4.0, classify_ms: float = 0.2) -> Reading:
    """A :class:`Reading` of ``digits``: one 8x12 box per digit, 10 px apart, confidence 0.9."""
    found = [Detection(int(d), 0.9, (10 * i, 5, 8, 12)) for i, d in enumerate(digits)]
    return Reading(digits, found, latency_ms=latency_ms, classify_ms=classify_ms)


class InlineJobs:
    """The app's job runner without a worker thread: each job runs as it is submitted."""

    def submit(self, kind, job, on_done, on_error) -> None:
        try:
            result = job()
        except Exception as exc:
            on_error(exc)
        else:
            on_done(result)


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` pixels, with almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    idat = zlib.compress(bytes(1000))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
