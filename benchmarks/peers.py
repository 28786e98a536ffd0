"""The same float model in other runtimes: ONNX Runtime and OpenCV's DNN module.

The ONNX file is exported from ``model.keras`` with Keras' own ``model.export(format="onnx")``
(which uses tf2onnx; both ``tf2onnx`` and ``onnx`` must be installed - the ``bench`` extra).
OpenCV DNN reads that ONNX file and, separately, tries the float32 .tflite directly
(``cv2.dnn.readNetFromTFLite``). Whatever does not work becomes a failed row with the reason;
nothing here invents a number.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from benchmarks.backends import PREDICT_BATCH, Loaded, chunked
from edge_app.contract import INPUT_SHAPE, LABELS, model_input
from edge_app.errors import ModelError, OutputError
from edge_app.files import atomic_path

log = logging.getLogger(__name__)

ONNX_FILENAME = "model.onnx"


def export_onnx(keras_path: Path, onnx_path: Path) -> Path:
    """Export a Keras model to ONNX (atomically: temp file + rename).

    Raises:
        ModelError: tf2onnx/onnx missing, the model cannot be loaded, or the export fails.
        OutputError: the run directory cannot be written.
    """
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise ModelError(
            f"cannot export ONNX: {exc.name} is not installed (pip install tf2onnx onnx)"
        ) from exc
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        model = keras.saving.load_model(keras_path, compile=False)
        model(model_input(np.zeros((1, *INPUT_SHAPE))), training=False)  # export needs a call
        with atomic_path(onnx_path) as tmp:
            model.export(str(tmp), format="onnx", verbose=False)
    except (ModelError, OutputError):
        raise
    except Exception as exc:  # tf2onnx raises anything from ValueError to its own errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"ONNX export of {keras_path} failed: {first}") from exc
    log.info(
        "exported %s -> %s (%d KB)", keras_path.name, onnx_path, onnx_path.stat().st_size // 1024
    )
    return onnx_path


def load_onnxruntime(path: Path, *, threads: int) -> Loaded:
    """An ONNX model in ONNX Runtime's CPU provider with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise ModelError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}") from exc
    name = session.get_inputs()[0].name
    dynamic = not isinstance(session.get_inputs()[0].shape[0], int)

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: x.astype(np.float32, copy=False)})[0]

    return Loaded(
        runtime="onnxruntime",
        runtime_version=ort.__version__,
        single=run,
        single_label="InferenceSession.run (1 image)",
        batch=chunked(run, PREDICT_BATCH if dynamic else 1),
        batch_mode=f"batch ({PREDICT_BATCH})" if dynamic else "loop",
    )


def load_opencv(path: Path, *, threads: int) -> Loaded:
    """An ONNX or float .tflite model in OpenCV DNN (CPU backend, ``threads`` threads).

    Raises:
        ModelError: OpenCV cannot import or run the graph (e.g. an operator it lacks).
    """
    import cv2

    cv2.setNumThreads(threads)
    reader = cv2.dnn.readNetFromTFLite if path.suffix == ".tflite" else cv2.dnn.readNetFromONNX
    try:
        net = reader(str(path))
    except cv2.error as exc:
        raise ModelError(f"opencv dnn cannot load {path.name}: {_cv_reason(exc)}") from exc

    # OpenCV's TFLite importer converts the graph to NCHW and wants an NCHW blob; the ONNX
    # export keeps the Keras NHWC input (tf2onnx inserts the transposes inside the graph).
    nchw = path.suffix == ".tflite"

    def run(x: np.ndarray) -> np.ndarray:
        blob = x.transpose(0, 3, 1, 2) if nchw else x
        net.setInput(np.ascontiguousarray(blob, dtype=np.float32))
        return np.asarray(net.forward()).reshape(len(x), -1)

    probe = model_input(np.zeros((2, *INPUT_SHAPE)))
    try:
        run(probe[:1])
    except cv2.error as exc:
        raise ModelError(f"opencv dnn cannot run {path.name}: {_cv_reason(exc)}") from exc
    try:
        batched = run(probe).shape == (2, len(LABELS))
    except cv2.error:
        batched = False
    return Loaded(
        runtime="opencv-dnn",
        runtime_version=cv2.__version__,
        single=run,
        single_label="Net.setInput + forward (1 image)",
        batch=chunked(run, PREDICT_BATCH if batched else 1),
        batch_mode=f"batch ({PREDICT_BATCH})" if batched else "loop",
    )


def _cv_reason(exc: Exception) -> str:
    """OpenCV's errors span lines and repeat the source path; keep the part that explains."""
    text = " ".join(str(exc).split())
    marker = "error: "
    return text.split(marker, 1)[-1][:200] if marker in text else text[:200]
