"""Which TFLite interpreter runs the model: LiteRT, then tflite-runtime, then TensorFlow.

The device normally has only one of them. ``ai_edge_litert`` is LiteRT, the renamed
tflite-runtime; ``tflite_runtime`` 2.14 is the last release of the old name (32-bit Raspberry Pi
OS, numpy < 2) and what python-for-android builds for APKs; ``tensorflow.lite`` is the fallback on
a training machine. Which one loaded is logged and reported.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_app.errors import ModelError, RuntimeNotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """One way to get a TFLite ``Interpreter`` class."""

    name: str
    module: str  # imported with importlib
    attribute: str  # dotted path to the Interpreter class inside the module
    package: str  # what to pip install
    version_module: str  # where __version__ lives


RUNTIMES: tuple[Runtime, ...] = (
    Runtime(
        "litert", "ai_edge_litert.interpreter", "Interpreter", "ai-edge-litert", "ai_edge_litert"
    ),
    Runtime(
        "tflite-runtime",
        "tflite_runtime.interpreter",
        "Interpreter",
        "tflite-runtime",
        "tflite_runtime",
    ),
    Runtime("tensorflow", "tensorflow", "lite.Interpreter", "tensorflow", "tensorflow"),
)
RUNTIME_NAMES = tuple(r.name for r in RUNTIMES)


def _runtime(name: str) -> Runtime:
    for runtime in RUNTIMES:
        if runtime.name == name:
            return runtime
    from edge_app.cliparts import did_you_mean

    raise RuntimeNotFoundError(
        f"unknown runtime '{name}' (choose from {', '.join(RUNTIME_NAMES)})"
        f"{did_you_mean(name, RUNTIME_NAMES)}"
    )


def _import_interpreter_class(runtime: Runtime) -> type:
    module = importlib.import_module(runtime.module)
    obj: Any = module
    for part in runtime.attribute.split("."):
        obj = getattr(obj, part)
    return obj


def runtime_version(name: str) -> str | None:
    """The installed version of a runtime, or None when it is not installed."""
    try:
        module = importlib.import_module(_runtime(name).version_module)
    except ImportError:
        return None
    return getattr(module, "__version__", "unknown")


def resolve_interpreter_class(name: str | None = None) -> tuple[type, str]:
    """Find an Interpreter class: the one named, or the first installed in :data:`RUNTIMES` order.

    Returns:
        ``(Interpreter class, runtime name)``.

    Raises:
        RuntimeNotFoundError: nothing (or not the named runtime) is installed; the message names
            the pip packages that provide one.
    """
    candidates = [_runtime(name)] if name else list(RUNTIMES)
    failures = []
    for runtime in candidates:
        try:
            cls = _import_interpreter_class(runtime)
        except ImportError as exc:  # also numpy-ABI breakage of tflite-runtime on numpy 2
            failures.append(f"{runtime.name}: {exc}")
            log.debug("runtime %s unavailable: %s", runtime.name, exc)
            continue
        except AttributeError as exc:
            failures.append(f"{runtime.name}: {exc}")
            continue
        return cls, runtime.name
    if name:
        raise RuntimeNotFoundError(
            f"runtime '{name}' is not usable here ({failures[0]}); "
            f"pip install {_runtime(name).package}"
        )
    raise RuntimeNotFoundError(
        "no TFLite interpreter installed; pip install ai-edge-litert "
        "(or tflite-runtime on 32-bit ARM, or tensorflow)"
    )


def load_interpreter(
    model: str | Path | bytes,
    *,
    runtime: str | None = None,
    threads: int | None = None,
    source: str | None = None,
) -> tuple[Any, str]:
    """Create and allocate an interpreter for a .tflite file or its bytes.

    Args:
        model: path to a .tflite file, or the file's bytes.
        runtime: force one of :data:`RUNTIME_NAMES`; default: first installed.
        threads: interpreter threads (None: the runtime's default).
        source: how to name the model in logs and errors (default: its path, or "model bytes").

    Returns:
        ``(interpreter, runtime name)`` with tensors allocated.

    Raises:
        RuntimeNotFoundError: no interpreter package.
        ModelError: the runtime cannot load this model (not TFLite, unsupported op, corrupt
            bytes, a tensor name that is not UTF-8, ...).
    """
    cls, name = resolve_interpreter_class(runtime)
    kwargs: dict[str, Any] = {"num_threads": threads} if threads else {}
    if isinstance(model, bytes | bytearray):
        kwargs["model_content"] = bytes(model)
        label = source or "model bytes"
    else:
        kwargs["model_path"] = str(model)
        label = source or str(model)
    try:
        with warnings.catch_warnings():
            # tf.lite.Interpreter warns, in ten lines on stderr, that it is deprecated in favour
            # of LiteRT; say it once, in one line, below.
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            interpreter = cls(**kwargs)
        interpreter.allocate_tensors()
        # The tensor details are decoded from the file on every call (names as UTF-8): read
        # them once here, so a corrupt name fails the load and not the first caller to look.
        interpreter.get_input_details()
        interpreter.get_output_details()
    except Exception as exc:  # a native loader: whatever it raises, the file is bad
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{name} cannot load {label}: {first}") from exc
    log.info("loaded %s with %s %s", label, name, runtime_version(name))
    if name == "tensorflow":
        log.info("tf.lite.Interpreter is deprecated; pip install ai-edge-litert to use LiteRT")
    return interpreter, name
