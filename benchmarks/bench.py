"""One benchmark run: plan the rows, run each in a worker process, assemble bench.json.

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
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.errors import RunDirError, WorkerError
from benchmarks.table import (
    DEFAULT_MAX_DROP_PP,
    KERAS,
    RowKey,
    build_row,
    find_row,
    median_ms,
    summarize,
)
from benchmarks.timing import TimingPolicy
from benchmarks.worker import Case, run_case

log = logging.getLogger(__name__)

SCHEMA = "digitlite.bench/1"
KERAS_FILE = "model.keras"
CONVERSION_JSON = "conversion.json"
WORKER_TIMEOUT_S = 900.0
REPO_ROOT = Path(__file__).resolve().parent.parent


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


def run_worker(
    case: Case, *, isolate: bool, workdir: Path, timeout_s: float = WORKER_TIMEOUT_S
) -> dict[str, Any]:
    """Run one case in a fresh ``python -m benchmarks.worker`` (or in-process); return its result.

    A worker that crashes, hangs or writes no result becomes a failed result, never an exception.
    """
    if not isolate:
        result = run_case(case)
        if result.get("memory"):
            result["memory"] = None  # the whole bench process: not this row's
        return result
    fd, name = tempfile.mkstemp(dir=workdir, suffix=".case.json")
    os.close(fd)
    case_file = Path(name)
    result_file = case_file.with_suffix(".result.json")
    case_file.write_text(case.to_json())
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "benchmarks.worker", str(case_file), str(result_file)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "stage": "run", "error": f"worker timed out after {timeout_s:.0f} s"}
    for line in proc.stderr.splitlines():
        log.debug("worker: %s", line)
    try:
        return json.loads(result_file.read_text())
    except (OSError, ValueError):
        tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        stage = "load"  # a runtime that crashes the process usually does so while loading
        return {
            "ok": False,
            "stage": stage,
            "error": f"worker process died (exit code {proc.returncode}): {tail[0][:300]}",
        }
    finally:
        case_file.unlink(missing_ok=True)
        result_file.unlink(missing_ok=True)


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


def _compute(rows: list[dict[str, Any]], system: dict[str, Any]) -> dict[str, Any]:
    """MACs per inference against one core's peak, for int8 and float32 at one thread."""
    from benchmarks.compute import efficiency, peak_rate

    peak = peak_rate(system["cpu"])
    int8, float32 = find_row(rows, "int8", threads=1), find_row(rows, "float32", threads=1)
    source = next((r for r in (int8, float32) if r and r.get("macs")), None)
    keras = find_row(rows, KERAS)
    macs = source["macs"] if source else (keras or {}).get("macs")
    out: dict[str, Any] = {
        "macs": macs,
        "macs_source": "TFLite graph (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED)"
        if source
        else "Keras layers",
        "peak": peak.to_dict(),
        "efficiency": [],
    }
    if not macs:
        return out
    for row, dtype in ((int8, "int8"), (float32, "float32")):
        if row is None:
            continue
        for label, field_name in (("invoke()", "kernel_ms"), ("Classifier", "latency_ms")):
            value = median_ms(row, field_name)
            if value:
                item = efficiency(macs, value, peak, dtype)
                item["label"] = f"{row['variant']} {label}, {row['runtime']}, 1 thread"
                out["efficiency"].append(item)
    _bound_clock(out)
    return out


def _bound_clock(compute: dict[str, Any]) -> None:
    """If a row beat the peak at the reported clock, the core ran faster than reported.

    Under a hypervisor /proc/cpuinfo shows the nominal clock while the core boosts. A measured
    rate above the peak proves a clock of at least ``reported x fraction``; every fraction is
    then also given at that lower bound of the clock (an upper bound of the true fraction).
    """
    fractions = [e["fraction_of_peak"] for e in compute["efficiency"] if e["fraction_of_peak"]]
    clock = compute["peak"].get("clock_mhz")
    if not fractions or not clock or max(fractions) <= 1.0:
        compute["implied_min_clock_mhz"] = None
        return
    worst = max(fractions)
    compute["implied_min_clock_mhz"] = round(clock * worst, 0)
    for item in compute["efficiency"]:
        if item["fraction_of_peak"]:
            item["fraction_at_implied_clock"] = round(item["fraction_of_peak"] / worst, 4)


