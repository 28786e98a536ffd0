"""What a model input means, and the contract every DigitLite .tflite file carries inside it.

This module is the single place where the meaning of a 28x28 input is decided. Training, int8
calibration, verification, benchmarks and the app all import these constants:

* shape ``(28, 28, 1)`` per image (NHWC, the device models have a fixed batch of 1);
* **white ink on black**, as MNIST was made;
* **raw pixel values 0..255** as float32 (float models) - the scaling to 0..1 is a Rescaling layer
  *inside* the model, so nothing outside it can get the scaling wrong. An int8 model takes the
  same pixels quantized with its input tensor's own scale and zero point.

The contract is JSON stored in the TFLite flatbuffer's ``metadata`` list under
:data:`CONTRACT_METADATA_NAME`. It is read here with a small pure-Python flatbuffer reader, so a
device needs neither TensorFlow nor the ``flatbuffers`` package to know what a model expects.

A contract also carries a checksum of every byte of the file outside its own JSON (the weights,
the graph, the other metadata), checked whenever the contract is read: a model damaged on the
way to the device is refused instead of silently reading wrong digits. Contracts written before
the checksum existed have none and are not checked.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.errors import ModelError

IMAGE_SIZE = 28
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
PIXEL_MAX = 255.0
INK = "white-on-black"
INPUT_SCALING = "raw-0-255"  # float32 pixels 0..255; the model rescales internally
LABELS = tuple(str(d) for d in range(10))
# A model that judges the vision step's spans has two more classes after the digits: "none" (no
# digit there: a speck, a letter, a shadow's edge) and "cut" (digit ink, but not one whole
# digit: a part of one, or two run together). See edge_app.vision.lattice.
NONE_LABEL, CUT_LABEL = "none", "cut"
VISION_LABELS = (*LABELS, NONE_LABEL, CUT_LABEL)


def input_batch(images: np.ndarray) -> np.ndarray:
    """One image (28, 28) or a batch (N, 28, 28[, 1]) as a batch (N, 28, 28, 1), dtype kept.

    Raises:
        ValueError: any other shape.
    """
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != INPUT_SHAPE:
        raise ValueError(
            f"expected images of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}[, 1]), got {x.shape}"
        )
    return x


def model_input(images: np.ndarray) -> np.ndarray:
    """Images -> what a float model takes: float32 (N, 28, 28, 1) raw 0..255 pixels.

    MNIST arrives exactly like that (uint8, white on black), so this is only a cast and a
    channel axis: what training, calibration, verification and the benchmarks all feed.

    Raises:
        ValueError: the images are not (28, 28) or (N, 28, 28[, 1]).
    """
    return input_batch(images).astype(np.float32, copy=False)


def default_labels(outputs: int) -> tuple[str, ...]:
    """The labels of a model with ``outputs`` classes and no contract to name them.

    Raises:
        ModelError: neither a digit classifier (10) nor a vision one (12).
    """
    if outputs == len(LABELS):
        return LABELS
    if outputs == len(VISION_LABELS):
        return VISION_LABELS
    raise ModelError(
        f"model has {outputs} outputs; a DigitLite model has {len(LABELS)} (digits) or "
        f"{len(VISION_LABELS)} (digits, none, cut)"
    )


CONTRACT_METADATA_NAME = "digitlite.contract"
CONTRACT_SCHEMA_VERSION = 1
TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class ModelContract:
    """What a DigitLite .tflite expects and what was measured about it.

    Attributes:
        format: name of the format in the converter's table (``float32``, ``int8``, ...).
        labels: class names, index = output position.
        input_shape: the input tensor's shape including the batch dimension.
        ink: ``white-on-black``.
        input_scaling: ``raw-0-255`` (float pixels 0..255 before any quantization).
        quantization: per tensor (``input``/``output``) dtype, scale and zero point.
        source_model_sha256: hash of the ``model.keras`` it was converted from.
        accuracy: accuracy measured by the converter on the MNIST test set (None if not yet).
        keras_accuracy: the Keras original's accuracy on the same inputs.
        arch: the architecture name in the trainer's registry.
        extra: anything else worth knowing (converter version, dates, sample counts).
        checksum: ``sha256:<hex>`` of the .tflite's bytes outside this contract's own JSON
            (see :func:`model_checksum`), or None in contracts older than the checksum.
    """

    format: str
    labels: tuple[str, ...] = LABELS
    input_shape: tuple[int, ...] = (1, *INPUT_SHAPE)
    ink: str = INK
    input_scaling: str = INPUT_SCALING
    quantization: dict[str, Any] = field(default_factory=dict)
    source_model_sha256: str | None = None
    accuracy: float | None = None
    keras_accuracy: float | None = None
    arch: str | None = None
    schema_version: int = CONTRACT_SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    checksum: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelContract:
        """Parse a contract; raises :class:`ModelError` when it is not one we understand."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"model contract is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or "format" not in data:
            raise ModelError("model contract has no 'format' field")
        version = data.get("schema_version", CONTRACT_SCHEMA_VERSION)
        if not isinstance(version, int):
            raise ModelError(f"model contract has a malformed schema_version {version!r}")
        if version > CONTRACT_SCHEMA_VERSION:
            raise ModelError(
                f"model contract schema {version} is newer than this DigitLite understands "
                f"({CONTRACT_SCHEMA_VERSION}); upgrade digitlite"
            )
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            for key in ("labels", "input_shape"):
                if key in kwargs:
                    kwargs[key] = tuple(kwargs[key])
            return cls(**kwargs)
        except TypeError as exc:  # e.g. "labels": 5 in a hand-edited contract
            raise ModelError(f"model contract is malformed: {exc}") from exc


