"""Load a trained Keras model safely and convert it to one TFLite format from the table.

The device models have a fixed batch of 1: the Keras graph is rebuilt on an
``Input(batch_size=1)`` so the converter emits no SHAPE/STRIDED_SLICE/PACK ops (older runtimes
and OpenCV's TFLite importer reject them). Conversion goes through
``TFLiteConverter.from_keras_model``; ``from_concrete_functions`` produces broken models with
Keras 3 and is not used.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.errors import ConversionFailed, SourceModelError
from converter.formats import Format, RepresentativeDataset
from edge_app.contract import INPUT_SHAPE, LABELS, VISION_LABELS
from edge_app.files import file_digest
from edge_app.native_output import Held, hold_output

log = logging.getLogger(__name__)

MODEL_FILENAME = "model.keras"


@dataclass(frozen=True)
class SourceModel:
    """A loaded, validated Keras model and where it came from.

    Attributes:
        model: the ``keras.Model`` as trained (dynamic batch).
        path: the ``.keras`` file.
        sha256: hash of that file (goes into every contract).
        run_dir: the directory holding it (default output directory, ``run.json``).
    """

    model: Any
    path: Path
    sha256: str

    @property
    def run_dir(self) -> Path:
        return self.path.parent


@contextlib.contextmanager
def tensorflow_output_to_debug_log(what: str) -> Iterator[None]:
    """Hold what TensorFlow's C++ side and Keras print while ``what`` runs; log it at DEBUG.

    TensorFlow writes banners (oneDNN, CUDA, absl) and converter statistics straight to the
    file descriptors, bypassing Python, and Keras' export prints to ``sys.stdout``; stdout must
    carry only our results.
    """
    chatter = io.StringIO()
    held = Held()
    try:
        with hold_output((1, 2)) as held, contextlib.redirect_stdout(chatter):
            yield
    finally:
        text = (chatter.getvalue() + held.text).strip()
        if text:
            log.debug("output of %s:\n%s", what, text)


def resolve_model_path(source: str | Path) -> Path:
    """A run directory -> its ``model.keras``; a file -> itself.

    Raises:
        SourceModelError: nothing there.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        candidate = path / MODEL_FILENAME
        if not candidate.is_file():
            raise SourceModelError(f"{path} is a directory without a {MODEL_FILENAME}")
        return candidate
    if not path.is_file():
        raise SourceModelError(f"no such model file or run directory: {path}")
    return path


def _shape(value: Any) -> tuple:
    if isinstance(value, list):
        if len(value) != 1:
            raise SourceModelError(f"model has {len(value)} inputs/outputs, expected 1")
        value = value[0]
    return tuple(value)


def check_model_io(model: Any, label: str) -> None:
    """Refuse anything but one (batch, 28, 28, 1) input and one (batch, 10 or 12) output.

    Raises:
        SourceModelError: naming the shape found and the one expected.
    """
    in_shape = _shape(model.input_shape)
    out_shape = _shape(model.output_shape)
    if in_shape[1:] != INPUT_SHAPE:
        expected = ", ".join(map(str, INPUT_SHAPE))
        raise SourceModelError(
            f"{label}: model input is {list(in_shape)}, expected [batch, {expected}]"
        )
    if out_shape[1:] not in ((len(LABELS),), (len(VISION_LABELS),)):
        extra = ", ".join(VISION_LABELS[len(LABELS) :])
        raise SourceModelError(
            f"{label}: model output is {list(out_shape)}, expected [batch, {len(LABELS)}] (the "
            f"digits) or [batch, {len(VISION_LABELS)}] (the digits, {extra})"
        )


def load_source_model(source: str | Path) -> SourceModel:
    """Load ``model.keras`` (or a run directory holding it) in Keras' safe mode and check it.

    Safe mode refuses to deserialize Python lambdas, so a model file cannot run code.

    Raises:
        SourceModelError: missing, not a Keras model, unsafe, or the wrong input/output shape.
    """
    path = resolve_model_path(source)
    with tensorflow_output_to_debug_log("importing TensorFlow"):
        import keras
        import tensorflow  # noqa: F401  (its import banner is captured here, not later)

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors, TypeError...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceModelError(f"{path} is not a loadable Keras model: {first[:300]}") from exc
    if not isinstance(model, keras.Model):
        raise SourceModelError(f"{path} holds a {type(model).__name__}, not a Keras model")
    check_model_io(model, str(path))
    return SourceModel(model=model, path=path, sha256=file_digest(path))


def fixed_batch_model(model: Any) -> Any:
    """The same network (shared weights values) on an ``Input(batch_size=1)``.

    Functional and Sequential models are cloned layer by layer; anything else (a subclassed
    model) is called on the new input as a whole.
    """
    import keras

    inputs = keras.Input(batch_shape=(1, *INPUT_SHAPE), name="pixels")
    try:
        clone = keras.models.clone_model(model, input_tensors=inputs)
        clone.set_weights(model.get_weights())
    except (ValueError, TypeError) as exc:
        log.debug("clone_model failed (%s); wrapping the model instead", exc)
        clone = keras.Model(inputs, model(inputs, training=False), name=f"{model.name}_b1")
    return clone


def convert(model: Any, fmt: Format, calibration: RepresentativeDataset | None = None) -> bytes:
    """Convert a fixed-batch Keras model to ``fmt``; returns the .tflite bytes.

    Raises:
        ConversionFailed: TFLite refused (e.g. an op with no int8 kernel).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    fmt.configure(converter, calibration)
    try:
        # Keras' export prints the traced signature to stdout, which carries our results.
        with tensorflow_output_to_debug_log(f"{fmt.name} conversion"):
            data = converter.convert()
    except Exception as exc:  # the converter raises ConverterError, RuntimeError, ValueError...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionFailed(f"{fmt.name} conversion failed: {first[:300]}") from exc
    if not data:
        raise ConversionFailed(f"{fmt.name} conversion produced an empty model")
    return bytes(data)