def method_notes(config: BenchConfig, n_test: int) -> list[str]:
    """How the numbers were measured, for bench.md."""
    p = config.policy
    iso = (
        "Each row ran in its own worker process (`python -m benchmarks.worker`)."
        if config.isolate
        else "All rows ran inside the bench process (memory not measured per row)."
    )
    if config.isolate and config.processes > 1:
        iso += (
            f" Each row ran in {config.processes} fresh processes and the one with the lowest "
            "median latency is reported (all medians in bench.json `process_medians_ms`)."
        )
    return [
        iso,
        f"Latency: one image per call after {p.warmup} warm-up calls, in rounds of {p.min_runs} "
        f"calls until the median moved < {p.rel_tol:.0%} between rounds (at least "
        f"{p.min_time_s:g} s, at most {p.max_time_s:g} s; `*` marks a row that hit the limit "
        f"first), done in {p.blocks} independent blocks of which the one with the lowest median "
        "is reported (every block's median is in bench.json `block_medians_ms`), so a burst of "
        "other work during one block does not decide the number. Median and p90 of single "
        "calls. TFLite rows time "
        "`Classifier.predict_proba` on uint8 pixels as the vision step hands them over "
        "(quantize, set, invoke, read, dequantize: what the app pays); Keras times "
        "`model(x)` eagerly; peers time their own run call.",
        "At one thread each call is timed a second time in process CPU time "
        "(`time.process_time`): on a shared machine a long call is preempted far more often "
        "than a short one, so wall-clock ratios against slow calls (Keras, a camera frame) are "
        "checked against CPU-time ratios (bench.json `latency_cpu_ms`, end to end `cpu_latency`).",
        "invoke ms: `Interpreter.invoke()` alone on a second interpreter with the input already "
        "set - the compute the MAC analysis divides by.",
        f"Throughput: {config.throughput_images} images per call, median of several calls; "
        "TFLite models have a fixed batch of 1, so a loop of invokes; Keras `model.predict` "
        "with batch_size 256; peers batch 256 where the model has a dynamic batch.",
        f"Accuracy: all {n_test} MNIST test images through each row's batch path; agreement = "
        "same top-1 digit as Keras on the same images; the gate is the converter's "
        "(conversion.json max_drop_pp).",
        "Peak RSS: the worker's VmHWM, its peak resident set (includes Python, numpy and the "
        "test set as uint8; ru_maxrss is not used: it survives exec and would count the parent); "
        "(+model) is peak minus the worker's RSS just before it imported the runtime and loaded "
        "the model. tracemalloc is not used: it cannot see native (C++) allocations.",
        "The machine is shared (2 cores, other work running): numbers are noisy, so medians are "
        "reported and the load average at start is recorded. Ratios within one run carry the "
        "conclusions; absolute numbers from different machines are not comparable.",
    ]


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
                result = _best_of(case, config, workdir)
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
        "compute": _compute(rows, system),
        "onnx_export": export,
        "method": method_notes(config, len(y)),
    }


def _best_of(case: Case, config: BenchConfig, workdir: Path) -> dict[str, Any]:
    """Run a case ``config.processes`` times (fresh workers); keep the fastest that ran.

    The same worker run twice on a quiet machine once measured 0.064 ms and 0.042 ms per int8
    image, consistently across all blocks of each process: something about the whole process
    (where its memory or its vCPU landed), not a burst. Every run's median is kept in
    ``process_medians_ms``.
    """
    runs = [run_worker(case, isolate=config.isolate, workdir=workdir)]
    for _ in range(1, config.processes if config.isolate else 1):
        if not runs[0].get("ok"):
            break  # a row that fails, fails every time
        runs.append(run_worker(case, isolate=config.isolate, workdir=workdir))
    ran = [r for r in runs if r.get("ok") and r.get("latency")]
    if not ran:
        return runs[0]
    best = min(ran, key=lambda r: r["latency"]["median_ms"])
    best["process_medians_ms"] = [r["latency"]["median_ms"] for r in ran]
    return best


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
