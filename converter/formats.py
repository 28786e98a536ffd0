"""THE table of TFLite formats DigitLite produces.

Conversion, file naming, verification, the compatibility report and the benchmarks all read
:data:`FORMATS`; nothing indexes it by position. Look a format up by name with
:func:`get_format` (a typo gets the closest valid name suggested) or parse a ``--formats``
value with :func:`parse_formats`.

Importing this module is cheap: TensorFlow is imported only inside the ``configure`` functions,
which receive a ``tf.lite.TFLiteConverter`` that already exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.errors import UnknownFormatError
from edge_app.cliparts import did_you_mean

#: ``representative_dataset`` for int8 calibration: yields ``[float32 array (1, 28, 28, 1)]``.
RepresentativeDataset = Callable[[], Iterator[list[Any]]]


def _float32(converter: Any, calibration: RepresentativeDataset | None) -> None:
    """No optimisation: the reference conversion."""


def _float16(converter: Any, calibration: RepresentativeDataset | None) -> None:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _dynamic(converter: Any, calibration: RepresentativeDataset | None) -> None:
    import tensorflow as tf

    # Optimize.DEFAULT without a representative dataset = dynamic-range quantization.
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # Since TF 2.16 dense layers get per-channel hybrid weights: FULLY_CONNECTED v12, which
    # only TFLite >= 2.17 runs (tflite-runtime 2.14 refuses the model). Per-tensor weights give
    # FULLY_CONNECTED v9 (TFLite 2.3+) at no measurable accuracy cost on our models.
    if hasattr(converter, "_experimental_disable_per_channel_quantization_for_dense_layers"):
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True


def _int8(converter: Any, calibration: RepresentativeDataset | None) -> None:
    import tensorflow as tf

    if calibration is None:  # a programming error: the table says int8 needs calibration
        raise ValueError("int8 conversion needs a representative dataset")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = calibration
    # Only int8 kernels: conversion fails loudly rather than leaving a float op behind.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8


@dataclass(frozen=True)
class Format:
    """One row of the format table.

    Attributes:
        name: the ``--formats`` name and the contract's ``format`` field.
        filename: the file written into the run directory, e.g. ``model_int8.tflite``.
        summary: one line for reports and ``--help``.
        weights: how the weights are stored.
        activations: the arithmetic the runtime does between layers.
        needs_calibration: whether conversion needs a representative dataset.
        runtime_notes: what the format needs or implies at run time.
        configure: ``configure(tf_lite_converter, representative_dataset_or_None)`` sets the
            converter up for this format.
    """

    name: str
    filename: str
    summary: str
    weights: str
    activations: str
    needs_calibration: bool
    runtime_notes: str
    configure: Callable[[Any, RepresentativeDataset | None], None]

    def path(self, directory: str | Path) -> Path:
        """Where this format's model lives inside a run directory."""
        return Path(directory) / self.filename


FORMATS: tuple[Format, ...] = (
    Format(
        name="float32",
        filename="model_float32.tflite",
        summary="float32 weights and activations: the reference conversion",
        weights="float32",
        activations="float32",
        needs_calibration=False,
        runtime_notes="any TFLite runtime; largest file",
        configure=_float32,
    ),
    Format(
        name="float16",
        filename="model_float16.tflite",
        summary="float16 weights, float32 activations",
        weights="float16",
        activations="float32",
        needs_calibration=False,
        runtime_notes="CPU dequantizes weights to float32 at load; GPU delegates run fp16",
        configure=_float16,
    ),
    Format(
        name="dynamic",
        filename="model_dynamic.tflite",
        summary="dynamic range: int8 weights, float32 activations",
        weights="int8",
        activations="float32 (int8 inside hybrid kernels)",
        needs_calibration=False,
        runtime_notes="CPU hybrid kernels quantize activations on the fly; no calibration",
        configure=_dynamic,
    ),
    Format(
        name="int8",
        filename="model_int8.tflite",
        summary="full integer: int8 weights and activations, int8 input/output",
        weights="int8",
        activations="int8",
        needs_calibration=True,
        runtime_notes="int8 everywhere (Edge TPU/NPU-friendly); inputs quantized with the "
        "input tensor's scale and zero point",
        configure=_int8,
    ),
)

FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in FORMATS)
DEFAULT_FORMATS: tuple[str, ...] = FORMAT_NAMES


def get_format(name: str) -> Format:
    """The format called ``name``.

    Raises:
        UnknownFormatError: no such format; the message suggests the closest valid name.
    """
    key = name.strip().lower()
    for fmt in FORMATS:
        if fmt.name == key:
            return fmt
    raise UnknownFormatError(
        f"unknown format '{name}' (choose from {', '.join(FORMAT_NAMES)})"
        f"{did_you_mean(key, FORMAT_NAMES)}"
    )


def parse_formats(spec: str | Iterable[str]) -> tuple[Format, ...]:
    """Parse ``"float32,int8"`` (or a list of names) into formats, in table order, no repeats.

    Raises:
        UnknownFormatError: an unknown or empty name.
    """
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    wanted = {get_format(n).name for n in names if n.strip()}
    if not wanted:
        raise UnknownFormatError(f"no format given; choose from {', '.join(FORMAT_NAMES)}")
    return tuple(f for f in FORMATS if f.name in wanted)
