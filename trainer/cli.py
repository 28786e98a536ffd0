"""``digits-train``: EDA, train one or several architectures, evaluate, write a run directory.

Results (the comparison table, where the report is) go to stdout; logs and the Keras progress
bar go to stderr. Errors are one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_app.cliparts import (
    HelpFormatter,
    add_verbosity,
    configure_logging,
    did_you_mean,
    number,
    positive_int,
    run_main,
)
from trainer.config import TrainConfig
from trainer.models import ARCHITECTURES, DEFAULT_ARCH

log = logging.getLogger(__name__)

PROG = "digits-train"


def _arch_list(parser: argparse.ArgumentParser, flag: str, text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name not in ARCHITECTURES:
            parser.error(
                f"argument {flag}: unknown architecture '{name}' "
                f"(choose from {', '.join(ARCHITECTURES)}){did_you_mean(name, list(ARCHITECTURES))}"
            )
    if not names:
        parser.error(f"argument {flag}: give at least one architecture")
    if len(set(names)) != len(names):
        parser.error(f"argument {flag}: an architecture is listed twice")
    return names


def _members(text: str) -> int:
    """argparse type for --ensemble: 0 (none) or at least 2 members."""
    value = number(text, int)
    if value == 1 or value < 0:
        raise argparse.ArgumentTypeError(f"{value}: an ensemble has at least 2 members (0: none)")
    return value


def _share(text: str) -> float:
    """argparse type: a share strictly between 0 and 1."""
    value = number(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


EXAMPLES = """examples:
  digits-train                                  train edge-cnn (12 classes) into runs/latest
  digits-train --compare mlp,seed-cnn,edge-cnn  compare architectures
  digits-train --ensemble 3 --out runs/ens3     3 members averaged as one model.keras
  digits-train --finetune runs/latest --extra-data my-digits/
                                                adapt to your handwriting -> runs/latest-tuned
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``digits-train`` argument parser."""
    from trainer.finetune import FinetuneConfig

    defaults = TrainConfig()
    tune = FinetuneConfig(Path("."), (Path("."),), Path("."))
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Explore MNIST, train digit classifiers, evaluate them and write a report.",
        formatter_class=HelpFormatter,
        epilog=EXAMPLES
        + "\nArchitectures: "
        + "; ".join(f"{n} ({s.description})" for n, s in ARCHITECTURES.items())
        + ".\nMNIST is looked for in --data-dir, $DIGITS_DATA_DIR, the Keras cache, then "
        "downloaded.",
    )
    parser.add_argument(
        "--out", type=Path,
        help=f"run directory (default: {defaults.out}; RUN_DIR-tuned with --finetune)",
    )  # fmt: skip
    parser.add_argument(
        "--arch", default=DEFAULT_ARCH,
        help=f"architecture: {', '.join(ARCHITECTURES)} (with --ensemble: a list, taken by "
        "the members in turn)",
    )  # fmt: skip
    parser.add_argument(
        "--compare",
        metavar="A,B,...",
        help="train several architectures and compare them; the first (or --arch if listed) "
        "becomes model.keras",
    )
    parser.add_argument(
        "--ensemble", type=_members, default=0, metavar="N",
        help="train N members (seeds SEED, SEED+1, ...) and make model.keras their average",
    )  # fmt: skip
    tuning = parser.add_argument_group("fine-tuning on your own digits")
    tuning.add_argument(
        "--finetune", type=Path, metavar="RUN_DIR",
        help="start from this run's model.keras and train briefly on --extra-data mixed with "
        "MNIST; writes a new run directory",
    )  # fmt: skip
    tuning.add_argument(
        "--extra-data", type=Path, nargs="+", metavar="DIR",
        help="your digits: folders holding one folder per digit (0..9; none, cut for a "
        "12-class model), as digits-predict --save-crops writes them",
    )  # fmt: skip
    tuning.add_argument(
        "--holdout", type=_share, default=tune.holdout, metavar="SHARE",
        help="share of each digit of yours held out to measure on (split by --seed)",
    )  # fmt: skip
    tuning.add_argument(
        "--mnist-images", type=int, default=tune.mnist_images, metavar="N",
        help="MNIST training images mixed in, so MNIST is not forgotten",
    )  # fmt: skip
    tuning.add_argument(
        "--vision-images", type=int, default=tune.vision_images, metavar="N",
        help="at most N of the source run's vision crops mixed in (12-class models), so "
        "'none' and 'cut' are not forgotten; 0: none",
    )  # fmt: skip
    parser.add_argument(
        "--epochs", type=positive_int,
        help=f"max epochs; {tune.epochs} with --finetune (default: {defaults.epochs})",
    )  # fmt: skip
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
        "--vision-photos", type=int, metavar="N",
        help="synthetic photos whose vision crops join MNIST in training: the model learns to "
        "read what the vision step hands it and to say 'not a digit' (12 classes); 0 trains a "
        f"plain 10-digit classifier on MNIST alone (default: {defaults.vision_photos})",
    )  # fmt: skip
    parser.add_argument(
        "--crossed-sevens", type=float, metavar="SHARE", default=defaults.crossed_sevens,
        help="share of the training 7s that also join crossed (a bar through the stem, as "
        "much of the world writes them; MNIST has few); 0 adds none "
        f"(default: {defaults.crossed_sevens})",
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
        "--learning-rate", type=float,
        help=f"peak learning rate; {tune.learning_rate} with --finetune "
        f"(default: {defaults.learning_rate})",
    )  # fmt: skip
    parser.add_argument(
        "--patience", type=positive_int, default=defaults.patience,
        help="early stopping: epochs without a better validation loss (second half only)",
    )  # fmt: skip
    add_verbosity(parser, verbose="debug logging, TensorFlow's start-up messages too")
    return parser


def finetune_config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Any:
    """Turn parsed flags into a :class:`~trainer.finetune.FinetuneConfig` (``--finetune``)."""
    from trainer.finetune import FinetuneConfig

    if not args.extra_data:
        parser.error("--finetune needs --extra-data DIR [DIR ...] (your digits)")
    conflicts = {
        "--compare": args.compare, "--ensemble": args.ensemble, "--resume": args.resume,
        "--limit": args.limit, "--vision-photos": args.vision_photos is not None,
        "--arch": args.arch != DEFAULT_ARCH, "--deterministic": args.deterministic,
    }  # fmt: skip
    for flag, given in conflicts.items():
        if given:
            parser.error(f"{flag} cannot be used with --finetune (the source run decides it)")
    for flag, value in (
        ("--mnist-images", args.mnist_images),
        ("--vision-images", args.vision_images),
    ):
        if value < 0:
            parser.error(f"argument {flag}: must be 0 or more")
    source = args.finetune.expanduser()
    defaults = FinetuneConfig(source, tuple(args.extra_data), source)
    out = args.out if args.out is not None else source.with_name(source.name + "-tuned")
    return FinetuneConfig(
        source=source,
        extra=tuple(p.expanduser() for p in args.extra_data),
        out=out,
        epochs=args.epochs or defaults.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate or defaults.learning_rate,
        holdout=args.holdout,
        seed=args.seed,
        mnist_images=args.mnist_images,
        vision_images=args.vision_images,
        augment=defaults.augment if args.augment is None else args.augment,
        data_dir=args.data_dir.expanduser().resolve() if args.data_dir else None,
        download=not args.no_download,
    )


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TrainConfig:
    """Turn parsed flags into a :class:`TrainConfig` (rejecting impossible combinations)."""
    if args.extra_data:
        parser.error("--extra-data needs --finetune RUN_DIR (the model to start from)")
    arch = _arch_list(parser, "--arch", args.arch)
    if args.ensemble and args.compare:
        parser.error("--ensemble and --compare do not mix; list the members' architectures "
                     "in --arch")  # fmt: skip
    if len(arch) != 1 and not args.ensemble:
        parser.error("argument --arch: give one architecture; use --compare for several")
    defaults = TrainConfig()
    archs = arch
    if args.compare:
        archs = _arch_list(parser, "--compare", args.compare)
        explicit_arch = args.arch != DEFAULT_ARCH
        if explicit_arch and arch[0] not in archs:
            parser.error(f"argument --arch: '{arch[0]}' is not in --compare {args.compare}")
        primary = arch[0] if arch[0] in archs else archs[0]
        archs = (primary, *(a for a in archs if a != primary))
    out = args.out if args.out is not None else defaults.out
    if args.resume:
        from trainer.errors import OutputError

        run_json = out / "run.json"
        if not run_json.is_file():
            raise OutputError(f"nothing to resume: {run_json} does not exist")
        return TrainConfig.load(run_json, out=out, resume=True)
    return TrainConfig(
        out=out,
        archs=archs,
        epochs=args.epochs or defaults.epochs,
        batch_size=args.batch_size,
        limit=args.limit,
        seed=args.seed,
        data_dir=args.data_dir.expanduser().resolve() if args.data_dir else None,
        download=not args.no_download,
        eda=not args.no_eda,
        learning_rate=args.learning_rate or defaults.learning_rate,
        patience=args.patience,
        augment=args.augment,
        deterministic=args.deterministic,
        vision_photos=defaults.vision_photos if args.vision_photos is None else args.vision_photos,
        crossed_sevens=args.crossed_sevens,
        ensemble=args.ensemble,
    )


def _configure_logging(args: argparse.Namespace) -> None:
    configure_logging(args)
    # TensorFlow's C++ start-up chatter is noise on a terminal; -v shows it. Level 3, because
    # on every CPU-only machine TF 2.21 logs "failed call to cuInit" as an error, which alarms
    # users and means nothing here (Python-level errors still surface as exceptions).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if args.verbose else "3")


def _finetune(config: Any, verbose: int) -> int:
    from trainer.errors import TrainingInterrupted
    from trainer.finetune import run_finetune

    try:
        summary = run_finetune(config, verbose=verbose)
    except KeyboardInterrupt as exc:  # a fine-tune is short: no checkpoints, just run it again
        raise TrainingInterrupted(
            f"interrupted; {config.out} may hold an incomplete fine-tune - run it again"
        ) from exc
    print(summary.table)
    print(f"model:  {summary.model_path}")
    print(f"report: {summary.report_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``digits-train``; returns the process exit code."""
    parser = build_parser()
    return run_main(
        PROG, parser, argv, lambda args: _train(parser, args), setup=_configure_logging,
        interrupted="interrupted; files already written are complete - "
        "rerun with --resume to continue",
    )  # fmt: skip


def _train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    verbose = 0 if args.quiet else 1 if sys.stderr.isatty() else 2
    try:
        if args.finetune is not None:
            return _finetune(finetune_config_from_args(parser, args), verbose)
        config = config_from_args(parser, args)
        from trainer.pipeline import run

        summary = run(config, verbose=verbose)
    except OSError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1

    from trainer.report import text_table

    print(text_table(summary.rows))
    print(f"model:  {summary.model_path}")
    print(f"report: {summary.report_path}")
    return 0
