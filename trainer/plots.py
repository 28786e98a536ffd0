"""Evaluation figures: confusion matrix heatmap, training curves, misclassified test digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainer.artifacts import pyplot, save_figure

GALLERY_MAX = 40


def confusion_heatmap(
    matrix: list[list[int]], path: Path, title: str, names: list[str] | None = None
) -> Path:
    """Heatmap of the confusion matrix (rows true, columns predicted), counts in each cell."""
    plt = pyplot()
    cm = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(6, 5.2))
    # Log-like colour scale so the few errors show next to the large diagonal.
    im = ax.imshow(np.log1p(cm), cmap="Blues")
    n = cm.shape[0]
    threshold = np.log1p(cm).max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                colour = "white" if np.log1p(cm[i, j]) > threshold else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(n), names if names else range(n), fontsize=7)
    ax.set_yticks(range(n), names if names else range(n), fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="log(1 + count)")
    return save_figure(fig, path)


def training_curves(history: dict[str, list[float]], path: Path, title: str) -> Path:
    """Accuracy and loss per epoch, training vs validation, side by side."""
    plt = pyplot()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
        if key in history:
            ax.plot(epochs, history[key], "o-", ms=3, label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "o-", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if "loss" in history:
        loss_ax.set_yscale("log")
    fig.suptitle(title)
    return save_figure(fig, path)


def misclassified_gallery(
    x: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probs: np.ndarray,
    path: Path,
    title: str,
) -> Path:
    """Up to 40 misclassified test digits, most confident mistakes first, with true/pred labels."""
    plt = pyplot()
    wrong = np.flatnonzero(y_true != y_pred)
    wrong = wrong[np.argsort(-probs[wrong, y_pred[wrong]])][:GALLERY_MAX]
    cols = 10
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.45), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong, strict=False):
        ax.imshow(x[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{y_true[i]}->{y_pred[i]} {probs[i, y_pred[i]]:.2f}", fontsize=8)
    if not len(wrong):
        axes[0, 0].text(0, 0.5, "no misclassified digits", fontsize=10)
    fig.suptitle(f"{title}: {int(np.sum(y_true != y_pred))} errors (true->pred confidence)")
    return save_figure(fig, path)
