"""The architecture registry: every model DigitLite can train, by name.

Every builder returns an *uncompiled* ``keras.Model`` that takes raw 0..255 float pixels of
shape ``(28, 28, 1)`` (white ink on black, see :mod:`edge_app.contract`), rescales them with a
``Rescaling(1/255)`` first layer, and ends in a softmax over ``classes``: the 10 digits, or the
12 classes of a vision model (digits, ``none``, ``cut``; see
:data:`edge_app.contract.VISION_LABELS`). Only int8-friendly layers are used (Conv2D,
DepthwiseConv2D, BatchNormalization - folded by the converter -, ReLU, pooling, Dense, Dropout,
Softmax). Augmentation is never part of a model; the training pipeline does it, so the saved
graph is exactly the inference graph.

``ARCHITECTURES[name](classes)`` builds a model; ``ARCHITECTURES[name].augment`` says whether
the training pipeline augments its inputs by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_app.contract import INPUT_SHAPE, LABELS, PIXEL_MAX

DIGITS = len(LABELS)

if TYPE_CHECKING:  # keras is imported only when a model is built
    import keras

DEFAULT_ARCH = "edge-cnn"


def _input_and_rescale() -> tuple[Any, Any]:
    import keras
    from keras import layers

    inputs = keras.Input(shape=INPUT_SHAPE, name="pixels")
    x = layers.Rescaling(1.0 / PIXEL_MAX, name="rescale")(inputs)
    return inputs, x


def build_mlp(classes: int = DIGITS) -> keras.Model:
    """A plain two-hidden-layer perceptron: the baseline every CNN must beat (~235k params)."""
    import keras
    from keras import layers

    inputs, x = _input_and_rescale()
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_seed_cnn(classes: int = DIGITS) -> keras.Model:
    """The original student report's network: Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10."""
    import keras
    from keras import layers

    inputs, x = _input_and_rescale()
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="seed_cnn")


def _conv_bn_relu(x: Any, filters: int, kernel: int = 3, padding: str = "same") -> Any:
    from keras import layers

    x = layers.Conv2D(filters, kernel, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.ReLU()(x)


def build_edge_cnn(classes: int = DIGITS) -> keras.Model:
    """Ours: accuracy per multiply-accumulate for small devices and clean int8 quantization.

    One 16-channel layer at full resolution (28x28 layers cost the most), two layers at 14x14
    where strokes are resolved, then two valid convs at 7x7 -> 5x5 -> 3x3 that widen cheaply.
    Batch norm (folded away at conversion) and ReLU after every conv, dropout before the head.
    About 115k parameters and 3.3M multiply-accumulates per image; 99.60% on the MNIST test
    set with the default recipe (a plain single-conv 14x14 stage reached 99.53-99.55%).
    """
    import keras
    from keras import layers

    inputs, x = _input_and_rescale()
    x = _conv_bn_relu(x, 16)  # 28x28: the only full-resolution layer
    x = layers.MaxPooling2D()(x)
    x = _conv_bn_relu(x, 24)  # 14x14: two layers where the strokes are resolved
    x = _conv_bn_relu(x, 32)
    x = layers.MaxPooling2D()(x)
    x = _conv_bn_relu(x, 64, padding="valid")  # 7x7 -> 5x5
    x = _conv_bn_relu(x, 128, padding="valid")  # 5x5 -> 3x3
    x = layers.Flatten()(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="edge_cnn")


@dataclass(frozen=True)
class ArchSpec:
    """One row of the registry. Calling it builds a fresh, uncompiled model.

    Attributes:
        name: the ``--arch`` name.
        build: the builder.
        description: one line for ``--help`` and the report.
        augment: whether training augments inputs by default (rotation, zoom, shift).
    """

    name: str
    build: Callable[[int], keras.Model]
    description: str
    augment: bool

    def __call__(self, classes: int = DIGITS) -> keras.Model:
        return self.build(classes)


ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("mlp", build_mlp, "Baseline: a 784-256-128-10 perceptron", augment=False),
        ArchSpec(
            "seed-cnn", build_seed_cnn, "The original report's Conv32-64-64 CNN", augment=False
        ),
        ArchSpec(
            "edge-cnn", build_edge_cnn, "Ours: a small BN-ReLU CNN for int8 devices", augment=True
        ),
    )
}


def all_layers(model: keras.Model) -> list[Any]:
    """Every layer of ``model``, those of nested models (an ensemble's members) included."""
    import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += all_layers(layer)
        else:
            out.append(layer)
    return out


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one inference, counted from Conv2D, DepthwiseConv2D and Dense
    (inside nested models too: an ensemble costs the sum of its members).

    Rescaling, batch norm (folded at conversion), activations and pooling are not counted.
    """
    from keras import layers

    total = 0
    for layer in all_layers(model):
        if isinstance(layer, layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * c
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * layer.input.shape[-1] * c_out // layer.groups
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
