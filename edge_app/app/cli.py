"""``digits-app``: the Kivy app - live camera, drawing canvas, or a photo - on the edge runtime.

Kivy is imported only inside :func:`main` once the flags are valid, so ``digits-app --help`` is
instant and needs no display.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from edge_app.app.config import (
    CAMERA_SOURCES,
    DEFAULT_CROPS,
    IMAGE_SUFFIXES,
    MODES,
    VIDEO_SUFFIXES,
    AppConfig,
)
from edge_app.cliparts import (
    HelpFormatter,
    add_verbosity,
    did_you_mean,
    positive_int,
    probability,
    run_main,
)
from edge_app.process import DEFAULT_THREADS, configure_threads

log = logging.getLogger(__name__)


PROG = "digits-app"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read handwritten digits live from a camera, a drawing or a photo "
        "(offline, no TensorFlow).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        metavar="FILE",
        default=None,
        help="a DigitLite .tflite to use first (the shipped int8/float32 stay selectable); "
        "if it cannot be loaded the app says why and uses the shipped model",
    )
    parser.add_argument(
        "--source",
        default="camera",
        metavar="SOURCE",
        help="camera (the best for this platform), kivy, opencv (V4L2 webcam), picamera2 "
        "(Raspberry Pi camera), or an IMAGE or VIDEO file used as the camera",
    )
    parser.add_argument("--camera-index", type=int, default=0, metavar="N", help="which camera")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=DEFAULT_THREADS,
        metavar="N",
        help="threads for the interpreter and OpenCV (each frame is small; more threads fight "
        "the preview and each other for the CPU)",
    )
    parser.add_argument("--mode", choices=MODES, default="camera", help="mode to open in")
    parser.add_argument(
        "--min-confidence",
        type=probability,
        default=None,
        metavar="P",
        help="drop digits read with less confidence (default: the reader's)",
    )
    parser.add_argument(
        "--save-crops",
        type=Path,
        default=DEFAULT_CROPS,
        metavar="DIR",
        help="where Save puts the digits read (DIR/<digit>/, for digits-train --finetune)",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="PNG",
        help="save the window as PNG just before quitting (needs --quit-after)",
    )
    parser.add_argument(
        "--quit-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="quit this long after the model is ready (and a first reading is shown) and print "
        "the final state as JSON on stdout",
    )
    add_verbosity(parser)
    return parser


def _config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> AppConfig:
    """Validate flag combinations and build the frozen config (``parser.error`` exits 2)."""
    if args.screenshot is not None and args.quit_after is None:
        parser.error("--screenshot needs --quit-after SECONDS (the moment to take it)")
    if args.quit_after is not None and args.quit_after <= 0:
        parser.error("--quit-after must be > 0 seconds")
    if args.camera_index < 0:
        parser.error("--camera-index must be >= 0")
    source = args.source
    if source not in CAMERA_SOURCES:
        path = Path(source).expanduser()
        if not path.exists():
            suffix = path.suffix.lower()
            if suffix in IMAGE_SUFFIXES + VIDEO_SUFFIXES or os.sep in source:
                parser.error(f"--source {source}: no such file")
            parser.error(
                f"--source {source!r} is neither a file nor one of "
                f"{', '.join(CAMERA_SOURCES)}{did_you_mean(source, CAMERA_SOURCES)}"
            )
        if path.is_dir():
            parser.error(f"--source {source} is a directory; give an image or video file")
        source = str(path)
    return AppConfig(
        model=args.model,
        source=source,
        camera_index=args.camera_index,
        threads=args.threads,
        mode=args.mode,
        min_confidence=args.min_confidence,
        screenshot=args.screenshot,
        quit_after=args.quit_after,
        save_crops=args.save_crops,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app. Returns the exit code (0, or 2 for anything the user can fix)."""
    parser = build_parser()
    return run_main(PROG, parser, argv, lambda args: _run(_config(parser, args), args))


def _run(config: AppConfig, args: argparse.Namespace) -> int:
    configure_threads(config.threads, verbose=args.verbose)
    # Kivy must not parse our argv, and must leave the root logger to us
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "MIXED")
    if args.quiet:
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    from edge_app.app.ui import run_app

    state = run_app(config)
    if config.quit_after is not None:
        print(json.dumps(state, sort_keys=True))
    return 0
