"""Embed the DigitLite contract into a .tflite file's metadata, and read a model's tensor facts.

The contract (:class:`edge_app.contract.ModelContract`) is JSON in a flatbuffer ``metadata``
entry named :data:`~edge_app.contract.CONTRACT_METADATA_NAME`. The edge side reads it back with a
pure-Python reader, so one .tflite file is all a device needs. Stamping again replaces the
previous entry instead of adding a second one, and seals the file with a checksum of its bytes
outside the contract (``ModelContract.checksum``), which every reader checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from converter.errors import ConversionFailed
from converter.formats import Format
from edge_app import versions
from edge_app.contract import (
    CONTRACT_METADATA_NAME,
    ModelContract,
    contract_span,
    model_checksum,
    read_contract_bytes,
)

#: The distributions whose versions a contract records.
MADE_BY = ("digitlite", "tensorflow", "keras")


def _schema() -> tuple[Any, Any]:
    from tensorflow.lite.python import schema_py_generated as sch
    from tensorflow.lite.tools import flatbuffer_utils as fu

    return fu, sch


def _type_names(sch: Any) -> dict[int, str]:
    return {v: k.lower() for k, v in vars(sch.TensorType).items() if not k.startswith("_")}


def io_quantization(model: bytes) -> dict[str, dict[str, Any]]:
    """The dtype, scale and zero point of the model's (first) input and output tensors.

    Returns:
        ``{"input": {"dtype": "int8", "scale": 1.0, "zero_point": -128}, "output": {...}}``;
        float tensors have ``scale`` None and ``zero_point`` None.
    """
    fu, sch = _schema()
    tree = fu.read_model_from_bytearray(bytearray(model))
    names = _type_names(sch)
    graph = tree.subgraphs[0]
    out: dict[str, dict[str, Any]] = {}
    for role, index in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        tensor = graph.tensors[index]
        q = tensor.quantization
        scales = list(q.scale) if q is not None and q.scale is not None else []
        zeros = list(q.zeroPoint) if q is not None and q.zeroPoint is not None else []
        out[role] = {
            "dtype": names.get(tensor.type, str(tensor.type)),
            "shape": [int(d) for d in tensor.shape],
            "scale": float(scales[0]) if scales else None,
            "zero_point": int(zeros[0]) if zeros else None,
        }
    return out


def package_versions() -> dict[str, str]:
    """Versions of what made the model (goes into the contract's ``extra``; "unknown" if none)."""
    return {name: v or "unknown" for name, v in versions.package_versions(MADE_BY).items()}


def build_contract(
    fmt: Format,
    model: bytes,
    *,
    source_sha256: str,
    accuracy: float | None,
    keras_accuracy: float | None,
    arch: str | None,
    labels: tuple[str, ...],
    extra: dict[str, Any] | None = None,
) -> ModelContract:
    """The contract for one converted model, with the numbers measured for it."""
    q = io_quantization(model)
    details: dict[str, Any] = {
        "converter": f"digitlite {package_versions()['digitlite']}",
        "versions": package_versions(),
        "created_utc": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "weights": fmt.weights,
        "activations": fmt.activations,
    }
    details.update(extra or {})
    return ModelContract(
        format=fmt.name,
        labels=tuple(labels),
        input_shape=tuple(q["input"]["shape"]),
        quantization=q,
        source_model_sha256=source_sha256,
        accuracy=accuracy,
        keras_accuracy=keras_accuracy,
        arch=arch,
        extra=details,
    )


def embed_contract(model: bytes, contract: ModelContract) -> bytes:
    """Return ``model`` with ``contract`` in its metadata (replacing an existing contract).

    The contract written carries the checksum of the stamped file (whatever ``checksum`` the
    argument had): written once with a placeholder of the same length, the file's other bytes
    hashed, the placeholder overwritten in place, so the hash covers exactly what is left.

    Raises:
        ConversionFailed: the result does not read back as the same contract.
    """
    fu, sch = _schema()
    tree = fu.read_model_from_bytearray(bytearray(model))
    draft = replace(contract, checksum=model_checksum(b"", (0, 0)))  # any sha256: same length
    kept = [m for m in (tree.metadata or []) if _name(m) != CONTRACT_METADATA_NAME]
    # An old contract's buffer stays as an orphan; harmless and rare (re-stamping only).
    buffer = sch.BufferT()
    buffer.data = list(draft.to_json().encode("utf-8"))
    tree.buffers.append(buffer)
    entry = sch.MetadataT()
    entry.name = CONTRACT_METADATA_NAME
    entry.buffer = len(tree.buffers) - 1
    tree.metadata = kept + [entry]
    stamped = bytearray(fu.convert_object_to_bytearray(tree))
    span = contract_span(bytes(stamped))
    sealed = replace(contract, checksum=model_checksum(bytes(stamped), span))
    payload = sealed.to_json().encode("utf-8")
    if span is None or len(payload) != span[1] - span[0]:
        raise ConversionFailed("the contract's checksum changed the length of its JSON")
    stamped[span[0] : span[1]] = payload
    if read_contract_bytes(bytes(stamped)) != sealed:
        raise ConversionFailed("the embedded contract does not read back identically")
    return bytes(stamped)


def _name(entry: Any) -> str:
    name = entry.name
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)
