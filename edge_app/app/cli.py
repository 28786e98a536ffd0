"""``digits-app``: the Kivy app - live camera, drawing canvas, or a photo - on the edge runtime.

Kivy is imported only inside :func:`main` once the flags are valid, so ``digits-app --help`` is
instant and needs no display.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import sys
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
from edge_app.cliparts import HelpFormatter, positive_int, probability
from edge_app.errors import DigitLiteError
from edge_app.process import DEFAULT_THREADS, configure_threads

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digits-app",
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
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings only")
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
            close = difflib.get_close_matches(source, CAMERA_SOURCES, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            parser.error(
                f"--source {source!r} is neither a file nor one of "
                f"{', '.join(CAMERA_SOURCES)}{hint}"
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


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app. Returns the exit code (0, or 2 for anything the user can fix)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = _config(parser, args)
    _configure_logging(args.verbose, args.quiet)
    configure_threads(config.threads, verbose=args.verbose)
    # Kivy must not parse our argv, and must leave the root logger to us
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "MIXED")
    if args.quiet:
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    try:
        from edge_app.app.ui import run_app

        state = run_app(config)
    except DigitLiteError as exc:
        print(f"digits-app: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    if config.quit_after is not None:
        print(json.dumps(state, sort_keys=True))
    return 0
