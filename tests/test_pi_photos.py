"""The photos make pi-check reads come from the project's own generator, seeded and cached."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import pi_photos  # noqa: E402


def test_pi_check_photos_are_made_by_the_generator_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)  # Hershey glyphs: no MNIST needed
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    truth, source = pi_photos.make_photos(tmp_path / "photos", 6, seed=1)
    assert source == "Hershey glyphs"
    assert [name.split("-", 1)[1] for name in sorted(truth)] == [
        "single.png", "string.png", "string.png", "single.png", "blank.jpg", "scan.png",
    ]  # fmt: skip
    assert truth["004-blank.jpg"] == "" and all(
        truth[n].isdigit() for n in truth if "blank" not in n
    )
    with open(tmp_path / "photos" / "labels.csv", newline="") as handle:
        assert {row["file"]: row["digits"] for row in csv.DictReader(handle)} == truth
    first = (tmp_path / "photos" / "001-string.png").stat().st_mtime_ns
    assert pi_photos.make_photos(tmp_path / "photos", 6, seed=1) == (truth, source)
    assert (tmp_path / "photos" / "001-string.png").stat().st_mtime_ns == first  # kept, not remade
