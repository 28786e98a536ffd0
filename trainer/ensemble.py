"""Ensembles: N members trained apart, exported as one Keras model that averages their outputs.

``digits-train --ensemble N`` trains N members on the same data with different seeds (and, when
``--arch`` lists several architectures, those in turn), then builds one functional model: the
raw 0..255 pixels go to every member - each rescales them itself - and a Keras ``Average``
layer named ``probs`` averages their probabilities. That is still one input (28, 28, 1) and
one output of 10 or 12 probabilities, so the converter, int8 calibration and verification, the
contract, the edge runtime and the benchmarks treat it as any other model. Every member is
also kept on its own (``models/<member>.keras``) for the comparison table.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_app.contract import INPUT_SHAPE
from trainer.config import TrainConfig

log = logging.getLogger(__name__)

ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class TrainingJob:
    """One model a run trains.

    Attributes:
        name: where its files go (``<name>_curves.png``, ``models/<name>.keras``); the
            architecture's name for ordinary runs, ``member<i>-<arch>`` for an ensemble.
        arch: the registry name.
        config: the run's config, with this member's seed.
        primary: its model becomes ``model.keras`` (never a member: the ensemble does).
    """

    name: str
    arch: str
    config: TrainConfig
    primary: bool


def training_jobs(config: TrainConfig) -> list[TrainingJob]:
    """What a run trains: each of ``config.archs``, or the ``config.ensemble`` members."""
    if config.ensemble < 2:
        return [TrainingJob(a, a, config, a == config.primary) for a in config.archs]
    jobs = []
    for i in range(config.ensemble):
        arch = config.archs[i % len(config.archs)]
        member = dataclasses.replace(config, seed=config.seed + i)
        jobs.append(TrainingJob(f"member{i + 1}-{arch}", arch, member, False))
    return jobs


def ensemble_arch(config: TrainConfig) -> str:
    """How ``run.json`` and the models' contracts name an ensemble: ``ensemble:a,b,c``."""
    return f"{ENSEMBLE}:" + ",".join(j.arch for j in training_jobs(config))


def build_ensemble(members: Sequence[tuple[str, Any]], name: str = ENSEMBLE) -> Any:
    """One model averaging the probabilities of ``members`` (``(name, keras.Model)`` pairs).

    Each member is wrapped under its own name, so the same architecture can appear twice; the
    members' weights are shared with the models given, not copied.

    Raises:
        ValueError: fewer than two members, or members with different outputs.
    """
    import keras
    from keras import layers

    if len(members) < 2:
        raise ValueError("an ensemble needs at least two members")
    outputs = {int(m.output_shape[-1]) for _, m in members}
    if len(outputs) != 1:
        raise ValueError(f"ensemble members have different outputs: {sorted(outputs)}")
    inputs = keras.Input(shape=INPUT_SHAPE, name="pixels")
    probs = []
    for member_name, model in members:
        wrapped = keras.Model(model.input, model.output, name=member_name.replace("-", "_"))
        probs.append(wrapped(inputs))
    return keras.Model(inputs, layers.Average(name="probs")(probs), name=name)


def evaluate_ensemble(
    model: Any,
    members: dict[str, dict[str, Any]],
    mnist: Any,
    vision: Any,
    out: Path,
    path: Path,
) -> dict[str, Any]:
    """The ensemble's metrics and figures, in the shape the report's comparison expects."""
    from trainer.evaluate import evaluate_model
    from trainer.plots import confusion_heatmap, misclassified_gallery

    metrics = evaluate_model(model, mnist.x_test, mnist.y_test, vision.test if vision else None)
    pred, probs = metrics.pop("_pred"), metrics.pop("_probs")
    figures = {
        "confusion": confusion_heatmap(
            metrics["confusion_matrix"], out / f"{ENSEMBLE}_confusion.png",
            f"{ENSEMBLE} (test set)", metrics["classes"],
        ).name,
        "misclassified": misclassified_gallery(
            mnist.x_test, mnist.y_test, pred, probs, out / f"{ENSEMBLE}_misclassified.png",
            ENSEMBLE,
        ).name,
    }  # fmt: skip
    best = max(m["accuracy"] for m in members.values())
    metrics.update(
        arch=ENSEMBLE,
        kind=ENSEMBLE,
        description=f"Average of {len(members)} members' probabilities ({', '.join(members)})",
        members=list(members),
        best_member_accuracy=best,
        augment=any(m["augment"] for m in members.values()),
        epochs=sum(m["epochs"] for m in members.values()),
        best_epoch=0,
        stopped_early=False,
        training_seconds=round(sum(m["training_seconds"] for m in members.values()), 1),
        history={},
        figures=figures,
        model_file=path.name,
        size_bytes=path.stat().st_size,
    )
    log.info(
        "ensemble of %d: test accuracy %.4f (best member %.4f), %d params, Keras %.2f ms",
        len(members), metrics["accuracy"], best, metrics["params"], metrics["keras_latency_ms"],
    )  # fmt: skip
    return metrics
