"""The training configuration: what ``digits-train`` parsed, handed to the library as one value."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from trainer.errors import ConfigError
from trainer.models import ARCHITECTURES, DEFAULT_ARCH


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved as ``config`` in ``run.json``).

    Attributes:
        out: the run directory.
        archs: architectures to train, primary first (its model becomes ``model.keras``).
        epochs: maximum epochs (early stopping may end sooner).
        batch_size: images per step.
        limit: use at most this many training images (None: all).
        seed: seeds Python, numpy and TensorFlow, and the validation split.
        data_dir: where MNIST is looked for first (None: $DIGITS_DATA_DIR, Keras cache, download).
        download: allow downloading MNIST as the last resort.
        resume: continue the run saved in ``out`` from its last checkpoint.
        eda: draw the data-exploration figures.
        val_fraction: share of the training images held out for validation.
        learning_rate: peak learning rate of the warm-up + cosine schedule.
        weight_decay: AdamW decoupled weight decay.
        patience: epochs without a better validation loss before stopping early (only in the
            second half of the schedule).
        augment: None = the architecture's default; True/False force it for all.
        deterministic: make TensorFlow ops deterministic (bit-identical reruns of one seed;
            slower). Without it a seed fixes initial weights, split, data order and
            augmentation, but multithreaded float sums may differ in the last bits.
        vision_photos: synthetic photos whose vision crops join the training data, which
            makes a vision model (12 classes: digits, none, cut; see trainer.vision_data);
            0 trains a plain 10-digit classifier on MNIST alone.
        crossed_sevens: share of the training 7s given a crossed twin (see
            :mod:`trainer.styles`); 0 adds none.
        ensemble: 0 trains each of ``archs`` on its own; N >= 2 trains N members (seeds
            ``seed``, ``seed + 1``, ...; ``archs`` in turn) and makes ``model.keras`` the model
            that averages their probabilities (see :mod:`trainer.ensemble`).
    """

    out: Path = Path("runs/latest")
    archs: tuple[str, ...] = (DEFAULT_ARCH,)
    # 16: the cosine schedule ends about where 20-epoch runs found their best (epoch 15 of 20
    # at 6da7386; early stopping ended 4db82a6's after 15), and `make run` fits its 20 minutes
    # (all 20 epochs took 758 s of a 22.4-minute run).
    epochs: int = 16
    batch_size: int = 128
    limit: int | None = None
    seed: int = 42
    data_dir: Path | None = None
    download: bool = True
    resume: bool = False
    eda: bool = True
    val_fraction: float = 0.1
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 6
    augment: bool | None = None
    deterministic: bool = False
    vision_photos: int = 3000
    crossed_sevens: float = 0.0
    ensemble: int = 0

    def __post_init__(self) -> None:
        unknown = [a for a in self.archs if a not in ARCHITECTURES]
        if unknown or not self.archs:
            raise ConfigError(
                f"unknown architecture {', '.join(unknown) or '(none)'}; "
                f"choose from {', '.join(ARCHITECTURES)}"
            )
        if len(set(self.archs)) != len(self.archs):
            raise ConfigError(f"architecture listed twice: {','.join(self.archs)}")
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1")
        if self.limit is not None and self.limit < 20:
            raise ConfigError("limit must be at least 20 images")
        if self.ensemble == 1 or self.ensemble < 0:
            raise ConfigError("ensemble must be 0 (none) or at least 2 members")
        if self.vision_photos < 0:
            raise ConfigError("vision-photos must be 0 (MNIST only) or more")
        if not 0.0 <= self.crossed_sevens <= 1.0:
            raise ConfigError("crossed-sevens must be a share between 0 and 1")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError("val-fraction must be between 0 and 0.5")

    @property
    def primary(self) -> str:
        """The architecture whose model is the run's ``model.keras``."""
        return self.archs[0]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
            elif isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], **overrides: Any) -> TrainConfig:
        """Rebuild a config saved by :meth:`to_json`, replacing ``overrides``."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs.setdefault("crossed_sevens", 0.0)  # saved before 7s were crossed: none were
        kwargs.update(overrides)
        for key in ("out", "data_dir"):
            if kwargs.get(key) is not None:
                kwargs[key] = Path(kwargs[key])
        kwargs["archs"] = tuple(kwargs.get("archs", (DEFAULT_ARCH,)))
        return cls(**kwargs)

    @classmethod
    def load(cls, run_json: Path, **overrides: Any) -> TrainConfig:
        """The config saved in a run's ``run.json``."""
        try:
            data = json.loads(Path(run_json).read_text())["config"]
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{run_json}: no saved configuration to resume ({exc})") from exc
        return cls.from_json(data, **overrides)
