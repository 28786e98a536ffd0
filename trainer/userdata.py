"""A user's own digits for fine-tuning: folders in, checked 28x28 arrays and a seeded split out.

The folders are laid out one folder per class (:mod:`edge_app.digit_folders`): what
``digits-predict --save-crops`` writes, or any folder of image files in that layout. Every image
becomes the model's input the way the device makes it: a saved ``.mnist.png`` is the input the
model saw, any other image is framed like MNIST (:func:`edge_app.collect.digit_input`).

Nothing is trained on garbage: every problem - a folder that is missing, empty or named like
no class of the model, a file that is no image or does not decode, a blank image, a photo of a
whole page or a row of digits filed as one digit, the same image filed under two classes, too
few images of a class - is logged as one line, and then :class:`~trainer.errors.DataError`
says how many there were. Identical images filed twice under one class count once, so the
held-out part never holds a copy of a training image.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_app.collect import digit_input
from edge_app.digit_folders import scan
from edge_app.errors import ImageError
from trainer.errors import DataError

log = logging.getLogger(__name__)

MIN_PER_CLASS = 5
MAX_PIXELS = 4_000_000  # a digit folder holds crops; a bigger image is a photo of a page
MAX_WIDTH_RATIO = 3.0  # one digit is not three times wider than tall: that is a row of them
MAX_LISTED = 25  # problems logged one by one; the rest are counted


@dataclass(frozen=True)
class UserData:
    """The user's digits, ready for training.

    Attributes:
        x: (N, 28, 28) uint8 model inputs, white ink on black.
        y: (N,) int64 class indices into ``labels``.
        paths: the file each image came from.
        labels: the model's class names (index = class).
        moved: how many were corrected by hand (saved under another digit, then moved).
        duplicates: identical images dropped (filed twice under one class).
    """

    x: np.ndarray
    y: np.ndarray
    paths: tuple[str, ...]
    labels: tuple[str, ...]
    moved: int = 0
    duplicates: int = 0

    def __len__(self) -> int:
        return len(self.y)

    def counts(self) -> dict[str, int]:
        """Images per class name, classes present only."""
        return {self.labels[k]: int(v) for k, v in sorted(Counter(self.y.tolist()).items())}

    def take(self, index: np.ndarray) -> UserData:
        """The images at ``index``."""
        return UserData(
            self.x[index], self.y[index], tuple(self.paths[i] for i in index), self.labels
        )

    def split(self, fraction: float, seed: int) -> tuple[UserData, UserData]:
        """``(train, held_out)``: ``fraction`` of each class held out (at least one of each,
        at least one left to train on), by a seeded shuffle - the same seed, the same split."""
        if not 0.0 < fraction < 1.0:
            raise DataError(f"the held-out share must be between 0 and 1, got {fraction}")
        rng = np.random.default_rng(seed)
        held = []
        for label in np.unique(self.y):
            idx = np.flatnonzero(self.y == label)
            rng.shuffle(idx)
            held.append(idx[: min(len(idx) - 1, max(1, round(len(idx) * fraction)))])
        mask = np.zeros(len(self.y), bool)
        mask[np.concatenate(held)] = True
        return self.take(np.flatnonzero(~mask)), self.take(np.flatnonzero(mask))


def _check_shape(image: np.ndarray, path: Path) -> str | None:
    height, width = image.shape[:2]
    if height * width > MAX_PIXELS:
        return (
            f"{path}: a {width}x{height} photo, not one digit; cut photos into digits with "
            "digits-predict --save-crops DIR"
        )
    if width > MAX_WIDTH_RATIO * height:
        return (
            f"{path}: {width / height:.1f} times wider than tall - a row of digits? "
            "each image must hold one digit"
        )
    return None


def _read_one(path: Path, model_input: bool) -> tuple[np.ndarray | None, str | None]:
    from edge_app.imageio import load_image

    try:
        image = load_image(path)
    except ImageError as exc:
        return None, str(exc)
    problem = _check_shape(image, path)
    if problem:
        return None, problem
    if model_input and image.shape[:2] != (28, 28):
        return None, f"{path}: a .mnist.png must be 28x28 (the model's input), not {image.shape}"
    try:
        return digit_input(image), None
    except ImageError as exc:
        return None, f"{path}: {exc}"


def load_user_data(
    folders: Sequence[str | Path], labels: Sequence[str], *, min_per_class: int = MIN_PER_CLASS
) -> UserData:
    """Read every digit under ``folders`` for a model with classes ``labels``.

    Args:
        folders: one or more folders, each holding one folder per class.
        labels: the model's class names (the digits, and ``none``/``cut`` for 12 classes).
        min_per_class: fewest images a class present may have.

    Returns:
        The checked :class:`UserData` (classes with no image are simply absent).

    Raises:
        DataError: any problem at all (each one logged as its own line first).
    """
    labels = tuple(str(v) for v in labels)
    problems: list[str] = []
    images, classes, paths = [], [], []
    moved = 0
    for folder in folders:
        found = scan(folder)
        problems += found.problems
        if found.empty_folders:
            log.info("%s: empty class folders skipped: %s", folder, ", ".join(found.empty_folders))
        for sample in found.samples:
            if sample.label not in labels:
                problems.append(
                    f"{sample.path}: filed under '{sample.label}', which this {len(labels)}-class "
                    f"model does not have (its classes: {', '.join(labels)})"
                )
                continue
            pixels, problem = _read_one(sample.path, sample.model_input)
            if problem:
                problems.append(problem)
                continue
            images.append(pixels)
            classes.append(labels.index(sample.label))
            paths.append(str(sample.path))
            moved += sample.moved

    kept, duplicates = _deduplicated(images, classes, paths, problems)
    counts = Counter(classes[i] for i in kept)
    for cls, count in sorted(counts.items()):
        if count < min_per_class:
            problems.append(
                f"class '{labels[cls]}' has {count} image(s); fine-tuning needs at least "
                f"{min_per_class} per class (add more, or remove that folder)"
            )
    if not problems and not kept:
        problems.append(f"no images found in {', '.join(str(f) for f in folders)}")
    if problems:
        for line in problems[:MAX_LISTED]:
            log.error("%s", line)
        more = len(problems) - MAX_LISTED
        if more > 0:
            log.error("... and %d more problem(s)", more)
        raise DataError(
            f"{len(problems)} problem(s) in the extra data (each logged above); nothing was "
            "trained - fix them and run again"
        )
    data = UserData(
        np.stack([images[i] for i in kept]).astype(np.uint8),
        np.array([classes[i] for i in kept], np.int64),
        tuple(paths[i] for i in kept),
        labels,
        moved=moved,
        duplicates=duplicates,
    )
    log.info(
        "extra data: %d images %s (%d corrected by moving, %d duplicates dropped)",
        len(data), data.counts(), moved, duplicates,
    )  # fmt: skip
    return data


def _deduplicated(
    images: list[np.ndarray], classes: list[int], paths: list[str], problems: list[str]
) -> tuple[list[int], int]:
    """Indices to keep: the first of identical images; the same image under two classes is a
    problem (it cannot be both)."""
    first: dict[bytes, int] = {}
    kept, duplicates = [], 0
    for i, image in enumerate(images):
        key = hashlib.sha1(image.tobytes()).digest()
        if key not in first:
            first[key] = i
            kept.append(i)
        elif classes[first[key]] == classes[i]:
            duplicates += 1
        else:
            problems.append(
                f"{paths[i]}: the same image as {paths[first[key]]}, filed under another class"
            )
    return kept, duplicates
