"""The app's *Save* button: keep the last thing read in each mode, save its digits on request.

No Kivy here. The controller tells :class:`SaveAction` what was read - a camera frame (on the
analysis thread), a photo, the drawing - and, when the button is pressed, runs :meth:`save` as
a job off the UI thread: the digits go into the crop folder through
:class:`edge_app.collect.CropSaver`, exactly as ``digits-predict --save-crops`` saves them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.collect import CropSaver


@dataclass(frozen=True)
class Saved:
    """What one press of *Save* did: how many digits were new in ``folder``, how many were
    there already."""

    new: int
    already: int
    folder: Path


@dataclass(frozen=True)
class _Kept:
    image: np.ndarray
    result: Any  # a Reading (camera, image) or a Prediction (draw)
    source: str


class SaveAction:
    """The last reading of each mode and the folder to save into.

    Args:
        folder: the crop folder (created on the first save).
        make_saver: ``folder -> CropSaver`` (tests pass a fake).
    """

    def __init__(self, folder: Path, make_saver: Callable[[Path], CropSaver] = CropSaver) -> None:
        self.folder = Path(folder).expanduser()
        self._make_saver = make_saver
        self._saver: CropSaver | None = None
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()  # the analysis thread keeps, a job thread saves

    def keep(self, mode: str, image: np.ndarray, result: Any, source: str) -> None:
        """Remember what ``mode`` read last (a camera frame is copied: buffers get reused)."""
        if mode == "camera":
            image = np.array(image, copy=True)
        with self._lock:
            self._kept[mode] = _Kept(image, result, source)

    def forget(self, mode: str) -> None:
        with self._lock:
            self._kept.pop(mode, None)

    def save(self, mode: str, classifier: Any = None) -> Saved:
        """Save the digits last read in ``mode`` (0 new when nothing was read there yet).

        Raises:
            CropFolderError: the folder cannot be written.
        """
        with self._lock:
            kept = self._kept.get(mode)
        if kept is None:
            return Saved(0, 0, self.folder)
        if self._saver is None:
            self._saver = self._make_saver(self.folder)
        if mode == "draw":  # the canvas's 28x28 is the model input and the crop alike
            prediction = kept.result
            saved = [
                self._saver.save_digit(
                    kept.image, int(prediction.digit), float(prediction.confidence), kept.source
                )
            ]
        else:
            saved = self._saver.save_reading(kept.image, kept.result, kept.source, classifier)
        new = sum(s.new for s in saved)
        return Saved(new, len(saved) - new, self.folder)
