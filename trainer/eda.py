"""Exploratory data analysis figures: what the training data looks like, before any model.

Each function draws one PNG into the run directory and returns a short summary for the report.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.contract import LABELS
from trainer.artifacts import pyplot, save_figure
from trainer.data import Mnist

log = logging.getLogger(__name__)

SAMPLES_PER_DIGIT = 10


def sample_grid(x: np.ndarray, y: np.ndarray, path: Path, seed: int = 0) -> Path:
    """A grid with one row per digit of randomly chosen training images."""
    plt = pyplot()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(LABELS), SAMPLES_PER_DIGIT, figsize=(SAMPLES_PER_DIGIT, 10))
    for digit in range(len(LABELS)):
        idx = np.flatnonzero(y == digit)
        chosen = rng.choice(idx, min(SAMPLES_PER_DIGIT, len(idx)), replace=False)
        for col in range(SAMPLES_PER_DIGIT):
            ax = axes[digit, col]
            ax.axis("off")
            if col < len(chosen):
                ax.imshow(x[chosen[col]], cmap="gray", vmin=0, vmax=255)
        axes[digit, 0].set_title(str(digit), loc="left", fontsize=9)
    fig.suptitle("Random training samples per digit")
    return save_figure(fig, path)


def class_distribution(y_train: np.ndarray, y_test: np.ndarray, path: Path) -> Path:
    """Bar chart of how many images each digit has in the training and test sets."""
    plt = pyplot()
    train = np.bincount(y_train, minlength=len(LABELS))
    test = np.bincount(y_test, minlength=len(LABELS))
    digits = np.arange(len(LABELS))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(digits - 0.2, train, width=0.4, label=f"train ({len(y_train)})")
    ax.bar(digits + 0.2, test, width=0.4, label=f"test ({len(y_test)})")
    ax.set_xticks(digits)
    ax.set_xlabel("digit")
    ax.set_ylabel("images")
    ax.set_title("Class distribution")
    ax.legend()
    return save_figure(fig, path)


def pixel_histogram(x: np.ndarray, path: Path) -> Path:
    """Histogram of pixel intensities (log scale: most pixels are black background)."""
    plt = pyplot()
    counts = np.bincount(x.ravel(), minlength=256)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(np.arange(256), counts, width=1.0)
    ax.set_yscale("log")
    ax.set_xlabel("pixel value (0 = black background, 255 = white ink)")
    ax.set_ylabel("pixels (log)")
    ax.set_title("Pixel intensity histogram (training set)")
    return save_figure(fig, path)


def mean_images(x: np.ndarray, y: np.ndarray, path: Path) -> Path:
    """The average training image of each digit."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(LABELS), figsize=(12, 1.8))
    for digit, ax in enumerate(axes):
        members = x[y == digit]
        mean = members.mean(axis=0) if len(members) else np.zeros(x.shape[1:])
        ax.imshow(mean, cmap="gray", vmin=0, vmax=255)
        ax.set_title(str(digit))
        ax.axis("off")
    fig.suptitle("Mean image per digit")
    return save_figure(fig, path)


def run_eda(mnist: Mnist, out: Path, seed: int = 0) -> dict[str, Any]:
    """Draw every EDA figure into ``out`` and return the facts the report quotes."""
    figures = {
        "samples": sample_grid(mnist.x_train, mnist.y_train, out / "eda_samples.png", seed),
        "class_distribution": class_distribution(
            mnist.y_train, mnist.y_test, out / "eda_class_distribution.png"
        ),
        "pixel_histogram": pixel_histogram(mnist.x_train, out / "eda_pixel_histogram.png"),
        "mean_images": mean_images(mnist.x_train, mnist.y_train, out / "eda_mean_images.png"),
    }
    log.info("EDA figures written to %s", out)
    train_counts = np.bincount(mnist.y_train, minlength=len(LABELS))
    return {
        "figures": {k: p.name for k, p in figures.items()},
        "train_images": int(len(mnist.y_train)),
        "test_images": int(len(mnist.y_test)),
        "train_counts": train_counts.tolist(),
        "test_counts": np.bincount(mnist.y_test, minlength=len(LABELS)).tolist(),
        "mean_pixel": float(mnist.x_train.mean()),
        "zero_pixel_share": float(np.mean(mnist.x_train == 0)),
    }
