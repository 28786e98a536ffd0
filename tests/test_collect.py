"""Collecting a user's digits: save, move to correct, load back - and every bad folder, one line.

Saving runs a real :class:`DigitReader` on the band fixture model with a fake vision step that
cuts an image into 28x28 tiles (as tests/test_predict_cli.py does), so what the model saw is
known exactly. Loading is the trainer's loader (numpy only, no TensorFlow).
"""

from __future__ import annotations

import csv
import logging
import shutil
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from fakes import tile_finder  # noqa: E402
from make_fixture_models import band_image  # noqa: E402

from edge_app import cli, reader  # noqa: E402
from edge_app.classifier import Classifier  # noqa: E402
from edge_app.collect import MANIFEST, CropSaver, digit_input, model_inputs  # noqa: E402
from edge_app.contract import LABELS, VISION_LABELS  # noqa: E402
from edge_app.digit_folders import scan  # noqa: E402
from edge_app.errors import CropFolderError, ImageError  # noqa: E402
from trainer.errors import DataError  # noqa: E402
from trainer.userdata import load_user_data  # noqa: E402

MODEL = Path(__file__).parent / "data" / "models" / "band_int8.tflite"


FAKE_PROPOSE = reader.taken_as_found(tile_finder)


def strip(digits: str) -> np.ndarray:
    """Dark-on-light tiles the band model reads as ``digits``, each tile marked apart (a dot)."""
    tiles = []
    for i, d in enumerate(digits):
        tile = band_image(int(d))
        tile[0, i % 28] = tile[1, i // 28] = 120  # no two tiles alike: no duplicates
        tiles.append(255 - tile)
    return np.hstack(tiles)


class Recording:
    """The band classifier, remembering every batch it was given."""

    def __init__(self) -> None:
        self.inner = Classifier(MODEL)
        self.labels, self.contract = self.inner.labels, self.inner.contract
        self.batches: list[np.ndarray] = []

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self.batches.append(np.array(images))
        return self.inner.predict_proba(images)


@pytest.fixture
def fake_vision(monkeypatch):
    monkeypatch.setattr(reader, "_default_propose", lambda: FAKE_PROPOSE)


def read_and_save(folder: Path, digits: str, source: str = "page.png"):
    classifier = Recording()
    digit_reader = reader.DigitReader(classifier, find=tile_finder)
    image = cv2.cvtColor(strip(digits), cv2.COLOR_GRAY2BGR)
    reading = digit_reader.read(image)
    saved = CropSaver(folder, model="band").save_reading(image, reading, source, classifier)
    return reading, saved, classifier


def png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


# --- saving ----------------------------------------------------------------------------------


def test_save_writes_the_exact_model_input_the_crop_and_the_manifest(tmp_path, fake_vision):
    reading, saved, classifier = read_and_save(tmp_path / "crops", "3141")
    assert reading.digits == "3141" and len(saved) == 4
    model_saw = classifier.batches[0]  # the reader's one batch: what the model saw
    for k, item in enumerate(saved):
        assert item.exact and item.new and item.model_input.parent.name == str(item.digit)
        pixels = cv2.imread(str(item.model_input), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(pixels, model_saw[k].reshape(28, 28))
        crop = cv2.imread(str(item.crop))
        assert crop.shape[0] >= 28 and crop.shape[1] > 28  # the box plus a margin
    with open(tmp_path / "crops" / MANIFEST, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["digit"] for r in rows] == ["3", "1", "4", "1"]
    assert rows[0]["box"] == "0 0 28 28" and rows[0]["source"] == "page.png"
    assert rows[0]["model"] == "band" and rows[0]["exact"] == "1"


def test_saving_twice_keeps_one_copy_even_after_a_move(tmp_path, fake_vision):
    folder = tmp_path / "crops"
    _, first, _ = read_and_save(folder, "37")
    moved = folder / "8"
    moved.mkdir()
    for path in (first[0].crop, first[0].model_input):
        shutil.move(path, moved / path.name)
    _, again, _ = read_and_save(folder, "37")
    assert [s.new for s in again] == [False, False]
    assert again[0].crop.parent == moved  # found where the user put it, not recreated
    assert not list((folder / "3").glob("*.png"))
    assert len((folder / MANIFEST).read_text().splitlines()) == 3  # header + two rows


def test_model_inputs_pick_the_candidate_the_model_read_when_boxes_repeat(tmp_path):
    """Two readings (polarities) of one image may share a box: the one read as the digit wins."""
    three, seven = band_image(3), band_image(7)
    both = types.SimpleNamespace(
        candidates=[types.SimpleNamespace(image=img, box=(0, 0, 28, 28)) for img in (seven, three)]
    )
    detection = types.SimpleNamespace(digit=3, box=(0, 0, 28, 28))
    ((pixels, exact),) = model_inputs(
        np.zeros((28, 28), np.uint8), [detection], classifier=Classifier(MODEL),
        propose=lambda image: [both],
    )  # fmt: skip
    assert exact and np.array_equal(pixels, three)


def test_a_box_vision_does_not_propose_is_framed_from_the_crop():
    image = np.full((60, 60), 255, np.uint8)
    cv2.line(image, (30, 10), (30, 50), 0, 4)
    detection = types.SimpleNamespace(digit=1, box=(20, 5, 20, 50))
    ((pixels, exact),) = model_inputs(image, [detection], propose=lambda image: [])
    assert not exact and pixels.shape == (28, 28) and pixels.max() > 200


def test_an_unwritable_crop_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CropFolderError, match="cannot write crops to"):
        CropSaver(blocker / "crops")


def test_digit_input_frames_any_crop_and_refuses_a_blank_one():
    scan_ = np.full((80, 50), 240, np.uint8)
    cv2.circle(scan_, (25, 40), 15, 20, 4)
    framed = digit_input(scan_)
    assert framed.shape == (28, 28) and framed[0].max() == 0 and framed.max() > 200
    assert np.array_equal(digit_input(band_image(2)), band_image(2))  # 28x28: as it is
    with pytest.raises(ImageError, match="blank"):
        digit_input(np.full((40, 40), 250, np.uint8))


# --- the round trip: save, move, load --------------------------------------------------------


def test_save_move_load_round_trip(tmp_path, fake_vision):
    folder = tmp_path / "crops"
    _, saved, classifier = read_and_save(folder, "0123456789" * 5)
    assert len(saved) == 50
    # the user corrects two: one by moving both files, one by moving only the crop
    wrong_both, wrong_crop = saved[3], saved[13]  # both were read as 3; say they are 8s
    for path in (wrong_both.crop, wrong_both.model_input, wrong_crop.crop):
        (folder / "8").mkdir(exist_ok=True)
        shutil.move(path, folder / "8" / path.name)
    data = load_user_data([folder], LABELS, min_per_class=3)
    assert len(data) == 50 and data.moved == 2
    assert data.counts() == {str(d): 5 for d in range(10)} | {"3": 3, "8": 7}
    paths = dict(zip(data.paths, data.y.tolist(), strict=True))
    assert paths[str(folder / "8" / wrong_both.model_input.name)] == 8
    # only the crop moved: the model input (still under 3/) is read, labelled as the move says
    assert paths[str(wrong_crop.model_input)] == 8
    # the images are what the model saw, not re-framed crops
    k = data.paths.index(str(saved[0].model_input))
    assert np.array_equal(data.x[k], classifier.batches[0][0].reshape(28, 28))


def test_ordinary_image_folders_are_accepted(tmp_path):
    rng = np.random.default_rng(0)
    for digit in "17":
        for i in range(6):  # same file names in both folders: different digits all the same
            scan_ = np.full((64, 48), 235, np.uint8)
            cv2.line(scan_, (24 + 8 * (digit == "7"), 8), (22, 56), 10, 5)
            if digit == "7":
                cv2.line(scan_, (10, 8), (32, 8), 10, 5)
            scan_ = np.clip(scan_ + rng.normal(0, 3, scan_.shape), 0, 255).astype(np.uint8)
            png(tmp_path / "mine" / digit / f"{i:03d}.png", scan_)
    (tmp_path / "mine" / "1" / ".DS_Store").write_bytes(b"junk")  # hidden clutter: skipped
    (tmp_path / "mine" / "5").mkdir()  # empty class folder: skipped
    data = load_user_data([tmp_path / "mine"], VISION_LABELS)
    assert data.counts() == {"1": 6, "7": 6} and data.moved == 0
    assert data.x.shape == (12, 28, 28) and data.x[:, 0].max() == 0  # framed like MNIST


def test_split_is_seeded_stratified_and_holds_out_no_copy(tmp_path):
    for d in range(3):
        for i in range(8):
            img = band_image(d)
            img[0, i] = 255  # all distinct
            png(tmp_path / "u" / str(d) / f"{i}.png", img)
    png(tmp_path / "u" / "0" / "copy.png", cv2.imread(str(tmp_path / "u" / "0" / "0.png"), 0))
    data = load_user_data([tmp_path / "u"], LABELS)
    assert len(data) == 24 and data.duplicates == 1
    train, held = data.split(0.25, seed=3)
    assert held.counts() == {"0": 2, "1": 2, "2": 2} and len(train) == 18
    assert not set(train.paths) & set(held.paths)
    again_train, again_held = data.split(0.25, seed=3)
    assert again_held.paths == held.paths
    assert data.split(0.25, seed=4)[1].paths != held.paths


# --- bad input: one line each, nothing trained -----------------------------------------------


def _problems(caplog, folders, labels=LABELS, **kwargs) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="trainer.userdata"), pytest.raises(DataError) as e:
        load_user_data(folders, labels, **kwargs)
    assert "nothing was trained" in str(e.value) and "\n" not in str(e.value)
    lines = [r.getMessage() for r in caplog.records]
    assert all("\n" not in line for line in lines)
    return lines