# --- a minimal, read-only flatbuffer walker for the TFLite schema -----------------------------
# Model: 0 version, 1 operator_codes, 2 subgraphs, 3 description, 4 buffers, 5 metadata_buffer,
#        6 metadata, 7 signature_defs.   Metadata: 0 name, 1 buffer.
# Buffer: 0 data [ubyte], 1 offset (ulong, data outside the flatbuffer), 2 size (ulong).
_MODEL_BUFFERS, _MODEL_METADATA, _MODEL_DESCRIPTION = 4, 6, 3


class _Table:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos

    def _field(self, index: int) -> int | None:
        vtable = self.pos - struct.unpack_from("<i", self.buf, self.pos)[0]
        vtable_size = struct.unpack_from("<H", self.buf, vtable)[0]
        slot = 4 + 2 * index
        if slot >= vtable_size:
            return None
        offset = struct.unpack_from("<H", self.buf, vtable + slot)[0]
        return self.pos + offset if offset else None

    def _indirect(self, index: int) -> int | None:
        at = self._field(index)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def scalar(self, index: int, fmt: str, default: int = 0) -> int:
        at = self._field(index)
        return default if at is None else struct.unpack_from(fmt, self.buf, at)[0]

    def span(self, index: int) -> tuple[int, int] | None:
        """Where a ``[ubyte]`` or string field's bytes lie in the buffer, ``(start, end)``."""
        at = self._indirect(index)
        if at is None:
            return None
        (length,) = struct.unpack_from("<I", self.buf, at)
        if at + 4 + length > len(self.buf):
            raise IndexError(f"a vector of {length} bytes runs past the end of the file")
        return at + 4, at + 4 + length

    def bytes_(self, index: int) -> bytes | None:
        span = self.span(index)
        return None if span is None else bytes(self.buf[span[0] : span[1]])

    def tables(self, index: int) -> list[_Table]:
        at = self._indirect(index)
        if at is None:
            return []
        (length,) = struct.unpack_from("<I", self.buf, at)
        out = []
        for i in range(length):
            elem = at + 4 + 4 * i
            out.append(_Table(self.buf, elem + struct.unpack_from("<I", self.buf, elem)[0]))
        return out


