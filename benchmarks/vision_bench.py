"""Measure the camera vision step against its targets: ``python -m benchmarks.vision_bench``.

Categories (all seeded, all made here, nothing downloaded):

* ``single`` - synthetic photos (:mod:`benchmarks.photos`) of one handwritten digit taken from
  the MNIST *test* set: read correctly when the digits reported are exactly the truth;
* ``string`` - photos of 3 to 6 digits in a row: read correctly when the whole string matches;
* ``blank`` - paper with gradients, shadows, rulings, specks and sometimes its edge: a false
  positive is any digit reported;
* ``scan`` - clean scans from another source than MNIST: scikit-learn's bundled UCI optical
  digits (43 writers, 8x8, 0..16), upscaled to 24..160 px, as dark-on-light and light-on-dark,
  half of them tight crops whose digit touches the image border;
* ``latency`` - one 640x480 single-digit photo to digits (vision + classifying the
  candidates), OpenCV and the interpreter on one thread, median and p90 over many runs.

"Reported" means what ``digits-predict`` reports: candidates whose best probability is at least
``--min-confidence``. The classifier is :class:`edge_app.classifier.Classifier` on ``--model``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.errors import BenchError
from benchmarks.photos import FRAME, PhotoMaker, hershey_glyphs, scan
from edge_app.classifier import Classifier
from edge_app.cliparts import HelpFormatter
from edge_app.reader import LINE_SEPARATOR, DigitReader

log = logging.getLogger(__name__)

TARGETS = {"single": 0.97, "string": 0.90, "blank_fp": 0.02, "scan": 0.95, "latency_ms": 3.0}
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "edge_app" / "models" / "digits_int8.tflite"


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how much of it."""

    model: Path
    data_dir: str | None = None
    singles: int = 600
    strings: int = 300
    blanks: int = 600
    scans: int = 1797
    latency_frames: int = 40
    latency_repeats: int = 15
    min_confidence: float = 0.5
    threads: int = 1
    seed: int = 0


def _read(reader: DigitReader, image: np.ndarray) -> tuple[str, int]:
    """Digits reported (as digits-predict reports them, lines joined) and vision's candidates."""
    reading = reader.read(image)
    return reading.digits.replace(LINE_SEPARATOR, ""), len(reading.detections) + reading.rejected


