"""DigitReader: vision candidates -> one classifier batch -> digits in reading order."""

from __future__ import annotations

import types

import numpy as np
import pytest

from edge_app.reader import DigitReader, Reading


def cand(digit: int, x: int, line: int = 0) -> types.SimpleNamespace:
    """A fake vision candidate whose 28x28 image encodes the digit in its first pixel."""
    image = np.zeros((28, 28), np.uint8)
    image[0, 0] = digit
    return types.SimpleNamespace(image=image, box=(x, 10 * line, 20, 30), line=line)


class FakeModel:
    """Answers the digit encoded by :func:`cand`, with a confidence set per digit."""

    def __init__(self, confidence=None, labels=None):
        self.confidence = confidence or {}
        self.calls = []
        if labels is not None:
            self.contract = types.SimpleNamespace(labels=labels)

    def predict_proba(self, images):
        self.calls.append(images.shape)
        out = np.zeros((len(images), 10), np.float32)
        for i, img in enumerate(images):
            d = int(img[0, 0])
            p = self.confidence.get(d, 0.99)
            out[i] = (1 - p) / 9
            out[i, d] = p
        return out


def reader_for(candidates, model=None, **kwargs):
    model = model or FakeModel()
    return DigitReader(model, find=lambda image: candidates, **kwargs), model


def test_one_line_reads_in_vision_order_with_one_batch():
    reader, model = reader_for([cand(9, 0), cand(0, 30), cand(2, 60), cand(1, 90), cand(0, 120)])
    reading = reader.read(np.zeros((48, 64), np.uint8))
    assert reading.digits == "90210"
    assert [d.digit for d in reading.detections] == [9, 0, 2, 1, 0]
    assert reading.detections[2].box == (60, 0, 20, 30)
    assert model.calls == [(5, 28, 28)]  # all candidates of a frame in one call
    assert reading.latency_ms >= reading.classify_ms >= 0
    assert reading.latency_ms == pytest.approx(reading.vision_ms + reading.classify_ms, abs=0.5)


def test_lines_are_separated_by_a_space():
    reader, _ = reader_for([cand(1, 0, 0), cand(2, 30, 0), cand(3, 0, 1), cand(4, 0, 2)])
    reading = reader.read(np.zeros((8, 8), np.uint8))
    assert reading.digits == "12 3 4"
    assert reading.lines == ["12", "3", "4"]
    assert [d.line for d in reading.detections] == [0, 0, 1, 2]


def test_low_confidence_candidates_are_dropped():
    model = FakeModel(confidence={7: 0.3, 8: 0.55})
    reader, _ = reader_for([cand(1, 0), cand(7, 30), cand(8, 60)], model, min_confidence=0.5)
    reading = reader.read(np.zeros((8, 8), np.uint8))
    assert reading.digits == "18" and reading.rejected == 1
    assert reading.detections[1].confidence == pytest.approx(0.55)


def test_a_line_whose_digits_were_all_dropped_leaves_no_double_space():
    model = FakeModel(confidence={7: 0.1})
    reader, _ = reader_for([cand(1, 0, 0), cand(7, 0, 1), cand(2, 0, 2)], model)
    assert reader.read(np.zeros((8, 8), np.uint8)).digits == "1 2"


def test_nothing_found_is_an_empty_reading_without_calling_the_model():
    reader, model = reader_for([])
    reading = reader.read(np.full((480, 640), 255, np.uint8))
    assert reading == Reading("", [], reading.latency_ms, reading.vision_ms)
    assert reading.digits == "" and reading.lines == [] and model.calls == []


def test_labels_come_from_the_model_contract():
    model = FakeModel(labels=("9", "8", "7", "6", "5", "4", "3", "2", "1", "0"))
    reader, _ = reader_for([cand(0, 0), cand(3, 30)], model)
    assert reader.read(np.zeros((8, 8), np.uint8)).digits == "96"


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_min_confidence_must_be_a_probability(bad):
    with pytest.raises(ValueError, match="within 0..1"):
        DigitReader(FakeModel(), min_confidence=bad, find=lambda image: [])


def test_detection_json_form():
    reader, _ = reader_for([cand(4, 3)])
    (det,) = reader.read(np.zeros((8, 8), np.uint8)).detections
    assert det.to_dict() == {"digit": 4, "confidence": 0.99, "box": [3, 0, 20, 30], "line": 0}


def test_reading_json_form():
    reader, _ = reader_for([cand(1, 0, 0), cand(2, 0, 1)])
    data = reader.read(np.zeros((8, 8), np.uint8)).to_dict()
    assert list(data) == ["digits", "detections", "latency_ms"]
    assert data["digits"] == "1 2" and [d["line"] for d in data["detections"]] == [0, 1]


def test_default_proposer_is_the_vision_module():
    vision = pytest.importorskip("edge_app.vision")
    reader = DigitReader(FakeModel())
    assert reader._propose is vision.propose
    assert reader.read(np.full((120, 160, 3), 255, np.uint8)).digits == ""
