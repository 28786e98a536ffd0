"""Model inputs and the int8 representative dataset.

What a model input is comes from :mod:`edge_app.contract` (:func:`~edge_app.contract.model_input`):
raw 0..255 float32 pixels, white ink on black, shape (N, 28, 28, 1); the Rescaling layer inside
the model does the scaling. Calibration images are balanced over the digit classes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from converter.errors import CalibrationError
from edge_app.contract import LABELS, model_input

DEFAULT_CALIBRATION_SAMPLES = 500
MIN_CALIBRATION_SAMPLES = 100


def check_calibration_count(n: int) -> None:
    """Refuse a calibration set too small to give reliable int8 ranges.

    Raises:
        CalibrationError: ``n`` below :data:`MIN_CALIBRATION_SAMPLES`.
    """
    if n < MIN_CALIBRATION_SAMPLES:
        raise CalibrationError(
            f"--calibration-samples {n} is too few for reliable int8 ranges; "
            f"use at least {MIN_CALIBRATION_SAMPLES} (default {DEFAULT_CALIBRATION_SAMPLES})"
        )


def calibration_images(
    images: np.ndarray, labels: np.ndarray, n: int, *, seed: int = 0
) -> np.ndarray:
    """Pick ``n`` training images for int8 calibration, the same number from every class.

    A class-balanced random sample covers every digit's activation range; the first ``n``
    images of MNIST would do nearly as well, but nothing guarantees it.

    Returns:
        float32 (n, 28, 28, 1) model inputs, in a seeded random order.

    Raises:
        CalibrationError: ``n`` below :data:`MIN_CALIBRATION_SAMPLES` or more than available.
    """
    check_calibration_count(n)
    if n > len(images):
        raise CalibrationError(
            f"--calibration-samples {n} but only {len(images)} training images are available"
        )
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(len(LABELS))]
    chosen: list[int] = []
    for rank in range(max(len(p) for p in per_class)):  # round-robin over the classes
        for pool in per_class:
            if rank < len(pool) and len(chosen) < n:
                chosen.append(int(pool[rank]))
    order = rng.permutation(np.array(chosen, dtype=np.int64))
    return model_input(images[order])


def representative_dataset(samples: np.ndarray):
    """A ``representative_dataset`` callable for the TFLite converter: one image per step.

    Batch 1 matches the device models' fixed input shape.
    """

    def generate() -> Iterator[list[np.ndarray]]:
        for i in range(len(samples)):
            yield [samples[i : i + 1]]

    return generate