def load_glyphs(data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """MNIST test digits (never trained on), or Hershey glyphs if MNIST is not at hand."""
    try:
        from trainer.data import load_mnist

        mnist = load_mnist(data_dir, download=False)
        return mnist.x_test, mnist.y_test, f"MNIST test set ({mnist.source})"
    except Exception as exc:  # noqa: BLE001 - any failure means: fall back, and say so
        log.warning("MNIST not available (%s); using Hershey script glyphs", exc)
        x, y = hershey_glyphs(2000, seed=0)
        return x, y, "Hershey glyphs"


def _rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def bench_photos(reader: DigitReader, maker: PhotoMaker, cfg: BenchConfig) -> dict[str, Any]:
    """Single digits, strings and blank pages."""
    rng = np.random.default_rng(cfg.seed + 1)
    sizes = [FRAME, FRAME, FRAME, (1280, 960), (480, 640), (1920, 1080)]
    out: dict[str, Any] = {}
    hits = found_one = 0
    confusions: list[str] = []
    for _ in range(cfg.singles):
        photo = maker.single(sizes[int(rng.integers(len(sizes)))])
        digits, n = _read(reader, photo.image)
        hits += digits == photo.digits
        found_one += n == 1
        if digits != photo.digits and len(confusions) < 20:
            confusions.append(f"{photo.digits}->{digits or '-'}")
    out["single"] = {
        "photos": cfg.singles,
        "accuracy": _rate(hits, cfg.singles),
        "one_candidate": _rate(found_one, cfg.singles),
        "errors": confusions,
    }
    hits = right_count = 0
    for i in range(cfg.strings):
        photo = maker.string(3 + i % 4, sizes[int(rng.integers(len(sizes)))])
        digits, n = _read(reader, photo.image)
        hits += digits == photo.digits
        right_count += n == len(photo.digits)
    out["string"] = {
        "photos": cfg.strings,
        "accuracy": _rate(hits, cfg.strings),
        "right_count": _rate(right_count, cfg.strings),
    }
    reported = candidates = 0
    for _ in range(cfg.blanks):
        digits, n = _read(reader, maker.blank(sizes[int(rng.integers(len(sizes)))]).image)
        reported += bool(digits)
        candidates += n > 0
    out["blank"] = {
        "photos": cfg.blanks,
        "false_positive_rate": _rate(reported, cfg.blanks),
        "any_candidate_rate": _rate(candidates, cfg.blanks),
    }
    return out


def bench_scans(reader: DigitReader, cfg: BenchConfig) -> dict[str, Any]:
    """UCI optical digits (scikit-learn's load_digits) as clean scans and tight crops."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)  # 0..16 -> 0..255
    rng = np.random.default_rng(cfg.seed + 2)
    order = rng.permutation(len(images))[: cfg.scans]
    by_kind: dict[str, list[int]] = {}
    for k, i in enumerate(order):
        tight, light = k % 2 == 0, (k // 2) % 2 == 0
        side = int(rng.integers(24, 161))
        image = scan(images[i], side=side, margin=0.0 if tight else 0.2, light_ink=light)
        read, _ = _read(reader, image)
        kind = f"{'tight' if tight else 'margin'}-{'light' if light else 'dark'}-ink"
        by_kind.setdefault(kind, []).append(read == str(digits.target[i]))
    total = sum(len(v) for v in by_kind.values())
    hits = sum(sum(v) for v in by_kind.values())
    return {
        "images": total,
        "accuracy": _rate(hits, total),
        "by_kind": {k: _rate(sum(v), len(v)) for k, v in sorted(by_kind.items())},
        "source": "scikit-learn load_digits (UCI optical digits, 43 writers), upscaled",
    }


def bench_latency(reader: DigitReader, maker: PhotoMaker, cfg: BenchConfig) -> dict[str, Any]:
    """640x480 single-digit frame -> digits, one thread; median/p90 over all runs."""
    frames = [maker.single(FRAME).image for _ in range(cfg.latency_frames)]
    for frame in frames[:3]:  # warm up caches and the interpreter
        reader.read(frame)
    total, vision, cpu = [], [], []
    for _ in range(cfg.latency_repeats):
        for frame in frames:
            c0 = time.thread_time()
            reading = reader.read(frame)
            cpu.append((time.thread_time() - c0) * 1000)
            total.append(reading.latency_ms)
            vision.append(reading.vision_ms)
    return {
        "frames": len(frames),
        "runs": len(total),
        "median_ms": round(float(np.median(total)), 3),
        "p90_ms": round(float(np.percentile(total, 90)), 3),
        "vision_median_ms": round(float(np.median(vision)), 3),
        "vision_p90_ms": round(float(np.percentile(vision, 90)), 3),
        # CPU time of this thread: what a frame costs when the machine is not shared
        "cpu_median_ms": round(float(np.median(cpu)), 3),
        "cpu_p90_ms": round(float(np.percentile(cpu, 90)), 3),
    }


def run(cfg: BenchConfig) -> dict[str, Any]:
    """Run every category and return the JSON-ready results with the targets beside them.

    Raises:
        BenchError: the model file does not exist.
    """
    import cv2

    if not cfg.model.is_file():
        raise BenchError(f"model not found: {cfg.model} (pass --model PATH to a .tflite)")
    cv2.setNumThreads(cfg.threads)
    cv2.setRNGSeed(cfg.seed)
    classifier = Classifier(cfg.model, threads=cfg.threads, require_contract=False)
    reader = DigitReader(classifier, min_confidence=cfg.min_confidence)
    glyphs, labels, source = load_glyphs(cfg.data_dir)
    results: dict[str, Any] = {
        "config": {**asdict(cfg), "model": str(cfg.model)},
        "glyph_source": source,
        "runtime": classifier.runtime,
    }
    t0 = time.perf_counter()
    results.update(bench_photos(reader, PhotoMaker(glyphs, labels, seed=cfg.seed), cfg))
    results["scan"] = bench_scans(reader, cfg)
    latency_maker = PhotoMaker(glyphs, labels, seed=cfg.seed + 3)
    results["latency"] = bench_latency(reader, latency_maker, cfg)
    results["targets"] = TARGETS
    results["met"] = {
        "single": results["single"]["accuracy"] >= TARGETS["single"],
        "string": results["string"]["accuracy"] >= TARGETS["string"],
        "blank_fp": results["blank"]["false_positive_rate"] <= TARGETS["blank_fp"],
        "scan": results["scan"]["accuracy"] >= TARGETS["scan"],
        "latency_ms": results["latency"]["median_ms"] <= TARGETS["latency_ms"],
    }
    log.info("vision benchmark done in %.1f s", time.perf_counter() - t0)
    return results


def format_table(r: dict[str, Any]) -> str:
    """The human-readable summary (wall-clock latency; CPU time beside it)."""
    t = r["targets"]
    lines = [
        f"model {r['config']['model']} ({r['runtime']}), digits from {r['glyph_source']}",
        f"{'category':<10} {'count':>6} {'result':>10} {'target':>9}  met",
        f"{'single':<10} {r['single']['photos']:>6} {r['single']['accuracy']:>10.2%} "
        f"{'>=' + format(t['single'], '.0%'):>9}  {r['met']['single']}",
        f"{'string':<10} {r['string']['photos']:>6} {r['string']['accuracy']:>10.2%} "
        f"{'>=' + format(t['string'], '.0%'):>9}  {r['met']['string']}",
        f"{'blank FP':<10} {r['blank']['photos']:>6} {r['blank']['false_positive_rate']:>10.2%} "
        f"{'<=' + format(t['blank_fp'], '.0%'):>9}  {r['met']['blank_fp']}",
        f"{'scan':<10} {r['scan']['images']:>6} {r['scan']['accuracy']:>10.2%} "
        f"{'>=' + format(t['scan'], '.0%'):>9}  {r['met']['scan']}",
        f"{'latency':<10} {r['latency']['runs']:>6} {r['latency']['median_ms']:>8.2f}ms "
        f"{'<=' + format(t['latency_ms'], '.0f') + 'ms':>9}  {r['met']['latency_ms']}"
        f"   (p90 {r['latency']['p90_ms']:.2f} ms; vision alone median "
        f"{r['latency']['vision_median_ms']:.2f} ms; CPU time median "
        f"{r['latency']['cpu_median_ms']:.2f} ms, p90 {r['latency']['cpu_p90_ms']:.2f} ms)",
        f"scan by kind: {r['scan']['by_kind']}",
        f"single: one candidate on {r['single']['one_candidate']:.2%}; "
        f"string: right count on {r['string']['right_count']:.2%}; "
        f"blank: any vision candidate on {r['blank']['any_candidate_rate']:.2%}",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    d = BenchConfig(model=DEFAULT_MODEL)
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.vision_bench",
        description="Measure the camera vision step (photo -> digits) against its targets.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", type=Path, default=d.model, help="a .tflite digit classifier")
    p.add_argument("--data-dir", default=d.data_dir, help="MNIST location (see digits-train)")
    p.add_argument("--singles", type=int, default=d.singles, help="single-digit photos")
    p.add_argument("--strings", type=int, default=d.strings, help="3..6 digit string photos")
    p.add_argument("--blanks", type=int, default=d.blanks, help="blank-page photos")
    p.add_argument("--scans", type=int, default=d.scans, help="UCI digit scans (max 1797)")
    p.add_argument("--latency-frames", type=int, default=d.latency_frames)
    p.add_argument("--latency-repeats", type=int, default=d.latency_repeats)
    p.add_argument("--min-confidence", type=float, default=d.min_confidence)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    values = {k: v for k, v in vars(args).items() if k not in ("json", "verbose")}
    cfg = BenchConfig(**values)
    try:
        results = run(cfg)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(results) if args.json else format_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
