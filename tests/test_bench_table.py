"""Rows, statuses, ratios, the Markdown report, MAC counting and the CPU record - no TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.compute import count_tflite_macs, efficiency, peak_rate
from benchmarks.report import render_markdown
from benchmarks.sysinfo import cpu_info, parse_cpuinfo
from benchmarks.table import (
    STATUS_ACCURACY_FAILED,
    STATUS_LOAD_FAILED,
    STATUS_PASSED,
    STATUS_RUN_FAILED,
    RowKey,
    build_row,
    summarize,
)

MODELS = Path(__file__).parent / "data" / "models"
LABELS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])


def timing(median: float) -> dict:
    return {"median_ms": median, "p90_ms": median * 1.2, "runs": 100, "stable": True}


def ok_result(predictions, median=1.0, kernel=None) -> dict:
    return {
        "ok": True,
        "predictions": list(predictions),
        "latency": timing(median),
        "latency_cpu": timing(median * 0.9),
        "kernel": timing(kernel) if kernel else None,
        "load_ms": 3.0,
        "throughput": {"batch": 10, "items_per_s": 100.0, "mode": "loop"},
        "memory": {"baseline_rss_mb": 50.0, "peak_rss_mb": 60.0, "delta_mb": 10.0},
        "macs": {"total": 1000, "by_op": {}},
        "runtime_version": "1.0",
    }


def key(variant="int8", runtime="litert", threads=1, size=100, kind="tflite", peer=False):
    return RowKey(variant, kind, runtime, threads, f"model_{variant}.tflite", size, peer)


def test_a_row_that_fails_to_load_keeps_its_reason():
    row = build_row(
        key(), {"ok": False, "stage": "load", "error": "not a TFLite model"}, LABELS, None, 0.9, 0.1
    )
    assert row["status"] == STATUS_LOAD_FAILED
    assert row["error"] == "not a TFLite model"
    assert row["accuracy"] is None and row["latency_ms"] is None


def test_a_row_that_crashes_while_running_is_run_failed():
    row = build_row(key(), {"ok": False, "stage": "run", "error": "boom"}, LABELS, None, 0.9, 0.1)
    assert row["status"] == STATUS_RUN_FAILED


def test_accuracy_agreement_and_the_converters_gate():
    keras = LABELS.copy()
    good = build_row(key(), ok_result(LABELS), LABELS, keras, 1.0, max_drop_pp=0.1)
    assert good["status"] == STATUS_PASSED
    assert good["accuracy"] == 1.0 and good["agreement"] == 1.0 and good["delta_pp"] == 0.0

    one_wrong = LABELS.copy()
    one_wrong[0] = 9  # 10 pp lost on ten images
    bad = build_row(key(), ok_result(one_wrong), LABELS, keras, 1.0, max_drop_pp=0.1)
    assert bad["status"] == STATUS_ACCURACY_FAILED
    assert bad["accuracy"] == pytest.approx(0.9) and bad["agreement"] == pytest.approx(0.9)
    assert bad["delta_pp"] == pytest.approx(-10.0)

    lenient = build_row(key(), ok_result(one_wrong), LABELS, keras, 1.0, max_drop_pp=20)
    assert lenient["status"] == STATUS_PASSED


def test_the_keras_row_is_the_reference():
    row = build_row(
        key("keras", "keras", kind="keras"), ok_result(LABELS), LABELS, LABELS, 1.0, 0.1
    )
    assert row["status"] == STATUS_PASSED and row["delta_pp"] is None


def test_the_converters_accuracy_is_carried_along():
    row = build_row(key(), ok_result(LABELS), LABELS, LABELS, 1.0, 0.1, {"accuracy": 0.99})
    assert row["converter_accuracy"] == 0.99


def rows_for_summary() -> list[dict]:
    specs = [
        (key("keras", "keras", size=400, kind="keras"), 10.0, None),
        (key("float32", size=300), 0.1, 0.09),
        (key("int8", size=75), 0.05, 0.03),
        (key("int8", threads=2, size=75), 0.04, 0.02),
    ]
    return [
        build_row(k, ok_result(LABELS, m, kern), LABELS, LABELS, 1.0, 0.1) for k, m, kern in specs
    ]


def test_summary_ratios_use_one_runtime_at_one_thread():
    e2e = {"ok": True, "latency": timing(2.5)}
    summary = summarize(rows_for_summary(), e2e)
    ratios = summary["ratios"]
    assert summary["basis"] == {
        "runtime": "litert",
        "threads": 1,
        "statistic": "median single-image latency",
    }
    assert ratios["int8_vs_float32_latency"] == pytest.approx(0.5)
    assert ratios["int8_vs_float32_kernel"] == pytest.approx(0.03 / 0.09, rel=1e-3)
    assert ratios["int8_vs_keras_call_latency"] == pytest.approx(0.005)
    assert ratios["keras_call_vs_int8_speedup"] == pytest.approx(200.0)
    assert ratios["int8_vs_float32_size"] == pytest.approx(0.25)
    assert ratios["e2e_fps"] == pytest.approx(400.0)
    assert ratios["int8_vs_float32_latency_cpu"] == pytest.approx(0.5)
    assert ratios["int8_vs_keras_call_latency_cpu"] == pytest.approx(0.005)
    assert [t["met"] for t in summary["targets"]] == [True, True, True, True]


def test_summary_without_measurements_says_not_measured():
    summary = summarize([], None)
    assert all(t["met"] is None for t in summary["targets"])


def test_markdown_lists_every_row_and_every_failure(tmp_path):
    rows = rows_for_summary()
    rows.append(
        build_row(
            key("dynamic"),
            {"ok": False, "stage": "load", "error": "corrupt"},
            LABELS,
            LABELS,
            1,
            0.1,
        )
    )
    doc = {
        "run_dir": "runs/x",
        "created_utc": "2026-01-01T00:00:00Z",
        "data": {"source": "mini", "n_test": 10},
        "max_drop_pp": 0.1,
        "max_drop_source": "converter default",
        "rows": rows,
        "summary": summarize(rows, None),
        "e2e": {"ok": False, "error": "no vision"},
        "compute": None,
        "system": {
            "cpu": {
                "model": "Test CPU",
                "machine": "x86_64",
                "logical_cpus": 2,
                "usable_cpus": 2,
                "simd": ["avx2"],
                "physical_cores": 2,
            },
            "os": "Linux",
            "python": "3.11",
            "libraries": {"numpy": "2"},
            "env": {},
            "load_average": [0.1, 0.1, 0.1],
        },  # fmt: skip
        "method": ["measured carefully"],
    }
    text = render_markdown(doc)
    assert text.count("\n| int8 |") == 2
    assert "| dynamic | litert | 1 | failed to load |" in text
    assert "failed to load - corrupt" in text
    assert "Not measured: no vision" in text
    assert "measured carefully" in text
    assert "int8 latency / float32 TFLite latency: **0.500**" in text


def test_macs_are_counted_from_the_tflite_graph():
    from edge_app.runtime import load_interpreter

    interpreter, _ = load_interpreter(MODELS / "band_float32.tflite")
    macs = count_tflite_macs(interpreter)
    assert macs == {"total": 28 * 28 * 10, "by_op": {"FULLY_CONNECTED": 7840}}


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9R14
cpu MHz\t\t: 2600.000
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse4_1 avx avx2 fma avx512f avx512_vnni hypervisor

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
cpu MHz\t\t: 2600.000
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse4_1 avx avx2 fma avx512f avx512_vnni hypervisor
"""


