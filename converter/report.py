"""The conversion report: ``conversion.json`` for machines, ``conversion.md`` for people.

The Markdown is also what ``digits-convert`` prints on stdout. Both are built from one dict, the
one :func:`converter.pipeline.run_conversion` returns, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from converter.compat import TARGETS


@dataclass(frozen=True)
class VisionRow:
    """A vision model's numbers on the trainer's held-out vision crops (``row["vision"]``)."""

    accuracy: float
    keras_accuracy: float
    delta_pp: float
    agreement: float
    samples: int


@dataclass(frozen=True)
class ConversionRow:
    """One variant's row of ``conversion.json`` (``formats[i]``): what it is and how it did.

    Attributes:
        format, file, summary, runtime_notes: from the format table.
        sha256, size_bytes: of the stamped file.
        size_ratio_vs_float32: its size over the float32 variant's (None without one).
        accuracy, keras_accuracy, delta_pp, agreement, disagreements, max_prob_diff,
            mean_prob_diff, samples, runtime, verify_seconds: the verification against Keras
            on the MNIST test set (:class:`converter.verify.Check`).
        convert_seconds: time the TFLite conversion took.
        quantization: the input and output tensors' dtype, shape, scale, zero point.
        compat: :func:`converter.compat.compatibility` of the file.
        passed, status: the accuracy gate's verdict (:mod:`converter.gate`).
        vision: the vision crops' numbers, for a vision model (absent from the JSON otherwise).
    """

    format: str
    file: str
    summary: str
    sha256: str
    size_bytes: int
    size_ratio_vs_float32: float | None
    accuracy: float
    keras_accuracy: float
    delta_pp: float
    agreement: float
    disagreements: int
    max_prob_diff: float
    mean_prob_diff: float
    samples: int
    runtime: str
    convert_seconds: float
    verify_seconds: float
    quantization: dict[str, Any]
    runtime_notes: str
    compat: dict[str, Any]
    passed: bool
    status: str
    vision: VisionRow | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, in this field order (``vision`` only when there is one)."""
        out = asdict(self)
        if self.vision is None:
            del out["vision"]
        return out


def percent(value: float | None, digits: int = 2) -> str:
    """A fraction as a table cell: ``0.9963`` -> ``99.63%``; None -> an em dash."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def kilobytes(n: int | None) -> str:
    """A byte count as a table cell (KB, or MB from 1 MiB); None -> an em dash."""
    if n is None:
        return "—"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _runtime_cell(verdict: dict[str, Any]) -> str:
    loads = verdict.get("loads")
    how = verdict.get("how", "")
    if loads is True:
        return "yes (loaded)" if how == "loaded" else "yes"
    if loads is False:
        return "**NO**"
    return "?" if how != "not installed" else "not installed"


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable report: accuracy table, compatibility table, notes."""
    source = report["source"]
    settings = report["settings"]
    rows = report["formats"]
    lines = [
        "# DigitLite conversion report",
        "",
        f"Source: `{source['path']}` (arch {source.get('arch') or 'unknown'}, "
        f"sha256 {source['sha256'][:12]}…)  ",
        f"Verified on {source['test_samples']} MNIST test images from {source['data_source']} "
        f"through the edge Classifier ({', '.join(sorted({r['runtime'] for r in rows})) or '—'}); "
        f"gate: at most {settings['max_drop_pp']:g} pp accuracy lost vs Keras.  ",
        f"int8 calibration: {settings['calibration_samples']} class-balanced training images "
        "(raw 0..255 pixels, white on black).",
        "",
        "| format | file | accuracy | Δ vs Keras | agreement | max \\|Δp\\| | size "
        "| vs float32 | convert | verify | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| keras | {source['file']} | {percent(source['keras_accuracy'])} | — | — | — "
        f"| {kilobytes(source.get('size_bytes'))} | — | — "
        f"| {_num(source['keras_seconds'], '.1f')} s "
        "| reference |",
    ]
    for r in rows:
        lines.append(
            f"| {r['format']} | {r['file']} | {percent(r['accuracy'])} | {r['delta_pp']:+.2f} pp "
            f"| {percent(r['agreement'])} | {r['max_prob_diff']:.4f} "
            f"| {kilobytes(r['size_bytes'])} "
            f"| {_num(r['size_ratio_vs_float32'], '.0%')} | {r['convert_seconds']:.1f} s "
            f"| {r['verify_seconds']:.1f} s | {r['status']} |"
        )
    if any("vision" in r for r in rows):
        lines += [
            "",
            f"## On the vision step's crops ({source.get('vision_test_samples', 0)} crops of "
            "photos written with MNIST test digits)",
            "",
            "The model also says `none` (no digit) and `cut` (not one whole digit) here; "
            "accuracy counts all 12 classes.",
            "",
            "| format | accuracy | Δ vs Keras | agreement |",
            "|---|---:|---:|---:|",
        ]
        for r in rows:
            if "vision" in r:
                v = r["vision"]
                lines.append(
                    f"| {r['format']} | {percent(v['accuracy'])} | {v['delta_pp']:+.2f} pp "
                    f"| {percent(v['agreement'])} |"
                )
    lines += [
        "",
        "## Runtime compatibility",
        "",
        "| format | needs TFLite ≥ | " + " | ".join(f"{t.label}" for t in TARGETS) + " | ops |",
        "|---|---|" + "---|" * len(TARGETS) + "---|",
    ]
    notes = []
    for r in rows:
        compat = r["compat"]
        cells = [_runtime_cell(compat["runtimes"][t.key]) for t in TARGETS]
        lines.append(
            f"| {r['format']} | {compat['min_runtime_version'] or '?'} | "
            + " | ".join(cells)
            + f" | {', '.join(compat['ops'])} |"
        )
        for t in TARGETS:
            verdict = compat["runtimes"][t.key]
            if verdict.get("loads") is not True and verdict.get("how") != "not installed":
                notes.append(f"- {r['format']} on {t.label} ({t.who}): {verdict['detail']}")
    lines += [""]
    if notes:
        lines += ["Will not (or may not) load:", "", *notes, ""]
    else:
        lines += ["Every format loads on every runtime listed.", ""]
    lines += [
        "Runtimes: "
        + "; ".join(f"{t.label} = {t.who}" for t in TARGETS)
        + '. "loaded" = actually loaded here; otherwise judged from the operator versions '
        "(TFLite's op-version → release table).",
        "",
        f"Verdict: **{'PASS' if report['passed'] else 'FAIL'}** "
        f"({sum(r['passed'] for r in rows)}/{len(rows)} formats within the gate), "
        f"total {report['total_seconds']:.1f} s.",
        "",
    ]
    return "\n".join(lines)
