"""What a benchmark ran on: CPU, cores, clock, vector extensions, OS and library versions.

Versions come from package metadata (``importlib.metadata``), so recording them imports neither
TensorFlow nor any runtime. Numbers from different machines are not comparable; this record is
what lets a reader tell two runs apart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
from pathlib import Path
from typing import Any

from edge_app.versions import package_versions

log = logging.getLogger(__name__)

#: Distributions whose versions a bench run records (pip names).
LIBRARIES = (
    "numpy",
    "ai-edge-litert",
    "tflite-runtime",
    "tensorflow",
    "keras",
    "onnxruntime",
    "opencv-python-headless",
    "opencv-python",
    "tf2onnx",
    "onnx",
    "matplotlib",
)
#: CPU flags that decide which SIMD kernels the runtimes can use.
SIMD_FLAGS = (
    "sse4_1",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_int8",
    "asimd",
    "asimddp",
    "i8mm",
)
#: Environment variables that change how numerical libraries run.
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Pick model name, family/model, clock, flags and physical core count out of /proc/cpuinfo.

    Works for x86 (``model name``, ``flags``) and ARM (``Features``, ``CPU part``) layouts.
    """
    info: dict[str, Any] = {}
    cores: set[tuple[str, str]] = set()
    physical_id = core_id = ""
    mhz: list[float] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key in ("model name", "Model", "Hardware") and "model" not in info:
            info["model"] = value
        elif key == "vendor_id":
            info.setdefault("vendor", value)
        elif key == "cpu family":
            info.setdefault("family", value)
        elif key == "model" and value.isdigit():
            info.setdefault("model_number", int(value))
        elif key in ("flags", "Features"):
            info.setdefault("flags", value.split())
        elif key == "cpu MHz":
            with contextlib.suppress(ValueError):
                mhz.append(float(value))
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            core_id = value
            cores.add((physical_id, core_id))
        elif key == "CPU part":
            info.setdefault("cpu_part", value)
    if mhz:
        info["mhz"] = max(mhz)
    if cores:
        info["physical_cores"] = len(cores)
    return info


def _max_freq_mhz() -> float | None:
    path = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        return int(path.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def cpu_info(cpuinfo_path: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """CPU model, cores, clock and SIMD flags of this machine (what can be read without root)."""
    try:
        parsed = parse_cpuinfo(Path(cpuinfo_path).read_text(errors="replace"))
    except OSError:
        parsed = {}
    flags = set(parsed.get("flags", []))
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    max_mhz = _max_freq_mhz()
    return {
        "model": parsed.get("model") or platform.processor() or "unknown",
        "family": parsed.get("family"),
        "model_number": parsed.get("model_number"),
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "physical_cores": parsed.get("physical_cores"),
        "mhz_reported": parsed.get("mhz"),
        "mhz_max": max_mhz,
        "hypervisor": "hypervisor" in flags,
        "vendor": parsed.get("vendor"),
        "simd": [f for f in SIMD_FLAGS if f in flags],
    }


def load_average() -> list[float] | None:
    """1/5/15-minute load averages: a busy shared machine makes latencies noisy."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def system_info() -> dict[str, Any]:
    """Everything :mod:`benchmarks` records about the machine and software it ran on."""
    return {
        "cpu": cpu_info(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "libraries": package_versions(LIBRARIES),
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
        "load_average": load_average(),
    }
