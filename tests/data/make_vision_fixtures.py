"""Regenerate tests/data/photos: one generator-made photo of each hard case the vision step meets.

Written with the project's generator (trainer.synth.scenes) and the MNIST *test* digits of
tests/data/mnist-mini, with fixed seeds, so reruns give the same files:

* ``page.jpg`` - lines of small numbers in pen on a 2016x1512 photo of a page;
* ``tiny_scan.png`` - a written amount a few dozen pixels wide;
* ``faint.jpg`` - one digit in grey pencil on tinted paper;
* ``touching.jpg`` - digits run into each other;
* ``slanted.jpg`` - a string written on a slant.

``labels.csv`` (kind,file,digits) holds what is written; ``digits-score`` reads it.

And photos that once broke the vision step, kept as files because the generator's pixels differ
a little from one CPU to another (its OpenCV drawing and blurs), so "crop 79 of seed 2" is not
quite the same photo on every machine; ``regressions.json`` gives each one's digits and boxes:

* ``fat_marker_crop.png`` - a marker digit filling a 379 px photo, its stroke wider than the
  paper's kernel (the paper estimated at its middle was dark, the digit taken for the table);
* ``framed_scan_1.png``, ``framed_scan_2.png`` - tiny scans with a box printed round the amount
  (once its top and bottom were taken out as lines, its sides were read as 1s);
* ``squared_paper.png`` - a small 3 on faint squared paper in a camera frame: pieces of the grid
  the ink threshold broke off were read as digits and crowded the 3 out (nothing was read).

    python tests/data/make_vision_fixtures.py
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
OUT = HERE / "photos"


def _find(make, want=(), lines: int = 1, unwanted=("grid",), tries: int = 400):
    """The first photo ``make()`` returns with every tag of ``want``, none of ``unwanted``,
    and at least ``lines`` lines of writing (chosen by what they show, never by how they read)."""
    for _ in range(tries):
        photo = make()
        tags = set(photo.tags)
        if set(want) <= tags and not tags & set(unwanted) and photo.digits.count(" ") >= lines - 1:
            return photo
    raise SystemExit(f"no photo with tags {want} in {tries} tries")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from trainer.data import read_idx_dir
    from trainer.synth.scenes import SceneMaker

    mnist = read_idx_dir(HERE / "mnist-mini")

    def maker(seed: int) -> SceneMaker:
        return SceneMaker(mnist.x_test, mnist.y_test, seed=seed, frame_sizes=((640, 480),))

    page, scan, faint, touching, slanted = (maker(seed) for seed in (31, 32, 33, 34, 35))
    photos = {
        "page.jpg": (
            "multi",
            _find(lambda: page.page((2016, 1512)), lines=3, unwanted=("grid", "pencil")),
        ),
        "tiny_scan.png": ("multi", _find(scan.scan, ("tiny",))),
        "faint.jpg": ("single", _find(faint.single, ("pencil",))),
        "touching.jpg": ("multi", _find(lambda: touching.string(3), ("touching",))),
        "slanted.jpg": ("multi", _find(lambda: slanted.string(5), ("slanted",))),
    }
    OUT.mkdir(exist_ok=True)
    rows = []
    for name, (kind, photo) in photos.items():
        params = [cv2.IMWRITE_JPEG_QUALITY, 92] if name.endswith(".jpg") else []
        if not cv2.imwrite(str(OUT / name), np.ascontiguousarray(photo.image), params):
            raise SystemExit(f"cannot write {OUT / name}")
        rows.append({"kind": kind, "file": name, "digits": photo.digits})
        print(f"{name}: {photo.digits!r} {photo.image.shape} {photo.tags}")
    with open(OUT / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["kind", "file", "digits"], quoting=csv.QUOTE_ALL
        )
        writer.writeheader()
        writer.writerows(rows)

    # The regression photos, by seed and position (made on an AMD EPYC, Zen 4).
    crops = SceneMaker(mnist.x_test, mnist.y_test, seed=2)  # the default frame sizes
    scans = SceneMaker(mnist.x_test, mnist.y_test, seed=5)
    singles = SceneMaker(mnist.x_test, mnist.y_test, seed=6)
    made = [scans.make("scan") for _ in range(39)]
    regressions = {
        "fat_marker_crop.png": [crops.make("crop") for _ in range(80)][79],
        "framed_scan_1.png": made[13],
        "framed_scan_2.png": made[38],
        "squared_paper.png": [singles.make("single") for _ in range(39)][38],
    }
    record = {}
    for name, photo in regressions.items():
        if not cv2.imwrite(str(OUT / name), np.ascontiguousarray(photo.image)):
            raise SystemExit(f"cannot write {OUT / name}")
        record[name] = {
            "digits": photo.digits, "boxes": [list(b) for b in photo.boxes], "tags": photo.tags,
        }  # fmt: skip
        print(f"{name}: {photo.digits!r} {photo.image.shape} {photo.tags}")
    (OUT / "regressions.json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
