"""Load a model in one runtime and expose the calls the benchmark times.

Every loader returns a :class:`Loaded`: ``single(x)`` classifies one image the way an app would
(probabilities as a numpy array), ``batch(x)`` classifies many the way that runs fastest on this
runtime, and optionally ``kernel()`` runs only the compute (for the MACs-vs-peak analysis).
Inputs are always what :mod:`edge_app.contract` defines: float32 pixels 0..255, (N, 28, 28, 1).

This module holds TFLite (through :class:`edge_app.classifier.Classifier`, the code the device
runs) and the Keras reference; :mod:`benchmarks.peers` adds ONNX Runtime and OpenCV DNN. Each
loader imports its runtime inside the function.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Images per call of Keras ``predict`` and of batch-capable peers (dynamic batch dimension).
PREDICT_BATCH = 256


@dataclass
class Loaded:
    """A model ready to run.

    Attributes:
        runtime: which runtime runs it (``litert``, ``keras``, ``onnxruntime``, ...).
        runtime_version: that runtime's version.
        single: one image (1, 28, 28, 1) -> (1, 10) probabilities, as the app calls it.
        single_label: how ``single`` is called, for the report (e.g. ``Classifier.predict_proba``).
        batch: (N, 28, 28, 1) -> (N, 10), the fastest way this runtime handles many images.
        batch_mode: ``loop`` (fixed batch 1: one invoke per image) or ``batch``.
        kernel: run the model on an already-set input and nothing else (TFLite ``invoke``).
        single_dtype: the pixel type ``single`` is timed with: ``uint8`` for TFLite, which is
            what the vision step hands the classifier on a device; float32 elsewhere.
        macs: multiply-accumulates per inference, when the graph can be read.
        notes: anything the report should say about this row.
    """

    runtime: str
    runtime_version: str | None
    single: Callable[[np.ndarray], np.ndarray]
    single_label: str
    batch: Callable[[np.ndarray], np.ndarray]
    batch_mode: str
    kernel: Callable[[], object] | None = None
    single_dtype: type = np.float32
    macs: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def chunked(
    fn: Callable[[np.ndarray], np.ndarray], size: int
) -> Callable[[np.ndarray], np.ndarray]:
    """Run ``fn`` on slices of at most ``size`` images and stack the results."""

    def run(x: np.ndarray) -> np.ndarray:
        return np.concatenate([fn(x[i : i + size]) for i in range(0, len(x), size)])

    return run


def load_tflite(path: Path, *, runtime: str, threads: int) -> Loaded:
    """A .tflite through :class:`~edge_app.classifier.Classifier` (plus a bare interpreter).

    ``single`` is ``Classifier.predict_proba`` on one image: quantize, set, invoke, read,
    dequantize - what the app pays. ``kernel`` is ``invoke()`` alone on a second interpreter of
    the same model, with the input already set: the compute the MAC analysis divides by.

    Raises:
        ModelError, RuntimeNotFoundError: the model cannot be loaded by this runtime.
    """
    from benchmarks.compute import count_tflite_macs
    from edge_app.classifier import Classifier
    from edge_app.runtime import load_interpreter, runtime_version

    clf = Classifier(path, runtime=runtime, threads=threads, require_contract=False)
    notes = [] if clf.contract else ["no DigitLite contract in the file"]
    interpreter, _ = load_interpreter(path, runtime=runtime, threads=threads)
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
    try:
        macs = count_tflite_macs(interpreter)
    except (AttributeError, KeyError, IndexError) as exc:  # private API; never fail a row on it
        log.debug("cannot count MACs of %s: %s", path, exc)
        macs = None
    return Loaded(
        runtime=clf.runtime,
        runtime_version=runtime_version(clf.runtime),
        single=clf.predict_proba,
        single_label="Classifier.predict_proba (1 image)",
        batch=clf.predict_proba,
        batch_mode="loop",
        kernel=interpreter.invoke,
        single_dtype=np.uint8,
        macs=macs,
        notes=notes,
    )


def configure_tensorflow_threads(threads: int) -> None:
    """Pin TensorFlow's thread pools; must run before TensorFlow starts its runtime."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as exc:  # TensorFlow already running in this process (in-process mode)
        log.warning("cannot pin TensorFlow to %d thread(s): %s", threads, exc)


def load_keras(path: Path, *, threads: int) -> Loaded:
    """The Keras original: ``model(x)`` per image (an eager call) and batch ``model.predict``.

    Raises:
        ModelError: the file is not a loadable Keras model.
    """
    from edge_app.errors import ModelError

    if not path.is_file():  # say so before paying for the TensorFlow import
        raise ModelError(f"no Keras model at {path}")
    configure_tensorflow_threads(threads)
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # keras raises ValueError, OSError, zipfile errors, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"keras cannot load {path}: {first}") from exc
    try:
        from trainer.models import count_macs

        macs: dict[str, Any] | None = {"total": count_macs(model), "by_op": {}}
    except Exception as exc:  # an architecture the counter does not know is not a failure
        log.debug("cannot count Keras MACs: %s", exc)
        macs = None

    def single(x: np.ndarray) -> np.ndarray:
        return np.asarray(model(x, training=False))

    def batch(x: np.ndarray) -> np.ndarray:
        return model.predict(x, batch_size=PREDICT_BATCH, verbose=0)

    return Loaded(
        runtime="keras",
        runtime_version=f"keras {keras.__version__} / tensorflow {_tf_version()}",
        single=single,
        single_label="model(x) eager call (1 image)",
        batch=batch,
        batch_mode=f"batch (predict, batch_size={PREDICT_BATCH})",
        macs=macs,
    )


def _tf_version() -> str:
    import tensorflow as tf

    return tf.__version__
