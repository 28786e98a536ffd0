"""digits-predict --workers N: the same records as one process, in input order, errors in place.

Worker processes are spawned fresh, so no fake can be injected into them: these tests read
real photos (one mnist-mini test digit on lit paper each) with the shipped int8 model and the
real vision step, and compare with the sequential run of the same command.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import edge_app.models as models
from edge_app import batch, cli
from edge_app.cli import PredictConfig

needs_int8 = pytest.mark.skipif(
    not models.model_path("int8").is_file(), reason="the shipped int8 model is not built"
)


def _paper_photo(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 320x240 gray frame: lit paper, one MNIST digit written ~80 px tall somewhere on it."""
    yy, xx = np.mgrid[0:240, 0:320]
    page = 200 + 30 * xx / 320 + 10 * yy / 240
    ink = cv2.resize(glyph, (80, 80), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    x, y = int(rng.integers(20, 220)), int(rng.integers(20, 140))
    page[y : y + 80, x : x + 80] *= 1 - 0.85 * ink
    page += rng.normal(0, 3, page.shape)
    return np.clip(page, 0, 255).astype(np.uint8)


@pytest.fixture
def photos(data_dir, tmp_path):
    """12 photos (digits 0..9, then 3, 5), a file that is not an image, and a missing file."""
    from trainer.data import read_idx_dir  # plain numpy + gzip

    data = read_idx_dir(data_dir)
    rng = np.random.default_rng(11)
    paths = []
    for n, digit in enumerate([*range(10), 3, 5]):
        index = int(np.flatnonzero(data.y_test == digit)[n // 10])
        path = tmp_path / f"photo_{n:02d}.png"
        cv2.imwrite(str(path), _paper_photo(data.x_test[index], rng))
        paths.append(path)
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    paths.insert(4, bad)
    paths.insert(9, tmp_path / "missing.png")
    return paths


def _records(capsys, argv) -> tuple[int, list[dict], str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    for r in records:
        r.pop("latency_ms", None)
    return code, records, err


@needs_int8
def test_workers_give_the_sequential_records_in_input_order(photos, capsys):
    argv = [*map(str, photos), "--json"]
    code1, sequential, _ = _records(capsys, argv)
    code2, parallel, err = _records(capsys, [*argv, "--workers", "2"])
    assert code1 == code2 == cli.EXIT_SOME_FAILED
    assert [r["path"] for r in parallel] == [str(p) for p in photos]
    assert parallel == sequential
    assert "error" in parallel[4] and "not an image" in parallel[4]["error"]
    assert "no such file" in parallel[9]["error"]
    read = [r["digits"] for r in parallel if "error" not in r]
    assert sum(r == t for r, t in zip(read, "012345678935", strict=True)) >= 10, read
    assert "2 of 14 images could not be read" in err
    assert "Traceback" not in err


@needs_int8
def test_more_files_than_the_window_keep_their_order(photos):
    """The parallel reader keeps at most workers*4 files in flight; order survives refills."""
    good = [p for p in photos if p.suffix == ".png" and p.exists()] * 2  # 24 > window of 8
    config = PredictConfig(images=tuple(good))
    results = list(batch.read_images_parallel(config, good, workers=2))
    assert [path for path, _ in results] == good
    digits = [r.digits for _, r in results]
    assert digits[:12] == digits[12:]


def test_chunks_amortise_the_process_hop_but_keep_every_worker_busy():
    assert batch.chunk_size(5, workers=2) == 1
    assert batch.chunk_size(160, workers=2) == 10
    assert batch.chunk_size(100_000, workers=4) == batch.MAX_CHUNK


@needs_int8
def test_chunked_files_keep_their_order(photos):
    good = [p for p in photos if p.suffix == ".png" and p.exists()] * 6  # 72: chunks of 4
    assert batch.chunk_size(len(good), 2) == 4
    results = list(batch.read_images_parallel(PredictConfig(images=tuple(good)), good, 2))
    assert [path for path, _ in results] == good
    digits = [r.digits for _, r in results]
    assert digits == digits[:12] * 6


def test_workers_flag_is_checked(capsys):
    assert cli.main(["x.png", "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