def _good(folder: Path, digits: str = "01", n: int = 5) -> Path:
    for d in digits:
        for i in range(n):
            img = band_image(int(d))
            img[27, i] = 200
            png(folder / d / f"{i}.png", img)
    return folder


def test_missing_or_empty_folder(tmp_path, caplog):
    (line,) = _problems(caplog, [tmp_path / "nope"])
    assert "does not exist" in line
    (tmp_path / "empty").mkdir()
    (line,) = _problems(caplog, [tmp_path / "empty"])
    assert "holds no class folders" in line
    (tmp_path / "hollow" / "3").mkdir(parents=True)
    (line,) = _problems(caplog, [tmp_path / "hollow"])
    assert "no images found" in line


def test_a_folder_name_that_is_no_digit_says_which_and_suggests(tmp_path, caplog):
    folder = _good(tmp_path / "u")
    (folder / "seven").mkdir()
    (folder / "nnoe").mkdir()
    lines = _problems(caplog, [folder])
    assert len(lines) == 2
    assert any("'seven' is not a digit" in line for line in lines)
    assert any("did you mean 'none'" in line for line in lines)


def test_none_is_a_class_only_for_a_12_class_model(tmp_path, caplog):
    folder = _good(tmp_path / "u")
    _good(tmp_path / "n", "5")
    shutil.move(tmp_path / "n" / "5", folder / "none")
    lines = _problems(caplog, [folder], LABELS)
    assert len(lines) == 5 and "10-class model does not have" in lines[0]
    assert load_user_data([folder], VISION_LABELS).counts() == {"0": 5, "1": 5, "none": 5}


