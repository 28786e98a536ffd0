"""One conversion run: model.keras in; verified, stamped .tflite variants and a report out.

Order matters: everything a user can get wrong (format names, sample counts, the output
directory, the model file) is checked before any slow work. Models are built in a hidden
staging directory inside the output directory and moved into place (``os.replace``) only when
every requested format converted and verified, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from converter.calibration import (
    DEFAULT_CALIBRATION_SAMPLES,
    calibration_images,
    check_calibration_count,
    representative_dataset,
)
from converter.compat import compatibility
from converter.convert import (
    SourceModel,
    convert,
    fixed_batch_model,
    load_source_model,
    resolve_model_path,
)
from converter.errors import ConversionFailed
from converter.formats import DEFAULT_FORMATS, Format, parse_formats
from converter.gate import DEFAULT_MAX_DROP_PP, gate_status
from converter.report import ConversionRow, VisionRow, render_markdown
from converter.stamp import build_contract, embed_contract, package_versions
from converter.verify import Check, KerasReference, compare, keras_reference, verify_model
from edge_app import files
from edge_app.classifier import Classifier
from edge_app.contract import VISION_LABELS, default_labels, model_input
from edge_app.runtime import resolve_interpreter_class

log = logging.getLogger(__name__)

REPORT_JSON = "conversion.json"
REPORT_MD = "conversion.md"
REPORT_SCHEMA = 1
RESTAMP_CHECK_IMAGES = 200


@dataclass(frozen=True)
class ConvertConfig:
    """What ``digits-convert`` was asked to do (saved in the report's ``settings``).

    Attributes:
        source: a run directory holding ``model.keras``, or a ``.keras`` file.
        formats: format names from :data:`converter.formats.FORMATS`.
        out: output directory (None: the model's directory).
        calibration_samples: int8 representative images.
        max_drop: largest accuracy loss vs Keras allowed per variant, in percentage points.
        data_dir: where MNIST is looked for first.
        runtime: force an edge interpreter for verification (None: the device order).
        seed: picks the calibration images.
        download: allow downloading MNIST when it is nowhere local.
    """

    source: Path
    formats: tuple[str, ...] = DEFAULT_FORMATS
    out: Path | None = None
    calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES
    max_drop: float = DEFAULT_MAX_DROP_PP
    data_dir: Path | None = None
    runtime: str | None = None
    seed: int = 0
    download: bool = True


@dataclass(frozen=True)
class Outcome:
    """What a run produced: the report dict and where it was written."""

    report: dict[str, Any]
    out: Path
    markdown: str

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])

    @property
    def failed_formats(self) -> list[str]:
        return [r["format"] for r in self.report["formats"] if not r["passed"]]


def _arch_of(run_dir: Path) -> str | None:
    """The architecture of the run's model.keras, as the trainer recorded it in run.json: an
    ensemble's ``arch`` (``ensemble:edge-cnn,seed-cnn``), else the primary ``config.archs[0]``."""
    try:
        record = json.loads((run_dir / "run.json").read_text())
        if isinstance(record.get("arch"), str):
            return record["arch"]
        return str(record["config"]["archs"][0])
    except (OSError, ValueError, TypeError, AttributeError, KeyError, IndexError):
        return None


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB"


@dataclass(frozen=True)
class _Job:
    """What every format's conversion shares within one run."""

    config: ConvertConfig
    source: SourceModel
    arch: str | None
    model_b1: Any
    calibration: np.ndarray | None
    x: np.ndarray
    y: np.ndarray
    reference: KerasReference
    staging: Path
    mnist_count: int  # x holds MNIST test images first, then the vision test crops (if any)
    labels: tuple[str, ...]


def _convert_one(fmt: Format, job: _Job) -> ConversionRow:
    """Convert, verify (unstamped), stamp with the measured numbers, re-check; one report row."""
    config, source, calibration, x = job.config, job.source, job.calibration, job.x
    start = time.perf_counter()
    dataset = representative_dataset(calibration) if fmt.needs_calibration else None
    raw = convert(job.model_b1, fmt, dataset)
    convert_seconds = time.perf_counter() - start
    log.info("%s converted in %.1f s (%s)", fmt.name, convert_seconds, _kb(len(raw)))

    unstamped = job.staging / f"unstamped_{fmt.filename}"
    unstamped.write_bytes(raw)
    full, probs = verify_model(unstamped, x, job.y, job.reference, runtime=config.runtime)
    check = _check_part(job, probs, 0, job.mnist_count, full)
    vision = None
    if len(job.y) > job.mnist_count:
        vision = _check_part(job, probs, job.mnist_count, len(job.y), full)
    unstamped.unlink()
    log.info(
        "%s verified on %d images in %.1f s with %s: accuracy %.2f%% (%+.2f pp), "
        "agreement %.2f%%",
        fmt.name, check.samples, check.seconds, check.runtime, check.accuracy * 100,
        check.delta_pp, check.agreement * 100,
    )  # fmt: skip

    if vision is not None:
        log.info(
            "%s on %d vision test crops: accuracy %.2f%% (%+.2f pp), agreement %.2f%%",
            fmt.name, vision.samples, vision.accuracy * 100, vision.delta_pp,
            vision.agreement * 100,
        )  # fmt: skip
    extra = {
        "test_samples": check.samples,
        "agreement": round(check.agreement, 6),
        "max_prob_diff": round(check.max_prob_diff, 6),
        "verified_with": check.runtime,
        "keras_model_name": getattr(source.model, "name", None),
    }
    if vision is not None:
        extra["vision_accuracy"] = round(vision.accuracy, 6)
        extra["vision_keras_accuracy"] = round(vision.keras_accuracy, 6)
        extra["vision_samples"] = vision.samples
    if fmt.needs_calibration:
        extra["calibration_samples"] = len(calibration)
    contract = build_contract(
        fmt, raw, source_sha256=source.sha256, accuracy=check.accuracy,
        keras_accuracy=check.keras_accuracy, arch=job.arch, labels=job.labels, extra=extra,
    )  # fmt: skip
    stamped = embed_contract(raw, contract)
    target = job.staging / fmt.filename
    files.write_bytes(target, stamped)
    _check_stamped(target, x[:RESTAMP_CHECK_IMAGES], probs[:RESTAMP_CHECK_IMAGES], config.runtime)
    row = _row(fmt, check, stamped, contract.quantization, convert_seconds, config)
    if vision is None:
        return row
    return replace(
        row,
        vision=VisionRow(
            accuracy=vision.accuracy,
            keras_accuracy=vision.keras_accuracy,
            delta_pp=round(vision.delta_pp, 4),
            agreement=vision.agreement,
            samples=vision.samples,
        ),
    )


def _check_part(job: _Job, probs: np.ndarray, start: int, stop: int, full: Check) -> Check:
    """The verification numbers on images ``start:stop`` of the job's inputs."""
    y = job.y[start:stop]
    reference = job.reference.part(start, stop, y)
    numbers = compare(probs[start:stop], y, reference)
    return Check(keras_accuracy=reference.accuracy, samples=len(y), runtime=full.runtime,
                 seconds=full.seconds, **numbers)  # fmt: skip


def _check_stamped(path: Path, x: np.ndarray, expected: np.ndarray, runtime: str | None) -> None:
    """The stamped file must load with its contract and compute exactly what was verified."""
    got = Classifier(path, runtime=runtime, require_contract=True).predict_proba(x)
    if not np.array_equal(got, expected):
        raise ConversionFailed(f"{path.name}: stamping the contract changed the model's outputs")


def _row(
    fmt: Format,
    check: Check,
    data: bytes,
    quantization: dict[str, Any],
    convert_seconds: float,
    config: ConvertConfig,
) -> ConversionRow:
    passed, status = gate_status(check.delta_pp, config.max_drop)
    return ConversionRow(
        format=fmt.name,
        file=fmt.filename,
        summary=fmt.summary,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        size_ratio_vs_float32=None,  # filled in once every row exists
        accuracy=check.accuracy,
        keras_accuracy=check.keras_accuracy,
        delta_pp=round(check.delta_pp, 4),
        agreement=check.agreement,
        disagreements=int(round((1 - check.agreement) * check.samples)),
        max_prob_diff=check.max_prob_diff,
        mean_prob_diff=check.mean_prob_diff,
        samples=check.samples,
        runtime=check.runtime,
        convert_seconds=round(convert_seconds, 3),
        verify_seconds=round(check.seconds, 3),
        quantization=quantization,
        runtime_notes=fmt.runtime_notes,
        compat=compatibility(data),
        passed=passed,
        status=status,
    )


def _vision_crops(run_dir: Path) -> tuple[Any, Any]:
    """The trainer's validation and test crops of a vision model's run (None where missing)."""
    from trainer.vision_data import TEST_FILE, VAL_FILE, load

    found = []
    for name in (VAL_FILE, TEST_FILE):
        path = run_dir / name
        if path.is_file():
            found.append(load(path))
        else:
            log.warning("%s not found: the vision model is verified on MNIST only", path)
            found.append(None)
    return found[0], found[1]


def _load_test_data(config: ConvertConfig) -> Any:
    from trainer.data import load_mnist

    return load_mnist(config.data_dir, download=config.download)


def run_conversion(config: ConvertConfig) -> Outcome:
    """Convert, verify, stamp and report every requested format.

    Returns:
        The :class:`Outcome`; its ``passed`` says whether every variant met the gate. The report
        is written either way.

    Raises:
        ConverterError and other DigitLiteErrors: bad input, a conversion that fails, a model
            the edge runtime cannot load, MNIST missing. Nothing is left half-written.
    """
    total_start = time.perf_counter()
    formats = parse_formats(config.formats)
    wants_int8 = any(f.needs_calibration for f in formats)
    if wants_int8:
        check_calibration_count(config.calibration_samples)
    model_path = resolve_model_path(config.source)
    resolve_interpreter_class(config.runtime)  # verification needs the device's interpreter
    out = files.ensure_writable_dir(config.out or model_path.parent)

    source = load_source_model(model_path)
    arch = _arch_of(source.run_dir)
    mnist = _load_test_data(config)
    labels = default_labels(int(source.model.output_shape[-1]))
    crops_val = crops_test = None
    if labels == VISION_LABELS:
        crops_val, crops_test = _vision_crops(source.run_dir)
    calibration = None
    if wants_int8:
        calibration = calibration_images(
            mnist.x_train, mnist.y_train, config.calibration_samples, seed=config.seed
        )
        if crops_val is not None:
            # A vision model also sees non-digits: calibrate its ranges on both halves.
            pick = np.random.default_rng(config.seed).permutation(len(crops_val.y))
            extra = model_input(crops_val.x[pick[: config.calibration_samples // 2]])
            calibration = np.concatenate([calibration[: len(calibration) - len(extra)], extra])
    x, y = model_input(mnist.x_test), np.asarray(mnist.y_test)
    mnist_count = len(y)
    if crops_test is not None:
        x = np.concatenate([x, model_input(crops_test.x)])
        y = np.concatenate([y, crops_test.y])
    reference = keras_reference(source.model, x, y)
    log.info(
        "keras original: accuracy %.2f%% on %d MNIST test images (%.1f s)",
        reference.part(0, mnist_count, y[:mnist_count]).accuracy * 100, mnist_count,
        reference.seconds,
    )  # fmt: skip
    model_b1 = fixed_batch_model(source.model)

    staging = Path(tempfile.mkdtemp(dir=out, prefix=".digits-convert-"))
    try:
        job = _Job(config, source, arch, model_b1, calibration, x, y, reference, staging,
                   mnist_count, labels)  # fmt: skip
        rows = [_convert_one(fmt, job) for fmt in formats]
        for fmt, row in zip(formats, rows, strict=True):
            final = fmt.path(out)
            (staging / fmt.filename).replace(final)
            log.info(
                "%s model written in %.1f s -> %s (%s)", fmt.name,
                row.convert_seconds + row.verify_seconds, final, _kb(row.size_bytes),
            )  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    float32 = next((r for r in rows if r.format == "float32"), None)
    if float32:
        rows = [
            replace(r, size_ratio_vs_float32=round(r.size_bytes / float32.size_bytes, 4))
            for r in rows
        ]
    report = {
        "schema": REPORT_SCHEMA,
        "passed": all(r.passed for r in rows),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "total_seconds": round(time.perf_counter() - total_start, 2),
        "source": {
            "path": str(source.path),
            "file": source.path.name,
            "sha256": source.sha256,
            "size_bytes": source.path.stat().st_size,
            "arch": arch,
            "keras_accuracy": reference.part(0, mnist_count, y[:mnist_count]).accuracy,
            "keras_seconds": round(reference.seconds, 3),
            "test_samples": mnist_count,
            "vision_test_samples": len(y) - mnist_count,
            "labels": list(labels),
            "data_source": str(mnist.source),
            "data_official": bool(getattr(mnist, "official", False)),
        },
        "settings": {
            "formats": [f.name for f in formats],
            "calibration_samples": config.calibration_samples if wants_int8 else None,
            "max_drop_pp": config.max_drop,
            "runtime": config.runtime,
            "seed": config.seed,
        },
        "versions": package_versions(),
        "formats": [r.to_dict() for r in rows],
    }
    markdown = render_markdown(report)
    files.write_json(out / REPORT_JSON, report)
    files.write_text(out / REPORT_MD, markdown)
    log.info("report written -> %s, %s", out / REPORT_JSON, out / REPORT_MD)
    return Outcome(report=report, out=out, markdown=markdown)
