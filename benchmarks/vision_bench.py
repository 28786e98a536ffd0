"""Measure reading digits from photos against its targets: ``python -m benchmarks.vision_bench``.

Three sources, none of which any model was trained on:

* **synthetic photos** (:mod:`trainer.synth.scenes`) written with MNIST *test* digits, on seeds
  the training photos never use: ``single`` digits in camera frames, ``string`` (2-10 digits,
  straight, slanted, curved, touching), ``page`` (lines of small numbers on 2-12 MP photos),
  ``scan`` (tiny scans of amounts), ``crop`` (one digit filling the image), ``blank`` and
  ``clutter`` (letters and symbols, no digit: any digit read is a false positive). Per kind:
  read exactly (spaces ignored) and digit accuracy; per tag (``pencil``, ``touching``,
  ``slanted``, ``shadow`` ...) the exact rate, so a weakness shows where it is;
* **UCI digits** (scikit-learn's 1,797 8x8 scans, 43 writers, not MNIST) upscaled to 24-160 px,
  half of them tight crops touching the border, dark-on-light and light-on-dark;
* **real photos**: a ``labels.csv`` set such as ``../shared/data/real-photos`` (``--real``),
  scored like ``digits-score`` does.

Latency is image in memory -> digits (as ``digits-predict``'s ``latency_ms``), one thread, for
640x480 frames and for 12-megapixel photos of a page (with their JPEG decoding timed apart).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.errors import BenchError
from benchmarks.score import edit_distance
from benchmarks.timing import cycling, fixed_runs, measure
from edge_app.cliparts import HelpFormatter, add_verbosity, run_main
from edge_app.models import model_path
from edge_app.reader import LINE_SEPARATOR, DigitReader

log = logging.getLogger(__name__)

PROG = "python -m benchmarks.vision_bench"

TARGETS = {
    "single": 0.985, "string": 0.93, "blank_fp": 0.01, "frame_ms": 3.0, "page_ms": 80.0,
    "real_crop": 0.98, "real_single": 0.95, "real_multi": 0.85, "real_multi_digits": 0.97,
}  # fmt: skip
KINDS = ("single", "string", "page", "scan", "crop", "blank", "clutter")
DEFAULT_MODEL = model_path()  # the shipped model of the default format
DEFAULT_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-photos"
# Seeds of the generator that no training run uses (the trainer's photos take seed * 3 + 1..3
# with its default seed 42, and * 1000 + chunk inside make_crops).
BENCH_SEED = 900001


@dataclass(frozen=True)
class VisionBenchConfig:
    """What the vision benchmark measures and how much of it (not digits-bench's BenchConfig)."""

    model: Path
    data_dir: str | None = None
    real: Path | None = None
    counts: tuple[tuple[str, int], ...] = (
        ("single", 400), ("string", 300), ("page", 30), ("scan", 200), ("crop", 200),
        ("blank", 300), ("clutter", 200),
    )  # fmt: skip
    scans: int = 1797
    latency_frames: int = 30
    latency_repeats: int = 10
    page_photos: int = 4
    min_confidence: float = 0.5
    threads: int = 1
    seed: int = BENCH_SEED


def load_glyphs(data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """MNIST test digits (never trained on), or Hershey glyphs if MNIST is not at hand."""
    try:
        from trainer.data import load_mnist

        mnist = load_mnist(data_dir, download=False)
        return mnist.x_test, mnist.y_test, f"MNIST test set ({mnist.source})"
    except Exception as exc:  # noqa: BLE001 - any failure means: fall back, and say so
        from trainer.synth.glyphs import hershey_glyphs

        log.warning("MNIST not available (%s); using Hershey script glyphs", exc)
        x, y = hershey_glyphs(2000, seed=0)
        return x, y, "Hershey glyphs"


def _rate(hits: float, total: float) -> float:
    return round(hits / total, 4) if total else 0.0


def bench_photos(reader: DigitReader, glyphs, labels, cfg: VisionBenchConfig) -> dict[str, Any]:
    """Every synthetic kind: exact rate, digit accuracy, per-tag exact rate, a few misses."""
    from trainer.synth.scenes import SceneMaker

    out: dict[str, Any] = {}
    for k, (kind, count) in enumerate(cfg.counts):
        maker = SceneMaker(glyphs, labels, seed=cfg.seed + 17 * k)
        exact = chars = errors = 0
        tags: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        misses: list[str] = []
        started = time.perf_counter()
        for _ in range(count):
            photo = maker.make(kind)
            read = reader.read(photo.image).digits.replace(LINE_SEPARATOR, "")
            want = photo.digits.replace(" ", "")
            hit = read == want
            exact += hit
            length = max(len(want), 1)
            chars += length
            errors += min(edit_distance(read, want), length)
            for tag in photo.tags:
                tags[tag][0] += hit
                tags[tag][1] += 1
            if not hit and len(misses) < 12:
                misses.append(f"{want or '-'}->{read or '-'} ({','.join(photo.tags)})")
        out[kind] = {
            "photos": count,
            "exact": _rate(exact, count),
            "digit_accuracy": _rate(chars - errors, chars),
            "by_tag": {
                t: {"exact": _rate(h, n), "photos": n} for t, (h, n) in sorted(tags.items())
            },
            "misses": misses,
            "seconds": round(time.perf_counter() - started, 1),
        }
        log.info("%s: %d photos, exact %.2f%%", kind, count, 100 * out[kind]["exact"])
    return out


def bench_scans(reader: DigitReader, cfg: VisionBenchConfig) -> dict[str, Any]:
    """UCI optical digits (scikit-learn's load_digits) as clean scans and tight crops."""
    from sklearn.datasets import load_digits

    from trainer.synth.scenes import clean_scan

    digits = load_digits()
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)  # 0..16 -> 0..255
    rng = np.random.default_rng(cfg.seed + 2)
    order = rng.permutation(len(images))[: cfg.scans]
    by_kind: dict[str, list[bool]] = {}
    for k, i in enumerate(order):
        tight, light = k % 2 == 0, (k // 2) % 2 == 0
        side = int(rng.integers(24, 161))
        image = clean_scan(images[i], side=side, margin=0.0 if tight else 0.2, light_ink=light)
        read = reader.read(image).digits.replace(LINE_SEPARATOR, "")
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


def bench_real(reader: DigitReader, folder: Path) -> dict[str, Any] | None:
    """A labelled folder of real photos (``labels.csv``), scored like ``digits-score``."""
    from benchmarks.score import read_labels, score
    from edge_app.cli import result_record
    from edge_app.imageio import load_image

    labels_csv = folder / "labels.csv"
    if not labels_csv.is_file():
        log.warning("no real photos at %s (labels.csv missing); skipped", folder)
        return None
    labels = read_labels(labels_csv)
    records = []
    for label in labels:
        path = folder / label.file
        try:
            records.append(result_record(path, reader.read(load_image(path)), "bench"))
        except Exception as exc:  # noqa: BLE001 - an unreadable photo scores as nothing read
            records.append({"path": str(path), "error": str(exc)})
    return {k: s.to_dict() for k, s in score(labels, records, folder).items()}


def _timed(reader: DigitReader, images: list[np.ndarray], repeats: int) -> dict[str, float] | None:
    """Each image read ``repeats`` times, in wall-clock and in this thread's CPU time (None
    when there are no images: nothing was asked for, e.g. ``--page-photos 0``)."""
    if not images:
        return None
    read = cycling(reader.read, images)
    runs = len(images) * repeats
    wall = measure(read, fixed_runs(runs, warmup=2))  # warm up caches and the interpreter
    cpu = measure(read, fixed_runs(runs), clock=time.thread_time)
    return {
        "runs": wall.runs,
        "median_ms": round(wall.median_ms, 3),
        "p90_ms": round(wall.p90_ms, 3),
        "cpu_median_ms": round(cpu.median_ms, 3),
    }


def bench_latency(reader: DigitReader, glyphs, labels, cfg: VisionBenchConfig) -> dict[str, Any]:
    """640x480 frames (one digit, and strings) and 12 MP page photos -> digits, one thread."""
    import cv2

    from trainer.synth.scenes import FRAME, SceneMaker

    maker = SceneMaker(glyphs, labels, seed=cfg.seed + 3)
    singles = [maker.single(FRAME).image for _ in range(cfg.latency_frames)]
    strings = [maker.string(size=FRAME).image for _ in range(cfg.latency_frames)]
    pages = [maker.page((4032, 3024)).image for _ in range(cfg.page_photos)]
    jpegs = [cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 90])[1] for page in pages]
    decode = (
        measure(cycling(lambda j: cv2.imdecode(j, cv2.IMREAD_COLOR), jpegs), fixed_runs(len(jpegs)))
        if jpegs
        else None
    )
    return {
        "frame": _timed(reader, singles, cfg.latency_repeats),
        "frame_string": _timed(reader, strings, max(1, cfg.latency_repeats // 2)),
        "page_12mp": _timed(reader, pages, 2),
        "page_jpeg_decode_ms": round(decode.median_ms, 1) if decode else None,
    }


def run(cfg: VisionBenchConfig) -> dict[str, Any]:
    """Run every part and return the JSON-ready results with the targets beside them.

    Raises:
        BenchError: the model file does not exist.
    """
    import cv2

    from benchmarks.sysinfo import cpu_info, load_average
    from edge_app.classifier import Classifier

    if not cfg.model.is_file():
        raise BenchError(f"model not found: {cfg.model} (pass --model PATH to a .tflite)")
    cv2.setNumThreads(cfg.threads)
    cv2.setRNGSeed(cfg.seed)
    classifier = Classifier(cfg.model, threads=cfg.threads, require_contract=False)
    reader = DigitReader(classifier, min_confidence=cfg.min_confidence)
    glyphs, labels, source = load_glyphs(cfg.data_dir)
    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "config": {**asdict(cfg), "model": str(cfg.model), "real": str(cfg.real)},
        "glyph_source": source,
        "runtime": classifier.runtime,
        "cpu": cpu_info()["model"],
        "load_average_start": load_average(),
        "photos": bench_photos(reader, glyphs, labels, cfg),
        "scan_uci": bench_scans(reader, cfg),
        "real": bench_real(reader, cfg.real) if cfg.real else None,
        "latency": bench_latency(reader, glyphs, labels, cfg),
        "targets": TARGETS,
    }
    results["load_average_end"] = load_average()
    results["met"] = _met(results)
    log.info("vision benchmark done in %.1f s", time.perf_counter() - t0)
    return results


def _met(r: dict[str, Any]) -> dict[str, bool]:
    t, photos, latency = TARGETS, r["photos"], r["latency"]
    met = {
        "single": photos.get("single", {}).get("exact", 0) >= t["single"],
        "string": photos.get("string", {}).get("exact", 0) >= t["string"],
        "blank_fp": 1 - photos.get("blank", {}).get("exact", 0) <= t["blank_fp"],
        "frame_ms": latency["frame"]["median_ms"] <= t["frame_ms"],
    }
    if latency["page_12mp"]:
        met["page_ms"] = latency["page_12mp"]["median_ms"] <= t["page_ms"]
    real = r.get("real")
    if real:
        met["real_crop"] = real.get("crop", {}).get("exact_rate", 0) >= t["real_crop"]
        met["real_single"] = real.get("single", {}).get("exact_rate", 0) >= t["real_single"]
        met["real_multi"] = real.get("multi", {}).get("exact_rate", 0) >= t["real_multi"]
        met["real_multi_digits"] = (
            real.get("multi", {}).get("digit_accuracy", 0) >= t["real_multi_digits"]
        )
    return met


def format_table(r: dict[str, Any]) -> str:
    """The human-readable summary."""
    lines = [
        f"model {r['config']['model']} ({r['runtime']}), digits from {r['glyph_source']}, "
        f"CPU {r['cpu']}, load {r['load_average_start']} -> {r['load_average_end']}",
        f"{'synthetic':<10} {'photos':>6} {'exact':>8} {'digits':>8}  weakest tags",
    ]
    for kind, k in r["photos"].items():
        weak = sorted(k["by_tag"].items(), key=lambda kv: kv[1]["exact"])[:3]
        tags = ", ".join(f"{t} {v['exact']:.0%} of {v['photos']}" for t, v in weak)
        lines.append(
            f"{kind:<10} {k['photos']:>6} {k['exact']:>8.2%} {k['digit_accuracy']:>8.2%}  {tags}"
        )
    uci = r["scan_uci"]
    lines.append(f"{'UCI scans':<10} {uci['images']:>6} {uci['accuracy']:>8.2%}  {uci['by_kind']}")
    if r.get("real"):
        lines.append(f"{'real':<10} {'images':>6} {'exact':>8} {'digits':>8}")
        for kind, k in r["real"].items():
            lines.append(
                f"{kind:<10} {k['images']:>6} {k['exact_rate']:>8.2%} {k['digit_accuracy']:>8.2%}"
            )
    lat = r["latency"]
    page = lat["page_12mp"]
    lines.append(
        f"latency (one thread, image in memory -> digits): 640x480 one digit median "
        f"{lat['frame']['median_ms']:.2f} ms (p90 {lat['frame']['p90_ms']:.2f}, CPU "
        f"{lat['frame']['cpu_median_ms']:.2f}); 640x480 strings "
        f"{lat['frame_string']['median_ms']:.2f} ms; 12 MP page "
        + (
            f"{page['median_ms']:.1f} ms (+ JPEG decode {lat['page_jpeg_decode_ms']:.0f} ms)"
            if page
            else "not timed"
        )
    )
    lines.append(
        "targets met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in r["met"].items())
    )
    return "\n".join(lines)


def _counts(text: str) -> tuple[tuple[str, int], ...]:
    out = []
    for part in text.split(","):
        kind, _, n = part.partition("=")
        if kind.strip() not in KINDS or not n.strip().isdigit():
            raise argparse.ArgumentTypeError(
                f"'{part}' is not KIND=N with KIND one of {', '.join(KINDS)}"
            )
        out.append((kind.strip(), int(n)))
    return tuple(out)


def build_parser() -> argparse.ArgumentParser:
    d = VisionBenchConfig(model=DEFAULT_MODEL)
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Measure reading digits from photos (synthetic, UCI scans, real) against "
        "the targets.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", type=Path, default=d.model, help="a .tflite DigitLite model")
    p.add_argument("--data-dir", default=d.data_dir, help="MNIST location (see digits-train)")
    p.add_argument(
        "--real", type=Path, default=DEFAULT_REAL if DEFAULT_REAL.is_dir() else None,
        help="a folder of real photos with a labels.csv (kind,file,digits)",
    )  # fmt: skip
    p.add_argument(
        "--counts", type=_counts, default=d.counts, metavar="KIND=N,...",
        help="synthetic photos per kind",
    )  # fmt: skip
    p.add_argument("--scans", type=int, default=d.scans, help="UCI digit scans (max 1797)")
    p.add_argument("--latency-frames", type=int, default=d.latency_frames)
    p.add_argument("--latency-repeats", type=int, default=d.latency_repeats)
    p.add_argument("--page-photos", type=int, default=d.page_photos, help="12 MP pages timed")
    p.add_argument("--min-confidence", type=float, default=d.min_confidence)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--seed", type=int, default=d.seed, help="generator seed (keep off training's)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    add_verbosity(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.vision_bench``; returns the exit status."""

    def body(args: argparse.Namespace) -> int:
        values = {k: v for k, v in vars(args).items() if k not in ("json", "verbose", "quiet")}
        results = run(VisionBenchConfig(**values))
        print(json.dumps(results) if args.json else format_table(results))
        return 0

    return run_main(PROG, build_parser(), argv, body)


if __name__ == "__main__":
    raise SystemExit(main())
