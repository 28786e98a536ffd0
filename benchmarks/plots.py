"""The two figures of a bench run: latency against accuracy per variant, and size per variant.

matplotlib comes from :mod:`edge_app.figures` (Agg backend, no display, imported on first use);
figures are written atomically like every other artifact.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from edge_app.figures import pyplot, save_figure

log = logging.getLogger(__name__)

LATENCY_PLOT = "bench_latency_accuracy.png"
SIZE_PLOT = "bench_size.png"
MARKERS = "osD^v<>"
DPI = 120


def _labels(rows: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """One label per variant (peers: per variant and runtime) at its fastest point.

    Labels that would overlap (same accuracy, within 0.15 decades of latency) are joined.
    """
    best: dict[tuple[str, float], float] = {}
    for r in rows:
        name = f"{r['variant']} ({r['runtime']})" if r.get("peer") else r["variant"]
        key = (name, round(r["accuracy"] * 100, 2))
        best[key] = min(best.get(key, math.inf), r["latency_ms"]["median_ms"])
    merged: list[tuple[float, float, str]] = []
    for (variant, y), x in sorted(best.items(), key=lambda item: (item[0][1], item[1])):
        if merged and merged[-1][1] == y and abs(math.log10(x / merged[-1][0])) < 0.15:
            mx, my, text = merged[-1]
            merged[-1] = (mx, my, f"{text}/{variant}")
        else:
            merged.append((x, y, variant))
    return merged


def latency_accuracy_figure(rows: list[dict[str, Any]]) -> Any:
    """Median single-image latency (log x) against accuracy, one point per row that ran."""
    plt = pyplot()
    ran = [r for r in rows if r.get("latency_ms") and r.get("accuracy") is not None]
    runtimes = sorted({r["runtime"] for r in ran})
    threads = sorted({r["threads"] for r in ran})
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in ran:
        colour = colours(runtimes.index(r["runtime"]) % 10)
        marker = MARKERS[threads.index(r["threads"]) % len(MARKERS)]
        x, y = r["latency_ms"]["median_ms"], r["accuracy"] * 100
        ax.scatter(x, y, color=colour, marker=marker, s=50, zorder=3, alpha=0.8)
    level_count: dict[float, int] = {}
    for x, y, text in _labels(ran):
        # labels on the same accuracy level alternate above and below so they do not collide
        n = level_count[y] = level_count.get(y, -1) + 1
        dy = (5 + 11 * (n // 2)) * (1 if n % 2 == 0 else -1) - (4 if n % 2 else 0)
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, dy), fontsize=8)
    for i, runtime in enumerate(runtimes):
        ax.scatter([], [], color=colours(i % 10), marker="o", label=runtime)
    for i, t in enumerate(threads):
        ax.scatter([], [], color="grey", marker=MARKERS[i % len(MARKERS)], label=f"{t} thread(s)")
    ax.set_xscale("log")
    ax.margins(y=0.15)  # room for labels above the top and below the bottom points
    ax.set_xlabel("single-image latency, median (ms, log scale)")
    ax.set_ylabel("accuracy on the MNIST test set (%)")
    ax.set_title("Latency against accuracy per variant and runtime")
    ax.grid(True, which="both", alpha=0.3)
    if ran:
        ax.legend(fontsize=8, loc="best")
    return fig


def size_figure(rows: list[dict[str, Any]]) -> Any:
    """File size per model variant (one bar per file), labelled with the ratio to float32."""
    plt = pyplot()
    sizes: dict[str, int] = {}
    kinds: dict[str, str] = {}
    for r in rows:
        if r.get("size_bytes") and r["variant"] not in sizes:
            sizes[r["variant"]] = r["size_bytes"]
            kinds[r["variant"]] = r["kind"]
    reference = sizes.get("float32")
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(sizes)
    kb = [sizes[n] / 1024 for n in names]
    # TFLite variants blue; the Keras original and the ONNX export grey
    colours = ["tab:blue" if kinds[n] == "tflite" else "tab:gray" for n in names]
    bars = ax.bar(names, kb, color=colours)
    for bar, name in zip(bars, names, strict=True):
        label = f"{sizes[name] / 1024:.0f} KB"
        if reference:
            label += f"\n{sizes[name] / reference:.0%} of float32"
        ax.annotate(
            label,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("file size (KB)")
    ax.set_title("Model file size per variant")
    ax.margins(y=0.25)
    return fig


def write_plots(doc: dict[str, Any], run_dir: Path) -> list[Path]:
    """Write both figures into ``run_dir``; returns their paths."""
    return [
        save_figure(build(doc["rows"]), run_dir / name, dpi=DPI)
        for name, build in ((LATENCY_PLOT, latency_accuracy_figure), (SIZE_PLOT, size_figure))
    ]
