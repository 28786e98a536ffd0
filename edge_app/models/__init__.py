"""The models that ship with DigitLite, so ``digits-predict`` and the app work with no training.

``make default-model`` regenerates them from a default training run: ``digits_int8.tflite``
(the default: smallest and fastest on a Pi or phone), its ``digits_float32.tflite`` twin, and the
converter's ``conversion.json`` / ``conversion.md`` report beside them. Each file carries its own
contract (see :mod:`edge_app.contract`).
"""

from __future__ import annotations

from pathlib import Path

from edge_app.errors import ModelError

MODELS_DIR = Path(__file__).resolve().parent
"""Where the shipped models live (inside the installed package)."""

DEFAULT_FORMAT = "int8"
FILE_PATTERN = "digits_{fmt}.tflite"


def model_path(fmt: str = DEFAULT_FORMAT) -> Path:
    """Where the shipped model of format ``fmt`` lives (it may not exist)."""
    return MODELS_DIR / FILE_PATTERN.format(fmt=fmt)


def shipped_models() -> dict[str, Path]:
    """The shipped models that exist, ``{format: path}``, e.g. ``{"float32": ..., "int8": ...}``."""
    prefix, suffix = FILE_PATTERN.split("{fmt}")
    found = {}
    for path in sorted(MODELS_DIR.glob(FILE_PATTERN.format(fmt="*"))):
        found[path.name[len(prefix) : -len(suffix)]] = path
    return found


def default_model_path(fmt: str = DEFAULT_FORMAT) -> Path:
    """The shipped model of format ``fmt``.

    Raises:
        ModelError: it is not there (the package was installed without models, or ``fmt`` is
            not shipped); the message says which formats are and how to get a model.
    """
    path = model_path(fmt)
    if path.is_file():
        return path
    available = shipped_models()
    if available:
        hint = f"shipped formats: {', '.join(available)}"
    else:
        hint = "no model is shipped in this install; run `make default-model` or pass --model FILE"
    raise ModelError(f"no shipped {fmt} model at {path} ({hint})")
