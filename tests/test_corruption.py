"""Damaged inputs end in one clear line each: corrupted images, corrupted models.

Every corruption here is seeded and small, so a failure is reproducible and the tests are fast.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

MODELS = Path(__file__).parent / "data" / "models"
BAND_INT8 = MODELS / "band_int8.tflite"


def predict(*args: str) -> subprocess.CompletedProcess:
    """``digits-predict ARGS`` in a fresh process: what reaches file descriptor 2 is seen too."""
    command = [sys.executable, "-m", "edge_app", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def corrupted_images(folder: Path, count: int = 24, seed: int = 14) -> list[str]:
    """PNGs and JPEGs of a written number, cut short or with bytes flipped (seeded)."""
    page = np.full((120, 160, 3), 235, np.uint8)
    cv2.putText(page, "4207", (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 4)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        suffix = (".png", ".jpg")[i % 2]
        data = bytearray(cv2.imencode(suffix, page)[1].tobytes())
        if i % 4 < 2:
            data = data[: int(rng.integers(len(data) // 4, len(data) - 8))]
        else:
            for at in rng.integers(100, len(data) - 8, 8):
                data[at] ^= int(rng.integers(1, 256))
        path = folder / f"bad{i:02d}{suffix}"
        path.write_bytes(bytes(data))
        paths.append(str(path))
    return paths


def test_corrupted_images_give_one_line_each_and_no_decoder_chatter(tmp_path):
    paths = corrupted_images(tmp_path)
    quiet = predict("--json", "-q", "--model", str(BAND_INT8), *paths)
    failed = quiet.stdout.count('"error"')
    assert quiet.returncode == 1 and 0 < failed < len(paths)
    lines = quiet.stderr.splitlines()
    assert len(lines) == failed + 1  # one per bad file, then "N of M images could not be read"
    assert all(line.startswith("digits-predict: ERROR: ") for line in lines), lines
    # the same files do make libpng and libjpeg talk: -v lets it through
    verbose = predict("--json", "-v", "--model", str(BAND_INT8), *paths)
    assert "libpng error" in verbose.stderr and "Corrupt JPEG data" in verbose.stderr
