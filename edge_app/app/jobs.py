"""The work the controller hands off the UI thread: read a camera frame, classify the canvas,
read a photo. Each returns what the UI thread then shows and keeps what it read for *Save*
(:class:`~edge_app.app.saving.SaveAction`). :mod:`edge_app.app.controller` decides when they
run and what their results mean; the threads are :mod:`edge_app.app.pipeline` (camera frames)
and :mod:`edge_app.app.worker` (the rest).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.app.drawing import Drawing, Point, drawing_to_digit
from edge_app.app.geometry import Preview, make_preview
from edge_app.app.saving import SaveAction


def read_frame(reader: Any, image: np.ndarray, saving: SaveAction) -> Any:
    """Analysis thread: the digits of one camera frame (a :class:`~edge_app.reader.Reading`)."""
    reading = reader.read(image)
    saving.keep("camera", image, reading, "camera")
    return reading


def classify_drawing(
    strokes: Iterable[Sequence[Point]], classifier: Any, saving: SaveAction
) -> tuple[Any, float]:
    """The canvas framed like MNIST and classified: ``(prediction, model ms)``, or
    ``(None, 0.0)`` for an empty canvas (which leaves nothing to save)."""
    drawing = Drawing()
    drawing.strokes = [list(s) for s in strokes]
    image = drawing_to_digit(drawing)
    if image is None:
        saving.forget("draw")
        return None, 0.0
    started = time.perf_counter()
    prediction = classifier.classify(image)[0]
    saving.keep("draw", image, prediction, "drawing")
    return prediction, (time.perf_counter() - started) * 1e3


def read_photo(photo: Path, reader: Any, saving: SaveAction) -> tuple[Preview, Any]:
    """A photo from disk and its digits: ``(preview to show, reading)``."""
    from edge_app.imageio import load_image

    image = load_image(photo)
    reading = reader.read(image)
    saving.keep("image", image, reading, photo.name)
    return make_preview(image), reading