def test_files_that_are_no_digit_images(tmp_path, caplog):
    folder = _good(tmp_path / "u")
    (folder / "0" / "notes.txt").write_text("hello")
    (folder / "0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 20)
    png(folder / "1" / "blank.png", np.full((40, 40), 250, np.uint8))
    png(folder / "1" / "row.png", np.hstack([255 - band_image(1)] * 4))
    png(folder / "1" / "page.png", np.full((1800, 2400), 255, np.uint8))
    png(folder / "loose.png", band_image(1))
    png(folder / "0" / "x.mnist.png", np.zeros((30, 30), np.uint8))
    lines = _problems(caplog, [folder])
    assert len(lines) == 7
    for words in ("not an image file", "broken.png", "blank", "wider than tall", "photo",
                  "outside the class folders", "must be 28x28"):  # fmt: skip
        assert any(words in line for line in lines), words


def test_too_few_images_and_one_image_under_two_classes(tmp_path, caplog):
    folder = _good(tmp_path / "u", "0", 5)
    _good(folder, "1", 3)
    shutil.copy(folder / "0" / "0.png", folder / "1" / "same.png")
    lines = _problems(caplog, [folder])
    assert len(lines) == 2
    assert any("same image as" in line for line in lines)
    assert any("class '1' has 3 image(s)" in line for line in lines)


def test_split_files_of_a_saved_digit_without_a_manifest(tmp_path, fake_vision, caplog):
    folder = tmp_path / "crops"
    _, saved, _ = read_and_save(folder, "0011223344" * 2)
    (folder / MANIFEST).unlink()
    (folder / "9").mkdir()
    shutil.move(saved[0].crop, folder / "9" / saved[0].crop.name)
    found = scan(folder)
    assert len(found.problems) == 1 and "move all files of one digit together" in found.problems[0]


# --- digits-predict --save-crops -------------------------------------------------------------


@pytest.fixture
def _opencv_settings():
    from cv2.utils import logging as cv_logging

    threads, level = cv2.getNumThreads(), cv_logging.getLogLevel()
    yield
    cv2.setNumThreads(threads)
    cv_logging.setLogLevel(level)


def test_predict_save_crops(tmp_path, fake_vision, _opencv_settings, capsys):
    photo = png(tmp_path / "form.png", strip("905"))
    crops = tmp_path / "crops"
    code = cli.main([str(photo), "--model", str(MODEL), "--save-crops", str(crops)])
    captured = capsys.readouterr()
    assert code == 0 and captured.out.startswith(f"{photo}: 905")
    assert "3 digit(s) saved to" in captured.err
    assert sorted(p.parent.name for p in crops.glob("*/*.mnist.png")) == ["0", "5", "9"]
    assert load_user_data([crops], LABELS, min_per_class=1).counts() == {"0": 1, "5": 1, "9": 1}


def test_predict_save_crops_unwritable_is_one_line_before_reading(
    tmp_path, fake_vision, _opencv_settings, capsys
):
    photo = png(tmp_path / "form.png", strip("905"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = cli.main([str(photo), "--model", str(MODEL), "--save-crops", str(blocker / "c")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    (line,) = [x for x in captured.err.splitlines() if "error" in x]
    assert line.startswith("digits-predict: error: cannot write crops to")
