"""The fine-tune report: before and after side by side, and the user's images still wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainer.artifacts import pyplot, save_figure

GALLERY_MAX = 60
LISTED_MAX = 200

ROWS = (
    ("held_out", "your held-out images"),
    ("user_train", "your training images"),
    ("mnist_test", "MNIST test"),
    ("vision_test", "vision test crops"),
)


def still_wrong(held: Any, before: np.ndarray, after: np.ndarray) -> list[dict[str, Any]]:
    """The held-out images read wrong after fine-tuning (file, truth, before, after)."""
    labels = held.labels
    out = []
    for i in np.flatnonzero(after != held.y):
        out.append(
            {
                "path": held.paths[i],
                "label": labels[int(held.y[i])],
                "before": labels[int(before[i])],
                "after": labels[int(after[i])],
            }
        )
    return out


def write_gallery(held: Any, after: np.ndarray, wrong: list[dict], path: Path) -> Path:
    """The still-wrong held-out images as the model sees them, ``label->read`` above each."""
    plt = pyplot()
    index = np.flatnonzero(after != held.y)[:GALLERY_MAX]
    cols = 10
    rows = max(1, int(np.ceil(len(index) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.45), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i, item in zip(axes.ravel(), index, wrong, strict=False):
        ax.imshow(held.x[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{item['label']}->{item['after']}", fontsize=8)
    if not len(index):
        axes[0, 0].text(0, 0.5, "every held-out image is read right", fontsize=10)
    fig.suptitle(f"held-out images still wrong after fine-tuning: {len(wrong)} (true->read)")
    return save_figure(fig, path)


def _cell(score: dict[str, Any] | None) -> str:
    if score is None:
        return "-"
    return f"{score['accuracy']:.2%} ({score['errors']} wrong of {score['n']:,})"


def _change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    if before is None or after is None:
        return "-"
    pp = 100 * (after["accuracy"] - before["accuracy"])
    if before["errors"]:
        errors = f", errors {100 * (after['errors'] / before['errors'] - 1):+.0f}%"
    else:
        errors = ""
    return f"{pp:+.2f} pp{errors}"


def _rows(metrics: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    before, after = metrics["before"], metrics["after"]
    return [
        (title, _cell(before.get(key)), _cell(after.get(key)), _change(before.get(key),
                                                                        after.get(key)))
        for key, title in ROWS
        if key in before
    ]  # fmt: skip


def table(metrics: dict[str, Any]) -> str:
    """Before/after as aligned plain text (what ``digits-train --finetune`` prints)."""
    rows = [("", "before", "after", "change"), *_rows(metrics)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                  enumerate(zip(row, widths, strict=True))).rstrip()
        for row in rows
    )  # fmt: skip


def _counts(counts: dict[str, int]) -> str:
    return "(" + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ")"


def render(record: dict[str, Any], metrics: dict[str, Any], gallery: str) -> str:
    """``report.md`` of a fine-tune run."""
    config, data = record["config"], record["data"]
    extra = data["extra"]
    n_train, n_held = sum(extra["train"].values()), sum(extra["held_out"].values())
    vision = data.get("vision")
    mix = (
        f"each epoch: your {n_train:,} training images x{extra['repeat']}, "
        f"{data['mnist']['images']:,} MNIST training images"
        + (f", {vision['images']:,} vision crops (from {vision['from']})" if vision else "")
    )
    lines = [
        "# DigitLite fine-tune report",
        "",
        f"From `{record['source']['model']}` (arch {record.get('arch') or 'unknown'}, "
        f"{len(data['labels'])} classes) -> `{record['run_dir']}/model.keras`, in "
        f"{record['seconds']:.0f} s (training {record['training_seconds']:.0f} s; CPU time "
        f"{record['cpu_seconds']:.0f} s).",
        "",
        "## Your data",
        "",
        f"- Folders: {', '.join(f'`{p}`' for p in config['extra'])}; {n_train + n_held:,} images"
        f" ({extra['moved']} corrected by moving, {extra['duplicates']} duplicates dropped).",
        f"- Held out (seed {config['seed']}, {config['holdout']:.0%} of each class, never trained "
        f"on): {n_held:,} {_counts(extra['held_out'])}.",
        f"- Trained on: {n_train:,} {_counts(extra['train'])}.",
        f"- Mix: {mix}; {config['epochs']} epochs, peak learning rate {config['learning_rate']}, "
        f"augmentation {'on' if config['augment'] else 'off'}, batch-norm statistics frozen.",
        "",
        "## Before and after",
        "",
        "| | before | after | change |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _rows(metrics)),
        "",
        "Accuracy counts every class: a digit read as `none` or `cut` is wrong.",
        "",
        "## Your images still read wrong",
        "",
        f"![still wrong]({gallery})",
        "",
    ]
    wrong = metrics["still_wrong"]
    if wrong:
        lines += [
            "A wrong label reads wrong too: check these files first.",
            "",
            "| file | filed as | before | after |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{w['path']}` | {w['label']} | {w['before']} | {w['after']} |"
            for w in wrong[:LISTED_MAX]
        ]
        if len(wrong) > LISTED_MAX:
            lines.append(f"| ... and {len(wrong) - LISTED_MAX} more (metrics.json) | | | |")
    else:
        lines.append("None: every held-out image is read right.")
    lines += [
        "",
        "Next: `digits-convert` this run directory, then `python -m converter.ship` it to make "
        "it the app's model.",
        "",
    ]
    return "\n".join(lines)
