"""From an image to the digits written on it: vision finds the digits, the classifier names them.

:class:`DigitReader` is what ``digits-predict`` and the Kivy app both use. It composes
:func:`edge_app.vision.find_digits` (camera frame -> MNIST-style 28x28 candidates with boxes and
line numbers) with :meth:`edge_app.classifier.Classifier.predict_proba`, run once per frame on
all candidates as one batch, and drops candidates the model is not sure about.

``Reading.digits`` holds the digits in reading order: left to right within a line, lines top to
bottom, **lines separated by a single space** (``"90210"`` for one line, ``"12 345"`` for two).
A space keeps one result per printed line, and ``digits.replace(" ", "")`` gives every digit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edge_app.contract import IMAGE_SIZE, LABELS

log = logging.getLogger(__name__)

LINE_SEPARATOR = " "


class Candidate(Protocol):
    """What vision hands over per possible digit (``edge_app.vision.DigitCandidate``)."""

    image: np.ndarray  # (28, 28) uint8, white ink on black, MNIST framing
    box: tuple[int, int, int, int]  # (x, y, w, h) in the input image's pixels
    line: int  # 0 for the top line of text


class ProbabilityModel(Protocol):
    """The part of :class:`~edge_app.classifier.Classifier` the reader needs."""

    def predict_proba(self, images: np.ndarray) -> np.ndarray: ...


class Proposal(Protocol):
    """What vision proposes for one reading of an image (``edge_app.vision.Proposal``)."""

    candidates: Sequence[Candidate]

    def decode(self, probs: np.ndarray, columns: Any) -> list[tuple[int, int, float, int]]: ...


FindDigits = Callable[[np.ndarray], Sequence[Candidate]]
Propose = Callable[[np.ndarray], Sequence[Proposal]]


@dataclass(frozen=True)
class _Final:
    """A finder's candidates taken as they are: each one read as its most probable digit."""

    candidates: Sequence[Candidate]

    def decode(self, probs: np.ndarray, columns: Any) -> list[tuple[int, int, float, int]]:
        digits = columns.digits
        top = probs[:, digits].argmax(axis=1)
        return [
            (k, int(digits[t]), float(probs[k, digits[t]]),
             int(getattr(self.candidates[k], "line", 0)))
            for k, t in enumerate(top)
        ]  # fmt: skip


@dataclass(frozen=True)
class Detection:
    """One digit read: its value, the model's confidence, where it is and on which line."""

    digit: int
    confidence: float
    box: tuple[int, int, int, int]
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (DESIGN.md schema, plus ``line``)."""
        return {
            "digit": self.digit,
            "confidence": round(self.confidence, 4),
            "box": [int(v) for v in self.box],
            "line": self.line,
        }


@dataclass(frozen=True)
class Reading:
    """The result for one image.

    Attributes:
        digits: the digits in reading order, lines separated by a space; ``""`` when none.
        detections: the digits kept, in the same order as ``digits``.
        latency_ms: image in -> digits out (vision + classifier).
        vision_ms: the part spent finding and framing digits.
        classify_ms: the part spent in the model.
        rejected: candidates dropped for low confidence.
    """

    digits: str
    detections: list[Detection] = field(default_factory=list)
    latency_ms: float = 0.0
    vision_ms: float = 0.0
    classify_ms: float = 0.0
    rejected: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the ``digits``, ``detections`` and ``latency_ms`` of DESIGN.md."""
        return {
            "digits": self.digits,
            "detections": [d.to_dict() for d in self.detections],
            "latency_ms": round(self.latency_ms, 3),
        }

    @property
    def lines(self) -> list[str]:
        """The digits of each line that has any, top to bottom."""
        return self.digits.split(LINE_SEPARATOR) if self.digits else []


def taken_as_found(find: FindDigits) -> Propose:
    """A proposer from a finder whose candidates are final: each is read as its best digit."""
    return lambda image: [_Final(list(find(image)))]


def _default_propose() -> Propose:
    # Imported when first needed so the reader can be built (and tested) with another finder.
    from edge_app.vision import propose

    return propose


