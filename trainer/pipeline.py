"""One training run, end to end: data -> EDA -> train each arch -> evaluate -> write the run dir.

Run directory layout::

    run.json            config, package versions, data source + checksums, seed, status
    metrics.json        the primary model's metrics at top level, every model under "models"
    model.keras         the primary architecture's trained model (an --ensemble run: the ensemble)
    models/<arch>.keras the other architectures of a --compare run (members: member<i>-<arch>)
    eda_*.png           data exploration figures
    <arch>_curves.png, <arch>_confusion.png, <arch>_misclassified.png
    report.md           all of the above for people
    checkpoints/<arch>/ per-epoch checkpoint used by --resume
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_app.contract import LABELS, VISION_LABELS
from trainer.artifacts import prepare_out_dir, save_model, write_json, write_text
from trainer.config import TrainConfig
from trainer.data import Mnist, load_mnist, split_validation
from trainer.errors import DataError, OutputError
from trainer.models import ARCHITECTURES

if TYPE_CHECKING:
    from trainer.vision_data import VisionSets

log = logging.getLogger(__name__)

PACKAGES = ("digitlite", "numpy", "tensorflow", "keras", "scikit-learn", "matplotlib")


@dataclass(frozen=True)
class RunSummary:
    """What a finished run produced: paths and the comparison rows."""

    out: Path
    model_path: Path
    report_path: Path
    rows: list[dict[str, Any]]


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape a result, plus Python's."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _run_record(config: TrainConfig, mnist: Mnist, n_train: int, n_val: int) -> dict[str, Any]:
    return {
        "status": "running",
        "run_dir": str(config.out),
        "started_at": _now(),
        "config": config.to_json(),
        "seed": config.seed,
        "versions": package_versions(),
        "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "data": {
            "source": mnist.source,
            "official": mnist.official,
            "checksums": mnist.checksums,
            "train": n_train,
            "val": n_val,
            "test": int(len(mnist.y_test)),
        },
    }


def _evaluate_and_draw(
    result: Any,
    mnist: Mnist,
    out: Path,
    config: TrainConfig,
    vision: VisionSets | None,
    name: str | None = None,
) -> dict:
    from trainer.evaluate import evaluate_model
    from trainer.plots import confusion_heatmap, misclassified_gallery, training_curves

    model, spec = result.model, ARCHITECTURES[result.arch]
    arch = name or result.arch  # the figures' and the report's name for it
    metrics = evaluate_model(
        model, mnist.x_test, mnist.y_test, vision.test if vision is not None else None
    )
    pred, probs = metrics.pop("_pred"), metrics.pop("_probs")
    figures = {
        "curves": training_curves(result.history, out / f"{arch}_curves.png", arch).name,
        "confusion": confusion_heatmap(
            metrics["confusion_matrix"], out / f"{arch}_confusion.png", f"{arch} (test set)",
            metrics["classes"],
        ).name,
        "misclassified": misclassified_gallery(
            mnist.x_test, mnist.y_test, pred, probs, out / f"{arch}_misclassified.png", arch
        ).name,
    }  # fmt: skip
    if "vision" in metrics:
        figures["vision_confusion"] = confusion_heatmap(
            metrics["vision"]["confusion_matrix"], out / f"{arch}_vision_confusion.png",
            f"{arch} (vision test crops)", metrics["classes"],
        ).name  # fmt: skip
    metrics.update(
        arch=result.arch,
        description=spec.description,
        augment=spec.augment if config.augment is None else config.augment,
        epochs=len(result.history.get("loss", [])),
        best_epoch=result.best_epoch,
        stopped_early=result.stopped_early,
        training_seconds=round(result.seconds, 1),
        history=result.history,
        figures=figures,
    )
    return metrics


def load_trained(path: Path) -> Any:
    """A saved model read back as the converter reads it (safe mode, uncompiled)."""
    import keras

    return keras.saving.load_model(path, compile=False, safe_mode=True)


def _inference_copy(arch: str, model: Any) -> Any:
    """The same weights in a fresh, uncompiled model: no optimizer state in the shipped file."""
    clean = ARCHITECTURES[arch](int(model.output_shape[-1]))
    clean.set_weights(model.get_weights())
    return clean


def run(config: TrainConfig, verbose: int = 1) -> RunSummary:
    """Train, evaluate and report every architecture in ``config`` into ``config.out``.

    Args:
        config: the run configuration.
        verbose: Keras fit verbosity (0 silent, 1 progress bar, 2 a line per epoch).

    Raises:
        DataError, OutputError, ConfigError, TrainingInterrupted: see :mod:`trainer.errors`.
    """
    out = prepare_out_dir(config.out)
    if config.resume and not (out / "run.json").is_file():
        raise OutputError(f"nothing to resume: {out} holds no run.json")
    mnist = load_mnist(config.data_dir, download=config.download).limit(config.limit)
    splits = split_validation(mnist.x_train, mnist.y_train, config.val_fraction, config.seed)
    if min(len(s) for s in splits) == 0:
        raise DataError("not enough training images for a validation split")
    vision = None
    if config.vision_photos:
        from trainer.vision_data import make_vision_sets

        vision = make_vision_sets(
            splits, (mnist.x_test, mnist.y_test), config.vision_photos, config.seed, out
        )
        x_train, y_train, x_val, y_val = splits
        splits = (
            np.concatenate([x_train, vision.train.x]),
            np.concatenate([y_train, vision.train.y]),
            np.concatenate([x_val, vision.val.x]),
            np.concatenate([y_val, vision.val.y]),
        )
    if config.crossed_sevens:
        from trainer.styles import with_crossed_sevens

        crossed = with_crossed_sevens(splits[0], splits[1], config.crossed_sevens, config.seed)
        splits = (*crossed, splits[2], splits[3])
    classes = len(VISION_LABELS) if vision is not None else len(LABELS)
    record = _run_record(config, mnist, len(splits[1]), len(splits[3]))
    if config.ensemble:
        from trainer.ensemble import ensemble_arch

        record["arch"] = ensemble_arch(config)  # what the converter's contracts call it
    if vision is not None:
        record["data"]["vision"] = {
            "photos": config.vision_photos,
            "seconds": round(vision.seconds, 1),
            "train": vision.train.counts(),
            "val": vision.val.counts(),
            "test": vision.test.counts(),
            "labels": list(VISION_LABELS),
        }
    write_json(out / "run.json", record)

    eda = None
    if config.eda:
        from trainer.eda import run_eda

        eda = run_eda(mnist, out, config.seed)

    from trainer.ensemble import ENSEMBLE, training_jobs
    from trainer.train import train_arch

    models: dict[str, dict[str, Any]] = {}
    model_paths: dict[str, Path] = {}
    members: list[tuple[str, Any]] = []
    for job in training_jobs(config):
        result = train_arch(
            job.arch, splits, job.config, out / "checkpoints" / job.name, verbose=verbose,
            classes=classes,
        )  # fmt: skip
        if job.primary:
            path = out / "model.keras"
        else:
            (out / "models").mkdir(exist_ok=True)
            path = out / "models" / f"{job.name}.keras"
        clean = _inference_copy(job.arch, result.model)
        save_model(clean, path)
        members.append((job.name, clean))
        model_paths[job.name] = path
        metrics = _evaluate_and_draw(result, mnist, out, config, vision, job.name)
        metrics["model_file"] = str(path.relative_to(out))
        metrics["size_bytes"] = path.stat().st_size
        models[job.name] = metrics
    primary_name = config.primary
    if config.ensemble:
        from trainer.ensemble import build_ensemble, evaluate_ensemble

        path = save_model(build_ensemble(members), out / "model.keras")
        model_paths[ENSEMBLE] = path
        models[ENSEMBLE] = evaluate_ensemble(load_trained(path), models, mnist, vision, out, path)
        primary_name = ENSEMBLE

    from trainer.report import comparison_rows, render_report

    rows = comparison_rows(models)
    primary = dict(models[primary_name])
    primary["models"] = {a: {k: v for k, v in m.items()} for a, m in models.items()}
    primary["comparison"] = rows
    write_json(out / "metrics.json", primary)
    record.update(status="complete", finished_at=_now())
    write_json(out / "run.json", record)
    report = write_text(out / "report.md", render_report(record, primary, eda))
    log.info("report written to %s", report)
    return RunSummary(out, model_paths[primary_name], report, rows)
