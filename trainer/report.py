"""The human-readable side of a run: the comparison table and ``report.md``."""

from __future__ import annotations

from typing import Any

COMPARISON_COLUMNS = (
    ("arch", "arch", "{}"),
    ("accuracy", "test acc", "{:.2%}"),
    ("errors", "errors", "{}"),
    ("precision", "macro P", "{:.4f}"),
    ("recall", "macro R", "{:.4f}"),
    ("f1", "macro F1", "{:.4f}"),
    ("params", "params", "{:,}"),
    ("macs", "MACs", "{:,}"),
    ("size_kb", "size KB", "{:.0f}"),
    ("keras_ms", "keras ms", "{:.2f}"),
    ("epochs", "epochs", "{}"),
    ("training_seconds", "train s", "{:.0f}"),
)


def comparison_rows(models: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per architecture with the comparison columns."""
    rows = []
    for arch, m in models.items():
        rows.append(
            {
                "arch": arch,
                "accuracy": m["accuracy"],
                "errors": m["errors"],
                "precision": m["macro"]["precision"],
                "recall": m["macro"]["recall"],
                "f1": m["macro"]["f1"],
                "params": m["params"],
                "macs": m["macs"],
                "size_kb": m["size_bytes"] / 1024,
                "keras_ms": m.get("keras_latency_ms"),
                "epochs": m["epochs"],
                "training_seconds": m["training_seconds"],
            }
        )
    return rows


def _cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = [title for _, title, _ in COMPARISON_COLUMNS]
    body = [
        [fmt.format(row[key]) if row.get(key) is not None else "-" for key, _, fmt in
         COMPARISON_COLUMNS]
        for row in rows
    ]  # fmt: skip
    return header, body


def text_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as an aligned plain-text table (what ``digits-train`` prints)."""
    header, body = _cells(rows)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = []
    for row in [header, *body]:
        pairs = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in pairs]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as a GitHub markdown table."""
    header, body = _cells(rows)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(out)


def _per_class_table(m: dict[str, Any]) -> str:
    out = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for digit, c in m["per_class"].items():
        out.append(
            f"| {digit} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} "
            f"| {c['support']} |"
        )
    macro = m["macro"]
    out.append(
        f"| **macro** | {macro['precision']:.4f} | {macro['recall']:.4f} | {macro['f1']:.4f} "
        f"| {m['n']} |"
    )
    return "\n".join(out)


def render_report(run: dict[str, Any], metrics: dict[str, Any], eda: dict[str, Any] | None) -> str:
    """``report.md``: data, EDA figures, the comparison, then each model's evaluation."""
    config, data = run["config"], run["data"]
    primary = metrics["arch"]
    lines = [
        "# DigitLite training report",
        "",
        f"Run `{run['run_dir']}`, finished {run.get('finished_at', '?')}. "
        f"Primary model **{primary}** -> `model.keras`: test accuracy "
        f"**{metrics['accuracy']:.2%}** ({metrics['errors']} errors of {metrics['n']}), "
        f"{metrics['params']:,} parameters, {metrics['macs']:,} multiply-accumulates per image.",
        "",
        "## Data",
        "",
        f"- Source: `{data['source']}` (original MNIST files: {data['official']})",
        f"- Training {data['train']:,} images, validation {data['val']:,} (carved from training, "
        f"stratified, seed {config['seed']}), test {data['test']:,} (never used to choose "
        "anything).",
        f"- Epochs <= {config['epochs']}, batch {config['batch_size']}, AdamW peak lr "
        f"{config['learning_rate']} with 1 warm-up epoch + cosine decay, early stopping "
        f"(patience {config['patience']}, second half of the schedule) on validation loss.",
        "",
    ]
    if eda:
        lines += [
            "## Exploratory data analysis",
            "",
            f"Training images per digit: {eda['train_counts']}; test: {eda['test_counts']}. "
            f"Mean pixel {eda['mean_pixel']:.1f} of 255; {eda['zero_pixel_share']:.0%} of pixels "
            "are pure black background.",
            "",
        ]
        for key, title in (
            ("samples", "Samples per digit"),
            ("class_distribution", "Class distribution"),
            ("pixel_histogram", "Pixel intensities"),
            ("mean_images", "Mean image per digit"),
        ):
            lines += [f"### {title}", "", f"![{title}]({eda['figures'][key]})", ""]
    lines += ["## Comparison", "", markdown_table(metrics["comparison"]), ""]
    for arch, m in metrics["models"].items():
        figs = m["figures"]
        if m.get("kind") == "ensemble":
            lines += _ensemble_section(arch, m, arch == primary, metrics["models"])
            continue
        lines += [
            f"## {arch}" + (" (primary)" if arch == primary else ""),
            "",
            f"{m['description']}. Test accuracy {m['accuracy']:.2%}, {m['params']:,} parameters, "
            f"{m['macs']:,} MACs, trained {m['epochs']} epochs in {m['training_seconds']:.0f} s "
            f"(best epoch {m['best_epoch']}{', stopped early' if m['stopped_early'] else ''}, "
            f"augmentation {'on' if m['augment'] else 'off'}). Keras `model(x)` on one image: "
            f"{m['keras_latency_ms']:.2f} ms.",
            "",
            f"![{arch} training curves]({figs['curves']})",
            "",
            f"![{arch} confusion matrix]({figs['confusion']})",
            "",
            _per_class_table(m),
            "",
            f"![{arch} misclassified digits]({figs['misclassified']})",
            "",
        ]
        lines += _vision_section(arch, m)
    return "\n".join(lines)


