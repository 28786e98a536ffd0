"""From worker results to table rows: status, accuracy, agreement with Keras, and the ratios.

A row is one model variant in one runtime at one thread count. Its status is decided here:

* ``passed`` - it loaded, ran, and lost no more accuracy against Keras than the converter's gate
  (``max_drop_pp`` from conversion.json, the same :func:`converter.gate.passes`);
* ``accuracy-failed`` - it loaded and ran but lost more than that;
* ``load-failed`` / ``run-failed`` - the runtime could not load it, or crashed running it; the
  reason is kept and the rest of the run goes on.

:func:`summarize` computes the ratios that carry the conclusions (int8 vs float32 TFLite, int8 vs
Keras ``model(x)``, int8 size vs float32, end-to-end per frame) and checks them against targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from converter.gate import passes

STATUS_PASSED = "passed"
STATUS_ACCURACY_FAILED = "accuracy-failed"
STATUS_LOAD_FAILED = "load-failed"
STATUS_RUN_FAILED = "run-failed"
STATUSES = (STATUS_PASSED, STATUS_ACCURACY_FAILED, STATUS_LOAD_FAILED, STATUS_RUN_FAILED)

#: Gate when there is no conversion.json to read it from (the converter's default, in pp).
KERAS = "keras"


@dataclass(frozen=True)
class RowKey:
    """What a row measures.

    Attributes:
        variant: ``keras``, a format name from the converter's table, or a peer's model.
        kind: the backend kind (``tflite``, ``keras``, ``onnxruntime``, ``opencv``).
        runtime: the runtime asked for (``litert``, ``tensorflow``, ``keras``, ...).
        threads: runtime threads.
        file: the model file's name inside the run directory.
        size_bytes: the model file's size (None if it is missing).
        peer: True for the ``--peers`` rows.
    """

    variant: str
    kind: str
    runtime: str
    threads: int
    file: str
    size_bytes: int | None
    peer: bool = False


def accuracy_of(predictions: list[int] | np.ndarray, labels: np.ndarray) -> float:
    """Fraction of predicted labels equal to the truth."""
    pred = np.asarray(predictions)
    if len(pred) != len(labels):
        raise ValueError(f"{len(pred)} predictions for {len(labels)} labels")
    return float(np.mean(pred == labels))


def build_row(
    key: RowKey,
    result: dict[str, Any],
    labels: np.ndarray,
    reference: np.ndarray | None,
    reference_accuracy: float | None,
    max_drop_pp: float,
    converter_row: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One JSON-ready table row from a worker result.

    Args:
        key: what was measured.
        result: the worker's result dict (``ok``, ``error``, ``predictions``, timings, ...).
        labels: the test labels.
        reference: Keras' predicted labels on the same images (None when Keras did not run).
        reference_accuracy: Keras' accuracy the gate compares against (this run's, else the
            converter's report).
        max_drop_pp: the gate in percentage points.
        converter_row: this format's row of conversion.json, for its accuracy and verdicts.
    """
    row: dict[str, Any] = {
        "variant": key.variant,
        "kind": key.kind,
        "runtime": key.runtime,
        "runtime_version": result.get("runtime_version"),
        "threads": key.threads,
        "peer": key.peer,
        "file": key.file,
        "size_bytes": key.size_bytes,
        "status": None,
        "error": None,
        "accuracy": None,
        "delta_pp": None,
        "agreement": None,
        "converter_accuracy": (converter_row or {}).get("accuracy"),
        "latency_ms": None,
        "latency_cpu_ms": None,
        "latency_call": result.get("latency_call"),
        "kernel_ms": None,
        "throughput": result.get("throughput"),
        "load_ms": result.get("load_ms"),
        "memory": result.get("memory"),
        "macs": (result.get("macs") or {}).get("total"),
        "process_medians_ms": result.get("process_medians_ms"),
        "notes": list(result.get("notes") or []),
    }
    if not result.get("ok"):
        stage = result.get("stage")
        row["status"] = STATUS_LOAD_FAILED if stage in ("load", "export") else STATUS_RUN_FAILED
        row["error"] = result.get("error") or "unknown error"
        return row
    predictions = np.asarray(result["predictions"])
    row["accuracy"] = accuracy_of(predictions, labels)
    if reference is not None:
        row["agreement"] = float(np.mean(predictions == reference))
    row["latency_ms"] = result.get("latency")
    row["latency_cpu_ms"] = result.get("latency_cpu")
    row["kernel_ms"] = result.get("kernel")
    if key.variant == KERAS or reference_accuracy is None:
        row["status"] = STATUS_PASSED
        if reference_accuracy is None and key.variant != KERAS:
            row["notes"].append("no Keras accuracy to gate against")
        return row
    row["delta_pp"] = round((row["accuracy"] - reference_accuracy) * 100.0, 4)
    passed = passes(row["delta_pp"], max_drop_pp)
    row["status"] = STATUS_PASSED if passed else STATUS_ACCURACY_FAILED
    return row


