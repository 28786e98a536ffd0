"""The models shipped in edge_app/models: where they are, that they describe themselves, that
they read the fixture digits (tests/data/mnist-mini, 500 test images, 50 per digit).

The accuracy tests skip, saying why, only while ``make default-model`` has not produced the
files yet; the release checklist makes sure they exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edge_app.models as models
from edge_app.classifier import Classifier
from edge_app.contract import VISION_LABELS
from edge_app.errors import ModelError

MIN_ACCURACY = 0.97  # the target on MNIST-like digits; a good CNN scores ~0.99 here
# 500 images: one standard error at 0.99 is ~0.0045, so 0.02 is over four of them
CONTRACT_TOLERANCE = 0.02
MIN_AGREEMENT = 0.98  # int8 and float32 should name the same digit almost always

INT8 = models.model_path("int8")
needs_int8 = pytest.mark.skipif(
    not INT8.is_file(), reason=f"{INT8} not built yet (make default-model ships it)"
)


@pytest.fixture
def mini_test(data_dir):
    """The 500 mnist-mini test digits (white on black, 28x28) and their labels."""
    from trainer.data import read_idx_dir  # plain numpy + gzip, no TensorFlow

    data = read_idx_dir(data_dir)
    assert len(data.y_test) == 500
    return data.x_test, data.y_test.astype(int)


def test_shipped_models_lists_what_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)
    assert models.shipped_models() == {}
    with pytest.raises(ModelError, match="no model is shipped.*--model FILE"):
        models.default_model_path()
    (tmp_path / "digits_float32.tflite").write_bytes(b"x")
    assert models.shipped_models() == {"float32": tmp_path / "digits_float32.tflite"}
    assert models.default_model_path("float32") == tmp_path / "digits_float32.tflite"
    with pytest.raises(ModelError, match="shipped formats: float32"):
        models.default_model_path("int8")


def test_models_live_inside_the_package():
    assert models.MODELS_DIR.name == "models" and models.MODELS_DIR.parent.name == "edge_app"
    assert models.model_path() == models.MODELS_DIR / "digits_int8.tflite"


@needs_int8
def test_default_model_reads_its_own_contract():
    model = Classifier(models.default_model_path())
    contract = model.contract
    assert contract.format == "int8"
    assert contract.labels == VISION_LABELS
    assert contract.input_shape[1:] == (28, 28, 1)
    assert contract.checksum  # sealed: a corrupted copy is refused on load
    assert model.input_dtype == np.int8
    assert contract.accuracy is not None and contract.accuracy >= MIN_ACCURACY
    assert contract.source_model_sha256


@needs_int8
def test_default_model_classifies_the_fixture_digits(mini_test):
    images, labels = mini_test
    model = Classifier(models.default_model_path())
    predicted = model.predict_proba(images).argmax(axis=1)
    accuracy = float((predicted == labels).mean())
    assert accuracy >= MIN_ACCURACY, f"accuracy {accuracy:.3f} on mnist-mini"
    assert accuracy == pytest.approx(model.contract.accuracy, abs=CONTRACT_TOLERANCE)
    per_digit = [float((predicted[labels == d] == d).mean()) for d in range(10)]
    assert min(per_digit) >= 0.9, f"per-digit accuracy {np.round(per_digit, 2)}"


@needs_int8
def test_float_twin_agrees_with_int8(mini_test):
    shipped = models.shipped_models()
    if "float32" not in shipped:
        pytest.skip("no float32 twin shipped")
    images, _ = mini_test
    int8 = Classifier(shipped["int8"]).predict_proba(images).argmax(axis=1)
    float32 = Classifier(shipped["float32"]).predict_proba(images).argmax(axis=1)
    assert float((int8 == float32).mean()) >= MIN_AGREEMENT


@needs_int8
def test_conversion_report_ships_beside_the_models():
    report = models.MODELS_DIR / "conversion.json"
    assert report.is_file(), "conversion.json should ship with the models"
    json.loads(report.read_text(encoding="utf-8"))


@needs_int8
def test_reader_reads_tight_crops_with_the_shipped_model(mini_test):
    """Vision + classifier on dataset-style crops whose digit touches the border.

    The issue's target for clean scans is 0.95; 500 images give a standard error near 0.01,
    so this fails only when the path is clearly below target.
    """
    pytest.importorskip("edge_app.vision")
    from edge_app.reader import DigitReader

    images, labels = mini_test
    reader = DigitReader(Classifier(models.default_model_path()))
    crops = [np.kron(255 - img, np.ones((4, 4), np.uint8)) for img in images]  # 112x112 scans
    read = [reader.read(crop).digits for crop in crops]
    accuracy = float(np.mean([r == str(y) for r, y in zip(read, labels, strict=True)]))
    assert accuracy >= 0.93, f"reader read {accuracy:.3f} of the tight crops"


def _paper_photo(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 640x480 BGR frame: lit paper, one MNIST digit written ~90 px tall somewhere on it."""
    import cv2

    yy, xx = np.mgrid[0:480, 0:640]
    page = 195 + 35 * xx / 640 + 15 * yy / 480
    ink = cv2.resize(glyph, (90, 90), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    x, y = int(rng.integers(40, 510)), int(rng.integers(40, 350))
    page[y : y + 90, x : x + 90] *= 1 - 0.85 * ink
    page += rng.normal(0, 3, page.shape)
    gray = cv2.GaussianBlur(np.clip(page, 0, 255).astype(np.uint8), (3, 3), 0)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


@needs_int8
def test_digits_predict_uses_the_shipped_model_by_default(mini_test, tmp_path, capsys):
    """No --model: photos of one digit of each class, through files, vision and the int8 model."""
    import cv2

    from edge_app import cli

    images, labels = mini_test
    rng = np.random.default_rng(4)
    paths, truth = [], []
    for digit in range(10):
        index = int(np.flatnonzero(labels == digit)[0])
        path = tmp_path / f"photo_{digit}.jpg"
        cv2.imwrite(str(path), _paper_photo(images[index], rng))
        paths.append(str(path))
        truth.append(str(digit))
    assert cli.main([*paths, "--json", "-q"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    read = [r["digits"] for r in records]
    assert sum(r == t for r, t in zip(read, truth, strict=True)) >= 9, read


@needs_int8
def test_the_shipped_model_is_a_vision_model():
    """It says what is not a digit and where one ends: the lattice decoder needs both."""
    classifier = Classifier(models.default_model_path())
    assert classifier.labels[-2:] == ("none", "cut") and classifier.classes == 12


@needs_int8
def test_hard_photos_are_read_through_digits_score(capsys):
    """The generator's fixtures of each hard case (tests/data/make_vision_fixtures.py: a page
    of small numbers, a tiny scan of touching digits, a faint pencil digit, a touching pair,
    a slanted line) read with the shipped model, scored by digits-score as a user would."""
    from benchmarks.score import main as score_main

    labels = Path(__file__).parent / "data" / "photos" / "labels.csv"
    assert score_main([str(labels), "--json", "-q"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["all"]["images"] == 5
    # all five read exactly (the faint 3 read "2 2" when the first look cut its long arm as a
    # ruling, and this test still passed with one photo allowed to miss)
    assert scores["all"]["exact"] == 5, scores["all"]["misses"]


@needs_int8
def test_a_small_digit_on_faint_squared_paper_is_read():
    """Generated single 38 of seed 6 (tests/data/make_vision_fixtures.py), kept as a file: the
    lengths of the grid that the ink threshold broke off were read as digits and crowded the
    small 3 out, so nothing was read."""
    import cv2

    from edge_app.reader import DigitReader

    photos = Path(__file__).parent / "data" / "photos"
    truth = json.loads((photos / "regressions.json").read_text())["squared_paper.png"]
    image = cv2.imread(str(photos / "squared_paper.png"), cv2.IMREAD_UNCHANGED)
    reading = DigitReader(Classifier(INT8)).read(image)
    assert reading.digits == truth["digits"]
    ((tx, ty, tw, th),) = truth["boxes"]
    (x, y, w, h) = reading.detections[0].box
    assert abs(x - tx) < tw / 2 and abs(y - ty) < th / 2, (reading.detections, truth["boxes"])
