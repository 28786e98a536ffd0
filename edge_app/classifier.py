"""Classify 28x28 digit images with a DigitLite .tflite model, hiding the tensor plumbing.

Inputs are what :mod:`edge_app.contract` defines: white ink on black, pixel values 0..255.
Quantized models (int8 or uint8) get their inputs quantized and outputs dequantized with the
tensor's own scale and zero point, so one code path serves every format.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_app.contract import (
    INK,
    INPUT_SCALING,
    INPUT_SHAPE,
    ModelContract,
    default_labels,
    find_contract_bytes,
    input_batch,
    read_contract_bytes,
)
from edge_app.errors import ModelError
from edge_app.runtime import load_interpreter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One image's result: the best digit, its probability and the top-k ``(digit, p)`` pairs."""

    digit: int
    confidence: float
    top: tuple[tuple[int, float], ...]


def _quantize(x: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    info = np.iinfo(dtype)
    q = np.round(x / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


class Classifier:
    """A loaded model plus its contract.

    Args:
        model: path to a .tflite file carrying a DigitLite contract.
        runtime: force an interpreter (see :data:`edge_app.runtime.RUNTIME_NAMES`).
        threads: interpreter threads.
        require_contract: refuse models without an embedded contract (the default); tests and
            the converter may pass False for a model that has not been stamped yet.

    Raises:
        ModelError: unreadable or damaged file (its bytes do not match its contract's
            checksum), no contract, or an input/output that is not 28x28x1 -> 10 digits (or
            12: digits, none, cut).
        RuntimeNotFoundError: no interpreter installed.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        runtime: str | None = None,
        threads: int | None = None,
        require_contract: bool = True,
    ) -> None:
        self.model_path = Path(model)
        try:
            data = self.model_path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model {model}: {exc.strerror or exc}") from exc
        # A damaged model (checksum mismatch) is refused even when no contract is required.
        self.contract: ModelContract | None = (
            read_contract_bytes(data, source=str(model))
            if require_contract
            else find_contract_bytes(data, source=str(model))
        )
        self.size_bytes = len(data)
        self._interpreter, self.runtime = load_interpreter(
            data, runtime=runtime, threads=threads, source=str(model)
        )
        self._lock = threading.Lock()  # an Interpreter is not safe to invoke from two threads
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._check_shapes()
        self.last_latency_ms = 0.0

    def _check_shapes(self) -> None:
        shape = tuple(int(d) for d in self._input["shape"])
        if len(shape) != 4 or shape[1:] != INPUT_SHAPE:
            raise ModelError(
                f"{self.model_path}: model input is {list(shape)}, expected {[1, *INPUT_SHAPE]}"
            )
        outputs = int(np.prod(self._output["shape"][1:]))
        if self.contract is None:
            self.labels = default_labels(outputs)  # raises ModelError for other sizes
        else:
            self.labels = tuple(str(label) for label in self.contract.labels)
            if len(self.labels) != outputs:
                raise ModelError(
                    f"{self.model_path}: contract lists {len(self.labels)} labels "
                    f"for {outputs} outputs"
                )
            # A model that expects other pixels would silently misread every digit: refuse it.
            if self.contract.ink != INK or self.contract.input_scaling != INPUT_SCALING:
                raise ModelError(
                    f"{self.model_path}: model expects {self.contract.ink} "
                    f"{self.contract.input_scaling} input; this DigitLite feeds {INK} "
                    f"{INPUT_SCALING}"
                )
        self._digit_columns = np.array([i for i, v in enumerate(self.labels) if v.isdigit()])
        if len(self._digit_columns) == 0:
            raise ModelError(f"{self.model_path}: model labels {self.labels} name no digit")
        self.classes = outputs
        self._batch = shape[0]
        signature = self._input.get("shape_signature")
        self._dynamic_batch = signature is not None and len(signature) and signature[0] == -1
        # Our int8 models take pixels with scale 1 and zero point -128, i.e. q = p - 128: for
        # uint8 pixels that is one XOR of the sign bit, exact, and a third of the Python-side
        # cost of a single-image call (which is comparable to the 28x28 model's invoke()).
        scale, zero_point = self._input["quantization"]
        self._pixels_shift_to_int8 = (
            self.input_dtype == np.int8 and scale == 1.0 and zero_point == -128
        )

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    @property
    def output_dtype(self) -> np.dtype:
        return np.dtype(self._output["dtype"])

    @property
    def format(self) -> str:
        return self.contract.format if self.contract else "unknown"

    def _prepare(self, images: np.ndarray) -> np.ndarray:
        x = input_batch(images)
        if self._pixels_shift_to_int8 and x.dtype == np.uint8:
            return (x ^ np.uint8(0x80)).view(np.int8)
        x = x.astype(np.float32, copy=False)
        scale, zero_point = self._input["quantization"]
        if self.input_dtype.kind in "iu" and scale:
            return _quantize(x, self.input_dtype, scale, zero_point)
        return x.astype(self.input_dtype, copy=False)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        scale, zero_point = self._output["quantization"]
        if self.output_dtype.kind in "iu" and scale:
            return (y.astype(np.float32) - zero_point) * scale
        return y.astype(np.float32, copy=False)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities for one image (28, 28) or a batch (N, 28, 28[, 1]).

        Returns:
            float32 array (N, classes), columns named by :attr:`labels`. ``last_latency_ms``
            holds the time this call took.
        """
        x = self._prepare(images)
        n = len(x)
        out = np.empty((n, self.classes), dtype=np.float32)
        if n == 0:
            return out
        interp = self._interpreter
        in_index, out_index = self._input["index"], self._output["index"]
        start = time.perf_counter()
        with self._lock:
            if self._dynamic_batch and self._batch != n:
                interp.resize_tensor_input(in_index, [n, *INPUT_SHAPE])
                interp.allocate_tensors()
                self._batch = n
            step = self._batch
            for i in range(0, n, step):
                chunk = x[i : i + step]
                interp.set_tensor(in_index, chunk)
                interp.invoke()
                out[i : i + step] = self._dequantize(interp.get_tensor(out_index)).reshape(
                    -1, self.classes
                )
        self.last_latency_ms = (time.perf_counter() - start) * 1000.0
        return out

    def classify(self, images: np.ndarray, top_k: int = 3) -> list[Prediction]:
        """Best digit, confidence and the top-k digits for each image (a drawing, a crop).

        Only digit classes are ranked; a vision model's "none" and "cut" probabilities are
        what the digits' confidences leave below 1.
        """
        probs = self.predict_proba(images)[:, self._digit_columns]
        digits = [int(self.labels[c]) for c in self._digit_columns]
        results = []
        for p in probs:
            order = np.argsort(p)[::-1][:top_k]
            top = tuple((digits[k], float(p[k])) for k in order)
            results.append(Prediction(digit=top[0][0], confidence=top[0][1], top=top))
        return results
