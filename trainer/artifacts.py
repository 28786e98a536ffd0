"""Writing run-directory files atomically (see :mod:`edge_app.files`): JSON, text, models, figures.

A crash or Ctrl-C leaves either the previous complete file or the new complete file, never half
of one. The writers are :mod:`edge_app.files`' and :mod:`edge_app.figures`', shared with the
converter and the benchmarks; this module adds saving a Keras model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_app.figures import pyplot, save_figure
from edge_app.files import atomic_path, write_bytes, write_json, write_text
from edge_app.files import ensure_writable_dir as prepare_out_dir

__all__ = [
    "atomic_path",
    "prepare_out_dir",
    "pyplot",
    "save_figure",
    "save_model",
    "write_bytes",
    "write_json",
    "write_text",
]


def save_model(model: Any, target: str | Path) -> Path:
    """Atomically save a Keras model (``.keras`` zip, optimizer included)."""
    with atomic_path(target) as tmp:
        model.save(tmp)
    return Path(target)
