"""Evaluate a trained model on the test set: accuracy, per-class P/R/F1, confusion matrix, size."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from edge_app.contract import INPUT_SHAPE, LABELS, VISION_LABELS, model_input
from trainer.models import count_macs

log = logging.getLogger(__name__)


def predict_probs(model: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities (N, classes) for uint8 images (N, 28, 28), fed as raw 0..255 floats."""
    return np.asarray(model.predict(model_input(x), batch_size=batch_size, verbose=0))


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, names: tuple[str, ...] = LABELS
) -> dict[str, Any]:
    """Accuracy, per-class and macro precision/recall/F1 and the confusion matrix (scikit-learn).

    Args:
        y_true, y_pred: class indices.
        names: the class names, index = class (the digits, or the vision model's 12).

    Returns:
        ``{"accuracy", "errors", "per_class": {"0": {"precision", "recall", "f1", "support"}},
        "macro": {"precision", "recall", "f1"}, "confusion_matrix": [[...]] (rows = true)}``.
        Macro averages are over the classes present in ``y_true``.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(names)))
    present = sorted(int(v) for v in np.unique(y_true))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    macro = precision_recall_fscore_support(
        y_true, y_pred, labels=present, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "errors": int(np.sum(y_true != y_pred)),
        "n": int(len(y_true)),
        "per_class": {
            names[c]: {
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "support": int(support[c]),
            }
            for c in labels
            if c in present or c < len(LABELS)
        },
        "macro": {"precision": float(macro[0]), "recall": float(macro[1]), "f1": float(macro[2])},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def keras_latency_ms(model: Any, repeats: int = 20) -> float:
    """Median wall time of ``model(x)`` on one image, in ms (the baseline the converter beats)."""
    x = model_input(np.zeros((1, *INPUT_SHAPE)))
    model(x, training=False)  # warm up / trace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x, training=False)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def evaluate_model(
    model: Any, x_test: np.ndarray, y_test: np.ndarray, vision_test: Any = None
) -> dict[str, Any]:
    """Everything ``metrics.json`` says about one model on the test set.

    For a vision model (12 classes) ``accuracy`` is strict - an MNIST digit called ``none`` or
    ``cut`` counts as an error - and ``digit_accuracy`` the best digit's accuracy (what a digit
    already framed is read as); ``vision`` holds the metrics on the vision test crops.

    Returns the :func:`classification_metrics` dict plus ``params``, ``macs``,
    ``keras_latency_ms`` and the raw predictions under ``"_pred"``/``"_probs"`` (dropped before
    writing JSON) for the figures.
    """
    start = time.perf_counter()
    probs = predict_probs(model, x_test)
    seconds = time.perf_counter() - start
    classes = probs.shape[1]
    names = VISION_LABELS if classes == len(VISION_LABELS) else LABELS
    y_pred = probs.argmax(axis=1)
    metrics = classification_metrics(y_test, y_pred, names)
    metrics.update(
        classes=list(names),
        params=int(model.count_params()),
        macs=count_macs(model),
        test_inference_seconds=round(seconds, 3),
        keras_latency_ms=round(keras_latency_ms(model), 3),
    )
    if classes > len(LABELS):
        digit_pred = probs[:, : len(LABELS)].argmax(axis=1)
        metrics["digit_accuracy"] = float(np.mean(digit_pred == y_test))
        metrics["mnist_rejected"] = float(np.mean(y_pred >= len(LABELS)))
    if vision_test is not None and classes == len(VISION_LABELS):
        vision_pred = predict_probs(model, vision_test.x).argmax(axis=1)
        metrics["vision"] = classification_metrics(vision_test.y, vision_pred, names)
        log.info(
            "%s: vision test crops accuracy %.4f (%d crops)",
            model.name, metrics["vision"]["accuracy"], len(vision_test.y),
        )  # fmt: skip
    log.info(
        "%s: test accuracy %.4f (%d errors of %d), macro F1 %.4f",
        model.name, metrics["accuracy"], metrics["errors"], metrics["n"], metrics["macro"]["f1"],
    )  # fmt: skip
    metrics["_pred"], metrics["_probs"] = y_pred, probs
    return metrics
