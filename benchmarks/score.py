"""``digits-score``: score what ``digits-predict --json`` read against a labelled photo set.

A labelled set is a folder of images with a ``labels.csv`` of ``kind,file,digits`` (more columns
are ignored): ``kind`` groups the images (``crop``, ``single``, ``multi`` ...), ``file`` is the
image's path relative to the CSV, ``digits`` the digits written in reading order, lines joined by
one space. Per kind, and over all images:

* **exact**: the digits read equal the label, spaces ignored;
* **digit accuracy**: 1 - edit distance / label length, summed over the kind (an empty label
  counts as length 1, so reading "7" on a blank page costs a whole image);
* **lines**: the digits read equal the label *with* its spaces (reading order and line breaks).

Predictions are matched to labels by path relative to the CSV, else by file name. An image with
no prediction, or with an ``"error"``, reads as nothing. Without a predictions file the images
are read here with :class:`edge_app.reader.DigitReader` (the shipped model unless ``--model``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from benchmarks.errors import BenchError
from edge_app.cliparts import HelpFormatter, add_verbosity, positive_int, run_main

log = logging.getLogger(__name__)

PROG = "digits-score"
DESCRIPTION = """\
Score digits read from photos against a labels.csv (kind,file,digits; digits in reading order,
lines joined by one space). Per kind: exact = the digits read equal the label, spaces ignored;
digit accuracy = 1 - edit distance / label length; lines = equal including the spaces."""


class LabelsError(BenchError):
    """A labels.csv or predictions file that cannot be read."""


@dataclass(frozen=True)
class Label:
    """One labelled image."""

    kind: str
    file: str
    digits: str


@dataclass
class KindScore:
    """The running score of one kind of image."""

    images: int = 0
    exact: int = 0
    lines: int = 0
    chars: int = 0
    errors: int = 0
    misses: list[dict[str, str]] = field(default_factory=list)

    @property
    def exact_rate(self) -> float:
        return self.exact / self.images if self.images else 0.0

    @property
    def line_rate(self) -> float:
        return self.lines / self.images if self.images else 0.0

    @property
    def digit_accuracy(self) -> float:
        return 1.0 - self.errors / self.chars if self.chars else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "exact": self.exact,
            "exact_rate": round(self.exact_rate, 4),
            "digit_accuracy": round(self.digit_accuracy, 4),
            "lines_rate": round(self.line_rate, 4),
            "misses": self.misses,
        }


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ca != cb))
    return row[-1]


def read_labels(path: Path) -> list[Label]:
    """The rows of a ``labels.csv`` (``kind,file,digits`` columns, a header line).

    Raises:
        LabelsError: missing file, missing columns, a label with something other than digits
            and single spaces.
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise LabelsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise LabelsError(f"{path} is not a readable CSV file ({exc})") from exc
    if not rows:
        raise LabelsError(f"{path} holds no labelled images")
    missing = {"kind", "file", "digits"} - set(rows[0])
    if missing:
        raise LabelsError(
            f"{path} lacks the column(s) {', '.join(sorted(missing))}; "
            "expected a header line kind,file,digits"
        )
    labels = []
    for number, row in enumerate(rows, start=2):
        digits = (row["digits"] or "").strip()
        if digits and not all(part.isdigit() for part in digits.split(" ")):
            raise LabelsError(f"{path}:{number}: label {digits!r} is not digits and spaces")
        labels.append(Label(row["kind"] or "-", row["file"], digits))
    return labels


def read_predictions(lines: Iterable[str], source: str) -> list[dict[str, Any]]:
    """The JSON objects of a ``digits-predict --json`` output (other lines are skipped)."""
    records = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise LabelsError(f"{source}:{number}: not a JSON object ({exc})") from exc
        if isinstance(record, dict) and "path" in record:
            records.append(record)
    return records


def _index(records: Sequence[dict[str, Any]], base: Path) -> dict[str, dict[str, Any]]:
    by_key: dict[str, dict[str, Any]] = {}
    for record in records:
        path = Path(str(record["path"]))
        by_key[path.name] = record
        with contextlib.suppress(ValueError):  # a path outside the labelled folder
            by_key[str(path.resolve().relative_to(base.resolve()))] = record
    return by_key


