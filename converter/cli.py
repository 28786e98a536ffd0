"""``digits-convert``: Keras model -> verified, self-describing TFLite variants.

Results (the report table) go to stdout; progress and errors go to stderr. Exit codes: 0 every
variant passed the accuracy gate, 1 a variant lost more than ``--max-drop`` points (the report is
written anyway), 2 bad input (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from converter.calibration import DEFAULT_CALIBRATION_SAMPLES, MIN_CALIBRATION_SAMPLES
from converter.formats import FORMAT_NAMES, FORMATS
from converter.gate import DEFAULT_MAX_DROP_PP
from converter.pipeline import (
    REPORT_JSON,
    REPORT_MD,
    ConvertConfig,
    run_conversion,
)
from edge_app.cliparts import HelpFormatter, add_verbosity, choice, log_level, run_main
from edge_app.runtime import RUNTIME_NAMES

PROG = "digits-convert"
log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The ``digits-convert`` argument parser."""
    formats_help = "; ".join(f"{f.name}: {f.summary}" for f in FORMATS)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Convert a trained DigitLite Keras model to TFLite variants, verify each "
        "against the original on the MNIST test set through the edge interpreter code, embed "
        f"its contract, and write {REPORT_JSON} + {REPORT_MD}.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "source", type=Path, metavar="RUN_DIR_OR_MODEL",
        help="a run directory holding model.keras, or a .keras file",
    )  # fmt: skip
    parser.add_argument(
        "--formats", default=",".join(FORMAT_NAMES), metavar="LIST",
        help=f"comma-separated formats ({formats_help})",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="output directory (default: the model's directory)",
    )  # fmt: skip
    parser.add_argument(
        "--calibration-samples", type=int, default=DEFAULT_CALIBRATION_SAMPLES, metavar="N",
        help=f"training images for int8 calibration (at least {MIN_CALIBRATION_SAMPLES})",
    )  # fmt: skip
    parser.add_argument(
        "--max-drop", type=float, default=DEFAULT_MAX_DROP_PP, metavar="PP",
        help="largest accuracy loss vs Keras a variant may have, in percentage points",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR",
        help="MNIST directory (default: $DIGITS_DATA_DIR, then the Keras cache, then download)",
    )  # fmt: skip
    parser.add_argument(
        "--no-download", action="store_true", help="never download MNIST; fail if not found"
    )
    parser.add_argument(
        "--runtime", type=choice(RUNTIME_NAMES, "runtime"), default=None, metavar="NAME",
        help="verify with this interpreter (default: the device order, LiteRT first)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed for picking calibration images")
    add_verbosity(parser, verbose="debug logging, TensorFlow's and Keras' messages too")
    return parser


class _QuietOthers(logging.Filter):
    """Let other packages' records through only from ``level`` up (our own progress always).

    A handler filter, not logger levels, so nothing outlives this run (tests call main() often).
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name.startswith(("converter", "trainer.data"))  # where MNIST came from
        return ours or record.levelno >= self.level


def _configure_logging(args: argparse.Namespace) -> None:
    level = log_level(args)
    verbose = level <= logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    # TensorFlow, Keras and the edge runtime's "loaded X with litert" (once per file) are noise
    # unless asked for with -v.
    handler.addFilter(_QuietOthers(logging.DEBUG if verbose else logging.WARNING))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # TensorFlow's C++ logging is read once, at import; keep its chatter off the terminal.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if verbose else "3")
    if not verbose:
        warnings.filterwarnings("ignore", module=r"(tensorflow|keras|absl)")
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*quantiz")


def _config(args: argparse.Namespace) -> ConvertConfig:
    return ConvertConfig(
        source=args.source,
        formats=tuple(args.formats.split(",")),
        out=args.out,
        calibration_samples=args.calibration_samples,
        max_drop=args.max_drop,
        data_dir=args.data_dir,
        runtime=args.runtime,
        seed=args.seed,
        download=not args.no_download,
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``digits-convert``; returns the exit code."""
    return run_main(
        PROG, build_parser(), argv, _convert,
        setup=_configure_logging, interrupted="interrupted; nothing half-written",
    )  # fmt: skip


def _convert(args: argparse.Namespace) -> int:
    outcome = run_conversion(_config(args))
    print(outcome.markdown)
    if not outcome.passed:
        print(
            f"{PROG}: error: accuracy gate failed for {', '.join(outcome.failed_formats)} "
            f"(more than {args.max_drop:g} pp lost vs Keras); report in {outcome.out / REPORT_MD}",
            file=sys.stderr,
        )
        return 1
    return 0
