"""The vision step's own crops as training data: made once per run, saved beside the model.

A vision model (12 classes: the digits, ``none``, ``cut``) learns from MNIST *and* from what
the vision step hands it on synthetic photos (:mod:`trainer.synth.crops`). Three sets, from
three disjoint sources, so nothing measured was trained on:

* ``train`` - photos written with the training split's MNIST digits;
* ``val`` - photos written with the validation split's digits (early stopping, calibration);
* ``test`` - photos written with MNIST *test* digits (the report, the converter's check).

``vision_val.npz`` and ``vision_test.npz`` are written into the run directory for the
converter (int8 calibration and verification) and the benchmarks; the training set is not kept
(it is the largest, and it is made again from the seed).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_app.contract import CUT_LABEL, INPUT_SHAPE, LABELS, NONE_LABEL, VISION_LABELS
from trainer.artifacts import write_bytes
from trainer.errors import DataError

log = logging.getLogger(__name__)

VAL_FILE, TEST_FILE = "vision_val.npz", "vision_test.npz"
NONE, CUT = VISION_LABELS.index(NONE_LABEL), VISION_LABELS.index(CUT_LABEL)
# No label may make up more than this share of a set: pages and clutter propose many
# non-digits, and a model drowned in them would learn to say "none".
MAX_SHARE = {NONE: 0.3, CUT: 0.25}
HELD_OUT = 0.15  # photos for the validation and the test set, as a share of the training photos


@dataclass(frozen=True)
class CropData:
    """Images (N, 28, 28) uint8 and labels (N,) in :data:`VISION_LABELS` order."""

    x: np.ndarray
    y: np.ndarray

    def counts(self) -> dict[str, int]:
        values, counts = np.unique(self.y, return_counts=True)
        return {VISION_LABELS[v]: int(c) for v, c in zip(values, counts, strict=True)}


@dataclass(frozen=True)
class VisionSets:
    train: CropData
    val: CropData
    test: CropData
    seconds: float


def _crops(glyphs: np.ndarray, labels: np.ndarray, photos: int, seed: int, what: str) -> CropData:
    from trainer.synth.crops import make_crops

    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        log.info("%s: %d of %d photos read by vision", what, done, total)

    made = make_crops(glyphs, labels, photos, seed=seed, max_share=MAX_SHARE, progress=progress)
    log.info(
        "%s: %d crops from %d photos in %.0f s %s", what, len(made.labels), photos,
        time.perf_counter() - started, _summary(made.labels),
    )  # fmt: skip
    return CropData(made.images, made.labels.astype(np.int64))


def _summary(y: np.ndarray) -> str:
    digits = int(np.sum(y < len(LABELS)))
    return f"({digits} digits, {int(np.sum(y == NONE))} none, {int(np.sum(y == CUT))} cut)"


def make_vision_sets(
    splits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    photos: int,
    seed: int,
    out: Path,
) -> VisionSets:
    """Make the three crop sets and save the validation and test sets into ``out``.

    Args:
        splits: MNIST (x_train, y_train, x_val, y_val) after the validation split.
        test: MNIST (x_test, y_test).
        photos: synthetic photos for the training set (the other two get a share of it).
        seed: seeds the photos (each set its own).
        out: the run directory.

    Raises:
        DataError: a set came out without a single digit (too few photos).
    """
    started = time.perf_counter()
    x_train, y_train, x_val, y_val = splits
    held = max(20, int(photos * HELD_OUT))
    sets = VisionSets(
        train=_crops(x_train, y_train, photos, seed * 3 + 1, "vision crops (train)"),
        val=_crops(x_val, y_val, held, seed * 3 + 2, "vision crops (validation)"),
        test=_crops(test[0], test[1], held, seed * 3 + 3, "vision crops (test)"),
        seconds=0.0,
    )
    for name, data in (("train", sets.train), ("validation", sets.val), ("test", sets.test)):
        if not np.any(data.y < len(LABELS)):
            raise DataError(f"the vision {name} set holds no digit; use more --vision-photos")
    for name, data in ((VAL_FILE, sets.val), (TEST_FILE, sets.test)):
        save(out / name, data)
    return VisionSets(sets.train, sets.val, sets.test, time.perf_counter() - started)


def save(path: Path, data: CropData) -> None:
    """Write a crop set as ``.npz`` (``x``, ``y``, ``labels``), atomically."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=data.x, y=data.y, labels=np.array(VISION_LABELS))
    write_bytes(path, buffer.getvalue())


def load(path: Path) -> CropData:
    """Read a crop set written by :func:`save`.

    Raises:
        DataError: the file is missing or not a crop set.
    """
    try:
        with np.load(path) as data:
            x, y = data["x"], data["y"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: not a vision crop set ({exc})") from exc
    if x.ndim != 3 or x.shape[1:] != INPUT_SHAPE[:2] or len(x) != len(y):
        raise DataError(f"{path}: crops have shape {x.shape}, expected (N, *{INPUT_SHAPE[:2]})")
    return CropData(x.astype(np.uint8), y.astype(np.int64))
