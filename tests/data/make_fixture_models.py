"""Regenerate tests/data/models: tiny .tflite models whose answers are known exactly.

Each "band" model looks at ten horizontal bands of the 28x28 input (rows 4..23, two rows per
band) and answers the band with the most ink: ``logit_k = 8 * mean(band_k) / 255``, softmax.
A white band k on black therefore gives class k with p = e^8 / (e^8 + 9) = 0.9966, in every
format - so a test can tell at once whether a runtime fed the pixels and read the
probabilities with the right scale and zero point. The models are a few KB; fast tests load them
without TensorFlow.

    band_float32.tflite        float32 in/out, batch 1
    band_float32_batch.tflite  float32 in/out, dynamic batch (resized by the classifier)
    band_int8.tflite           int8 in/out (full integer quantization)
    band_uint8.tflite          uint8 in/out
    band_no_contract.tflite    float32, no DigitLite contract stamped in
    wrong_shape.tflite         a 32x32 input, contract stamped

    .venv/bin/python tests/data/make_fixture_models.py      (needs TensorFlow)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
FIRST_ROW, ROWS_PER_BAND, GAIN = 4, 2, 8.0
SEED = 20261127


def band_weights(side: int = 28) -> np.ndarray:
    """Dense kernel (side*side, 10): logit k = GAIN * mean of band k's pixels in 0..1."""
    w = np.zeros((side, side, 10), np.float32)
    for k in range(10):
        top = FIRST_ROW + k * ROWS_PER_BAND
        w[top : top + ROWS_PER_BAND, :, k] = GAIN / (ROWS_PER_BAND * side)
    return w.reshape(side * side, 10)


def band_image(k: int, value: int = 255) -> np.ndarray:
    """A (28, 28) uint8 image, black with band ``k`` set to ``value``."""
    img = np.zeros((28, 28), np.uint8)
    top = FIRST_ROW + k * ROWS_PER_BAND
    img[top : top + ROWS_PER_BAND] = value
    return img


def band_probabilities(images: np.ndarray) -> np.ndarray:
    """What a band model answers for ``images`` (N, 28, 28), computed in numpy."""
    x = images.reshape(len(images), -1).astype(np.float64) / 255.0
    logits = x @ band_weights().astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _keras_model(side: int = 28, batch: int | None = 1):
    import keras

    inp = keras.Input((side, side, 1), batch_size=batch)
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Flatten()(x)
    dense = keras.layers.Dense(10)
    x = dense(x)
    out = keras.layers.Softmax()(x)
    model = keras.Model(inp, out)
    dense.set_weights([band_weights(side), np.zeros(10, np.float32)])
    return model


def _convert(model, quantized: str | None) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantized:
        rng = np.random.default_rng(SEED)

        def representative():
            for i in range(60):
                img = band_image(i % 10) if i % 2 else rng.integers(0, 256, (28, 28))
                yield [img.astype(np.float32).reshape(1, 28, 28, 1)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        dtype = {"int8": tf.int8, "uint8": tf.uint8}[quantized]
        converter.inference_input_type = dtype
        converter.inference_output_type = dtype
    return converter.convert()


def stamp(model: bytes, contract_json: str) -> bytes:
    """Add the DigitLite contract to a .tflite's metadata (what digits-convert does)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    from edge_app.contract import CONTRACT_METADATA_NAME

    tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    buffer = schema.BufferT()
    buffer.data = list(contract_json.encode("utf-8"))
    tree.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = CONTRACT_METADATA_NAME
    entry.buffer = len(tree.buffers) - 1
    tree.metadata = [*(tree.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


def _contract(fmt: str, model: bytes, batch: int | None = 1, side: int = 28) -> str:
    from ai_edge_litert.interpreter import Interpreter

    from edge_app.contract import ModelContract

    interp = Interpreter(model_content=model)
    quant = {}
    for role, detail in (
        ("input", interp.get_input_details()[0]),
        ("output", interp.get_output_details()[0]),
    ):
        scale, zero_point = detail["quantization"]
        quant[role] = {
            "dtype": np.dtype(detail["dtype"]).name,
            "scale": float(scale),
            "zero_point": int(zero_point),
        }
    return ModelContract(
        format=fmt,
        input_shape=(batch or -1, side, side, 1),
        quantization=quant,
        arch="band-fixture",
        extra={"fixture": "tests/data/make_fixture_models.py"},
    ).to_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "models")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    float_model = _convert(_keras_model(), None)
    files = {
        "band_float32.tflite": stamp(float_model, _contract("float32", float_model)),
        "band_no_contract.tflite": float_model,
    }
    batch_model = _convert(_keras_model(batch=None), None)
    files["band_float32_batch.tflite"] = stamp(batch_model, _contract("float32", batch_model, None))
    for fmt in ("int8", "uint8"):
        q = _convert(_keras_model(), fmt)
        files[f"band_{fmt}.tflite"] = stamp(q, _contract(fmt, q))
    wrong = _convert(_keras_model(side=32), None)
    files["wrong_shape.tflite"] = stamp(wrong, _contract("float32", wrong, side=32))
    for name, data in files.items():
        (args.out / name).write_bytes(data)
        print(f"{args.out / name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
