"""Which TFLite runtimes can run a converted model, and the minimum version it needs.

Every builtin operator in a .tflite file carries a version; a runtime older than the release that
introduced that op version refuses the model ("Didn't find op for builtin opcode ... version
...") at load time. :data:`OP_INTRODUCED` maps (op, version) to that release for the ops
DigitLite models use; it is taken from TensorFlow's
``tensorflow/lite/tools/versioning/runtime_version.cc`` (the table the converter itself uses to
write the ``min_runtime_version`` metadata). The runtimes users actually have are in
:data:`TARGETS`: LiteRT as installed here (actually loaded), tflite-runtime 2.14 (the last
release, 32-bit Raspberry Pi OS) and TFLite 2.8 (python-for-android's tflite-runtime recipe).
A target whose runtime is installed here is also actually loaded.

Pure functions on ``(op name, version)`` pairs need no TensorFlow; only :func:`op_inventory`
reads a flatbuffer with TensorFlow's schema module.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from edge_app.contract import min_runtime_version
from edge_app.errors import DigitLiteError
from edge_app.runtime import load_interpreter, runtime_version

log = logging.getLogger(__name__)

Op = tuple[str, int]  # (builtin operator name, op version)

# builtin op -> the first TFLite release accepting version 1, 2, 3... of it (runtime_version.cc).
# Kept to the ops our architectures (and their int8/float16/dynamic conversions) produce, plus
# the dynamic-batch ops (SHAPE, STRIDED_SLICE, PACK) a model with a free batch would add.
OP_RELEASES: dict[str, tuple[str, ...]] = {
    "ADD": ("1.5.0", "1.14.0", "2.4.0", "2.6.0"),
    "AVERAGE_POOL_2D": ("1.5.0", "1.14.0", "2.3.0"),
    "BATCH_MATMUL": ("2.3.0", "2.3.0", "2.4.0", "2.5.0"),
    "CONCATENATION": ("1.5.0", "1.14.0", "2.3.0"),
    "CONV_2D": ("1.5.0", "1.14.0", "1.14.0", "2.3.0", "2.4.0", "2.9.0", "2.11.0"),
    "DEPTHWISE_CONV_2D": ("1.5.0", "1.12.0", "1.14.0", "2.2.0", "2.3.0", "2.3.0", "2.11.0"),
    "DEQUANTIZE": ("1.13.1", "1.14.0", "1.15.0", "2.2.0", "2.7.0"),
    # v11 is not in the public table we could read (left unknown). v12 (per-channel hybrid
    # weights): TF 2.21's converter records min_runtime_version 2.17.0 for a model whose only
    # newer op is FULLY_CONNECTED v12, and tflite-runtime 2.14 refuses it when loaded.
    "FULLY_CONNECTED": (
        "1.5.0",
        "1.10.0",
        "1.14.0",
        "1.14.0",
        "2.0.0",
        "2.1.0",
        "2.3.0",
        "2.3.0",
        "2.3.0",
        "2.11.0",
        "",
        "2.17.0",
    ),  # fmt: skip
    "HARD_SWISH": ("1.15.0",),
    "LOGISTIC": ("1.14.0", "1.14.0", "2.3.0"),
    "MAX_POOL_2D": ("1.5.0", "1.14.0", "2.3.0"),
    "MEAN": ("1.6.0", "1.14.0", "2.4.0"),
    "MUL": ("1.5.0", "1.14.0", "1.15.0", "2.3.0", "2.6.0", "2.11.0"),
    "PACK": ("1.11.0", "1.14.0", "2.3.0"),
    "PAD": ("1.5.0", "1.14.0", "2.4.0", "2.6.0"),
    "QUANTIZE": ("1.14.0", "1.15.0", "2.7.0"),
    "RELU": ("1.5.0", "2.1.0", "2.5.0"),
    "RELU6": ("1.5.0", "1.14.0", "2.5.0"),
    "RESHAPE": ("1.5.0",),
    "SHAPE": ("1.10.0",),
    "SOFTMAX": ("1.5.0", "1.14.0", "2.3.0"),
    "STRIDED_SLICE": ("1.6.0", "1.14.0", "2.1.0", "2.2.0", "2.5.0", "2.6.0"),
    "SUB": ("1.6.0", "1.14.0", "2.3.0", "2.4.0", "2.4.0"),
    "TANH": ("1.14.0", "1.14.0", "2.3.0"),
    "TRANSPOSE": ("1.6.0", "1.14.0", "1.15.0", "2.3.0", "2.4.0", "2.12.0"),
}
OP_INTRODUCED: dict[Op, str] = {
    (op, version): release
    for op, releases in OP_RELEASES.items()
    for version, release in enumerate(releases, 1)
    if release
}
TABLE_NEWEST = "2.13.0"  # the newest release the table above was checked against


@dataclass(frozen=True)
class Target:
    """A TFLite runtime users have.

    Attributes:
        key: short name used in reports and JSON.
        label: what to call it in the table.
        version: the runtime release; None = as installed here (LiteRT).
        runtime: the :mod:`edge_app.runtime` name to load it with, when installed here.
        who: who runs it.
    """

    key: str
    label: str
    version: str | None
    runtime: str | None
    who: str


TARGETS: tuple[Target, ...] = (
    Target("litert", "LiteRT (installed)", None, "litert", "64-bit Pi OS, desktops, new APKs"),
    Target(
        "tflite-runtime-2.14",
        "tflite-runtime 2.14",
        "2.14.0",
        "tflite-runtime",
        "32-bit Raspberry Pi OS (last release)",
    ),  # fmt: skip
    Target("tflite-2.8", "TFLite 2.8", "2.8.0", None, "python-for-android tflite-runtime recipe"),
)


def parse_version(text: str) -> tuple[int, ...]:
    """``"2.14.0"`` -> ``(2, 14, 0)``; ``"2.17.0rc1"`` -> ``(2, 17, 0)``."""
    parts = []
    for piece in text.strip().split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group()))
        if match.end() < len(piece):  # "0rc1": a pre-release suffix ends the number
            break
    return tuple(parts)


def newest(versions: list[str]) -> str | None:
    """The highest of some version strings, or None for none."""
    return max(versions, key=parse_version) if versions else None


def op_inventory(model: bytes) -> list[Op]:
    """The distinct builtin ``(operator name, version)`` pairs a .tflite model uses, sorted."""
    from tensorflow.lite.python import schema_py_generated as sch
    from tensorflow.lite.tools import flatbuffer_utils as fu

    names = {v: k for k, v in vars(sch.BuiltinOperator).items() if not k.startswith("_")}
    tree = fu.read_model_from_bytearray(bytearray(model))
    ops = set()
    for code in tree.operatorCodes or []:
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.customCode
            name = f"CUSTOM:{custom.decode() if isinstance(custom, bytes) else custom}"
        ops.add((name, int(code.version)))
    return sorted(ops)


def required_version(ops: list[Op], recorded: str | None = None) -> tuple[str | None, list[Op]]:
    """The minimum runtime release the ops need, and the ops the table does not know.

    Args:
        ops: ``(name, version)`` pairs from :func:`op_inventory`.
        recorded: the ``min_runtime_version`` the converter wrote into the model, if any.

    Returns:
        ``(version or None, unknown ops)``.
    """
    known = [OP_INTRODUCED[op] for op in ops if op in OP_INTRODUCED]
    unknown = [op for op in ops if op not in OP_INTRODUCED]
    return newest(known + ([recorded] if recorded else [])), unknown


def table_verdict(target_version: str, needed: str | None, unknown: list[Op]) -> dict[str, Any]:
    """Whether a runtime of ``target_version`` can load a model, judged from its ops alone."""
    if needed and parse_version(needed) > parse_version(target_version):
        return {
            "loads": False,
            "how": "op table",
            "detail": f"will NOT load: needs TFLite >= {needed}, this is {target_version}",
        }
    if unknown:
        names = ", ".join(f"{n} v{v}" for n, v in unknown)
        return {
            "loads": None,
            "how": "op table",
            "detail": f"unknown: {names} not in the op table (newer than {TABLE_NEWEST}?)",
        }
    return {"loads": True, "how": "op table", "detail": f"ok (needs >= {needed or '?'})"}


def _load_verdict(model: bytes, runtime: str) -> dict[str, Any]:
    try:
        load_interpreter(model, runtime=runtime)
    except DigitLiteError as exc:
        return {"loads": False, "how": "loaded", "detail": f"will NOT load: {exc}"}
    return {"loads": True, "how": "loaded", "detail": "loaded and allocated"}


def check_target(model: bytes, target: Target, needed: str | None, unknown: list[Op]) -> dict:
    """Verdict for one target: really load it when that runtime is installed here."""
    installed = runtime_version(target.runtime) if target.runtime else None
    same_release = installed is not None and (
        target.version is None or parse_version(installed)[:2] == parse_version(target.version)[:2]
    )
    if same_release:
        verdict = _load_verdict(model, target.runtime)
        verdict["version"] = installed
    elif target.version is None:
        verdict = {"loads": None, "how": "not installed", "detail": "not installed here"}
        verdict["version"] = None
    else:
        verdict = table_verdict(target.version, needed, unknown)
        verdict["version"] = target.version
    return verdict


def compatibility(model: bytes) -> dict[str, Any]:
    """The compatibility report of one model.

    Returns:
        ``{"min_runtime_version", "recorded_min_runtime_version", "ops": ["CONV_2D v3", ...],
        "runtimes": {target key: {"loads": True/False/None, "how", "detail", "version"}}}``.
    """
    ops = op_inventory(model)
    recorded = min_runtime_version(model)
    needed, unknown = required_version(ops, recorded)
    return {
        "min_runtime_version": needed,
        "recorded_min_runtime_version": recorded,
        "ops": [f"{name} v{version}" for name, version in ops],
        "runtimes": {t.key: check_target(model, t, needed, unknown) for t in TARGETS},
    }
