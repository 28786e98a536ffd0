"""How much arithmetic one inference is, and how close a measured latency comes to the CPU's peak.

:func:`count_tflite_macs` counts multiply-accumulates from the TFLite graph the runtime actually
runs (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED; pooling, softmax and reshapes are not MACs).
:func:`peak_rate` estimates one core's peak MACs per cycle from the CPU flags, with the
assumption it made spelled out, and :func:`efficiency` puts the two together;
:func:`compute_summary` does that for a whole benchmark's rows (bench.json ``compute``).

The peak model is deliberately simple (vector width x units x clock); real kernels also pay for
memory traffic, im2col/packing, per-operator dispatch and requantization, so a tiny model like
ours reaches a small fraction of it. The point is the order of magnitude, stated honestly.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.table import KERAS, find_row, median_ms

log = logging.getLogger(__name__)


def _shape(details: dict[int, dict[str, Any]], index: int) -> tuple[int, ...]:
    return tuple(int(d) for d in details[index]["shape"])


def count_tflite_macs(interpreter: Any) -> dict[str, Any]:
    """Multiply-accumulates of one invoke of an allocated TFLite interpreter.

    Uses the interpreter's operator list (``_get_ops_details``, present in LiteRT and TF Lite;
    delegate nodes are skipped, their original operators are still listed) and tensor shapes.

    Returns:
        ``{"total": int, "by_op": {op_name: macs}}``.

    Raises:
        AttributeError: the interpreter does not expose its operators.
    """
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    by_op: dict[str, int] = {}
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        inputs, outputs = list(op["inputs"]), list(op["outputs"])
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") or len(inputs) < 2:
            continue
        out = _shape(tensors, outputs[0])
        weights = _shape(tensors, inputs[1])
        if name == "CONV_2D":  # filter [out_c, kh, kw, in_c]; output [n, h, w, out_c]
            macs = out[0] * out[1] * out[2] * out[3] * weights[1] * weights[2] * weights[3]
        elif name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, out_c]
            macs = out[0] * out[1] * out[2] * out[3] * weights[1] * weights[2]
        else:  # weights [units, in]; output [rows, units]
            rows = 1
            for d in out[:-1]:
                rows *= d
            macs = rows * weights[0] * weights[1]
        by_op[name] = by_op.get(name, 0) + int(macs)
    return {"total": sum(by_op.values()), "by_op": by_op}


@dataclass(frozen=True)
class PeakRate:
    """One core's peak multiply-accumulates per cycle, and why we think so."""

    int8_macs_per_cycle: int
    float32_macs_per_cycle: int
    clock_mhz: float | None
    assumption: str

    def per_second(self, dtype: str) -> float | None:
        """Peak MACs per second of one core for ``int8`` or ``float32`` (None without a clock)."""
        if not self.clock_mhz:
            return None
        per_cycle = self.int8_macs_per_cycle if dtype == "int8" else self.float32_macs_per_cycle
        return per_cycle * self.clock_mhz * 1e6

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["int8_gmacs"] = _g(self.per_second("int8"))
        out["float32_gmacs"] = _g(self.per_second("float32"))
        return out


def _g(value: float | None) -> float | None:
    return None if value is None else round(value / 1e9, 2)


def peak_rate(cpu: dict[str, Any]) -> PeakRate:
    """Estimate one core's peak int8 and float32 MACs per cycle from :func:`sysinfo.cpu_info`.

    Rules (first match wins; each names its assumption in the result):

    * AMD with AVX-512 (Zen 4/5): two 256-bit FMA pipes, AVX-512 is split in two halves ->
      16 float32 FMAs/cycle; one 512-bit VPDPBUSD (64 u8 x s8 products) per cycle -> 64 int8.
    * Other AVX-512 VNNI (Intel server): two 512-bit FMA ports -> 32 float32, 128 int8.
    * AVX-VNNI (256-bit): 2 x 8 float32 FMAs, 2 x 32 int8 dot products -> 16 / 64.
    * AVX2 + FMA: 16 float32; int8 via VPMADDUBSW + VPMADDWD pairs -> 32.
    * ARM dot product (asimddp): 2 x 128-bit SDOT -> 32 int8; 2 x 4 float32 FMA -> 8.
    * ARM NEON (Cortex-A72, Raspberry Pi 4): 16 int8 (SMLAL), 8 float32.
    * anything else: 8 int8, 4 float32 (SSE-class).

    The clock is the highest of cpufreq's max and /proc/cpuinfo's "cpu MHz" (under a hypervisor
    that is usually the nominal clock; boost may run higher, which makes our fraction optimistic).
    """
    simd = set(cpu.get("simd") or [])
    amd = (cpu.get("vendor") or "").startswith("AuthenticAMD") or "AMD" in (cpu.get("model") or "")
    clocks = [c for c in (cpu.get("mhz_max"), cpu.get("mhz_reported")) if c]
    clock = max(clocks) if clocks else None
    if "avx512_vnni" in simd and amd:
        rule = (
            16,
            64,
            "AMD AVX-512 (Zen 4 class): 2x256-bit FMA pipes, one 512-bit VPDPBUSD/cycle",
        )
    elif "avx512_vnni" in simd:
        rule = (32, 128, "Intel AVX-512 VNNI server core: two 512-bit FMA ports")
    elif "avx_vnni" in simd:
        rule = (16, 64, "AVX-VNNI: two 256-bit FMA and two 256-bit VPDPBUSD per cycle")
    elif "avx2" in simd and "fma" in simd:
        rule = (16, 32, "AVX2+FMA: two 256-bit FMAs; int8 via VPMADDUBSW/VPMADDWD pairs")
    elif "asimddp" in simd:
        rule = (8, 32, "ARMv8.2 dot product: two 128-bit SDOT and two 128-bit FMA per cycle")
    elif "asimd" in simd or cpu.get("machine", "").startswith(("aarch64", "arm")):
        rule = (8, 16, "ARM NEON without dot product (e.g. Cortex-A72): SMLAL int8, FMLA float32")
    else:
        rule = (4, 8, "no AVX2/NEON detected: SSE-class 128-bit vectors")
    fp32, int8, why = rule
    clock_note = f"at {clock:.0f} MHz as reported" if clock else "clock unknown"
    return PeakRate(int8, fp32, clock, f"{why}; {clock_note}; one core")


def efficiency(macs: int, latency_ms: float, peak: PeakRate, dtype: str) -> dict[str, Any]:
    """Achieved MACs/s for one inference taking ``latency_ms`` against one core's peak."""
    achieved = macs / (latency_ms / 1000.0) if latency_ms > 0 else None
    limit = peak.per_second(dtype)
    fraction = achieved / limit if achieved and limit else None
    floor_us = macs / limit * 1e6 if limit else None
    return {
        "dtype": dtype,
        "macs": macs,
        "latency_ms": latency_ms,
        "achieved_gmacs": _g(achieved),
        "peak_gmacs": _g(limit),
        "fraction_of_peak": None if fraction is None else round(fraction, 4),
        "latency_at_peak_us": None if floor_us is None else round(floor_us, 2),
    }


def compute_summary(rows: list[dict[str, Any]], system: dict[str, Any]) -> dict[str, Any]:
    """MACs per inference against one core's peak, for int8 and float32 at one thread.

    Args:
        rows: bench.json's rows (:func:`benchmarks.table.build_row`).
        system: :func:`benchmarks.sysinfo.system_info` (its ``cpu`` gives the peak).
    """
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
    bound_clock(out)
    return out


def bound_clock(compute: dict[str, Any]) -> None:
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
