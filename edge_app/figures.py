"""matplotlib for figures written to files: the headless Agg backend, saved atomically as PNG.

The trainer's and the benchmarks' figures are made here; nothing on a device draws with
matplotlib, so it is imported only inside these functions.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from edge_app import files


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, target: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically, then close it (also when saving fails).

    Raises:
        OutputError: ``target`` cannot be written.
    """
    plt = pyplot()
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=dpi, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return files.write_bytes(target, buffer.getvalue())
