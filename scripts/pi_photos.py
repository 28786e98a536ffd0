"""The photos ``make pi-check`` reads on both architectures, made by the project's own generator.

Seeded, so every run reads the same files: single digits, digit strings, blank pages and clean
scans, at camera sizes from 480x640 to 1920x1080, most as PNG and some as JPEG (the decoder is
part of what a Pi runs). Digit shapes are MNIST test digits when MNIST is at hand
(``DIGITS_DATA_DIR``), else the generator's Hershey glyphs.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The project's photo generator (trainer.synth: the trainer makes its vision crops with it).
SCENES, GLYPHS = "trainer.synth.scenes", "trainer.synth.glyphs"
# mostly the app's camera frame; the big ones cost ~5x more under emulation
SIZES = ((640, 480),) * 6 + ((480, 640),) * 2 + ((1280, 960), (1920, 1080))
JPEG_EVERY = 5  # every 5th photo is written as JPEG, the others as PNG
SCAN_SIDES = (28, 48, 96, 160)


class PhotoError(Exception):
    """The project's photo generator could not be found or used."""


class _Generator:
    """What pi-check takes from the generator: photo kinds, fallback glyphs, clean scans, and
    the source files whose bytes decide whether photos already made are still current."""

    def __init__(self, scenes: Any, glyphs: Any) -> None:
        self.PhotoMaker = scenes.SceneMaker
        self.scan = scenes.clean_scan
        self.hershey_glyphs = glyphs.hershey_glyphs
        self.sources = sorted(Path(scenes.__file__).parent.glob("*.py"))


def generator() -> _Generator:
    """The photo generator (``PhotoMaker``, ``scan``, ``hershey_glyphs``)."""
    try:
        scenes, glyphs = importlib.import_module(SCENES), importlib.import_module(GLYPHS)
        return _Generator(scenes, glyphs)
    except (ImportError, AttributeError) as exc:
        raise PhotoError(f"no photo generator found ({SCENES}: {exc})") from exc


def _glyphs(gen: Any) -> tuple[Any, Any, str]:
    try:
        from trainer.data import load_mnist

        mnist = load_mnist(None, download=False)
        return mnist.x_test, mnist.y_test, f"MNIST test digits ({mnist.source})"
    except Exception as exc:  # noqa: BLE001 - any failure means: use the generator's glyphs
        log.info("MNIST not at hand (%s); using Hershey glyphs", exc)
        x, y = gen.hershey_glyphs(2000, seed=0)
        return x, y, "Hershey glyphs"


def make_photos(folder: Path, count: int, seed: int) -> tuple[dict[str, str], str]:
    """Write ``count`` photos and a ``labels.csv`` (``kind,file,digits``) into ``folder``.

    Photos already there from the same generator source, glyphs, seed and count are kept.

    Returns:
        ({file name: digits written}, where the digit shapes came from).

    Raises:
        PhotoError: the generator is missing or its interface changed.
    """
    import cv2
    import numpy as np

    gen = generator()
    glyphs, labels, source = _glyphs(gen)
    made_by = hashlib.sha256(b"".join(p.read_bytes() for p in [*gen.sources, Path(__file__)]))
    made_by.update(f"{source} {count} {seed}".encode())
    stamp = folder / ".made-by"
    if stamp.is_file() and stamp.read_text() == made_by.hexdigest():
        with open(folder / "labels.csv", newline="") as handle:
            return {row["file"]: row["digits"] for row in csv.DictReader(handle)}, source
    maker = gen.PhotoMaker(glyphs, labels, seed=seed)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    rows: list[tuple[str, str, str]] = []
    try:
        for i in range(count):
            size = SIZES[int(rng.integers(len(SIZES)))]
            kind = ("single", "string", "string", "single", "blank", "scan")[i % 6]
            if kind == "single":
                photo = maker.single(size)
                image, digits = photo.image, photo.digits
            elif kind == "string":
                photo = maker.string(3 + i % 4, size)
                image, digits = photo.image, photo.digits
            elif kind == "blank":
                image, digits = maker.blank(size).image, ""
            else:
                k = int(rng.integers(len(glyphs)))
                side = SCAN_SIDES[i % len(SCAN_SIDES)]
                image = gen.scan(glyphs[k], side=side, margin=0.2 * (i % 2), light_ink=i % 4 == 1)
                digits = str(int(labels[k]))
            name = f"{i:03d}-{kind}.{'jpg' if i % JPEG_EVERY == JPEG_EVERY - 1 else 'png'}"
            if not cv2.imwrite(str(folder / name), image):
                raise PhotoError(f"OpenCV could not write {folder / name}")
            rows.append((kind, name, digits))
    except (AttributeError, TypeError) as exc:
        raise PhotoError(f"the photo generator's interface changed: {exc}") from exc
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("kind", "file", "digits"))
        writer.writerows(rows)
    stamp.write_text(made_by.hexdigest())
    return {name: digits for _, name, digits in rows}, source