def _ensemble_section(
    name: str, m: dict[str, Any], primary: bool, models: dict[str, dict[str, Any]]
) -> list[str]:
    """An ensemble: what it reaches against its members, and what it costs."""
    members = [models[k] for k in m["members"] if k in models]
    one = members[0] if members else m
    figs = m["figures"]
    lines = [
        f"## {name}" + (" (primary)" if primary else ""),
        "",
        f"{m['description']}: one Keras model (`{m['model_file']}`), raw pixels in, the "
        f"members' averaged probabilities out. Test accuracy **{m['accuracy']:.2%}** "
        f"({m['errors']} errors) against {m['best_member_accuracy']:.2%} for its best member. "
        f"Cost: {m['params']:,} parameters and {m['macs']:,} MACs "
        f"({m['macs'] / max(1, one['macs']):.1f}x the first member's), Keras `model(x)` on one "
        f"image {m['keras_latency_ms']:.2f} ms ({one['keras_latency_ms']:.2f} ms for one "
        "member); the int8 size and latency are in the converter's and the benchmark's reports.",
        "",
        f"![{name} confusion matrix]({figs['confusion']})",
        "",
        _per_class_table(m),
        "",
        f"![{name} misclassified digits]({figs['misclassified']})",
        "",
    ]
    return lines + _vision_section(name, m)


def _vision_section(arch: str, m: dict[str, Any]) -> list[str]:
    """What a vision model (digits, none, cut) does with the vision step's own crops."""
    if "vision" not in m:
        return []
    v = m["vision"]
    lines = [
        f"### {arch} on the vision step's crops",
        "",
        f"Strict MNIST test accuracy {m['accuracy']:.2%} counts a digit called `none` or `cut` "
        f"as an error ({m['mnist_rejected']:.2%} were); the best digit is right on "
        f"{m['digit_accuracy']:.2%}. On {v['n']:,} crops that vision made of photos written "
        f"with MNIST *test* digits (never trained on) the model is right on {v['accuracy']:.2%}.",
        "",
    ]
    if "vision_confusion" in m.get("figures", {}):
        lines += [f"![{arch} vision confusion]({m['figures']['vision_confusion']})", ""]
    lines += [_per_class_table(v), ""]
    return lines
