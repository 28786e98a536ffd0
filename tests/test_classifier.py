"""The Classifier: contract, shape checks, and quantized I/O for float32, int8 and uint8 models.

The band fixture models (tests/data/make_fixture_models.py) answer "which band is white" with a
probability known in closed form, so a wrong scale or zero point shows at once. No TensorFlow.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from make_fixture_models import band_image, band_probabilities  # noqa: E402

from edge_app import classifier as classifier_mod  # noqa: E402
from edge_app.classifier import Classifier  # noqa: E402
from edge_app.errors import ModelError  # noqa: E402

MODELS = Path(__file__).parent / "data" / "models"
# float models match the numpy reference to rounding; quantized ones within a step or two of
# their output scale (1/256)
TOLERANCE = {"float32": 1e-5, "float32_batch": 1e-5, "int8": 0.01, "uint8": 0.01}


def _probe_images() -> np.ndarray:
    """Every band alone, plus mixtures that put the answer between two classes."""
    mixed = [
        np.maximum(band_image(3), band_image(7, 128)),
        np.maximum(band_image(0, 200), band_image(9, 100)),
        np.full((28, 28), 60, np.uint8),
        np.zeros((28, 28), np.uint8),
    ]
    return np.stack([band_image(k) for k in range(10)] + mixed)


@pytest.mark.parametrize("name", list(TOLERANCE))
def test_probabilities_match_the_reference(name):
    model = Classifier(MODELS / f"band_{name}.tflite")
    images = _probe_images()
    probs = model.predict_proba(images)
    assert probs.shape == (len(images), 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, band_probabilities(images), atol=TOLERANCE[name])
    assert probs[:10].argmax(axis=1).tolist() == list(range(10))
    assert probs[:10].max(axis=1).min() > 0.99
    assert model.last_latency_ms > 0


@pytest.mark.parametrize(
    ("name", "dtype", "zero_point"), [("int8", np.int8, -128), ("uint8", np.uint8, 0)]
)
def test_quantized_models_use_their_own_zero_point(name, dtype, zero_point):
    model = Classifier(MODELS / f"band_{name}.tflite")
    assert model.input_dtype == dtype and model.output_dtype == dtype
    assert model._input["quantization"] == (1.0, zero_point)
    assert model.format == name
    assert model.contract.quantization["input"]["zero_point"] == zero_point


class _FakeInterpreter:
    """Stands in for a runtime: records what was fed, returns a fixed quantized output."""

    def __init__(self, dtype, in_q, out_q, output, batch=1):
        self.dtype, self.fed, self.output = dtype, [], output
        self.input = {
            "index": 0,
            "shape": np.array([batch, 28, 28, 1]),
            "shape_signature": np.array([batch, 28, 28, 1]),
            "dtype": dtype,
            "quantization": in_q,
        }
        self.out = {
            "index": 1,
            "shape": np.array([batch, 10]),
            "dtype": dtype,
            "quantization": out_q,
        }

    def get_input_details(self):
        return [self.input]

    def get_output_details(self):
        return [self.out]

    def set_tensor(self, index, value):
        assert value.dtype == self.dtype
        self.fed.append(value.copy())

    def invoke(self):
        pass

    def get_tensor(self, index):
        return self.output.reshape(1, 10)


@pytest.mark.parametrize(
    ("dtype", "in_q", "out_q"),
    [
        (np.int8, (0.5, -3), (0.1, 5)),
        (np.uint8, (2.0, 7), (0.25, 100)),
        (np.int8, (1.0, -128), (1 / 256, -128)),
        (np.uint8, (1.0, 0), (1 / 256, 0)),
    ],
)
def test_quantize_and_dequantize_with_the_tensor_parameters(monkeypatch, dtype, in_q, out_q):
    """q = clip(round(x / scale + zp)); y = (q - zp) * scale, for int8 and uint8 alike."""
    info = np.iinfo(dtype)
    raw_out = np.arange(10, dtype=np.int64) * 11 + info.min
    fake = _FakeInterpreter(dtype, in_q, out_q, raw_out.astype(dtype))
    monkeypatch.setattr(classifier_mod, "load_interpreter", lambda *a, **k: (fake, "fake"))
    model = Classifier(MODELS / "band_int8.tflite")
    image = np.arange(784).reshape(28, 28) % 256
    probs = model.predict_proba(image.astype(np.uint8))

    scale, zp = in_q
    expected_in = np.clip(np.round(image / scale + zp), info.min, info.max).astype(dtype)
    np.testing.assert_array_equal(fake.fed[0].reshape(28, 28), expected_in)
    expected_out = (raw_out - out_q[1]) * out_q[0]
    np.testing.assert_allclose(probs[0], expected_out, rtol=1e-6)


def test_accepts_single_images_channels_and_empty_batches():
    model = Classifier(MODELS / "band_float32.tflite")
    one = band_image(4)
    assert model.predict_proba(one).argmax() == 4
    assert model.predict_proba(one[None, ..., None]).shape == (1, 10)
    assert model.predict_proba(np.zeros((0, 28, 28), np.uint8)).shape == (0, 10)
    with pytest.raises(ValueError, match="expected images of shape"):
        model.predict_proba(np.zeros((2, 32, 32), np.uint8))


def test_dynamic_batch_model_runs_a_batch_in_one_call():
    model = Classifier(MODELS / "band_float32_batch.tflite")
    images = np.stack([band_image(k % 10) for k in range(23)])
    assert model.predict_proba(images).argmax(axis=1).tolist() == [k % 10 for k in range(23)]
    assert model._batch == 23


def test_classify_gives_top_k_in_order():
    model = Classifier(MODELS / "band_int8.tflite")
    (pred,) = model.classify(np.maximum(band_image(3), band_image(7, 128))[None], top_k=3)
    assert pred.digit == 3 and pred.confidence == pred.top[0][1]
    assert [d for d, _ in pred.top[:2]] == [3, 7]
    assert pred.top[0][1] >= pred.top[1][1] >= pred.top[2][1]


def test_model_without_contract_is_refused():
    with pytest.raises(ModelError, match="carries no DigitLite contract"):
        Classifier(MODELS / "band_no_contract.tflite")


def test_model_without_contract_loads_when_asked():
    model = Classifier(MODELS / "band_no_contract.tflite", require_contract=False)
    assert model.contract is None and model.format == "unknown"
    assert model.predict_proba(band_image(2)).argmax() == 2


def test_wrong_input_shape_is_refused():
    with pytest.raises(ModelError, match=r"input is \[1, 32, 32, 1\], expected \[1, 28, 28, 1\]"):
        Classifier(MODELS / "wrong_shape.tflite")


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read model .*nope.tflite"):
        Classifier(tmp_path / "nope.tflite")


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, I am a text file\n", b"\x89PNG\r\n\x1a\n" + bytes(100), b"\x00" * 64],
    ids=["empty", "text", "png", "zeros"],
)
def test_not_a_tflite_file(tmp_path, content):
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="model.tflite is not a TFLite model"):
        Classifier(path)


@pytest.mark.parametrize("fraction", [0.002, 0.05, 0.3, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path, fraction):
    data = (MODELS / "band_int8.tflite").read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[: max(8, int(len(data) * fraction))])
    with pytest.raises(ModelError, match="cut.tflite"):
        Classifier(path)


def test_contract_the_reader_cannot_honour_is_refused(tmp_path):
    """Same bytes, contract edited to say black-on-white: refuse instead of misreading."""
    data = (MODELS / "band_float32.tflite").read_bytes()
    edited = data.replace(b'"ink": "white-on-black"', b'"ink": "black-on-white"')
    assert edited != data
    path = tmp_path / "inverted.tflite"
    path.write_bytes(edited)
    with pytest.raises(ModelError, match="expects black-on-white"):
        Classifier(path)


@pytest.mark.tf
@pytest.mark.parametrize("name", ["float32", "int8", "uint8"])
def test_tensorflow_runtime_gives_the_same_answers(name):
    """The last fallback must quantize and dequantize exactly like LiteRT does."""
    pytest.importorskip("tensorflow")
    images = _probe_images()
    litert = Classifier(MODELS / f"band_{name}.tflite", runtime="litert")
    tf = Classifier(MODELS / f"band_{name}.tflite", runtime="tensorflow")
    assert tf.runtime == "tensorflow"
    np.testing.assert_allclose(tf.predict_proba(images), litert.predict_proba(images), atol=1e-6)


def test_uint8_pixels_take_the_exact_int8_shortcut():
    """Shipped int8 models take q = p - 128; the XOR shortcut must equal the general rounding."""
    from edge_app.models import default_model_path

    model = Classifier(default_model_path("int8"))
    assert model._pixels_shift_to_int8
    pixels = np.resize(np.arange(256, dtype=np.uint8), (2, 28, 28))
    fast = model._prepare(pixels)
    general = model._prepare(pixels.astype(np.float32))
    assert fast.dtype == general.dtype == np.int8
    np.testing.assert_array_equal(fast, general)
    np.testing.assert_array_equal(model.predict_proba(pixels), model.predict_proba(pixels * 1.0))
