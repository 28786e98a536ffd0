"""``digits-predict``: read the digits written in image files with a DigitLite .tflite model.

Runs with the edge install only (numpy, a TFLite interpreter, OpenCV/Pillow): no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from edge_app.cliparts import (
    HelpFormatter,
    add_verbosity,
    choice,
    positive_int,
    probability,
    run_main,
)
from edge_app.errors import DigitLiteError
from edge_app.native_output import quiet_native_output
from edge_app.process import DEFAULT_THREADS, configure_threads

if TYPE_CHECKING:
    from edge_app.collect import CropSaver
    from edge_app.reader import DigitReader, Reading

log = logging.getLogger(__name__)

PROG = "digits-predict"
EXIT_OK, EXIT_SOME_FAILED = 0, 1

EPILOG = """\
examples:
  digits-predict photo.jpg                  read with the shipped int8 model
  digits-predict scans/*.png --json         one JSON object per image, one per line
  digits-predict form.jpg --model runs/latest/model_float32.tflite --runtime tensorflow
  digits-predict blurry.jpg --min-confidence 0.8 -v
  digits-predict archive/*.jpg --json --workers 2    two processes, output still in input order
  digits-predict forms/*.jpg --save-crops my-digits   collect your handwriting: every digit read
                                            goes to my-digits/<digit>/; move wrong ones to
                                            the right folder, then digits-train --finetune

output:
  human    PATH: 90210  (5 digits, 2.1 ms)     lines of text are separated by a space
  --json   {"path": ..., "digits": "90210", "detections": [{"digit": 9, "confidence": 0.998,
            "box": [x, y, w, h], "line": 0}, ...], "latency_ms": 2.1, "runtime": "litert"}
           "digits" is "" when the image holds no digit; an unreadable file gives
           {"path": ..., "error": "..."} and the others are still read. latency_ms is
           image in memory -> digits (vision + model), file decoding not included.

exit status: 0 all images read, 1 some image could not be read, 2 bad model/flags/runtime.
"""


@dataclass(frozen=True)
class PredictConfig:
    """What ``digits-predict`` was asked to do (parsed flags, no argparse inside)."""

    images: tuple[Path, ...]
    model: Path | None = None  # None: the shipped int8 model
    json: bool = False
    min_confidence: float = 0.5
    runtime: str | None = None  # None: first installed
    threads: int = DEFAULT_THREADS
    workers: int = 1  # processes reading files in parallel (edge_app.batch)
    save_crops: Path | None = None  # save every digit read here (edge_app.collect)


def build_parser() -> argparse.ArgumentParser:
    """The ``digits-predict`` argument parser."""
    from edge_app.runtime import RUNTIME_NAMES  # light: no interpreter is imported

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read the handwritten digits in image files (photos, scans, crops) with a "
        "DigitLite TFLite model. Needs no TensorFlow.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files")
    parser.add_argument(
        "--model",
        type=Path,
        metavar="FILE",
        help="a DigitLite .tflite model (default: the shipped int8 model)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per image, one per line"
    )
    parser.add_argument(
        "--min-confidence",
        type=probability,
        default=0.5,
        metavar="P",
        help="drop digits the model is less sure of than P, 0..1",
    )
    parser.add_argument(
        "--runtime",
        type=choice(RUNTIME_NAMES, "runtime"),
        metavar="NAME",
        help=f"force a TFLite interpreter: {', '.join(RUNTIME_NAMES)} "
        "(default: the first installed, in that order)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=DEFAULT_THREADS,
        metavar="N",
        help="threads for the interpreter and OpenCV; a 28x28 model and one photo gain nothing "
        "from more, and threads fight on a busy CPU",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="read files in N processes, each with its own model (for many files; results "
        "stay in input order)",
    )
    parser.add_argument(
        "--save-crops",
        type=Path,
        metavar="DIR",
        help="save every digit read as DIR/<digit>/<id>.png (the crop) and <id>.mnist.png (what "
        "the model saw), with DIR/manifest.csv; correct a wrong one by moving it",
    )
    add_verbosity(parser, verbose="debug logging: per-digit confidences, native libraries too")
    return parser


def parse_config(args: argparse.Namespace) -> PredictConfig:
    """Freeze the parsed flags into a :class:`PredictConfig`."""
    return PredictConfig(
        images=tuple(args.images),
        model=args.model,
        json=args.json,
        min_confidence=args.min_confidence,
        runtime=args.runtime,
        threads=args.threads,
        workers=args.workers,
        save_crops=args.save_crops,
    )


def load_reader(config: PredictConfig) -> DigitReader:
    """Load the model and build a :class:`~edge_app.reader.DigitReader` for ``config``.

    Raises:
        ModelError, RuntimeNotFoundError: the model or interpreter cannot be used.
    """
    from edge_app.classifier import Classifier
    from edge_app.models import default_model_path
    from edge_app.reader import DigitReader

    verbose = log.isEnabledFor(logging.DEBUG)
    threads = configure_threads(config.threads, verbose=verbose)
    model = config.model if config.model is not None else default_model_path()
    with quiet_native_output(not verbose):
        classifier = Classifier(model, runtime=config.runtime, threads=threads)
    contract = classifier.contract
    accuracy = f", {contract.accuracy:.2%} on MNIST" if contract and contract.accuracy else ""
    # the runtime and its version were logged by edge_app.runtime as the model loaded
    log.info(
        "model %s: %s%s, %.0f KB", model, classifier.format, accuracy, classifier.size_bytes / 1024
    )
    return DigitReader(classifier, min_confidence=config.min_confidence)


def load_saver(config: PredictConfig, reader: DigitReader) -> CropSaver | None:
    """The :class:`~edge_app.collect.CropSaver` of ``--save-crops`` (None without it).

    Raises:
        CropFolderError: the folder cannot be created or written.
    """
    if config.save_crops is None:
        return None
    from edge_app.collect import CropSaver

    model = getattr(reader.classifier, "model_path", None)
    return CropSaver(config.save_crops, model=Path(model).name if model else "")


def read_images(
    reader: DigitReader, paths: Sequence[Path], saver: CropSaver | None = None
) -> Iterator[tuple[Path, Reading | DigitLiteError]]:
    """Yield ``(path, Reading)`` or ``(path, DigitLiteError)`` for each image, in order.

    One bad file never stops the others: even an unexpected failure inside the vision step
    becomes that file's error (with the traceback logged at debug level, ``-v``). With a
    ``saver``, every digit read is saved (:mod:`edge_app.collect`).
    """
    from edge_app.errors import ImageError
    from edge_app.imageio import load_image

    for path in paths:
        try:
            image = load_image(path)
            reading = reader.read(image)
            if saver is not None:
                saver.save_reading(image, reading, str(path), reader.classifier)
            yield path, reading
        except DigitLiteError as exc:
            yield path, exc
        except Exception as exc:  # a bug must not cost the user the other files' results
            log.debug("%s: unexpected failure", path, exc_info=True)
            yield (
                path,
                ImageError(
                    f"{path}: could not be read ({type(exc).__name__}: {exc}); -v shows details"
                ),
            )


def result_record(path: Path, result: Reading | DigitLiteError, runtime: str) -> dict[str, Any]:
    """The ``--json`` object for one image (DESIGN.md schema, plus ``runtime``)."""
    if isinstance(result, Exception):
        return {"path": str(path), "error": str(result)}
    return {"path": str(path), **result.to_dict(), "runtime": runtime}


def format_human(path: Path, result: Reading) -> str:
    """``PATH: 90210  (5 digits, 2.1 ms)``."""
    count = len(result.detections)
    shown = result.digits or "-"
    noun = "digit" if count == 1 else "digits"
    return f"{path}: {shown}  ({count or 'no'} {noun}, {result.latency_ms:.1f} ms)"


def predict(config: PredictConfig, out: TextIO) -> int:
    """Read every image in ``config`` and print the results to ``out``.

    Returns:
        :data:`EXIT_OK`, or :data:`EXIT_SOME_FAILED` when at least one image could not be read.

    Raises:
        ModelError, RuntimeNotFoundError: the model or interpreter cannot be used.
    """
    reader = load_reader(config)
    saver = load_saver(config, reader)  # an unwritable folder fails before any file is read
    runtime = getattr(reader.classifier, "runtime", "unknown")
    failed = 0
    if config.workers > 1 and len(config.images) > 1:
        from edge_app.batch import read_images_parallel

        workers = min(config.workers, len(config.images))
        results = read_images_parallel(config, config.images, workers)
    else:
        results = read_images(reader, config.images, saver)
    for path, result in results:
        if isinstance(result, Exception):
            failed += 1
            log.error("%s", result)
        elif log.isEnabledFor(logging.DEBUG):
            for d in result.detections:
                log.debug("%s: %d (%.3f) at %s line %d", path, d.digit, d.confidence, d.box, d.line)
        if config.json:
            print(json.dumps(result_record(path, result, runtime)), file=out, flush=True)
        elif not isinstance(result, Exception):
            print(format_human(path, result), file=out, flush=True)
    if failed:
        log.error("%d of %d images could not be read", failed, len(config.images))
    return EXIT_SOME_FAILED if failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``digits-predict``; returns the exit status."""
    parser = build_parser()

    def body(args: argparse.Namespace) -> int:
        try:
            return predict(parse_config(args), sys.stdout)
        except BrokenPipeError:  # `digits-predict *.jpg | head`: the reader left, stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the final flush at exit cannot fail again
            return EXIT_OK

    return run_main(PROG, parser, argv, body, log_format=f"{PROG}: %(levelname)s: %(message)s")
