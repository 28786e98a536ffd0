"""Collect your own handwriting: save every digit read as files a person can check and correct.

``digits-predict --save-crops DIR``, the app's *Save* button and ``digits-serve --save-crops DIR``
all call :class:`CropSaver`. The layout it writes (and :mod:`edge_app.digit_folders` reads)::

    DIR/manifest.csv              one row per digit saved: source, box, confidence, what was read
    DIR/<digit>/<id>.png          the original crop with a margin around it, for people
    DIR/<digit>/<id>.mnist.png    the 28x28 image the model saw (white ink on black)

``<digit>`` is the digit *read*. A wrong one is corrected by moving its files to the right
folder (moving only the ``.png`` is enough: the manifest knows where it was saved). A digit
that is no digit at all is deleted, or - for a 12-class model - moved to ``none/`` or ``cut/``.

The 28x28 image is exactly the model's input: the reader's result names each digit's box, and
the vision step (deterministic) is run once more to find the candidate with that box; where a
box matches more than one candidate (two readings of one image, light and dark ink) the
candidate the model reads as that digit most surely is taken. Saving therefore costs one more
vision pass per image, only when saving. Files are written atomically and a digit already in
``DIR`` (same source pixels, same box) is not saved twice, wherever it was moved since.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.contract import IMAGE_SIZE, LABELS
from edge_app.errors import CropFolderError, ImageError, OutputError
from edge_app.files import write_bytes

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
MODEL_INPUT_SUFFIX = ".mnist.png"  # <id>.mnist.png: the model's 28x28 input
CROP_SUFFIX = ".png"  # <id>.png: the original crop, for people
MANIFEST_FIELDS = (
    "id", "digit", "confidence", "box", "line", "source", "model", "exact", "saved_utc",
)  # fmt: skip
CROP_MARGIN = 0.25  # of the box's longer side, around the original crop
_INK_LEVEL = 24  # an image whose strongest ink is fainter than this holds no digit
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")

Propose = Callable[[np.ndarray], Sequence[Any]]


@dataclass(frozen=True)
class SavedDigit:
    """One digit written (or found already saved) under the crop folder."""

    id: str
    digit: int
    confidence: float
    box: tuple[int, int, int, int]
    crop: Path
    model_input: Path
    exact: bool  # the model input is the vision step's own (False: re-framed from the crop)
    new: bool  # False: this digit was already in the folder (left where it is)


def digit_input(image: np.ndarray) -> np.ndarray:
    """One digit's image (a crop, a scan, a drawing) -> the model's 28x28 input.

    The paper is whatever the border mostly is: a light border is inverted to white ink on
    black, and the paper level is subtracted so grain and tint do not count as ink. A 28x28
    image is taken as already framed (an MNIST sample, a saved ``.mnist.png``); any other size
    is framed like MNIST by :func:`edge_app.vision.frame_digit`, as the camera's digits are.

    Raises:
        ImageError: the image holds no ink.
    """
    gray = np.asarray(image)
    if gray.ndim == 3:
        import cv2

        gray = cv2.cvtColor(gray[..., :3], cv2.COLOR_BGR2GRAY)
    gray = gray.astype(np.int16)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = int(np.median(border))
    ink = np.clip((paper - gray) if paper > 127 else (gray - paper), 0, 255).astype(np.uint8)
    if int(ink.max(initial=0)) < _INK_LEVEL:
        raise ImageError("the image holds no ink: it is blank")
    if ink.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return ink
    from edge_app.vision import frame_digit

    return np.asarray(frame_digit(ink), dtype=np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a gray or BGR uint8 image (OpenCV, else Pillow)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    try:
        import cv2
    except ImportError:
        from PIL import Image

        rgb = image if image.ndim == 2 else image[..., 2::-1]
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
        return buffer.getvalue()
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ImageError(f"cannot encode a {image.shape} image as PNG")
    return data.tobytes()


def crop_of(image: np.ndarray, box: Sequence[int], margin: float = CROP_MARGIN) -> np.ndarray:
    """The part of ``image`` inside ``box`` (x, y, w, h) plus ``margin`` of its longer side."""
    x, y, w, h = (int(v) for v in box)
    pad = max(2, round(margin * max(w, h)))
    height, width = image.shape[:2]
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(width, x + w + pad), min(height, y + h + pad)
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def _digit_column(classifier: Any, digit: int) -> int:
    labels = tuple(str(v) for v in getattr(classifier, "labels", LABELS))
    return labels.index(str(digit))


def model_inputs(
    image: np.ndarray,
    detections: Sequence[Any],
    *,
    classifier: Any = None,
    propose: Propose | None = None,
) -> list[tuple[np.ndarray, bool]]:
    """The 28x28 input the model saw for each detection of ``image``: ``(pixels, exact)``.

    Args:
        image: the image that was read.
        detections: the reading's detections (``digit``, ``box``).
        classifier: picks between candidates that share a box (``predict_proba``, ``labels``).
        propose: the vision step (default: the one :class:`~edge_app.reader.DigitReader` uses
            by default, :func:`edge_app.vision.propose`; tests pass a fake).

    Returns:
        One pair per detection; ``exact`` is False when no candidate had the detection's box
        and the crop was framed anew (:func:`digit_input`).
    """
    if propose is None:  # the reader's own default, so both see the very same spans
        from edge_app.reader import _default_propose

        propose = _default_propose()
    by_box: dict[tuple[int, ...], list[np.ndarray]] = {}
    for proposal in propose(image) if detections else ():
        for c in proposal.candidates:
            by_box.setdefault(tuple(int(v) for v in c.box), []).append(np.asarray(c.image))
    out = []
    for d in detections:
        found = by_box.get(tuple(int(v) for v in d.box), [])
        distinct = {f.tobytes(): f for f in found}
        if not distinct:
            out.append((digit_input(crop_of(image, d.box, 0.1)), False))
            continue
        pick = next(iter(distinct.values()))
        if len(distinct) > 1 and classifier is not None:
            batch = np.stack(list(distinct.values())).astype(np.uint8)
            probs = np.asarray(classifier.predict_proba(batch))
            pick = batch[int(np.argmax(probs[:, _digit_column(classifier, int(d.digit))]))]
        out.append((np.asarray(pick, dtype=np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE), True))
    return out


def _stem(source: str) -> str:
    stem = _SAFE.sub("_", Path(source).stem or "image").strip("_")
    return (stem or "image")[:40]


class CropSaver:
    """Writes digits into a crop folder (see the module docstring for the layout).

    Safe to use from several processes at once (``digits-predict --workers``, the server's
    reader processes): every file is written atomically and manifest rows are appended under a
    lock where the platform has one.

    Args:
        root: the crop folder; created if missing.
        model: how the manifest names the model that read the digits.
        propose: the vision step to recover model inputs with (tests pass a fake).

    Raises:
        CropFolderError: ``root`` cannot be created or written.
    """

    def __init__(self, root: str | Path, *, model: str = "", propose: Propose | None = None):
        self.root = Path(root).expanduser()
        self.model = model
        self._propose = propose
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-"):
                pass
        except OSError as exc:
            raise CropFolderError(
                f"cannot write crops to {self.root}: {exc.strerror or exc}"
            ) from exc

    def save_reading(
        self, image: np.ndarray, reading: Any, source: str, classifier: Any = None
    ) -> list[SavedDigit]:
        """Save every digit of ``reading`` (a :class:`~edge_app.reader.Reading` of ``image``).

        Args:
            image: the image that was read (gray or BGR).
            reading: its reading; each detection's box names its crop.
            source: where the image came from (a file name; goes into ids and the manifest).
            classifier: the model that read it (resolves candidates sharing a box).

        Raises:
            CropFolderError: a file cannot be written.
        """
        detections = list(reading.detections)
        inputs = model_inputs(image, detections, classifier=classifier, propose=self._propose)
        saved = []
        for k, (d, (pixels, exact)) in enumerate(zip(detections, inputs, strict=True)):
            crop = crop_of(image, d.box)
            saved.append(
                self.save_digit(
                    pixels, int(d.digit), float(d.confidence), source, crop=crop,
                    box=tuple(int(v) for v in d.box), line=int(getattr(d, "line", 0)),
                    index=k, exact=exact,
                )
            )  # fmt: skip
        new = sum(s.new for s in saved)
        log.info("%s: %d digit(s) saved to %s (%d already there)", source, new, self.root,
                 len(saved) - new)  # fmt: skip
        return saved

    def save_digit(
        self,
        pixels: np.ndarray,
        digit: int,
        confidence: float,
        source: str,
        *,
        crop: np.ndarray | None = None,
        box: tuple[int, int, int, int] = (0, 0, 0, 0),
        line: int = 0,
        index: int = 0,
        exact: bool = True,
    ) -> SavedDigit:
        """Save one digit: its 28x28 model input and (default: the input itself) its crop."""
        pixels = np.asarray(pixels, dtype=np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)
        digest = hashlib.sha1(pixels.tobytes() + np.asarray(box, np.int64).tobytes())
        ident = f"{_stem(source)}-{index:02d}-{digest.hexdigest()[:8]}"
        label = str(int(digit))
        existing = self._find(ident)
        folder = existing if existing is not None else self.root / label
        paths = (folder / f"{ident}{CROP_SUFFIX}", folder / f"{ident}{MODEL_INPUT_SUFFIX}")
        saved = SavedDigit(
            ident, int(digit), float(confidence), box, *paths, exact, existing is None
        )
        if existing is not None:
            return saved
        try:
            folder.mkdir(exist_ok=True)
            write_bytes(paths[1], encode_png(pixels))
            write_bytes(paths[0], encode_png(pixels if crop is None or not crop.size else crop))
            self._append_manifest(saved, source, line)
        except OutputError as exc:
            raise CropFolderError(str(exc)) from exc
        except OSError as exc:
            raise CropFolderError(f"cannot save {paths[0]}: {exc.strerror or exc}") from exc
        return saved

    def _find(self, ident: str) -> Path | None:
        """The folder already holding digit ``ident`` (it may have been moved), if any."""
        for name in (f"{ident}{MODEL_INPUT_SUFFIX}", f"{ident}{CROP_SUFFIX}"):
            for path in self.root.glob(f"*/{name}"):
                return path.parent
        return None

    def _append_manifest(self, saved: SavedDigit, source: str, line: int) -> None:
        row = {
            "id": saved.id,
            "digit": saved.digit,
            "confidence": f"{saved.confidence:.4f}",
            "box": " ".join(str(v) for v in saved.box),
            "line": line,
            "source": source,
            "model": self.model,
            "exact": int(saved.exact),
            "saved_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        path = self.root / MANIFEST
        with open(path, "a", newline="", encoding="utf-8") as fh, _locked(fh):
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
            if fh.tell() == 0:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()


@contextlib.contextmanager
def _locked(fh: Any) -> Any:
    try:
        import fcntl
    except ImportError:  # Windows: appends of one short row are not interleaved in practice
        yield
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    try:
        fh.seek(0, os.SEEK_END)
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_manifest(root: str | Path) -> dict[str, dict[str, str]]:
    """``{id: row}`` of a crop folder's manifest ({} when there is none or it is unreadable)."""
    path = Path(root) / MANIFEST
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return {row["id"]: row for row in csv.DictReader(fh) if row.get("id")}
    except (OSError, csv.Error, KeyError, UnicodeDecodeError) as exc:
        if path.exists():
            log.warning("%s cannot be read (%s); moved files are taken by their folder", path, exc)
        return {}