def score(
    labels: Sequence[Label], records: Sequence[dict[str, Any]], base: Path, max_misses: int = 50
) -> dict[str, KindScore]:
    """Score predictions against labels; ``{kind: KindScore}`` plus ``"all"``."""
    found = _index(records, base)
    kinds: dict[str, KindScore] = {}
    total = KindScore()
    for label in labels:
        record = found.get(str(Path(label.file))) or found.get(Path(label.file).name)
        read = "" if record is None or "error" in record else str(record.get("digits", ""))
        want, have = label.digits.replace(" ", ""), read.replace(" ", "")
        length = max(len(want), 1)
        errors = min(edit_distance(have, want), length)
        for s in (kinds.setdefault(label.kind, KindScore()), total):
            s.images += 1
            s.exact += have == want
            s.lines += read.strip() == label.digits
            s.chars += length
            s.errors += errors
            if have != want and len(s.misses) < max_misses:
                s.misses.append({"file": label.file, "label": label.digits, "read": read})
    kinds = dict(sorted(kinds.items()))
    kinds["all"] = total
    return kinds


def format_table(scores: dict[str, KindScore], show_misses: bool) -> str:
    """The human-readable table (and the misreads when asked)."""
    lines = [f"{'kind':<10} {'images':>6} {'exact':>14} {'digit acc':>10} {'lines':>8}"]
    for kind, s in scores.items():
        lines.append(
            f"{kind:<10} {s.images:>6} {s.exact:>5}/{s.images:<3} {s.exact_rate:>5.1%} "
            f"{s.digit_accuracy:>10.1%} {s.line_rate:>8.1%}"
        )
    if show_misses:
        for miss in scores["all"].misses:
            lines.append(f"  {miss['file']}: {miss['label']!r} read as {miss['read']!r}")
    return "\n".join(lines)


def _read_here(labels: Sequence[Label], base: Path, model: Path | None, threads: int) -> list:
    """Read every labelled image in-process, as digits-predict would."""
    from edge_app.cli import PredictConfig, load_reader, read_images, result_record

    paths = [base / label.file for label in labels]
    config = PredictConfig(images=tuple(paths), model=model, threads=threads)
    reader = load_reader(config)
    runtime = getattr(reader.classifier, "runtime", "unknown")
    return [result_record(p, r, runtime) for p, r in read_images(reader, paths)]


def build_parser() -> argparse.ArgumentParser:
    """The ``digits-score`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
        epilog=(
            "examples:\n"
            "  digits-predict --json photos/*.jpg > read.jsonl\n"
            "  digits-score photos/labels.csv read.jsonl\n"
            "  digits-score photos/labels.csv            # read the images here first\n"
            "  digits-score photos/labels.csv --model my_int8.tflite --misses"
        ),
    )
    parser.add_argument("labels", type=Path, metavar="LABELS.csv", help="kind,file,digits")
    parser.add_argument(
        "predictions", nargs="?", metavar="PREDICTIONS.jsonl",
        help="digits-predict --json output ('-' for stdin); omitted: read the images here",
    )  # fmt: skip
    parser.add_argument(
        "--model", type=Path, default=None, metavar="FILE",
        help="when reading here: the .tflite model (default: the shipped int8 model)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=positive_int, default=1, metavar="N", help="when reading here"
    )
    parser.add_argument("--misses", action="store_true", help="list every misread image")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    add_verbosity(parser, verbose="debug logging: every image read")
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    labels = read_labels(args.labels)
    base = args.labels.parent
    if args.predictions is None:
        records = _read_here(labels, base, args.model, args.threads)
    elif args.predictions == "-":
        records = read_predictions(sys.stdin, "stdin")
    else:
        path = Path(args.predictions)
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                records = read_predictions(handle, str(path))
        except OSError as exc:
            raise LabelsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    scores = score(labels, records, base)
    if args.json:
        print(json.dumps({k: s.to_dict() for k, s in scores.items()}), file=out)
    else:
        print(format_table(scores, args.misses), file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``digits-score``; returns the exit status."""
    return run_main(PROG, build_parser(), argv, lambda args: run(args, sys.stdout))


if __name__ == "__main__":
    raise SystemExit(main())
