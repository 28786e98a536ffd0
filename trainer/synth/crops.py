"""Training data from the vision step itself: what it hands the model, labelled by the truth.

The photo generator (:mod:`trainer.synth.scenes`) knows where every digit is. The vision step
(:func:`edge_app.vision.propose`) proposes spans - whole pieces of ink, pieces cut apart,
neighbours joined - and frames each like MNIST. Matching every span's box against the truth
labels it:

* a digit ``0``..``9``: the span covers one digit whole and little else;
* ``none`` (:data:`NONE`): the span covers no digit at all - a speck, a ruling's stub, a
  shadow's edge, a letter, the table;
* ``cut`` (:data:`CUT`): the span is digit ink but not one whole digit - a part of one, or
  two run together.

So the model learns to read digits the way vision frames them (its blur, its stroke widths,
its margins), to say when something is not a digit, and to say when a cut is wrong.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from edge_app.contract import CUT_LABEL, IMAGE_SIZE, NONE_LABEL, VISION_LABELS
from trainer.synth.scenes import SceneMaker

log = logging.getLogger(__name__)

LABELS = VISION_LABELS
NONE, CUT = LABELS.index(NONE_LABEL), LABELS.index(CUT_LABEL)
# The mix of photo kinds the training photos are drawn from.
KIND_MIX = {"single": 0.18, "string": 0.28, "page": 0.08, "scan": 0.12, "crop": 0.12,
            "blank": 0.08, "clutter": 0.14}  # fmt: skip
# Matching a span to the truth (see label_span).
MATCH, COVER, OTHER, NO_DIGIT = 0.5, 0.6, 0.3, 0.15
# Training photos are small (quick to make): vision reads every photo at the scale of its
# writing, so a crop looks the same whether it came from a 640x480 frame or a 12 MP page.
FRAME_SIZES = ((640, 480), (480, 640), (800, 600), (960, 720))
PAGE_SIZES = ((1600, 1200), (1200, 1600))


@dataclass(frozen=True)
class CropSet:
    """Framed spans and their labels.

    Attributes:
        images: (N, 28, 28) uint8, white on black, as the model sees them.
        labels: (N,) int, 0..9 digits, :data:`NONE`, :data:`CUT`.
        kinds: (N,) the kind of photo each came from.
    """

    images: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray

    def counts(self) -> dict[str, int]:
        """How many of each label, by name."""
        values, counts = np.unique(self.labels, return_counts=True)
        return {LABELS[v]: int(c) for v, c in zip(values, counts, strict=True)}


def label_span(box: Sequence[int], truth: Sequence[Sequence[int]], digits: Sequence[int]) -> int:
    """The label of a span with ``box`` among digits with boxes ``truth`` (see module doc).

    One digit when the span's box matches that digit's (intersection over union at least
    :data:`MATCH`) and covers no other digit by more than :data:`OTHER`; ``none`` when it
    overlaps no digit by more than :data:`NO_DIGIT`; ``cut`` otherwise. Boxes of the truth
    take in a blurred stroke's soft edge and those of vision its core, so the match is lenient.
    """
    x, y, w, h = box
    area = max(1, w * h)
    ious, covers, pures = [], [], []
    for tx, ty, tw, th in truth:
        ix = max(0, min(x + w, tx + tw) - max(x, tx))
        iy = max(0, min(y + h, ty + th) - max(y, ty))
        inter = ix * iy
        ious.append(inter / max(1, area + tw * th - inter))
        covers.append(inter / max(1, tw * th))
        pures.append(inter / area)
    if not ious or (max(covers) < NO_DIGIT and sum(pures) < NO_DIGIT):
        return NONE
    best = int(np.argmax(ious))
    others = [c for k, c in enumerate(covers) if k != best]
    if ious[best] >= MATCH and covers[best] >= COVER and max(others, default=0.0) < OTHER:
        return int(digits[best])
    return CUT


def _photo_crops(maker: SceneMaker, kind: str) -> Iterator[tuple[np.ndarray, int]]:
    from edge_app.vision import propose

    photo = maker.make(kind)
    digits = [int(c) for c in photo.digits if c != " "]
    for proposal in propose(photo.image):
        for cand in proposal.candidates:
            yield cand.image, label_span(cand.box, photo.boxes, digits)


_GLYPHS: dict[str, np.ndarray] = {}  # this worker process's digit shapes (see _start)


def _start(glyphs: np.ndarray, labels: np.ndarray) -> None:
    """Worker initialiser: the digit shapes are sent once per process, not once per job."""
    import cv2

    cv2.setNumThreads(1)
    _GLYPHS.update(glyphs=glyphs, labels=labels)


def _worker(args: tuple[int, int, tuple[str, ...]]):
    seed, count, kinds = args
    glyphs, labels = _GLYPHS["glyphs"], _GLYPHS["labels"]
    maker = SceneMaker(glyphs, labels, seed=seed, frame_sizes=FRAME_SIZES, page_sizes=PAGE_SIZES)
    rng = np.random.default_rng(seed + 7)
    names = list(KIND_MIX)
    odds = np.array([KIND_MIX[k] for k in names])
    images, out_labels, out_kinds = [], [], []
    for _ in range(count):
        kind = str(rng.choice(names, p=odds / odds.sum()))
        if kinds and kind not in kinds:
            continue
        for image, label in _photo_crops(maker, kind):
            images.append(image)
            out_labels.append(label)
            out_kinds.append(kind)
    if not images:
        return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.zeros(0, int), np.zeros(0, "<U8")
    return np.stack(images), np.asarray(out_labels), np.asarray(out_kinds)


def make_crops(
    glyphs: np.ndarray,
    labels: np.ndarray,
    photos: int,
    *,
    seed: int = 0,
    workers: int | None = None,
    max_share: dict[int, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CropSet:
    """Make ``photos`` synthetic photos and label every span vision proposes in them.

    Args:
        glyphs, labels: the digit shapes to write with (MNIST *train* digits for training).
        photos: how many photos to make (the spans per photo vary: 1 to a few hundred).
        seed: seeds the photos; each worker gets its own seed derived from it.
        workers: processes (None: the CPU count, at most 4).
        max_share: the largest share of the result a label may have, e.g. ``{NONE: 0.35}``;
            the surplus is dropped at random (pages and clutter propose many non-digits).
        progress: called with (photos done, photos) as the work proceeds.

    Returns:
        The :class:`CropSet`, in a seeded random order.
    """
    workers = workers or min(4, os.cpu_count() or 1)
    chunks = max(1, min(photos, workers * 8))
    sizes = [photos // chunks + (i < photos % chunks) for i in range(chunks)]
    jobs = [(seed * 1000 + i, n, ()) for i, n in enumerate(sizes)]
    parts = []
    done = 0
    if workers == 1:
        _start(glyphs, labels)
        results: Iterator = map(_worker, jobs)
    else:
        # Spawned, not forked: the trainer has TensorFlow's threads running, and a fork of a
        # threaded process can inherit a held lock and hang.
        pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
            initargs=(glyphs, labels),
        )  # fmt: skip
        results = pool.map(_worker, jobs)
    try:
        for (images, y, kinds), n in zip(results, sizes, strict=True):
            parts.append((images, y, kinds))
            done += n
            if progress:
                progress(done, photos)
    finally:
        if workers != 1:
            pool.shutdown()
    images = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    kinds = np.concatenate([p[2] for p in parts])
    rng = np.random.default_rng(seed)
    keep = rng.permutation(len(y))
    if max_share:
        keep = _capped(keep, y, max_share, rng)
    return CropSet(images[keep], y[keep], kinds[keep])


def _capped(order: np.ndarray, y: np.ndarray, max_share: dict[int, float], rng) -> np.ndarray:
    """Drop random surplus of the labels in ``max_share`` so none exceeds its share."""
    capped = set(max_share)
    rest = int(np.sum(~np.isin(y, list(capped))))
    keep = [order[~np.isin(y[order], list(capped))]]
    for label, share in max_share.items():
        pool = order[y[order] == label]
        # share of the final total: n / (rest + sum of capped n) <= share, solved per label
        limit = int(share / max(1e-6, 1 - sum(max_share.values())) * rest)
        keep.append(pool[: max(0, limit)])
    return rng.permutation(np.concatenate(keep))
