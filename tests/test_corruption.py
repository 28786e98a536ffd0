"""Damaged inputs end in one clear line each: corrupted images, corrupted models.

Every corruption here is seeded and small, so a failure is reproducible and the tests are fast.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.classifier import Classifier
from edge_app.contract import contract_span, read_contract_bytes
from edge_app.errors import DigitLiteError, ModelError
from edge_app.models import model_path
from edge_app.runtime import load_interpreter

MODELS = Path(__file__).parent / "data" / "models"
BAND_INT8 = MODELS / "band_int8.tflite"
SHIPPED_INT8 = model_path("int8")
PHOTO = Path(__file__).parent / "data" / "photos" / "tiny_scan.png"
UNSEALED_INT8 = Path(__file__).parent / "data" / "models" / "band_int8.tflite"


def predict(*args: str) -> subprocess.CompletedProcess:
    """``digits-predict ARGS`` in a fresh process: what reaches file descriptor 2 is seen too."""
    command = [sys.executable, "-m", "edge_app", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def corrupted_images(folder: Path, count: int = 24, seed: int = 14) -> list[str]:
    """PNGs and JPEGs of a written number, cut short or with bytes flipped (seeded)."""
    page = np.full((120, 160, 3), 235, np.uint8)
    cv2.putText(page, "4207", (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 4)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        suffix = (".png", ".jpg")[i % 2]
        data = bytearray(cv2.imencode(suffix, page)[1].tobytes())
        if i % 4 < 2:
            data = data[: int(rng.integers(len(data) // 4, len(data) - 8))]
        else:
            for at in rng.integers(100, len(data) - 8, 8):
                data[at] ^= int(rng.integers(1, 256))
        path = folder / f"bad{i:02d}{suffix}"
        path.write_bytes(bytes(data))
        paths.append(str(path))
    return paths


def test_corrupted_images_give_one_line_each_and_no_decoder_chatter(tmp_path):
    paths = corrupted_images(tmp_path)
    quiet = predict("--json", "-q", "--model", str(BAND_INT8), *paths)
    failed = quiet.stdout.count('"error"')
    assert quiet.returncode == 1 and 0 < failed < len(paths)
    lines = quiet.stderr.splitlines()
    assert len(lines) == failed + 1  # one per bad file, then "N of M images could not be read"
    assert all(line.startswith("digits-predict: ERROR: ") for line in lines), lines
    # the same files do make libpng and libjpeg talk: -v lets it through
    verbose = predict("--json", "-v", "--model", str(BAND_INT8), *paths)
    assert "libpng error" in verbose.stderr and "Corrupt JPEG data" in verbose.stderr


def corrupted_models(model: bytes, count: int = 150, seed: int = 14) -> list[bytes]:
    """Copies of a model cut short (every third) or with 1 to 8 bytes flipped (seeded)."""
    rng = np.random.default_rng(seed)
    copies = []
    for i in range(count):
        data = bytearray(model)
        if i % 3 == 0:
            data = data[: int(rng.integers(8, len(data)))]
        else:
            for at in rng.integers(0, len(data), int(rng.integers(1, 9))):
                data[at] ^= int(rng.integers(1, 256))
        copies.append(bytes(data))
    return copies


def test_a_corrupted_model_loads_or_is_refused_in_one_line(tmp_path):
    outcomes: Counter[str] = Counter()
    for i, data in enumerate(corrupted_models(SHIPPED_INT8.read_bytes())):
        path = tmp_path / f"corrupt{i:03d}.tflite"
        path.write_bytes(data)
        try:
            Classifier(path).classify(np.zeros((28, 28), np.uint8))
        except DigitLiteError as exc:  # anything else fails the test with its traceback
            assert str(exc) and "\n" not in str(exc), (i, str(exc))
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 0, outcomes


def test_a_tensor_name_that_is_not_utf8_is_one_line_and_exit_code_2(tmp_path):
    # The interpreter decodes tensor names only when asked for tensor details, where a bad
    # byte used to escape as UnicodeDecodeError, a traceback. (A fixture model stamped before
    # contracts carried a checksum: the shipped one would be refused for its checksum first.)
    model = UNSEALED_INT8.read_bytes()
    interpreter, _ = load_interpreter(model)
    name = interpreter.get_input_details()[0]["name"].encode()
    at = model.rindex(name)
    broken = bytearray(model)
    broken[at + 1] = 0xFF
    path = tmp_path / "bad_name.tflite"
    path.write_bytes(bytes(broken))
    try:
        Classifier(path)
    except ModelError as exc:
        assert "utf-8" in str(exc) and "\n" not in str(exc)
    else:
        raise AssertionError("a model with a corrupt tensor name loaded")
    run = predict("--model", str(path), str(PHOTO))
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stderr.startswith("digits-predict: error: ")


@pytest.fixture(scope="module")
def sealed() -> bytes:
    """The shipped int8 model stamped again, so its contract carries the checksum."""
    pytest.importorskip("tensorflow")
    from converter.stamp import embed_contract

    model = SHIPPED_INT8.read_bytes()
    return embed_contract(model, read_contract_bytes(model))


@pytest.mark.tf
def test_a_sealed_model_refuses_every_corrupt_copy_outside_its_contract(sealed, tmp_path):
    span = contract_span(sealed)
    assert read_contract_bytes(sealed).checksum.startswith("sha256:")
    x = np.random.default_rng(14).integers(0, 256, (16, 28, 28)).astype(np.uint8)
    original = Classifier(SHIPPED_INT8).predict_proba(x)
    (tmp_path / "sealed.tflite").write_bytes(sealed)
    assert np.array_equal(Classifier(tmp_path / "sealed.tflite").predict_proba(x), original)
    for i, data in enumerate(corrupted_models(sealed)):
        path = tmp_path / f"corrupt{i:03d}.tflite"
        path.write_bytes(data)
        try:  # the app's way: a contract is required (a damaged name is a missing contract)
            Classifier(path)
        except DigitLiteError as exc:
            assert str(exc) and "\n" not in str(exc), (i, str(exc))
        else:  # only a change inside the contract's own JSON can go unnoticed
            same = data[: span[0]] + data[span[1] :] == sealed[: span[0]] + sealed[span[1] :]
            assert same, f"copy {i} loaded with damaged weights"


@pytest.mark.tf
def test_damaged_weights_are_refused_in_one_line_and_exit_code_2(sealed, tmp_path):
    damaged = bytearray(sealed)
    damaged[len(sealed) // 2] ^= 0x01  # the weights; the contract lies near the start
    path = tmp_path / "damaged.tflite"
    path.write_bytes(bytes(damaged))
    for required in (True, False):
        with pytest.raises(ModelError, match="do not match the checksum"):
            Classifier(path, require_contract=required)
    run = predict("--model", str(path), str(PHOTO))
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1, run.stderr
    assert "damaged" in run.stderr


@pytest.mark.tf
def test_a_contract_without_a_checksum_is_not_checked(sealed, tmp_path):
    # What a model stamped before the checksum existed looks like: the same JSON, no checksum.
    start, end = contract_span(sealed)
    text = sealed[start:end].decode()
    checksum = read_contract_bytes(sealed).checksum
    old = text.replace(f'"{checksum}"', "null".ljust(len(checksum) + 2))
    damaged = bytearray(sealed[:start] + old.encode() + sealed[end:])
    damaged[len(sealed) // 2] ^= 0x01
    path = tmp_path / "old.tflite"
    path.write_bytes(bytes(damaged))
    classifier = Classifier(path)
    assert classifier.contract == replace(read_contract_bytes(sealed), checksum=None)
