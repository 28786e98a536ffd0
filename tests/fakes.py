"""Stand-ins the tests share: a vision step whose answer is known exactly."""

from __future__ import annotations

import types

import cv2
import numpy as np


def tile_finder(image: np.ndarray) -> list[types.SimpleNamespace]:
    """Fake vision: every 28x28 tile of a dark-on-light strip that has ink is one candidate."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    out = []
    for i in range(gray.shape[1] // 28):
        tile = 255 - gray[:28, 28 * i : 28 * (i + 1)]
        if tile.max() > 0:
            out.append(types.SimpleNamespace(image=tile, box=(28 * i, 0, 28, 28), line=0))
    return out
