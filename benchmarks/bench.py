"""One benchmark run: plan the rows, run each in a worker process, assemble bench.json.

The workers are :mod:`benchmarks.worker`, the MAC analysis :mod:`benchmarks.compute`, the method
notes and the rendering :mod:`benchmarks.report`; this module only decides what to measure and
puts the results together.

The converter's format table (:data:`converter.formats.FORMATS`) drives the loop: every format
whose file exists in the run directory is measured in every requested TFLite runtime at every
thread count, next to the Keras original (``model.keras``) as the reference and, with
``--peers``, the same float model in ONNX Runtime and OpenCV DNN. A row that cannot load or run
is recorded as failed with its reason and the run goes on.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.compute import compute_summary
from benchmarks.errors import RunDirError, WorkerError
from benchmarks.report import method_notes
from benchmarks.table import KERAS, RowKey, build_row, summarize
from benchmarks.timing import TimingPolicy
from benchmarks.worker import Case, best_of, run_worker
from converter.gate import DEFAULT_MAX_DROP_PP

log = logging.getLogger(__name__)

SCHEMA = "digitlite.bench/1"
KERAS_FILE = "model.keras"
CONVERSION_JSON = "conversion.json"


@dataclass(frozen=True)
class BenchConfig:
    """What ``digits-bench`` was asked to do (saved in bench.json's ``config``).

    Attributes:
        run_dir: the run directory (``runs/latest`` may be a symlink).
        threads: thread counts to measure every model at.
        runtimes: TFLite runtimes (None: every one installed, in the device's order).
        peers: also measure the float model in ONNX Runtime and OpenCV DNN.
        data_dir: where MNIST is looked for first.
        limit: use only the first N test images (None: the full test set).
        isolate: one worker process per row (peak memory per row); False runs in-process.
        policy: single-image timing policy.
        throughput_images: images per throughput call.
        end_to_end: measure the 640x480 frame pipeline.
        plots: write the figures.
        processes: run each row this many times, each in a fresh worker, and keep the one
            with the lowest median latency (a whole process can land on a slow spot).
    """

    run_dir: Path
    threads: tuple[int, ...] = (1, 2)
    runtimes: tuple[str, ...] | None = None
    peers: bool = False
    data_dir: Path | None = None
    limit: int | None = None
    isolate: bool = True
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    throughput_images: int = 1024
    end_to_end: bool = True
    plots: bool = True
    processes: int = 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["run_dir"] = str(self.run_dir)
        out["data_dir"] = None if self.data_dir is None else str(self.data_dir)
        return out


def installed_runtimes() -> tuple[str, ...]:
    """TFLite runtimes whose package is installed (checked without importing them)."""
    from edge_app.runtime import RUNTIMES

    found = []
    for runtime in RUNTIMES:
        try:
            if importlib.util.find_spec(runtime.module.split(".")[0]) is not None:
                found.append(runtime.name)
        except (ImportError, ValueError):
            continue
    return tuple(found)


def resolve_run_dir(path: Path) -> Path:
    """The run directory, symlinks resolved.

    Raises:
        RunDirError: it does not exist or holds neither model.keras nor a .tflite variant.
    """
    from converter.formats import FORMATS

    if not path.is_dir():
        raise RunDirError(f"run directory {path} does not exist; train and convert first")
    resolved = path.resolve()
    has_any = (resolved / KERAS_FILE).is_file() or any(f.path(resolved).is_file() for f in FORMATS)
    if not has_any:
        raise RunDirError(
            f"{path} holds neither {KERAS_FILE} nor any model_<format>.tflite; "
            "run digits-train and digits-convert into it first"
        )
    return resolved


def read_conversion(run_dir: Path) -> dict[str, Any]:
    """conversion.json of the run (empty dict when absent or unreadable)."""
    path = run_dir / CONVERSION_JSON
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def plan(config: BenchConfig, run_dir: Path, data: Path) -> list[tuple[RowKey, Case]]:
    """Every row to measure, in table order: Keras, each format x runtime x threads, peers."""
    from converter.formats import FORMATS

    policy = asdict(config.policy)
    runtimes = config.runtimes or installed_runtimes()
    common = {"data": str(data), "policy": policy, "throughput_images": config.throughput_images}
    cases: list[tuple[RowKey, Case]] = []
    keras_path = run_dir / KERAS_FILE
    for threads in config.threads:
        key = RowKey(KERAS, "keras", KERAS, threads, KERAS_FILE, _size(keras_path))
        cases.append((key, Case("keras", KERAS, str(keras_path), threads, **common)))
    for fmt in FORMATS:
        path = fmt.path(run_dir)
        if not path.is_file():
            log.info("no %s model in %s; skipping that format", fmt.name, run_dir)
            continue
        for runtime in runtimes:
            for threads in config.threads:
                key = RowKey(fmt.name, "tflite", runtime, threads, path.name, _size(path))
                case = Case("tflite", fmt.name, str(path), threads, runtime=runtime, **common)
                cases.append((key, case))
    if config.peers:
        from benchmarks.peers import ONNX_FILENAME
        from converter.formats import get_format

        onnx = run_dir / ONNX_FILENAME
        float32 = get_format("float32").path(run_dir)
        for threads in config.threads:
            for kind, runtime, path, variant in (
                ("onnxruntime", "onnxruntime", onnx, "onnx"),
                ("opencv", "opencv-dnn", onnx, "onnx"),
                ("opencv", "opencv-dnn", float32, "float32"),
            ):
                key = RowKey(variant, kind, runtime, threads, path.name, _size(path), peer=True)
                cases.append((key, Case(kind, variant, str(path), threads, **common)))
    return cases


def _ensure_onnx(run_dir: Path, workdir: Path, isolate: bool) -> dict[str, Any]:
    """Export model.onnx from model.keras unless an up-to-date one is already there."""
    from benchmarks.peers import ONNX_FILENAME

    keras_path, onnx = run_dir / KERAS_FILE, run_dir / ONNX_FILENAME
    if not keras_path.is_file():
        return {"ok": False, "stage": "export", "error": f"no {KERAS_FILE} to export ONNX from"}
    if onnx.is_file() and onnx.stat().st_mtime >= keras_path.stat().st_mtime:
        return {"ok": True, "reused": True}
    log.info("exporting %s to ONNX for the peers", keras_path.name)
    case = Case("export-onnx", "onnx", str(keras_path), output=str(onnx))
    return run_worker(case, isolate=isolate, workdir=workdir)


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Measure every row of a run directory and return the bench document (not yet written).

    Raises:
        RunDirError: nothing to benchmark. DataError (from the trainer): MNIST missing.
    """
    from benchmarks.sysinfo import system_info
    from trainer.data import load_mnist

    run_dir = resolve_run_dir(config.run_dir)
    system = system_info()
    conversion = read_conversion(run_dir)
    converter_rows = {r.get("format"): r for r in conversion.get("formats", [])}
    max_drop = conversion.get("settings", {}).get("max_drop_pp")
    max_drop_source = "from conversion.json" if max_drop is not None else "converter default"
    max_drop = DEFAULT_MAX_DROP_PP if max_drop is None else float(max_drop)

    mnist = load_mnist(config.data_dir, download=False)
    x, y = mnist.x_test, np.asarray(mnist.y_test)
    if config.limit:
        x, y = x[: config.limit], y[: config.limit]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="digits-bench-") as tmp:
        workdir = Path(tmp)
        data = workdir / "test.npz"
        np.savez(data, x=x, y=y)
        export = _ensure_onnx(run_dir, workdir, config.isolate) if config.peers else None
        cases = plan(config, run_dir, data)
        results: list[tuple[RowKey, dict[str, Any]]] = []
        for i, (key, case) in enumerate(cases, 1):
            if key.variant == "onnx" and export is not None and not export.get("ok"):
                result = dict(export)
            else:
                result = best_of(
                    case, processes=config.processes, isolate=config.isolate, workdir=workdir
                )
                if key.size_bytes is None and case.kind != "keras":
                    key = replace(key, size_bytes=_size(Path(case.model)))
            results.append((key, result))
            log.info("[%d/%d] %s / %s / %d thread(s): %s", i, len(cases), key.variant,
                     key.runtime, key.threads, _progress(result))  # fmt: skip
        e2e = _end_to_end(config, run_dir, data, workdir) if config.end_to_end else None

    keras_ok = [r for k, r in results if k.variant == KERAS and r.get("ok")]
    reference = np.asarray(keras_ok[0]["predictions"]) if keras_ok else None
    reference_accuracy = float(np.mean(reference == y)) if reference is not None else None
    if reference_accuracy is None:
        source = conversion.get("source", {})
        if source.get("test_samples") == len(y):
            reference_accuracy = source.get("keras_accuracy")
    rows = [
        build_row(
            key, result, y, reference, reference_accuracy, max_drop, converter_rows.get(key.variant)
        )
        for key, result in results
    ]
    return {
        "schema": SCHEMA,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.perf_counter() - started, 1),
        "run_dir": str(config.run_dir),
        "run_path": str(run_dir),
        "config": config.to_dict(),
        "data": {
            "source": str(mnist.source),
            "official": bool(getattr(mnist, "official", False)),
            "n_test": int(len(y)),
        },
        "full_test_set": int(len(y)) == int(len(mnist.y_test)),
        "max_drop_pp": max_drop,
        "max_drop_source": max_drop_source,
        "reference_accuracy": reference_accuracy,
        "system": system,
        "rows": rows,
        "e2e": e2e,
        "summary": summarize(rows, e2e),
        "compute": compute_summary(rows, system),
        "onnx_export": export,
        "method": method_notes(config, len(y)),
    }


def _progress(result: dict[str, Any]) -> str:
    if not result.get("ok"):
        return f"FAILED ({result.get('stage')}): {result.get('error')}"
    latency = result.get("latency") or {}
    return f"ok, median {latency.get('median_ms', float('nan')):.4f} ms"


def _end_to_end(config: BenchConfig, run_dir: Path, data: Path, workdir: Path) -> dict[str, Any]:
    """The 640x480 frame pipeline with the int8 model (float32 if there is none), one thread."""
    from converter.formats import FORMATS

    by_name = {f.name: f.path(run_dir) for f in FORMATS}
    candidates = [by_name[n] for n in ("int8", "float32") if n in by_name]
    model = next((p for p in candidates if p.is_file()), None)
    if model is None:
        return {"ok": False, "error": "no int8 or float32 .tflite to read frames with"}
    case = Case("e2e", "e2e", str(model), 1, data=str(data), policy=asdict(config.policy))
    result = run_worker(case, isolate=config.isolate, workdir=workdir)
    log.info("end to end: %s", _progress(result))
    if not result.get("ok") and "error" not in result:
        raise WorkerError("end-to-end worker returned no error and no result")
    return result
