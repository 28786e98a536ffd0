"""bench.json for machines and bench.md for people, built from one dict so they never disagree.

bench.md is also what ``digits-bench`` prints on stdout. Writing goes through
:mod:`edge_app.files` (temp file + rename), like every other artifact of a run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.table import STATUS_PASSED
from converter.report import kilobytes, percent
from edge_app import files

if TYPE_CHECKING:
    from benchmarks.bench import BenchConfig

log = logging.getLogger(__name__)

BENCH_JSON = "bench.json"
BENCH_MD = "bench.md"

STATUS_TEXT = {
    "passed": "passed",
    "accuracy-failed": "loaded, accuracy failed",
    "load-failed": "failed to load",
    "run-failed": "failed while running",
}


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" if value < 0.1 else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _num(value: float | None, fmt: str, suffix: str = "") -> str:
    return "—" if value is None else format(value, fmt) + suffix


def _latency(timing: dict[str, Any] | None) -> str:
    if not timing:
        return "—"
    flag = "" if timing.get("stable", True) else " *"
    return f"{_ms(timing['median_ms'])} / {_ms(timing['p90_ms'])}{flag}"


def _memory(memory: dict[str, Any] | None) -> str:
    if not memory or memory.get("peak_rss_mb") is None:
        return "—"
    delta = memory.get("delta_mb")
    extra = f" (+{delta:.0f})" if delta is not None else ""
    return f"{memory['peak_rss_mb']:.0f}{extra}"


def _throughput(tp: dict[str, Any] | None) -> str:
    if not tp:
        return "—"
    return f"{tp['items_per_s']:,.0f} ({tp['mode'].split(' (')[0]})"


def _row_cells(row: dict[str, Any]) -> list[str]:
    delta = row.get("delta_pp")
    return [
        row["variant"] + (" (peer)" if row.get("peer") else ""),
        row["runtime"],
        str(row["threads"]),
        STATUS_TEXT.get(row["status"], row["status"]),
        kilobytes(row.get("size_bytes")),
        percent(row.get("accuracy")),
        _num(delta, "+.2f", " pp"),
        percent(row.get("agreement")),
        _latency(row.get("latency_ms")),
        _ms((row.get("kernel_ms") or {}).get("median_ms")),
        _throughput(row.get("throughput")),
        _num(row.get("load_ms"), ".0f"),
        _memory(row.get("memory")),
    ]


HEADER = [
    "variant",
    "runtime",
    "threads",
    "status",
    "size",
    "accuracy",
    "Δ vs Keras",
    "agrees with Keras",
    "latency ms median / p90",
    "invoke ms",
    "throughput img/s",
    "load ms",
    "peak RSS MB (+model)",
]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def _target_line(target: dict[str, Any]) -> str:
    value = target["value"]
    if value is None:
        shown = "—"
    elif target["unit"]:
        shown = f"{value:.3f} {target['unit']}"
    elif value < 0.05:
        shown = f"{value:.5f} (1/{1 / value:.0f})" if value else "0"
    else:
        shown = f"{value:.3f}"
    limit = target["limit"]
    limit_text = f"1/{1 / limit:.0f}" if limit < 0.05 else f"{limit:g}"
    unit = f" {target['unit']}" if target["unit"] else ""
    return (
        f"- {target['name']}: **{shown}** (target {target['comparison']} {limit_text}{unit}): "
        f"{_verdict(target['met'])}"
    )


def _system_lines(system: dict[str, Any]) -> list[str]:
    cpu = system["cpu"]
    libs = ", ".join(f"{k} {v}" for k, v in system["libraries"].items() if v)
    mhz = cpu.get("mhz_max") or cpu.get("mhz_reported")
    cores = f"{cpu.get('physical_cores') or '?'} cores / {cpu.get('logical_cpus')} threads"
    return [
        f"- CPU: {cpu['model']} ({cpu['machine']}, {cores}, {cpu['usable_cpus']} usable"
        f"{', ' + format(mhz, '.0f') + ' MHz reported' if mhz else ''}"
        f"{', under a hypervisor' if cpu.get('hypervisor') else ''}); "
        f"SIMD: {' '.join(cpu['simd']) or 'none detected'}",
        f"- {system['os']}, Python {system['python']}; {libs}",
        f"- load average at start: {system.get('load_average')}; env: {system.get('env') or {}}",
    ]


def _compute_lines(compute: dict[str, Any] | None) -> list[str]:
    if not compute or not compute.get("macs"):
        return ["MACs could not be counted (no TFLite row ran)."]
    peak = compute["peak"]
    lines = [
        f"{compute['macs']:,} multiply-accumulates per inference "
        f"(counted from the {compute['macs_source']}).",
        f"Peak of one core, assumed: {peak['int8_macs_per_cycle']} int8 and "
        f"{peak['float32_macs_per_cycle']} float32 MACs/cycle -> {peak['int8_gmacs']} / "
        f"{peak['float32_gmacs']} GMAC/s ({peak['assumption']}).",
        "",
    ]
    implied = compute.get("implied_min_clock_mhz")
    header = ["measured", "ms", "achieved GMAC/s", "peak GMAC/s", "of peak", "time at peak"]
    if implied:
        header.append(f"of peak at >= {implied:.0f} MHz")
    rows = []
    for item in compute.get("efficiency", []):
        cells = [
            item["label"],
            _ms(item["latency_ms"]),
            _num(item["achieved_gmacs"], ".2f"),
            _num(item["peak_gmacs"], ".1f"),
            percent(item["fraction_of_peak"], 1),
            _num(item["latency_at_peak_us"], ".1f", " µs"),
        ]
        if implied:
            cells.append("<= " + percent(item.get("fraction_at_implied_clock"), 1))
        rows.append(cells)
    lines += _table(header, rows)
    if implied:
        lines += [
            "",
            f"A row above 100% means the core ran faster than the reported clock (a hypervisor "
            f"shows the nominal clock; the core boosts): the clock was at least {implied:.0f} "
            "MHz, so the last column bounds each fraction from above.",
        ]
    return lines


def _converter_lines(rows: list[dict[str, Any]], doc: dict[str, Any]) -> list[str]:
    """Each format's accuracy here next to the one in the converter's report."""
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["kind"] == "tflite" and row.get("accuracy") is not None:
            seen.setdefault(row["variant"], row)
    if not seen:
        return []
    parts = [
        f"{name} {percent(row['accuracy'])} (converter: {percent(row.get('converter_accuracy'))})"
        for name, row in seen.items()
    ]
    scope = "same test images" if doc.get("full_test_set") else "this run used a subset"
    return [f"- Accuracy here vs conversion.json ({scope}): " + "; ".join(parts)]


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


def render_markdown(doc: dict[str, Any]) -> str:
    """The human-readable benchmark: the table, the conclusions, end to end, compute, method."""
    data, rows = doc["data"], doc["rows"]
    lines = [
        "# DigitLite benchmark",
        "",
        f"Run `{doc['run_dir']}` · {doc['created_utc']} · MNIST test set: {data['n_test']} images "
        f"({data['source']}) · gate: at most {doc['max_drop_pp']:g} pp accuracy lost vs Keras "
        f"({doc['max_drop_source']}).",
        "",
        "## Results",
        "",
    ]
    lines += _table(HEADER, [_row_cells(r) for r in rows])
    failures = [r for r in rows if r["status"] != STATUS_PASSED and r.get("error")]
    notes = [(r, n) for r in rows for n in r.get("notes", [])]
    if failures or notes:
        lines.append("")
    for row in failures:
        lines.append(
            f"- {row['variant']} / {row['runtime']} / {row['threads']} thread(s): "
            f"{STATUS_TEXT.get(row['status'], row['status'])} - {row['error']}"
        )
    for row, note in notes:
        lines.append(f"- {row['variant']} / {row['runtime']}: {note}")
    summary = doc["summary"]
    basis = summary["basis"]
    lines += [
        "",
        "## Conclusions (ratios within this run)",
        "",
        f"Basis: {basis['statistic']}, runtime {basis['runtime']}, {basis['threads']} thread(s).",
        "",
    ]
    lines += [_target_line(t) for t in summary["targets"]]
    ratios = summary["ratios"]
    kernel = ratios.get("int8_vs_float32_kernel")
    if kernel is not None:
        lines.append(f"- int8 / float32 `invoke()` alone (no quantize/dequantize): {kernel:.3f}")
    cpu_f32 = ratios.get("int8_vs_float32_latency_cpu")
    cpu_keras = ratios.get("int8_vs_keras_call_latency_cpu")
    if cpu_f32 is not None or cpu_keras is not None:
        keras_text = "—" if not cpu_keras else f"{cpu_keras:.5f} (1/{1 / cpu_keras:.0f})"
        f32_text = "—" if cpu_f32 is None else f"{cpu_f32:.3f}"
        e2e_cpu = ratios.get("e2e_cpu_median_ms")
        e2e_text = "—" if e2e_cpu is None else f"{e2e_cpu:.3f} ms"
        lines.append(
            f"- The same from process CPU time per call (one thread; a busy machine preempts "
            f"long calls more than short ones, CPU time does not see that): int8/float32 "
            f"{f32_text}, int8/Keras {keras_text}, end to end {e2e_text} per frame"
        )
    lines += _converter_lines(rows, doc)
    lines += ["", "## End to end (640x480 frame -> digits, one thread)", ""]
    e2e = doc.get("e2e")
    if e2e and e2e.get("ok"):
        lines.append(
            f"`DigitReader.read` (find ink, segment, frame to 28x28, classify every candidate) "
            f"with {e2e['model']}, OpenCV and the interpreter on {e2e['threads']} thread, on "
            f"seeded synthetic photos ({e2e['glyph_source']} digits on paper, uneven light, "
            "noise, JPEG):"
        )
        lines.append("")
        sets = [("one digit per frame (the target's basis)", e2e)]
        if e2e.get("string"):
            sets.append(("3..6 digits per frame", e2e["string"]))
        cells = []
        for label, s in sets:
            t = s["latency"]
            cells.append([
                label, str(s["frames"]), str(t["runs"]), _ms(t["median_ms"]), _ms(t["p90_ms"]),
                _ms(s["cpu_latency"]["median_ms"]) if s.get("cpu_latency") else "—",
                f"{s['fps']:.0f}", _ms(s["vision_ms_median"]), _ms(s["classify_ms_median"]),
                f"{s['frames_read_exactly']}/{s['frames']}",
            ])  # fmt: skip
        lines += _table(
            ["frames", "distinct", "timed", "median ms", "p90 ms", "CPU ms (median)",
             "FPS at median",
             "vision ms (median)", "classifier ms (median)", "read exactly"],
            cells,
        )  # fmt: skip
    elif e2e:
        lines.append(f"Not measured: {e2e.get('error')}")
    else:
        lines.append("Not run.")
    lines += ["", "## Compute: MACs against this CPU's peak", ""]
    lines += _compute_lines(doc.get("compute"))
    lines += ["", "## Machine", ""]
    lines += _system_lines(doc["system"])
    lines += ["", "## How this was measured", ""]
    lines += [f"- {m}" for m in doc["method"]]
    return "\n".join(lines) + "\n"


def write_outputs(doc: dict[str, Any], run_dir: Path, *, plots: bool = True) -> list[Path]:
    """Write bench.json, bench.md and (if ``plots``) the figures into ``run_dir`` atomically.

    Returns:
        The paths written.

    Raises:
        OutputError: the run directory cannot be written.
    """
    written = [
        files.write_json(run_dir / BENCH_JSON, doc),
        files.write_text(run_dir / BENCH_MD, render_markdown(doc)),
    ]
    if plots:
        from benchmarks.plots import write_plots

        written += write_plots(doc, run_dir)
    return written
