"""Regenerate tests/data/mnist-mini: a small, balanced, real MNIST subset in the idx .gz format.

100 training and 50 test images per digit (1,000 + 500), drawn with a fixed seed from the original
files, written as the four standard ``*-idx?-ubyte.gz`` files (gzip mtime 0, so reruns are
byte-identical).

    DIGITS_DATA_DIR=../shared/data/mnist python tests/data/make_mnist_mini.py
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SEED = 20240601
PER_CLASS = {"train": 100, "test": 50}


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an idx file (magic 0x08 type, ndim) compressed with gzip."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as fh,
    ):
        fh.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def pick(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` random examples of each digit, in a shuffled order."""
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(y == d), per_class, replace=False) for d in range(10)]
    )
    return rng.permutation(idx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        default=os.environ.get("DIGITS_DATA_DIR"),
        help="directory with the original MNIST files (default: $DIGITS_DATA_DIR)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "mnist-mini")
    args = parser.parse_args()
    from trainer.data import FILES, load_mnist

    mnist = load_mnist(args.source, download=False)
    rng = np.random.default_rng(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, (images_name, labels_name) in FILES.items():
        x, y = getattr(mnist, f"x_{split}"), getattr(mnist, f"y_{split}")
        idx = pick(y, PER_CLASS[split], rng)
        write_idx(args.out / images_name, x[idx])
        write_idx(args.out / labels_name, y[idx])
        print(f"{split}: {len(idx)} images -> {args.out / images_name}")


if __name__ == "__main__":
    main()
