"""Train one architecture: tf.data pipeline with augmentation, schedule, checkpoints, resume.

Augmentation (rotation, zoom, shift - one random affine transform per image, black fill) runs
in the input pipeline, never inside the model. A checkpoint is written after every epoch
(model + optimizer state + the early-stopping bookkeeping), so an interrupted run continues
with ``resume=True`` and loses at most the epoch in progress.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer.artifacts import save_model, write_json
from trainer.config import TrainConfig
from trainer.errors import TrainingInterrupted
from trainer.models import ARCHITECTURES

log = logging.getLogger(__name__)

ROTATION_DEG = 10.0
ZOOM = 0.10
SHIFT_PX = 2.5
WARMUP_EPOCHS = 1


@dataclass
class TrainResult:
    """What training one architecture produced.

    Attributes:
        arch: registry name.
        model: the trained model with the best validation weights restored.
        history: per-epoch metrics (loss, accuracy, val_loss, val_accuracy, lr).
        seconds: wall time spent in training, summed over resumed sessions.
        best_epoch: 1-based epoch whose weights were kept.
        stopped_early: True when early stopping ended training before ``epochs``.
    """

    arch: str
    model: Any
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    best_epoch: int = 0
    stopped_early: bool = False


def augment_batch(images: Any, seed: int | None = None) -> Any:
    """Random rotation, zoom and shift of a batch (B, 28, 28, 1) float32, filling with black.

    One affine transform per image (a single resampling), bilinear, constant fill 0, so no
    mirrored strokes appear at the borders the way Keras' default reflect fill paints them.
    """
    import tensorflow as tf

    batch = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1:3], tf.float32)
    angle = tf.random.uniform([batch], -1.0, 1.0, seed=seed) * (ROTATION_DEG * math.pi / 180.0)
    scale = 1.0 + tf.random.uniform([batch], -ZOOM, ZOOM, seed=None if seed is None else seed + 1)
    shift = tf.random.uniform(
        [batch, 2], -SHIFT_PX, SHIFT_PX, seed=None if seed is None else seed + 2
    )
    cy, cx = (size[0] - 1.0) / 2.0, (size[1] - 1.0) / 2.0
    # The transform maps output pixel (x, y) to the input pixel it samples from:
    # in = R(angle) / scale @ (out - centre) + centre - shift.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1, b0, b1 = cos, -sin, sin, cos
    a2 = cx - a0 * cx - a1 * cy - shift[:, 0]
    b2 = cy - b0 * cx - b1 * cy - shift[:, 1]
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def make_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, *, train: bool, augment: bool, seed: int
) -> Any:
    """A batched tf.data pipeline of raw 0..255 float32 images (B, 28, 28, 1) and labels."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x[..., None], y.astype(np.int32)))
    if train:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE)
    if train and augment:
        ds = ds.map(lambda a, b: (augment_batch(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def compile_model(model: Any, config: TrainConfig, steps_per_epoch: int) -> None:
    """AdamW with one warm-up epoch then cosine decay to 1% over the planned epochs."""
    import keras

    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(WARMUP_EPOCHS * steps_per_epoch, total // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * 0.1,
        decay_steps=max(1, total - warmup),
        alpha=0.01,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _checkpoint_callback(
    ckpt_dir: Path, patience: int, min_epochs: int, state: dict[str, Any]
) -> Any:
    import keras

    class Checkpoint(keras.callbacks.Callback):
        """After each epoch: record history, keep best weights, save model + state atomically."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = dict(logs or {})
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            for key, value in logs.items():
                state["history"].setdefault(key, []).append(float(value))
            state["seconds"] += time.perf_counter() - self._started
            state["epoch"] = epoch + 1
            val_loss = float(logs.get("val_loss", math.inf))
            if val_loss < state["best_val_loss"]:
                state["best_val_loss"], state["best_epoch"], state["wait"] = val_loss, epoch + 1, 0
                with contextlib.suppress(FileNotFoundError):
                    (ckpt_dir / "best.weights.h5").unlink()
                self.model.save_weights(ckpt_dir / "best.weights.h5")
            else:
                state["wait"] += 1
                # Validation loss is noisy while the learning rate is high; stopping is only
                # allowed in the second half of the schedule, where it means convergence.
                if state["wait"] >= patience and epoch + 1 >= min_epochs:
                    state["stopped_early"] = True
                    self.model.stop_training = True
                    log.info("early stop: no better val_loss for %d epochs", patience)
            save_model(self.model, ckpt_dir / "last.keras")
            write_json(ckpt_dir / "state.json", state)

    return Checkpoint()


def _fresh_state() -> dict[str, Any]:
    return {
        "epoch": 0, "history": {}, "seconds": 0.0, "best_val_loss": math.inf,
        "best_epoch": 0, "wait": 0, "stopped_early": False, "finished": False,
    }  # fmt: skip


def train_arch(
    arch: str,
    splits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    config: TrainConfig,
    ckpt_dir: Path,
    verbose: int = 1,
    classes: int = 10,
) -> TrainResult:
    """Train ``arch`` on (x_train, y_train, x_val, y_val), resuming from ``ckpt_dir`` if asked.

    Args:
        arch: registry name.
        splits: uint8 images (N, 28, 28) and labels for training and validation.
        config: the run configuration (epochs, batch size, seed, schedule, resume, augment).
        ckpt_dir: where this architecture's per-epoch checkpoint lives.
        verbose: Keras fit verbosity (0 silent, 1 progress bar, 2 one line per epoch).
        classes: outputs of the model (10 digits, or 12 for a vision model).

    Raises:
        TrainingInterrupted: Ctrl-C; the last completed epoch is in ``ckpt_dir``.
    """
    import keras

    spec = ARCHITECTURES[arch]
    x_train, y_train, x_val, y_val = splits
    augment = spec.augment if config.augment is None else config.augment
    steps = math.ceil(len(y_train) / config.batch_size)
    state_file = ckpt_dir / "state.json"

    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    state = _fresh_state()
    model = None
    if config.resume and state_file.is_file() and (ckpt_dir / "last.keras").is_file():
        state = json.loads(state_file.read_text())
        model = keras.models.load_model(ckpt_dir / "last.keras")
        log.info("%s: resuming after epoch %d of %d", arch, state["epoch"], config.epochs)
    else:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        ckpt_dir.mkdir(parents=True)
        keras.utils.set_random_seed(config.seed)
        model = spec(classes)
        compile_model(model, config, steps)

    done = state["finished"] or state["stopped_early"] or state["epoch"] >= config.epochs
    if not done:
        log.info(
            "%s: %d params, training %d images (augment=%s), validating on %d, up to %d epochs",
            arch, model.count_params(), len(y_train), augment, len(y_val), config.epochs,
        )  # fmt: skip
        train_ds = make_dataset(
            x_train, y_train, config.batch_size, train=True, augment=augment, seed=config.seed
        )
        val_ds = make_dataset(x_val, y_val, 512, train=False, augment=False, seed=config.seed)
        callback = _checkpoint_callback(ckpt_dir, config.patience, config.epochs // 2, state)
        try:
            # Keras writes its progress bar to stdout; stdout is for results, so route it.
            with contextlib.redirect_stdout(sys.stderr):
                model.fit(
                    train_ds,
                    validation_data=val_ds,
                    epochs=config.epochs,
                    initial_epoch=state["epoch"],
                    callbacks=[callback],
                    shuffle=False,  # the dataset shuffles itself, seeded
                    verbose=verbose,
                )
        except KeyboardInterrupt as exc:
            raise TrainingInterrupted(
                f"interrupted during {arch} epoch {state['epoch'] + 1}; "
                f"{state['epoch']} epoch(s) are checkpointed - rerun with --resume to continue"
            ) from exc
        state["finished"] = True
        write_json(state_file, state)

    if (ckpt_dir / "best.weights.h5").is_file():
        model.load_weights(ckpt_dir / "best.weights.h5")
    log.info(
        "%s: trained %d epochs in %.1f s, best epoch %d (val_loss %.4f)",
        arch, state["epoch"], state["seconds"], state["best_epoch"], state["best_val_loss"],
    )  # fmt: skip
    return TrainResult(
        arch, model, state["history"], state["seconds"], state["best_epoch"], state["stopped_early"]
    )
