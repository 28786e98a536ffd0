"""Read a folder of digits laid out one folder per class: what is there, and what is wrong.

The layout is the one :mod:`edge_app.collect` writes (``DIR/<digit>/<id>.png`` and
``<id>.mnist.png``, a ``manifest.csv``), and any folder of ordinary image files laid out the same
way: ``DIR/7/anything.jpg`` is one 7. Folder names are class labels: ``0`` .. ``9``, and
``none`` / ``cut`` for a model that has those classes (see :data:`edge_app.contract.VISION_LABELS`).

:func:`scan` only looks at names; it decodes nothing. Problems (a folder name that is no
label, a file that is no image, a saved digit whose two files sit in different folders with no
manifest to say which move was the correction) come back as one line each, for the caller to
report; hidden files, ``Thumbs.db``-style clutter and empty class folders are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_app.cliparts import did_you_mean
from edge_app.collect import CROP_SUFFIX, MANIFEST, MODEL_INPUT_SUFFIX, read_manifest
from edge_app.contract import VISION_LABELS

IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm",
)  # fmt: skip
CLUTTER = {"thumbs.db", "desktop.ini", "ehthumbs.db", MANIFEST}


@dataclass(frozen=True)
class Sample:
    """One digit in a folder.

    Attributes:
        path: the file to read it from (a saved digit's ``.mnist.png`` when there is one).
        label: the class it is filed under (the folder name).
        id: a saved digit's id, or the file's path relative to the folder.
        model_input: ``path`` is a model input already (28x28, white on black).
        moved: it was saved under another label and moved here (a correction).
    """

    path: Path
    label: str
    id: str
    model_input: bool = False
    moved: bool = False


@dataclass
class Scan:
    """What :func:`scan` found in one folder."""

    root: Path
    samples: list[Sample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    empty_folders: list[str] = field(default_factory=list)


def _hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name.lower() in CLUTTER


def _label_problem(folder: Path) -> str:
    return (
        f"{folder}: folder name '{folder.name}' is not a digit (class folders are named 0 to 9, "
        f"and none or cut for a 12-class model){did_you_mean(folder.name, VISION_LABELS)}"
    )


def _split_id(name: str) -> tuple[str, bool]:
    """``(id, is_model_input)`` of a file name: ``a.mnist.png`` -> ``("a", True)``."""
    if name.lower().endswith(MODEL_INPUT_SUFFIX):
        return name[: -len(MODEL_INPUT_SUFFIX)], True
    if name.lower().endswith(CROP_SUFFIX):
        return name[: -len(CROP_SUFFIX)], False
    return name, False


def scan(root: str | Path) -> Scan:
    """List the digits under ``root`` (see the module docstring).

    Args:
        root: a folder holding one folder per class.

    Returns:
        A :class:`Scan`; ``problems`` is empty when everything is usable. A missing or
        unreadable ``root``, or one without any class folder, is a problem too.
    """
    root = Path(root).expanduser()
    found = Scan(root)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        found.problems.append(f"{root}: {what} (give a folder holding one folder per digit)")
        return found
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        found.problems.append(f"{root}: cannot be read ({exc.strerror or exc})")
        return found
    # id -> label -> {"input": path, "others": [paths]}
    files: dict[str, dict[str, dict]] = {}
    folders = 0
    for entry in entries:
        if _hidden(entry):
            continue
        if entry.is_file():
            if entry.suffix.lower() in IMAGE_SUFFIXES:
                found.problems.append(
                    f"{entry}: an image outside the class folders; put it in {root}/<digit>/"
                )
            continue
        if entry.name not in VISION_LABELS:
            found.problems.append(_label_problem(entry))
            continue
        folders += 1
        _scan_class(entry, files, found)
    if not folders and not found.problems:
        found.problems.append(
            f"{root}: holds no class folders (expected {root}/0/ .. {root}/9/ with one image "
            "per digit)"
        )
    _resolve(files, read_manifest(root), found)
    return found


def _scan_class(folder: Path, files: dict[str, dict[str, dict]], found: Scan) -> None:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        found.problems.append(f"{folder}: cannot be read ({exc.strerror or exc})")
        return
    images = 0
    for path in entries:
        if _hidden(path):
            continue
        if path.is_dir():
            found.problems.append(f"{path}: a folder inside a class folder (one level only)")
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            found.problems.append(
                f"{path}: not an image file (class folders hold images: "
                f"{', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES[:6])}, ...)"
            )
            continue
        images += 1
        ident, is_input = _split_id(path.name)
        slot = files.setdefault(ident, {}).setdefault(folder.name, {"input": None, "others": []})
        if is_input:
            slot["input"] = path
        else:
            slot["others"].append(path)
    if not images:
        found.empty_folders.append(folder.name)


def _resolve(files: dict[str, dict[str, dict]], manifest: dict[str, dict], found: Scan) -> None:
    """One sample per saved digit (its model input), one per ordinary image file."""
    for ident, by_label in sorted(files.items()):
        saved = ident in manifest or any(s["input"] is not None for s in by_label.values())
        if not saved:  # ordinary files: 3/001.png and 5/001.png are two different digits
            for label, slot in by_label.items():
                for path in slot["others"]:
                    name = str(path.relative_to(found.root))
                    found.samples.append(Sample(path, label, name))
            continue
        saved_as = manifest.get(ident, {}).get("digit")
        if len(by_label) == 1:
            ((label, slot),) = by_label.items()
            moved = saved_as is not None and saved_as != label
            path = slot["input"] if slot["input"] is not None else slot["others"][0]
            found.samples.append(Sample(path, label, ident, slot["input"] is not None, moved))
            continue
        moved_to = [label for label in by_label if label != saved_as]
        if saved_as not in by_label or len(moved_to) != 1:
            where = " and ".join(f"{found.root / label}/" for label in sorted(by_label))
            found.problems.append(
                f"{ident}: its files are in {where}; move all files of one digit together"
            )
            continue
        label = moved_to[0]
        inputs = [s["input"] for s in by_label.values() if s["input"] is not None]
        path = inputs[0] if inputs else by_label[label]["others"][0]
        found.samples.append(Sample(path, label, ident, bool(inputs), True))
