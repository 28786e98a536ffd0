"""Write the UCI optical digits (scikit-learn's bundled copy) as a user's digit folders.

Handwriting the model never saw - 43 writers, another scanner, 8x8 grey levels - laid out the
way ``digits-train --finetune --extra-data`` takes a user's own digits: ``OUT/<digit>/*.png``,
each image one digit as a scan gives it (dark ink on white paper, upscaled, a margin around the
ink). Nothing is downloaded: ``sklearn.datasets.load_digits`` ships with scikit-learn.

    python scripts/uci_folders.py /tmp/uci
    digits-train --finetune runs/latest --extra-data /tmp/uci --holdout 0.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def write_folders(out: Path, side: int = 64, margin: float = 0.2) -> int:
    """Write all 1,797 UCI digits under ``out``; returns how many were written."""
    from sklearn.datasets import load_digits

    from edge_app.collect import encode_png
    from trainer.synth.scenes import clean_scan

    digits = load_digits()
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)  # 0..16 -> 0..255
    for i, (image, label) in enumerate(zip(images, digits.target, strict=True)):
        folder = out / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        scan = clean_scan(image, side=side, margin=margin, light_ink=False)
        (folder / f"uci-{i:04d}.png").write_bytes(encode_png(scan))
    return len(images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write OUT/<digit>/uci-NNNN.png into")
    parser.add_argument("--side", type=int, default=64, help="longer side of each scan, px")
    args = parser.parse_args(argv)
    count = write_folders(args.out, args.side)
    print(f"{count} digits written under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
