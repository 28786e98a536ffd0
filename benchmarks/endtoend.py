"""End to end: a 640x480 camera-like frame through vision and classification, single thread.

Frames come from :class:`trainer.synth.scenes.SceneMaker` (seeded synthetic photos of handwriting on
paper, made from MNIST *test* digits when the data is at hand, else Hershey glyphs). Each call
is :meth:`edge_app.reader.DigitReader.read` on one frame - find ink, segment, frame to 28x28,
classify every candidate - exactly what the app does per camera frame. OpenCV and the
interpreter both get one thread.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import TimingPolicy, measure

FRAME_SIZE = (640, 480)  # (width, height), as trainer.synth.scenes.FRAME

log = logging.getLogger(__name__)

FRAMES = 12  # distinct frames per set, cycled through while timing
SEED = 0
#: The frame sets: one digit (what the 3 ms target and benchmarks.vision_bench time) and a
#: string of 3..6 digits, where the classifier runs once per digit.
SETS = ("single", "string")


def make_frames(
    glyphs: np.ndarray | None,
    labels: np.ndarray | None,
    kind: str,
    count: int = FRAMES,
    seed: int = SEED,
) -> list[Any]:
    """``count`` seeded 640x480 photos: one digit each (``single``) or 3..6 (``string``)."""
    from trainer.synth.glyphs import hershey_glyphs
    from trainer.synth.scenes import FRAME, SceneMaker

    if glyphs is None or labels is None or len(glyphs) == 0:
        glyphs, labels = hershey_glyphs(200, seed=seed)
    maker = SceneMaker(glyphs, labels, seed=seed)
    if kind == "single":
        return [maker.single(FRAME) for _ in range(count)]
    return [maker.string(3 + i % 4, FRAME) for i in range(count)]


def _time_set(reader: Any, frames: list[Any], policy: TimingPolicy) -> dict[str, Any]:
    readings = [reader.read(photo.image) for photo in frames]
    correct = sum(
        r.digits.replace(" ", "") == p.digits for r, p in zip(readings, frames, strict=True)
    )
    state = {"i": 0}
    vision_ms: list[float] = []
    classify_ms: list[float] = []

    def one_frame() -> None:
        reading = reader.read(frames[state["i"] % len(frames)].image)
        state["i"] += 1
        vision_ms.append(reading.vision_ms)
        classify_ms.append(reading.classify_ms)

    timing = measure(one_frame, policy)
    skip = policy.warmup  # the warm-up calls are not part of the timing either
    vision_ms, classify_ms = vision_ms[skip:], classify_ms[skip:]
    # the same frames again in process CPU time: insensitive to other processes on the core
    cpu = measure(one_frame, policy, clock=time.process_time)
    return {
        "frames": len(frames),
        "digits_per_frame": round(float(np.mean([len(p.digits) for p in frames])), 2),
        "latency": timing.to_dict(),
        "fps": 1000.0 / timing.median_ms if timing.median_ms > 0 else None,
        "cpu_latency": cpu.to_dict(),
        "vision_ms_median": float(np.median(vision_ms)),
        "classify_ms_median": float(np.median(classify_ms)),
        "frames_read_exactly": correct,
    }


def measure_frames(
    model: Path, policy: TimingPolicy, data: str | None = None, threads: int = 1
) -> dict[str, Any]:
    """Time ``DigitReader.read`` per frame with ``model`` (a .tflite) on one thread.

    Returns:
        JSON-ready dict: the ``single`` set's figures at the top level (latency median/p90 ms
        per frame, fps at the median, vision and classifier shares, frames read exactly) and
        the multi-digit set under ``string``.
    """
    import cv2

    from edge_app.classifier import Classifier
    from edge_app.reader import DigitReader

    cv2.setNumThreads(threads)
    glyphs = labels = None
    if data:
        with np.load(data) as npz:
            if "y" in npz:
                glyphs, labels = np.asarray(npz["x"]), np.asarray(npz["y"])
    reader = DigitReader(Classifier(model, threads=threads, require_contract=False))
    results = {kind: _time_set(reader, make_frames(glyphs, labels, kind), policy) for kind in SETS}
    return {
        "model": model.name,
        "frame_size": list(FRAME_SIZE),
        "threads": threads,
        "glyph_source": "MNIST test set" if glyphs is not None else "Hershey glyphs",
        **results["single"],
        "string": results["string"],
    }
