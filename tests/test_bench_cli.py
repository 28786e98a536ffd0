"""digits-bench end to end on tiny fixture models: no TensorFlow, nothing downloads.

A temporary run directory gets the band fixture models under the converter's file names plus a
corrupt one; the bench must show the corrupt variant as failed, finish the run, and write a
bench.json that follows the schema.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.bench import SCHEMA, BenchConfig, run_bench
from benchmarks.cli import build_parser, main
from benchmarks.table import STATUSES
from benchmarks.timing import QUICK
from benchmarks.worker import Case, run_worker
from converter.formats import get_format

MODELS = Path(__file__).parent / "data" / "models"
FAST = ["--threads", "1", "--runtimes", "litert", "--max-seconds", "0.05", "--no-plots"]


@pytest.fixture(autouse=True)
def _keep_opencv_threads():
    """In-process rows set OpenCV's process-wide thread count; put it back for other tests."""
    import cv2

    before = cv2.getNumThreads()
    yield
    cv2.setNumThreads(before)


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """float32 and int8 band models, a corrupt 'dynamic' model, no model.keras."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(MODELS / "band_float32.tflite", get_format("float32").path(run))
    shutil.copy(MODELS / "band_int8.tflite", get_format("int8").path(run))
    get_format("dynamic").path(run).write_bytes(b"\x1c\x00\x00\x00TFL3 this is not a model")
    return run


# --- the schema of bench.json -------------------------------------------------------------------

TIMING = {"median_ms": float, "p90_ms": float, "runs": int, "stable": bool}
ROW = {
    "variant": str, "kind": str, "runtime": str, "threads": int, "peer": bool, "file": str,
    "status": str, "error": (str, type(None)), "size_bytes": (int, type(None)),
    "accuracy": (float, type(None)), "agreement": (float, type(None)),
    "delta_pp": (float, int, type(None)), "latency_ms": (dict, type(None)),
    "kernel_ms": (dict, type(None)), "latency_cpu_ms": (dict, type(None)),
    "throughput": (dict, type(None)),
    "load_ms": (float, type(None)), "memory": (dict, type(None)), "macs": (int, type(None)),
    "notes": list,
}  # fmt: skip
TOP = {
    "schema": str, "created_utc": str, "run_dir": str, "config": dict, "data": dict,
    "max_drop_pp": float, "system": dict, "rows": list, "e2e": (dict, type(None)),
    "summary": dict, "compute": dict, "method": list,
}  # fmt: skip


def check_types(obj: dict, spec: dict, where: str) -> None:
    for name, kind in spec.items():
        assert name in obj, f"{where}: missing {name}"
        assert isinstance(obj[name], kind), f"{where}.{name}: {type(obj[name]).__name__}"


def check_schema(doc: dict) -> None:
    check_types(doc, TOP, "bench")
    assert doc["schema"] == SCHEMA
    check_types(doc["data"], {"source": str, "n_test": int}, "data")
    check_types(doc["system"], {"cpu": dict, "libraries": dict, "python": str}, "system")
    check_types(doc["system"]["cpu"], {"model": str, "simd": list}, "cpu")
    for row in doc["rows"]:
        check_types(row, ROW, "row")
        assert row["status"] in STATUSES
        if row["latency_ms"] is not None:
            check_types(row["latency_ms"], TIMING, "latency")
            assert row["latency_ms"]["median_ms"] > 0
    check_types(doc["summary"], {"basis": dict, "ratios": dict, "targets": list}, "summary")
    for target in doc["summary"]["targets"]:
        check_types(target, {"name": str, "limit": float, "met": (bool, type(None))}, "target")
    check_types(doc["compute"], {"peak": dict, "efficiency": list}, "compute")


# --- the CLI --------------------------------------------------------------------------------------


def test_a_corrupt_variant_fails_to_load_and_the_run_completes(run_dir, data_dir, capsys):
    code = main([str(run_dir), *FAST, "--in-process", "--no-e2e", "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("# DigitLite benchmark")
    assert "INFO" in err and "INFO" not in out  # logs on stderr, results on stdout

    doc = json.loads((run_dir / "bench.json").read_text())
    check_schema(doc)
    assert (run_dir / "bench.md").read_text() == out
    rows = {(r["variant"], r["runtime"]): r for r in doc["rows"]}
    assert rows[("dynamic", "litert")]["status"] == "load-failed"
    assert "dynamic | litert | 1 | failed to load" in out
    assert rows[("keras", "keras")]["status"] == "load-failed"  # no model.keras in this run
    for variant in ("float32", "int8"):
        row = rows[(variant, "litert")]
        assert row["status"] == "passed", row  # no Keras accuracy: nothing to gate against
        assert row["accuracy"] is not None and row["macs"] == 7840
        assert row["throughput"]["items_per_s"] > 0
    assert doc["data"]["n_test"] == 500
    assert doc["summary"]["ratios"]["int8_vs_float32_size"] < 0.5


def test_json_flag_prints_bench_json(run_dir, data_dir, capsys):
    args = [str(run_dir), *FAST, "--in-process", "--no-e2e", "--json", "--limit", "50"]
    code = main([*args, "--data-dir", str(data_dir)])
    out, _ = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    check_schema(doc)
    assert doc["data"]["n_test"] == 50


@pytest.mark.slow  # ~10 s: one fresh Python process per row
def test_each_row_in_its_own_process_with_plots_and_end_to_end(run_dir, data_dir, capsys):
    code = main([str(run_dir), "--threads", "1", "--runtimes", "litert", "--max-seconds", "0.2",
                 "--limit", "100", "--data-dir", str(data_dir)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads((run_dir / "bench.json").read_text())
    check_schema(doc)
    float32 = next(r for r in doc["rows"] if r["variant"] == "float32")
    assert float32["status"] == "passed"
    memory = float32["memory"]
    assert memory["peak_rss_mb"] >= memory["baseline_rss_mb"] > 0
    corrupt = next(r for r in doc["rows"] if r["variant"] == "dynamic")
    assert corrupt["status"] == "load-failed" and corrupt["error"]
    assert doc["e2e"] is not None and "ok" in doc["e2e"]
    if doc["e2e"]["ok"]:
        assert doc["e2e"]["latency"]["median_ms"] > 0 and doc["e2e"]["frame_size"] == [640, 480]
        assert doc["e2e"]["cpu_latency"]["median_ms"] > 0 and doc["e2e"]["string"]["frames"]
    assert float32["latency_cpu_ms"]["median_ms"] > 0
    for name in ("bench_latency_accuracy.png", "bench_size.png"):
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(run_dir.glob(".*tmp"))  # atomic writes leave no temp files behind


def test_a_worker_that_dies_becomes_a_failed_result(tmp_path):
    case = Case("tflite", "float32", str(MODELS / "band_float32.tflite"), data=str(tmp_path / "x"))
    result = run_worker(case, isolate=True, workdir=tmp_path)
    assert result["ok"] is False
    assert "worker process died" in result["error"]


def test_peers_without_a_keras_model_fail_with_a_reason(run_dir, data_dir):
    config = BenchConfig(run_dir, threads=(1,), runtimes=("litert",), peers=True,
                         data_dir=data_dir, limit=20, isolate=False, policy=QUICK,
                         end_to_end=False, plots=False)  # fmt: skip
    doc = run_bench(config)
    peers = [r for r in doc["rows"] if r["peer"]]
    assert {r["runtime"] for r in peers} == {"onnxruntime", "opencv-dnn"}
    onnx = [r for r in peers if r["variant"] == "onnx"]
    assert all(r["status"] == "load-failed" and "model.keras" in r["error"] for r in onnx)
    tflite = next(r for r in peers if r["variant"] == "float32")
    assert tflite["status"] in ("passed", "load-failed")  # OpenCV's TFLite importer may refuse
    assert tflite["status"] == "load-failed" or tflite["accuracy"] is not None


def test_missing_run_dir_is_one_line_on_stderr(tmp_path, capsys):
    code = main([str(tmp_path / "nope"), "--no-plots"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("digits-bench: error:") and err.count("\n") == 1


def test_a_run_dir_without_models_is_refused(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "neither model.keras nor" in capsys.readouterr().err


def test_runtime_typos_get_a_suggestion(capsys):
    assert main(["x", "--runtimes", "litrt"]) == 2
    assert "did you mean 'litert'" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["0", "a,b", "", "1,-2"])
def test_bad_thread_lists_are_rejected(bad, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--threads", bad])
    assert "--threads" in capsys.readouterr().err


def test_defaults_match_the_documented_command():
    args = build_parser().parse_args([])
    assert args.run_dir == Path("runs/latest")
    assert args.threads == (1, 2) and args.runtimes is None and not args.peers


def test_best_of_several_processes_keeps_the_fastest(monkeypatch, tmp_path):
    from benchmarks import worker

    answers = iter(
        [{"ok": True, "latency": {"median_ms": 0.06}}, {"ok": True, "latency": {"median_ms": 0.04}}]
    )
    monkeypatch.setattr(worker, "run_worker", lambda case, **kw: next(answers))
    case = Case("tflite", "int8", "m.tflite")
    best = worker.best_of(case, processes=2, isolate=True, workdir=tmp_path)
    assert best["latency"]["median_ms"] == 0.04
    assert best["process_medians_ms"] == [0.06, 0.04]

    calls = []
    monkeypatch.setattr(
        worker, "run_worker", lambda case, **kw: calls.append(1) or {"ok": False, "error": "x"}
    )
    failed = worker.best_of(case, processes=2, isolate=True, workdir=tmp_path)
    assert failed["ok"] is False and len(calls) == 1  # a failing row is not retried
