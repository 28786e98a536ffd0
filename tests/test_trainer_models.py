"""The architecture registry and the augmentation: contract, int8-friendly ops, size, black fill."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.contract import INPUT_SHAPE
from trainer.models import ARCHITECTURES, DEFAULT_ARCH

pytestmark = pytest.mark.tf

INT8_FRIENDLY = {
    "InputLayer", "Rescaling", "Conv2D", "DepthwiseConv2D", "SeparableConv2D",
    "BatchNormalization", "ReLU", "Activation", "MaxPooling2D", "AveragePooling2D",
    "GlobalAveragePooling2D", "Flatten", "Dense", "Dropout", "Softmax",
}  # fmt: skip


@pytest.fixture(scope="module")
def built():
    pytest.importorskip("keras")
    return {name: spec() for name, spec in ARCHITECTURES.items()}


def test_registry_names_and_default():
    assert list(ARCHITECTURES) == ["mlp", "seed-cnn", "edge-cnn"]
    assert DEFAULT_ARCH == "edge-cnn"
    assert ARCHITECTURES["edge-cnn"].augment and not ARCHITECTURES["seed-cnn"].augment


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_contract_raw_pixels_in_probabilities_out(built, name):
    model = built[name]
    assert tuple(model.input_shape[1:]) == INPUT_SHAPE
    assert tuple(model.output_shape) == (None, 10)
    first = model.layers[1]
    assert type(first).__name__ == "Rescaling" and first.scale == pytest.approx(1 / 255)
    assert not model.compiled  # builders return uncompiled models
    x = np.random.default_rng(0).uniform(0, 255, (3, *INPUT_SHAPE)).astype(np.float32)
    probs = np.asarray(model(x, training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert probs.min() >= 0


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_only_int8_friendly_layers_and_no_augmentation_inside(built, name):
    kinds = {type(layer).__name__ for layer in built[name].layers}
    assert kinds <= INT8_FRIENDLY, kinds - INT8_FRIENDLY
    assert not any(k.startswith("Random") for k in kinds)


def test_seed_cnn_is_the_reports_network(built):
    convs = [layer.filters for layer in built["seed-cnn"].layers if hasattr(layer, "filters")]
    dense = [layer.units for layer in built["seed-cnn"].layers if hasattr(layer, "units")]
    assert convs == [32, 64, 64] and dense == [64, 10]
    assert built["seed-cnn"].count_params() == 93_322


def test_edge_cnn_budget(built):
    from trainer.models import count_macs

    model = built["edge-cnn"]
    assert model.count_params() <= 150_000
    assert count_macs(model) <= 3_500_000  # "roughly 3M": the device latency budget


def test_count_macs_by_hand():
    import keras
    from keras import layers

    from trainer.models import count_macs

    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(8, 3, padding="same")(inputs)  # 28*28*9*1*8 = 56,448
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 14*14*9*8 = 14,112
    x = layers.Flatten()(x)
    x = layers.Dense(10)(x)  # 1568*10 = 15,680
    assert count_macs(keras.Model(inputs, x)) == 56_448 + 14_112 + 15_680


def test_augmentation_fills_black_and_keeps_ink():
    import tensorflow as tf

    from trainer.train import augment_batch

    tf.random.set_seed(0)
    images = np.zeros((64, 28, 28, 1), np.float32)
    images[:, 8:20, 12:16, 0] = 255.0  # a centred vertical bar
    out = augment_batch(tf.constant(images)).numpy()
    assert out.shape == images.shape
    # constant black fill: the border stays black (reflect fill would paint mirrored strokes)
    border = np.concatenate([out[:, :2].ravel(), out[:, -2:].ravel(),
                             out[:, :, :2].ravel(), out[:, :, -2:].ravel()])  # fmt: skip
    assert border.max() == 0
    assert out.max() <= 255.0 + 1e-3 and out.min() >= 0
    ink_ratio = out.sum(axis=(1, 2, 3)) / images.sum(axis=(1, 2, 3))
    assert ink_ratio.min() > 0.7 and ink_ratio.max() < 1.35  # zoom within about +-10 %
    assert not np.allclose(out[0], out[1])  # each image gets its own transform
    blank = augment_batch(tf.zeros((4, 28, 28, 1))).numpy()
    assert blank.max() == 0
