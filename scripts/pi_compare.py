"""Compare two ``digits-predict --json`` runs over the same files: digits, boxes, confidences.

Pure Python (no numpy, no emulation), so ``tests/test_pi_compare.py`` checks it in milliseconds.
A run is the text ``digits-predict --json`` printed: one JSON object per image, one per line,
``{"path", "digits", "detections": [{"digit", "confidence", "box", "line"}, ...], ...}`` or
``{"path", "error"}`` for a file it could not read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Run = Mapping[str, Mapping[str, Any]]  # path -> the JSON object digits-predict printed for it


def parse_jsonl(text: str) -> dict[str, dict[str, Any]]:
    """``digits-predict --json`` output -> ``{path: object}``.

    Raises:
        ValueError: a line is not a JSON object with a ``path``, or a path appears twice.
    """
    out: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        if not isinstance(obj, dict) or "path" not in obj:
            raise ValueError(f"line {number} is not a digits-predict JSON object: {line[:80]}")
        if obj["path"] in out:
            raise ValueError(f"line {number}: {obj['path']} appears twice")
        out[obj["path"]] = obj
    return out


def _layout(obj: Mapping[str, Any]) -> list[tuple[int, tuple[int, ...], Any]]:
    """Per detection: digit, box and line (the reading order), without the confidence."""
    return [(d["digit"], tuple(d["box"]), d.get("line")) for d in obj.get("detections", [])]


def _confidences(obj: Mapping[str, Any]) -> list[float]:
    return [float(d["confidence"]) for d in obj.get("detections", [])]


@dataclass(frozen=True)
class Agreement:
    """How far one run agrees with a reference run, file by file.

    Attributes:
        files: files in either run.
        digits_same: files with the same ``digits`` (two errors count as the same).
        boxes_same: files with the same detections (digit, box, line) in the same order.
        confidences_same: files whose confidences are all exactly equal (same detections too).
        max_confidence_diff: the largest |confidence difference| over detections that match
            in digit and position; 0.0 when there is none.
        differences: one line per file whose digits or boxes differ.
        confidence_diffs: ``(path, largest difference)`` for files with equal boxes but not
            equal confidences.
    """

    files: int
    digits_same: int
    boxes_same: int
    confidences_same: int
    max_confidence_diff: float
    differences: tuple[str, ...] = ()
    confidence_diffs: tuple[tuple[str, float], ...] = field(default=())

    @property
    def digits_identical(self) -> bool:
        return self.files > 0 and self.digits_same == self.files

    @property
    def boxes_identical(self) -> bool:
        return self.files > 0 and self.boxes_same == self.files

    @property
    def identical(self) -> bool:
        return self.files > 0 and self.confidences_same == self.files


def compare(reference: Run, other: Run) -> Agreement:
    """How ``other`` agrees with ``reference`` (e.g. aarch64 with x86_64) on every file.

    A file missing from one run counts as different in everything.
    """
    paths = sorted(set(reference) | set(other))
    digits_same = boxes_same = conf_same = 0
    worst = 0.0
    differences: list[str] = []
    conf_diffs: list[tuple[str, float]] = []
    for path in paths:
        a, b = reference.get(path), other.get(path)
        if a is None or b is None:
            differences.append(f"{path}: only in the {'reference' if b is None else 'other'} run")
            continue
        if a.get("error") or b.get("error"):
            if a.get("error") and b.get("error"):  # unreadable on both: they agree
                digits_same, boxes_same, conf_same = digits_same + 1, boxes_same + 1, conf_same + 1
            else:
                differences.append(
                    f"{path}: {a.get('error') or a.get('digits')!r} vs "
                    f"{b.get('error') or b.get('digits')!r}"
                )
            continue
        same_digits = a.get("digits") == b.get("digits")
        same_boxes = _layout(a) == _layout(b)
        digits_same += same_digits
        boxes_same += same_boxes
        if not (same_digits and same_boxes):
            differences.append(_describe(path, a, b))
        if same_boxes:
            diff = max(
                (abs(x - y) for x, y in zip(_confidences(a), _confidences(b), strict=True)),
                default=0.0,
            )
            worst = max(worst, diff)
            if diff == 0.0:
                conf_same += 1
            else:
                conf_diffs.append((path, round(diff, 6)))
    return Agreement(
        files=len(paths),
        digits_same=digits_same,
        boxes_same=boxes_same,
        confidences_same=conf_same,
        max_confidence_diff=round(worst, 6),
        differences=tuple(differences),
        confidence_diffs=tuple(conf_diffs),
    )


def _describe(path: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    if a.get("digits") != b.get("digits"):
        return f"{path}: digits {a.get('digits')!r} vs {b.get('digits')!r}"
    for i, (x, y) in enumerate(zip(_layout(a), _layout(b), strict=False)):
        if x != y:
            return f"{path}: detection {i} digit/box/line {x} vs {y}"
    return f"{path}: {len(_layout(a))} vs {len(_layout(b))} detections"


def verdict(rows: Iterable[tuple[str, Agreement]]) -> tuple[bool, str]:
    """One line for a whole check: (digits identical everywhere, the line).

    ``rows`` are ``(label, agreement)`` per compared run.
    """
    rows = list(rows)
    if not rows:
        return False, "FAIL: nothing was compared"
    files = max(r.files for _, r in rows)
    bad_digits = [label for label, r in rows if not r.digits_identical]
    bad_boxes = [label for label, r in rows if not r.boxes_identical]
    exact = sum(r.identical for _, r in rows)
    worst = max(r.max_confidence_diff for _, r in rows)
    confidences = (
        "confidences identical too"
        if exact == len(rows)
        else f"confidences identical in {exact}/{len(rows)} set-ups (max difference {worst:.4f})"
    )
    if bad_digits:
        return False, (
            f"FAIL: digits differ from x86_64 in {len(bad_digits)}/{len(rows)} set-ups "
            f"({', '.join(bad_digits)})"
        )
    boxes = (
        "digits and boxes identical"
        if not bad_boxes
        else f"digits identical, boxes differ in {', '.join(bad_boxes)}"
    )
    return True, f"PASS: {files} photos x {len(rows)} aarch64 set-ups: {boxes}; {confidences}"
