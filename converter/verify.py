"""Prove a converted model against the Keras original, through the code the device runs.

Every variant is loaded with :class:`edge_app.classifier.Classifier` (the same interpreter
fallback, quantization and batching the app uses) and run on the full MNIST test set; the Keras
model runs on the very same preprocessed inputs. What is compared: accuracy, top-1 agreement
with Keras and the largest probability difference.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.classifier import Classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KerasReference:
    """The Keras original's outputs on the test set.

    Attributes:
        probs: (N, 10) float32 probabilities.
        accuracy: fraction correct (0..1).
        seconds: how long the batch prediction took.
    """

    probs: np.ndarray
    accuracy: float
    seconds: float

    @property
    def top1(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    def part(self, start: int, stop: int, y: np.ndarray) -> KerasReference:
        """The reference on images ``start:stop`` (whose labels are ``y``)."""
        probs = self.probs[start:stop]
        accuracy = float(np.mean(probs.argmax(axis=1) == y)) if len(y) else 0.0
        return KerasReference(probs=probs, accuracy=accuracy, seconds=self.seconds)


@dataclass(frozen=True)
class Check:
    """One variant measured against the Keras original on the same inputs.

    Attributes:
        accuracy: fraction correct (0..1).
        keras_accuracy: the original's fraction correct on the same images.
        agreement: fraction of images where the variant's top-1 equals Keras' top-1.
        max_prob_diff: largest absolute difference of any class probability on any image.
        mean_prob_diff: mean absolute probability difference.
        samples: number of test images.
        runtime: the interpreter that ran it (``litert``, ``tflite-runtime``, ``tensorflow``).
        seconds: verification wall time (loading + all inferences).
    """

    accuracy: float
    keras_accuracy: float
    agreement: float
    max_prob_diff: float
    mean_prob_diff: float
    samples: int
    runtime: str
    seconds: float

    @property
    def delta_pp(self) -> float:
        """Accuracy change versus Keras in percentage points (negative = lost accuracy)."""
        return (self.accuracy - self.keras_accuracy) * 100.0


def keras_reference(
    model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 500
) -> KerasReference:
    """Batch-predict the Keras model on model inputs ``x`` (N, 28, 28, 1) float32."""
    start = time.perf_counter()
    probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(probs.argmax(axis=1) == y))
    return KerasReference(probs=probs, accuracy=accuracy, seconds=seconds)


def compare(probs: np.ndarray, y: np.ndarray, reference: KerasReference) -> dict[str, float]:
    """Accuracy, agreement and probability differences of ``probs`` against the reference."""
    diff = np.abs(probs.astype(np.float64) - reference.probs)
    return {
        "accuracy": float(np.mean(probs.argmax(axis=1) == y)),
        "agreement": float(np.mean(probs.argmax(axis=1) == reference.top1)),
        "max_prob_diff": float(diff.max()) if diff.size else 0.0,
        "mean_prob_diff": float(diff.mean()) if diff.size else 0.0,
    }


def verify_model(
    path: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    reference: KerasReference,
    *,
    runtime: str | None = None,
    require_contract: bool = False,
) -> tuple[Check, np.ndarray]:
    """Run one .tflite file through the edge Classifier on ``x`` and compare with Keras.

    Args:
        path: the model file.
        x: model inputs (N, 28, 28, 1) float32 raw pixels, the ones Keras saw.
        y: labels (N,).
        reference: the Keras original's outputs on ``x``.
        runtime: force an interpreter (default: the device order, LiteRT first).
        require_contract: False before the model is stamped.

    Returns:
        ``(check, probabilities)``.

    Raises:
        ModelError / RuntimeNotFoundError: from the Classifier (the model does not load).
    """
    start = time.perf_counter()
    classifier = Classifier(path, runtime=runtime, require_contract=require_contract)
    probs = classifier.predict_proba(x)
    seconds = time.perf_counter() - start
    numbers = compare(probs, y, reference)
    check = Check(
        keras_accuracy=reference.accuracy,
        samples=len(y),
        runtime=classifier.runtime,
        seconds=seconds,
        **numbers,
    )
    return check, probs