def _metadata_spans(model: bytes, *, source: str) -> dict[str, tuple[int, int]]:
    """Where each ``metadata`` entry's data lies in a TFLite flatbuffer, ``{name: (start, end)}``.

    Raises:
        ModelError: the bytes are not a TFLite model, or are truncated.
    """
    if len(model) < 8 or model[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{source} is not a TFLite model (no 'TFL3' flatbuffer identifier)")
    try:
        root = _Table(model, struct.unpack_from("<I", model, 0)[0])
        buffers = root.tables(_MODEL_BUFFERS)
        out: dict[str, tuple[int, int]] = {}
        for entry in root.tables(_MODEL_METADATA):
            name = (entry.bytes_(0) or b"").decode("utf-8", "replace")
            index = entry.scalar(1, "<I")
            if index >= len(buffers):
                continue
            buffer = buffers[index]
            span = buffer.span(0)
            if span is None or span[0] == span[1]:  # large models keep buffers outside
                offset, size = buffer.scalar(1, "<Q"), buffer.scalar(2, "<Q")
                span = (offset, offset + size) if offset > 1 and size else (0, 0)
            if span[1] > len(model):
                raise IndexError(f"metadata '{name}' runs past the end of the file")
            out[name] = span
        return out
    except (struct.error, IndexError) as exc:
        raise ModelError(f"{source} is a truncated or corrupt TFLite model ({exc})") from exc


def read_tflite_metadata(model: bytes, *, source: str = "model") -> dict[str, bytes]:
    """Return the ``metadata`` entries of a TFLite flatbuffer as ``{name: bytes}``.

    Args:
        model: the bytes of a .tflite file.
        source: how to name the model in error messages (usually its path).

    Raises:
        ModelError: the bytes are not a TFLite model, or are truncated.
    """
    spans = _metadata_spans(model, source=source)
    return {name: bytes(model[start:end]) for name, (start, end) in spans.items()}


def contract_span(model: bytes, *, source: str = "model") -> tuple[int, int] | None:
    """Where the contract's JSON lies in the bytes of a .tflite file, or None when it has none.

    Raises:
        ModelError: the bytes are not a TFLite model, or are truncated.
    """
    return _metadata_spans(model, source=source).get(CONTRACT_METADATA_NAME)


def model_checksum(model: bytes, span: tuple[int, int]) -> str:
    """``sha256:<hex>`` of a model's bytes outside ``span`` (where its contract's JSON lies).

    The contract cannot hash the bytes it is written into, so it hashes all the others: the
    graph, the weights and every other metadata entry, including the contract's own length.
    """
    start, end = span
    view = memoryview(model)
    digest = hashlib.sha256(view[:start])
    digest.update(view[end:])
    return f"sha256:{digest.hexdigest()}"


def find_contract_bytes(model: bytes, *, source: str = "model") -> ModelContract | None:
    """The DigitLite contract in the bytes of a .tflite file, or None when it carries none.

    Raises:
        ModelError: the bytes are not a TFLite model, the contract is malformed, or the model
            does not match the checksum in its contract (it was damaged after it was made).
    """
    span = contract_span(model, source=source)
    if span is None:
        return None
    contract = ModelContract.from_json(bytes(model[span[0] : span[1]]))
    if contract.checksum is not None and contract.checksum != model_checksum(model, span):
        raise ModelError(
            f"{source} is damaged: its bytes do not match the checksum in its contract; "
            "copy or convert it again"
        )
    return contract


def read_contract_bytes(model: bytes, *, source: str = "model") -> ModelContract:
    """Read the DigitLite contract from the bytes of a .tflite file.

    Raises:
        ModelError: as :func:`find_contract_bytes`, or the model carries no contract.
    """
    contract = find_contract_bytes(model, source=source)
    if contract is None:
        raise ModelError(
            f"{source} carries no DigitLite contract (metadata '{CONTRACT_METADATA_NAME}'); "
            "convert it with digits-convert so the app knows its labels, input and scaling"
        )
    return contract


def read_contract(path: str | Path) -> ModelContract:
    """Read the DigitLite contract embedded in a .tflite file.

    Raises:
        ModelError: the file is missing, not TFLite, or has no contract.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from exc
    return read_contract_bytes(data, source=str(path))


def min_runtime_version(model: bytes) -> str | None:
    """The ``min_runtime_version`` the TFLite converter recorded in the model, if any."""
    raw = read_tflite_metadata(model).get("min_runtime_version")
    return raw.split(b"\0", 1)[0].decode("ascii", "replace") if raw else None
