"""The vision model end to end on tiny data: trained on MNIST and on the vision step's own
crops (12 classes: digits, none, cut), converted to int8 and verified on those crops too,
stamped with its labels, and read on the device path with no TensorFlow in the loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_app.contract import VISION_LABELS

pytestmark = [pytest.mark.slow, pytest.mark.tf]

MINI = Path(__file__).parent / "data" / "mnist-mini"


@pytest.fixture(scope="module")
def vision_run(tmp_path_factory) -> Path:
    pytest.importorskip("tensorflow")
    from trainer import cli

    out = tmp_path_factory.mktemp("vision") / "run"
    argv = ["--out", str(out), "--data-dir", str(MINI), "--epochs", "1", "--no-eda",
            "--vision-photos", "30", "--seed", "3", "-q"]  # fmt: skip
    assert cli.main(argv) == 0
    return out


def test_training_adds_the_vision_crops_and_reports_on_them(vision_run):
    from trainer.vision_data import TEST_FILE, VAL_FILE, load

    run = json.loads((vision_run / "run.json").read_text())
    vision = run["data"]["vision"]
    assert vision["photos"] == 30 and vision["labels"] == list(VISION_LABELS)
    for part in ("train", "val", "test"):
        assert sum(vision[part].values()) > 0 and "none" in vision[part]
    val, test = load(vision_run / VAL_FILE), load(vision_run / TEST_FILE)
    assert val.x.shape[1:] == (28, 28) and set(np.unique(test.y)) <= set(range(12))
    metrics = json.loads((vision_run / "metrics.json").read_text())
    assert metrics["classes"] == list(VISION_LABELS)
    assert 0 <= metrics["mnist_rejected"] <= 1 and metrics["digit_accuracy"] >= metrics["accuracy"]
    assert metrics["vision"]["n"] == len(test.y)
    report = (vision_run / "report.md").read_text()
    assert "on the vision step's crops" in report and "_vision_confusion.png" in report


def test_the_vision_model_converts_verifies_and_reads_on_the_edge(vision_run, capsys):
    from converter import cli as convert_cli
    from edge_app.classifier import Classifier
    from edge_app.reader import DigitReader
    from trainer.synth.scenes import SceneMaker
    from trainer.vision_data import TEST_FILE, load

    argv = [str(vision_run), "--formats", "float32,int8", "--data-dir", str(MINI),
            "--no-download", "--max-drop", "100"]  # fmt: skip
    assert convert_cli.main(argv) == 0, capsys.readouterr().err
    report = json.loads((vision_run / "conversion.json").read_text())
    test = load(vision_run / TEST_FILE)
    assert report["source"]["labels"] == list(VISION_LABELS)
    assert report["source"]["vision_test_samples"] == len(test.y)
    for row in report["formats"]:
        assert row["vision"]["samples"] == len(test.y) and 0 <= row["vision"]["accuracy"] <= 1
    assert "On the vision step's crops" in (vision_run / "conversion.md").read_text()

    classifier = Classifier(vision_run / "model_int8.tflite")
    assert classifier.labels == VISION_LABELS and classifier.classes == 12
    assert classifier.contract.extra["vision_samples"] == len(test.y)
    # the accuracy stamped into the file is what the device code reproduces on the crops
    probs = classifier.predict_proba(test.x)
    accuracy = float(np.mean(probs.argmax(1) == test.y))
    assert classifier.contract.extra["vision_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    top = classifier.classify(test.x[:5])
    assert all(0 <= p.digit <= 9 and len(p.top) == 3 for p in top)

    mnist = __import__("trainer.data", fromlist=["read_idx_dir"]).read_idx_dir(MINI)
    photo = SceneMaker(mnist.x_test, mnist.y_test, seed=5).string(4, (640, 480))
    reading = DigitReader(classifier).read(photo.image)
    assert all(0 <= d.digit <= 9 for d in reading.detections)