def median_ms(
    row: dict[str, Any] | None, field: str = "latency_ms", stat: str = "median_ms"
) -> float | None:
    """A row's median (or ``stat``) of ``latency_ms`` or ``kernel_ms`` (None if it did not run)."""
    timing = (row or {}).get(field)
    return None if not timing else timing.get(stat)


def find_row(
    rows: list[dict[str, Any]],
    variant: str,
    *,
    runtime: str | None = None,
    threads: int | None = None,
) -> dict[str, Any] | None:
    """The first non-peer row that ran for ``variant`` (optionally a runtime and thread count)."""
    for row in rows:
        if row["peer"] or row["variant"] != variant or row["latency_ms"] is None:
            continue
        if runtime is not None and row["runtime"] != runtime:
            continue
        if threads is not None and row["threads"] != threads:
            continue
        return row
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


@dataclass(frozen=True)
class Target:
    """A number the issue asks for: ``value <= limit`` (or ``>=`` when ``at_least``)."""

    name: str
    value: float | None
    limit: float
    at_least: bool = False
    unit: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "limit": self.limit,
            "comparison": ">=" if self.at_least else "<=",
            "unit": self.unit,
            "met": self.met,
        }


def summarize(
    rows: list[dict[str, Any]],
    e2e: dict[str, Any] | None,
    *,
    quantized: str = "int8",
    baseline: str = "float32",
) -> dict[str, Any]:
    """Ratios within this run (single thread, the first TFLite runtime that ran both models).

    Returns:
        ``{"basis": ..., "ratios": {...}, "targets": [Target dicts]}``.
    """
    q8 = find_row(rows, quantized, threads=1) or find_row(rows, quantized)
    runtime, threads = (q8["runtime"], q8["threads"]) if q8 else (None, None)
    f32 = find_row(rows, baseline, runtime=runtime, threads=threads)
    keras = find_row(rows, KERAS, threads=threads) or find_row(rows, KERAS)
    size_q8 = next((r["size_bytes"] for r in rows if r["variant"] == quantized), None)
    size_f32 = next((r["size_bytes"] for r in rows if r["variant"] == baseline), None)
    e2e_ms = (e2e or {}).get("latency", {}).get("median_ms") if (e2e or {}).get("ok") else None
    ratios = {
        f"{quantized}_vs_{baseline}_latency": _ratio(median_ms(q8), median_ms(f32)),
        f"{quantized}_vs_{baseline}_kernel": _ratio(
            median_ms(q8, "kernel_ms"), median_ms(f32, "kernel_ms")
        ),
        f"{quantized}_vs_keras_call_latency": _ratio(median_ms(q8), median_ms(keras)),
        f"keras_call_vs_{quantized}_speedup": _ratio(median_ms(keras), median_ms(q8)),
        f"{quantized}_vs_{baseline}_size": _ratio(size_q8, size_f32),
        # medians of process CPU time per call (one thread): long calls (Keras, a frame) are
        # preempted far more on a busy machine than short ones; CPU time is a check on that
        f"{quantized}_vs_{baseline}_latency_cpu": _ratio(
            median_ms(q8, "latency_cpu_ms"), median_ms(f32, "latency_cpu_ms")
        ),
        f"{quantized}_vs_keras_call_latency_cpu": _ratio(
            median_ms(q8, "latency_cpu_ms"), median_ms(keras, "latency_cpu_ms")
        ),
        "e2e_cpu_median_ms": (e2e or {}).get("cpu_latency", {}).get("median_ms")
        if (e2e or {}).get("ok")
        else None,
        "e2e_median_ms": e2e_ms,
        "e2e_fps": _ratio(1000.0, e2e_ms),
    }
    targets = [
        Target(
            f"{quantized} latency / {baseline} TFLite latency",
            ratios[f"{quantized}_vs_{baseline}_latency"],
            0.55,
        ),
        Target(
            f"{quantized} latency / Keras model(x) latency",
            ratios[f"{quantized}_vs_keras_call_latency"],
            1 / 150,
        ),
        Target(
            f"{quantized} size / {baseline} size", ratios[f"{quantized}_vs_{baseline}_size"], 0.30
        ),
        Target("end to end median per frame", e2e_ms, 3.0, unit="ms"),
    ]
    return {
        "basis": {
            "runtime": runtime,
            "threads": threads,
            "statistic": "median single-image latency",
        },
        "ratios": {k: (None if v is None else round(v, 5)) for k, v in ratios.items()},
        "targets": [t.to_dict() for t in targets],
    }