def test_cpuinfo_is_parsed(tmp_path):
    parsed = parse_cpuinfo(CPUINFO)
    assert parsed["model"] == "AMD EPYC 9R14" and parsed["vendor"] == "AuthenticAMD"
    assert parsed["physical_cores"] == 2 and parsed["mhz"] == 2600.0
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    info = cpu_info(path)
    assert info["hypervisor"] and "avx512_vnni" in info["simd"] and "fpu" not in info["simd"]


@pytest.mark.parametrize(
    ("simd", "vendor", "int8", "fp32"),
    [
        (["avx2", "fma", "avx512f", "avx512_vnni"], "AuthenticAMD", 64, 16),
        (["avx2", "fma", "avx512f", "avx512_vnni"], "GenuineIntel", 128, 32),
        (["avx2", "fma"], "GenuineIntel", 32, 16),
        (["asimd"], "", 16, 8),
        ([], "", 8, 4),
    ],
)
def test_peak_rate_rules(simd, vendor, int8, fp32):
    peak = peak_rate({"simd": simd, "vendor": vendor, "mhz_reported": 1000.0, "machine": "x"})
    assert (peak.int8_macs_per_cycle, peak.float32_macs_per_cycle) == (int8, fp32)
    assert peak.per_second("int8") == int8 * 1e9
    assert peak.assumption


def test_efficiency_against_peak():
    peak = peak_rate({"simd": ["avx2", "fma"], "vendor": "", "mhz_reported": 1000.0})
    result = efficiency(32_000_000, 1.0, peak, "int8")  # 32 GMAC/s against 32 GMAC/s
    assert result["fraction_of_peak"] == pytest.approx(1.0)
    assert result["latency_at_peak_us"] == pytest.approx(1000.0)
    unknown = efficiency(1000, 1.0, peak_rate({"simd": []}), "int8")
    assert unknown["fraction_of_peak"] is None


def test_package_versions_come_from_metadata():
    from edge_app.versions import package_versions

    versions = package_versions(("numpy", "surely-not-installed-xyz"))
    assert versions["numpy"] and versions["surely-not-installed-xyz"] is None


def test_a_rate_above_peak_bounds_the_clock():
    from benchmarks.compute import bound_clock

    compute = {
        "peak": {"clock_mhz": 2000.0},
        "efficiency": [{"fraction_of_peak": 1.25}, {"fraction_of_peak": 0.5}],
    }
    bound_clock(compute)
    assert compute["implied_min_clock_mhz"] == 2500.0
    assert [e["fraction_at_implied_clock"] for e in compute["efficiency"]] == [1.0, 0.4]
    below = {"peak": {"clock_mhz": 2000.0}, "efficiency": [{"fraction_of_peak": 0.9}]}
    bound_clock(below)
    assert below["implied_min_clock_mhz"] is None


def test_peak_memory_is_this_process_not_its_parent():
    from benchmarks.worker import peak_rss_mb, rss_mb

    current, peak = rss_mb(), peak_rss_mb()
    if current is not None:  # Linux
        assert peak >= current * 0.99
