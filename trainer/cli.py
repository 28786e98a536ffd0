"""``digits-train``: EDA, train one or several architectures, evaluate, write a run directory.

Results (the comparison table, where the report is) go to stdout; logs and the Keras progress
bar go to stderr. Errors are one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from edge_app.cliparts import HelpFormatter, positive_int
from edge_app.errors import DigitLiteError
from trainer.config import TrainConfig
from trainer.models import ARCHITECTURES, DEFAULT_ARCH

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130


def _arch_list(parser: argparse.ArgumentParser, flag: str, text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name not in ARCHITECTURES:
            close = difflib.get_close_matches(name, list(ARCHITECTURES), n=1)
            hint = f" - did you mean '{close[0]}'?" if close else ""
            parser.error(
                f"argument {flag}: unknown architecture '{name}'{hint} "
                f"(choose from {', '.join(ARCHITECTURES)})"
            )
    if not names:
        parser.error(f"argument {flag}: give at least one architecture")
    if len(set(names)) != len(names):
        parser.error(f"argument {flag}: an architecture is listed twice")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The ``digits-train`` argument parser."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="digits-train",
        description="Explore MNIST, train digit classifiers, evaluate them and write a report.",
        formatter_class=HelpFormatter,
        epilog="Architectures: "
        + "; ".join(f"{n} ({s.description})" for n, s in ARCHITECTURES.items())
        + ". MNIST is looked for in --data-dir, $DIGITS_DATA_DIR, the Keras cache, then "
        "downloaded.",
    )
    parser.add_argument("--out", type=Path, default=defaults.out, help="run directory")
    parser.add_argument(
        "--arch", default=DEFAULT_ARCH, help=f"architecture: {', '.join(ARCHITECTURES)}"
    )
    parser.add_argument(
        "--compare",
        metavar="A,B,...",
        help="train several architectures and compare them; the first (or --arch if listed) "
        "becomes model.keras",
    )
    parser.add_argument("--epochs", type=positive_int, default=defaults.epochs, help="max epochs")
    parser.add_argument(
        "--batch-size", type=positive_int, default=defaults.batch_size, help="images per step"
    )
    parser.add_argument(
        "--limit", type=positive_int, help="use only the first N training images (quick runs)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="bit-identical reruns of a seed (deterministic TensorFlow ops; slower)",
    )
    parser.add_argument(
        "--data-dir", type=Path, help="directory with the MNIST idx .gz files or mnist.npz"
    )
    parser.add_argument(
        "--no-download", action="store_true", help="never download MNIST; fail instead"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --out with its saved settings",
    )
    parser.add_argument("--no-eda", action="store_true", help="skip the data-exploration figures")
    parser.add_argument(
        "--vision-photos", type=int, default=defaults.vision_photos, metavar="N",
        help="synthetic photos whose vision crops join MNIST in training: the model learns to "
        "read what the vision step hands it and to say 'not a digit' (12 classes); 0 trains a "
        "plain 10-digit classifier on MNIST alone",
    )  # fmt: skip
    augment = parser.add_mutually_exclusive_group()
    augment.add_argument(
        "--augment", dest="augment", action="store_const", const=True, default=None,
        help="augment every architecture (default: per architecture, on for edge-cnn)",
    )  # fmt: skip
    augment.add_argument(
        "--no-augment", dest="augment", action="store_const", const=False, help="never augment"
    )
    parser.add_argument(
        "--learning-rate", type=float, default=defaults.learning_rate, help="peak learning rate"
    )
    parser.add_argument(
        "--patience", type=positive_int, default=defaults.patience,
        help="early stopping: epochs without a better validation loss (second half only)",
    )  # fmt: skip
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="warnings only, no progress bar"
    )
    return parser


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TrainConfig:
    """Turn parsed flags into a :class:`TrainConfig` (rejecting impossible combinations)."""
    arch = _arch_list(parser, "--arch", args.arch)
    if len(arch) != 1:
        parser.error("argument --arch: give one architecture; use --compare for several")
    archs = arch
    if args.compare:
        archs = _arch_list(parser, "--compare", args.compare)
        explicit_arch = args.arch != DEFAULT_ARCH
        if explicit_arch and arch[0] not in archs:
            parser.error(f"argument --arch: '{arch[0]}' is not in --compare {args.compare}")
        primary = arch[0] if arch[0] in archs else archs[0]
        archs = (primary, *(a for a in archs if a != primary))
    if args.resume:
        from trainer.errors import OutputError

        run_json = args.out / "run.json"
        if not run_json.is_file():
            raise OutputError(f"nothing to resume: {run_json} does not exist")
        return TrainConfig.load(run_json, out=args.out, resume=True)
    return TrainConfig(
        out=args.out,
        archs=archs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        limit=args.limit,
        seed=args.seed,
        data_dir=args.data_dir.expanduser().resolve() if args.data_dir else None,
        download=not args.no_download,
        eda=not args.no_eda,
        learning_rate=args.learning_rate,
        patience=args.patience,
        augment=args.augment,
        deterministic=args.deterministic,
        vision_photos=args.vision_photos,
    )


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s", force=True
    )
    # TensorFlow's C++ start-up chatter is noise on a terminal; -v shows it. Level 3, because
    # on every CPU-only machine TF 2.21 logs "failed call to cuInit" as an error, which alarms
    # users and means nothing here (Python-level errors still surface as exceptions).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if args.verbose else "3")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``digits-train``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        config = config_from_args(parser, args)
        from trainer.pipeline import run

        verbose = 0 if args.quiet else 1 if sys.stderr.isatty() else 2
        summary = run(config, verbose=verbose)
    except DigitLiteError as exc:
        print(f"digits-train: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "digits-train: interrupted; files already written are complete - "
            "rerun with --resume to continue",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except OSError as exc:
        print(f"digits-train: error: {exc}", file=sys.stderr)
        return 1

    from trainer.report import text_table

    print(text_table(summary.rows))
    print(f"model:  {summary.model_path}")
    print(f"report: {summary.report_path}")
    return 0
