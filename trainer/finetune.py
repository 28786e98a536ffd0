"""Fine-tune a trained model on a user's own digits, mixed with MNIST so MNIST is not forgotten.

``digits-train --finetune RUN_DIR --extra-data DIR [DIR ...]`` starts from ``RUN_DIR/model.keras``
and writes a new run directory that ``digits-convert`` and the shipping step take unchanged
(``model.keras``, ``run.json`` naming the architecture, the vision crop sets of a 12-class
run). The recipe, chosen to adapt in a minute or two without unlearning:

* the user's images are split into a training part and a held-out part by a fixed seed
  (:meth:`trainer.userdata.UserData.split`); nothing held out is trained on or chooses anything;
* each epoch mixes the user's training images (repeated so they make up ``user_share`` of it)
  with a seeded sample of MNIST training images and, for a 12-class model, the vision step's
  own crops from the source run's ``vision_val.npz`` (regenerated from a few synthetic photos
  when the run has none), so ``none`` and ``cut`` keep their meaning: the user's folders hold
  digits only, and a model shown nothing but digits would stop saying "not a digit";
* the same augmentation as training; batch-norm statistics frozen (the mix is not MNIST's
  distribution, and moving the statistics would shift every prediction on MNIST too); AdamW
  with a short warm-up and cosine decay from a learning rate well below training's; a fixed
  number of epochs, since the only data left to stop on would be the held-out part.

The report (:mod:`trainer.finetune_report`) puts before and after side by side: the held-out
images, MNIST test, the vision test crops, and the user's images still read wrong.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.contract import LABELS, VISION_LABELS
from trainer.artifacts import prepare_out_dir, save_model, write_json, write_text
from trainer.errors import ConfigError, DataError, OutputError

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
VISION_FILES = ("vision_val.npz", "vision_test.npz")
REGENERATED_PHOTOS = 300  # vision photos made when the source run kept no vision_val.npz


@dataclass(frozen=True)
class FinetuneConfig:
    """What ``digits-train --finetune`` was asked to do (saved as ``config`` in ``run.json``).

    Attributes:
        source: the run directory (or ``.keras`` file) to start from.
        extra: the user's folders, one folder per class in each.
        out: the new run directory (never the source's).
        epochs: passes over the mix.
        batch_size: images per step.
        learning_rate: peak learning rate (training's default is 10x higher).
        weight_decay: AdamW decoupled weight decay.
        holdout: share of each class of the user's images held out to measure on.
        seed: the split, the MNIST sample, the weights' noise.
        mnist_images: MNIST training images in the mix.
        vision_images: at most this many vision crops in the mix (12-class models).
        user_share: the user's share of each epoch (their images are repeated to reach it).
        augment: rotation, zoom and shift as in training.
        min_per_class: fewest images a class in the user's folders may have.
        data_dir, download: where MNIST is found (as for training).
    """

    source: Path
    extra: tuple[Path, ...]
    out: Path
    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    holdout: float = 0.25
    seed: int = 42
    mnist_images: int = 10000
    vision_images: int = 5000
    user_share: float = 0.3
    augment: bool = True
    min_per_class: int = 5
    data_dir: Path | None = None
    download: bool = True

    def __post_init__(self) -> None:
        if not self.extra:
            raise ConfigError("--finetune needs --extra-data DIR (your digits, one folder each)")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch-size must be at least 1")
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError(f"holdout must be between 0 and 1, got {self.holdout}")
        if not 0.0 < self.user_share < 1.0:
            raise ConfigError(f"user share must be between 0 and 1, got {self.user_share}")
        if self.mnist_images < 0 or self.vision_images < 0:
            raise ConfigError("mnist-images and vision-images must be 0 or more")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["source"], data["out"] = str(self.source), str(self.out)
        data["extra"] = [str(p) for p in self.extra]
        data["data_dir"] = str(self.data_dir) if self.data_dir else None
        return data


@dataclass(frozen=True)
class FinetuneSummary:
    """What a fine-tune produced."""

    out: Path
    model_path: Path
    report_path: Path
    table: str


def _source_paths(source: Path) -> tuple[Path, Path]:
    """``(model file, run directory)`` of ``--finetune``'s argument."""
    source = Path(source).expanduser()
    model = source / MODEL_FILE if source.is_dir() else source
    if not model.is_file():
        what = f"{source} holds no {MODEL_FILE}" if source.is_dir() else f"no such run: {source}"
        raise OutputError(f"--finetune: {what}; give a run directory digits-train wrote")
    return model, model.parent


def _source_record(run_dir: Path) -> dict[str, Any]:
    try:
        record = json.loads((run_dir / "run.json").read_text())
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        log.warning("%s has no readable run.json; the architecture will be unknown", run_dir)
        return {}


def _arch(record: dict[str, Any]) -> str | None:
    if isinstance(record.get("arch"), str):
        return record["arch"]
    archs = (record.get("config") or {}).get("archs") or []
    return str(archs[0]) if archs else None


def load_keras(path: Path) -> Any:
    """``model.keras`` in Keras' safe mode (a model file cannot run code), uncompiled."""
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors, TypeError...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OutputError(f"{path} is not a loadable Keras model: {first[:300]}") from exc
    outputs = int(model.output_shape[-1])
    if outputs not in (len(LABELS), len(VISION_LABELS)):
        raise ConfigError(f"{path}: {outputs} outputs; a DigitLite model has 10 or 12")
    return model


def _vision_mix(run_dir: Path, mnist: Any, config: FinetuneConfig) -> tuple[Any, str]:
    """Vision crops that keep ``none`` and ``cut`` alive, and where they came from."""
    from trainer.vision_data import MAX_SHARE, CropData, load

    path = run_dir / VISION_FILES[0]
    if path.is_file():
        crops, where = load(path), str(path)
    else:
        from trainer.synth.crops import make_crops

        log.warning("%s not found: making %d vision photos instead", path, REGENERATED_PHOTOS)
        made = make_crops(mnist.x_train, mnist.y_train, REGENERATED_PHOTOS,
                          seed=config.seed + 7, max_share=MAX_SHARE)  # fmt: skip
        crops, where = CropData(made.images, made.labels.astype(np.int64)), "regenerated"
    pick = np.random.default_rng(config.seed + 2).permutation(len(crops.y))
    pick = pick[: config.vision_images]
    return CropData(crops.x[pick], crops.y[pick]), where


def _mix(user: Any, mnist: Any, vision: Any, config: FinetuneConfig) -> tuple[np.ndarray, ...]:
    """The training mix: MNIST sample + vision crops + the user's images repeated."""
    rng = np.random.default_rng(config.seed + 1)
    take = rng.permutation(len(mnist.y_train))[: config.mnist_images]
    parts_x = [mnist.x_train[take]]
    parts_y = [mnist.y_train[take].astype(np.int64)]
    if vision is not None:
        parts_x.append(vision.x)
        parts_y.append(vision.y)
    others = sum(len(y) for y in parts_y)
    repeat = max(1, round(config.user_share * others / ((1 - config.user_share) * len(user))))
    parts_x.append(np.repeat(user.x, repeat, axis=0))
    parts_y.append(np.repeat(user.y, repeat))
    return np.concatenate(parts_x), np.concatenate(parts_y), np.int64(repeat)


def _freeze_batch_norm(model: Any, frozen: bool) -> None:
    import keras

    from trainer.models import all_layers

    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = not frozen


def _compile(model: Any, config: FinetuneConfig, steps: int) -> None:
    import keras

    total = max(2, config.epochs * steps)
    warmup = max(1, min(steps, total // 5))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * 0.1, decay_steps=total - warmup, alpha=0.01,
        warmup_target=config.learning_rate, warmup_steps=warmup,
    )  # fmt: skip
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _probs(model: Any, x: np.ndarray) -> np.ndarray:
    from trainer.evaluate import predict_probs

    return predict_probs(model, x) if len(x) else np.zeros((0, model.output_shape[-1]))


def _scores(model: Any, sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Accuracy (every class counts: a digit read as ``none`` is wrong) and predictions."""
    out = {}
    for name, (x, y) in sets.items():
        pred = _probs(model, x).argmax(axis=1)
        out[name] = {
            "accuracy": float(np.mean(pred == y)) if len(y) else 0.0,
            "errors": int(np.sum(pred != y)),
            "n": int(len(y)),
            "_pred": pred,
        }
    return out


def _public(scores: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Scores without their predictions (``_pred``), for JSON."""
    return {k: {m: v for m, v in s.items() if not m.startswith("_")} for k, s in scores.items()}


def _record(
    config: FinetuneConfig,
    out: Path,
    model_path: Path,
    run_dir: Path,
    user: Any,
    parts: tuple[Any, Any],
    mnist: Any,
    vision: Any,
) -> dict[str, Any]:
    """``run.json`` of a fine-tune: what the converter reads (``arch``, ``config.archs``) plus
    where everything came from."""
    source = _source_record(run_dir)
    arch = _arch(source)
    train, held = parts
    return {
        "status": "complete",
        "kind": "finetune",
        "arch": arch,
        "run_dir": str(out),
        "config": {**config.to_json(), "archs": [arch] if arch else []},
        "source": {"model": str(model_path), "run": str(run_dir), "seed": source.get("seed")},
        "data": {
            "extra": {
                "train": train.counts(),
                "held_out": held.counts(),
                "moved": user.moved,
                "duplicates": user.duplicates,
            },
            "mnist": {
                "source": mnist.source,
                "official": mnist.official,
                "images": int(min(config.mnist_images, len(mnist.y_train))),
            },
            "vision": None if vision is None else {"images": len(vision.y)},
            "labels": list(user.labels),
        },
    }


def run_finetune(config: FinetuneConfig, verbose: int = 1) -> FinetuneSummary:
    """Fine-tune ``config.source`` on ``config.extra`` into ``config.out``; see the module doc.

    Raises:
        DataError: bad extra data (every problem logged first), MNIST missing.
        ConfigError, OutputError: a source that is no run, ``out`` that cannot be written or is
            the source itself.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    model_path, run_dir = _source_paths(config.source)
    if Path(config.out).expanduser().resolve() == run_dir.resolve():
        raise OutputError(f"--out {config.out} is the source run; give a new run directory")
    import keras

    from trainer.data import load_mnist
    from trainer.userdata import load_user_data

    model = load_keras(model_path)
    classes = int(model.output_shape[-1])
    labels = VISION_LABELS if classes == len(VISION_LABELS) else LABELS
    user = load_user_data(config.extra, labels, min_per_class=config.min_per_class)
    train, held = user.split(config.holdout, config.seed)
    out = prepare_out_dir(config.out)
    mnist = load_mnist(config.data_dir, download=config.download)
    vision, vision_source = (None, None)
    if classes == len(VISION_LABELS) and config.vision_images:
        vision, vision_source = _vision_mix(run_dir, mnist, config)
    x_mix, y_mix, repeat = _mix(train, mnist, vision, config)
    sets = {"held_out": (held.x, held.y), "user_train": (train.x, train.y),
            "mnist_test": (mnist.x_test, mnist.y_test.astype(np.int64))}  # fmt: skip
    vision_test = run_dir / VISION_FILES[1]
    if classes == len(VISION_LABELS) and vision_test.is_file():
        from trainer.vision_data import load

        crops = load(vision_test)
        sets["vision_test"] = (crops.x, crops.y)
    before = _scores(model, sets)
    log.info(
        "before: held-out %.2f%%, MNIST test %.2f%%",
        100 * before["held_out"]["accuracy"], 100 * before["mnist_test"]["accuracy"],
    )  # fmt: skip

    from trainer.train import make_dataset

    keras.utils.set_random_seed(config.seed)
    _freeze_batch_norm(model, True)
    steps = math.ceil(len(y_mix) / config.batch_size)
    _compile(model, config, steps)
    dataset = make_dataset(x_mix, y_mix, config.batch_size, train=True, augment=config.augment,
                           seed=config.seed)  # fmt: skip
    log.info(
        "fine-tuning on %d images per epoch (%d of yours x%d, %d MNIST, %d vision crops), "
        "%d epochs", len(y_mix), len(train), repeat, min(config.mnist_images, len(mnist.y_train)),
        0 if vision is None else len(vision.y), config.epochs,
    )  # fmt: skip
    train_started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # Keras' progress bar is not a result
        history = model.fit(dataset, epochs=config.epochs, verbose=verbose, shuffle=False)
    train_seconds = time.perf_counter() - train_started
    if not np.all(np.isfinite(history.history.get("loss", [0.0]))):
        raise DataError(
            "fine-tuning diverged (the loss is not finite); try a lower --learning-rate"
        )
    _freeze_batch_norm(model, False)
    after = _scores(model, sets)

    clean = keras.models.clone_model(model)
    clean.set_weights(model.get_weights())
    saved = save_model(clean, out / MODEL_FILE)
    for name in VISION_FILES if classes == len(VISION_LABELS) else ():
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, out / name)  # the converter calibrates and verifies

    from trainer.finetune_report import render, still_wrong, table, write_gallery

    wrong = still_wrong(held, before["held_out"]["_pred"], after["held_out"]["_pred"])
    gallery = write_gallery(held, after["held_out"]["_pred"], wrong, out / "still_wrong.png")
    record = _record(config, out, model_path, run_dir, user, (train, held), mnist, vision)
    record["data"]["extra"]["repeat"] = int(repeat)
    if vision is not None:
        record["data"]["vision"]["from"] = vision_source
    record.update(
        seconds=round(time.perf_counter() - started, 1),
        cpu_seconds=round(time.process_time() - cpu_started, 1),
        training_seconds=round(train_seconds, 1),
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
    )
    metrics = {
        "before": _public(before),
        "after": _public(after),
        "still_wrong": wrong,
        "accuracy": after["mnist_test"]["accuracy"],
    }
    write_json(out / "metrics.json", metrics)
    write_json(out / "run.json", record)
    report = write_text(out / "report.md", render(record, metrics, gallery.name))
    log.info("fine-tuned in %.0f s (training %.0f s, CPU %.0f s) -> %s",
             record["seconds"], train_seconds, record["cpu_seconds"], saved)  # fmt: skip
    return FinetuneSummary(out, saved, report, table(metrics))