def _labels_of(classifier: Any) -> tuple[str, ...]:
    """Output index -> label: the classifier's own, else its contract's, else the digits."""
    labels = getattr(classifier, "labels", None) or getattr(
        getattr(classifier, "contract", None), "labels", None
    )
    if labels:
        return tuple(str(label) for label in labels)
    return LABELS


class DigitReader:
    """Read the digits in an image.

    Args:
        classifier: a loaded :class:`~edge_app.classifier.Classifier` (or anything with
            ``predict_proba(images (N, 28, 28)) -> (N, classes)`` and a ``contract`` whose
            ``labels`` name the classes: digits, and optionally ``none`` and ``cut``).
        min_confidence: digits whose probability is below this are dropped (0..1).
        find: a vision function whose candidates are taken as they are (tests inject one);
            default: :func:`edge_app.vision.propose`, whose spans the model's probabilities
            decode (where one digit ends, what is not a digit).

    Raises:
        ValueError: ``min_confidence`` outside 0..1, or a model without digit labels.
    """

    def __init__(
        self,
        classifier: ProbabilityModel,
        *,
        min_confidence: float = 0.5,
        find: FindDigits | None = None,
    ) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within 0..1, got {min_confidence}")
        self.classifier = classifier
        self.min_confidence = float(min_confidence)
        self._propose: Propose = taken_as_found(find) if find is not None else _default_propose()
        from edge_app.vision.lattice import Columns

        labels = _labels_of(classifier)
        self._columns = Columns.of(labels)
        if not len(self._columns.digits):
            raise ValueError(f"model labels {labels!r} name no digit")
        self._labels = labels

    def read(self, image: np.ndarray) -> Reading:
        """Find, frame and classify every digit in ``image`` (gray, BGR or BGRA uint8).

        Returns:
            A :class:`Reading`; ``digits == ""`` when nothing in the image is read as a digit.
        """
        start = time.perf_counter()
        proposals = list(self._propose(image))
        candidates = [c for p in proposals for c in p.candidates]
        found = time.perf_counter()
        if not candidates:
            elapsed = (found - start) * 1000.0
            return Reading("", [], latency_ms=elapsed, vision_ms=elapsed)
        side = (IMAGE_SIZE, IMAGE_SIZE)
        batch = np.stack([np.asarray(c.image, dtype=np.uint8).reshape(side) for c in candidates])
        probs = np.asarray(self.classifier.predict_proba(batch))
        classified = time.perf_counter()

        best: tuple[float, list[Detection], int] | None = None
        offset = 0
        for proposal in proposals:
            rows = probs[offset : offset + len(proposal.candidates)]
            chosen = proposal.decode(rows, self._columns)
            detections = []
            for k, column, confidence, line in chosen:
                if confidence < self.min_confidence:
                    continue
                box = tuple(int(v) for v in proposal.candidates[k].box)
                detections.append(Detection(int(self._labels[column]), confidence, box, line))
            # Two readings (light ink on dark, or a sheet on a dark table): the one that reads
            # more, and more surely, wins; on a tie the first (dark ink on paper).
            score = sum(d.confidence for d in detections)
            if best is None or score > best[0]:
                best = (score, detections, len(chosen) - len(detections))
            offset += len(proposal.candidates)
        _, detections, rejected = best if best is not None else (0.0, [], 0)
        done = time.perf_counter()
        if rejected:
            log.debug("dropped %d digit(s) below %.2f", rejected, self.min_confidence)
        return Reading(
            digits=_join(detections),
            detections=detections,
            latency_ms=(done - start) * 1000.0,
            vision_ms=(found - start) * 1000.0 + (done - classified) * 1000.0,
            classify_ms=(classified - found) * 1000.0,
            rejected=rejected,
        )


def _join(detections: Sequence[Detection]) -> str:
    """Digits in the order given (vision's reading order), a space where the line changes."""
    parts: list[str] = []
    previous: int | None = None
    for det in detections:
        if previous is not None and det.line != previous:
            parts.append(LINE_SEPARATOR)
        parts.append(str(det.digit))
        previous = det.line
    return "".join(parts)
