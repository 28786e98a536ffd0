"""Find, download, verify and read MNIST; carve the validation split.

MNIST comes as the four standard idx files (``*-idx?-ubyte.gz``, or uncompressed) or as Keras'
``mnist.npz``. :func:`load_mnist` looks, in order, in the ``data_dir`` argument,
``$DIGITS_DATA_DIR``, the Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``), and
finally downloads the idx files from public mirrors, verifying each against the published md5.

Every file is checked for what it claims to be (magic number, dimensions, exact byte count,
label range, matching image/label counts); a truncated or corrupt file raises
:class:`~trainer.errors.DataError` naming the file, never a silent partial dataset.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_app.contract import IMAGE_SIZE, LABELS
from edge_app.files import atomic_path, file_digest
from trainer.errors import DataError

log = logging.getLogger(__name__)

ENV_DATA_DIR = "DIGITS_DATA_DIR"
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049

# split -> (images file, labels file); the standard LeCun names.
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# md5 of the original gz files (see ../shared/data/mnist/SOURCE.md; same as torchvision's).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# sha256 of Keras' mnist.npz (keras.datasets.mnist.load_data's file_hash).
OFFICIAL_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
DOWNLOAD_TIMEOUT_S = 30.0


@dataclass(frozen=True, eq=False)
class Mnist:
    """The MNIST arrays and where they came from.

    Attributes:
        x_train: (N, 28, 28) uint8 images, white ink on black.
        y_train: (N,) uint8 labels 0..9.
        x_test: (M, 28, 28) uint8 images.
        y_test: (M,) uint8 labels.
        source: where the data was read from (a directory, file or URL).
        checksums: file name -> ``"md5:<hex>"`` (idx .gz files) or ``"sha256:<hex>"`` (npz).
        official: True when every checksum equals the published original's.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    checksums: dict[str, str] = field(default_factory=dict)
    official: bool = False

    def limit(self, n: int | None) -> Mnist:
        """A copy with at most ``n`` training images (the first ``n``; the test set untouched)."""
        if n is None or n >= len(self.y_train):
            return self
        return Mnist(
            self.x_train[:n], self.y_train[:n], self.x_test, self.y_test,
            self.source, self.checksums, self.official,
        )  # fmt: skip


# --- reading ----------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt gzip file ({exc})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def read_idx(path: str | Path, expect_magic: int) -> np.ndarray:
    """Read one idx file (optionally gzip-compressed) into a uint8 array.

    Raises:
        DataError: wrong magic number, wrong dimensions, or a byte count that does not match the
            header (truncated or padded file).
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 8:
        raise DataError(f"{path}: too short to be an idx file ({len(raw)} bytes)")
    (magic,) = struct.unpack_from(">I", raw, 0)
    if magic != expect_magic:
        raise DataError(f"{path}: bad magic number {magic} (expected {expect_magic})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header")
    dims = struct.unpack_from(f">{ndim}I", raw, 4)
    expected = int(np.prod(dims, dtype=np.int64)) if dims else 0
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: holds {len(raw) - header} data bytes but its header promises {expected} "
            f"(shape {dims}); the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _check_split(name: str, x: np.ndarray, y: np.ndarray, where: str) -> None:
    if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{where}: {name} images have shape {x.shape}, expected (N, {IMAGE_SIZE}, {IMAGE_SIZE})"
        )
    if y.ndim != 1:
        raise DataError(f"{where}: {name} labels have shape {y.shape}, expected (N,)")
    if len(x) != len(y):
        raise DataError(f"{where}: {len(x)} {name} images but {len(y)} labels")
    if len(y) == 0:
        raise DataError(f"{where}: the {name} split is empty")
    if x.dtype != np.uint8 or y.dtype != np.uint8:
        raise DataError(f"{where}: {name} arrays are {x.dtype}/{y.dtype}, expected uint8")
    if int(y.max()) >= len(LABELS):
        raise DataError(
            f"{where}: {name} labels go up to {int(y.max())}, expected 0..{len(LABELS) - 1}"
        )


def _idx_path(directory: Path, gz_name: str) -> Path | None:
    """The idx file in ``directory`` by its .gz name, or its uncompressed twin."""
    for candidate in (gz_name, gz_name[: -len(".gz")]):
        if (directory / candidate).is_file():
            return directory / candidate
    return None


def read_idx_dir(directory: str | Path) -> Mnist:
    """Read the four idx files from ``directory`` and validate them."""
    directory = Path(directory)
    arrays, checksums = {}, {}
    for split, (images, labels) in FILES.items():
        for name, magic in ((images, IMAGE_MAGIC), (labels, LABEL_MAGIC)):
            path = _idx_path(directory, name)
            if path is None:
                raise DataError(f"{directory / name}: missing")
            arrays[name] = read_idx(path, magic)
            checksums[path.name] = "md5:" + file_digest(path, "md5")
        _check_split(split, arrays[images], arrays[labels], str(directory / images))
    official = all(checksums.get(n) == "md5:" + m for n, m in OFFICIAL_MD5.items())
    return Mnist(
        arrays[FILES["train"][0]], arrays[FILES["train"][1]],
        arrays[FILES["test"][0]], arrays[FILES["test"][1]],
        str(directory.resolve()), checksums, official,
    )  # fmt: skip


def read_npz(path: str | Path) -> Mnist:
    """Read Keras' ``mnist.npz`` (keys x_train, y_train, x_test, y_test) and validate it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: np.asarray(npz[k]) for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as exc:
        raise DataError(f"{path}: not an MNIST npz (missing array {exc})") from exc
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt npz file ({exc})") from exc
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise DataError(f"{path}: truncated or corrupt npz file ({exc})") from exc
    for split in ("train", "test"):
        _check_split(split, arrays[f"x_{split}"], arrays[f"y_{split}"], str(path))
    sha = file_digest(path)
    return Mnist(
        arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
        str(path.resolve()), {path.name: "sha256:" + sha}, sha == OFFICIAL_NPZ_SHA256,
    )  # fmt: skip


def _read_location(location: Path) -> Mnist | None:
    """Read MNIST from a directory (idx files or mnist.npz) or an npz file; None if absent."""
    if location.is_file():
        return read_npz(location)
    if not location.is_dir():
        return None
    if any(_idx_path(location, name) for pair in FILES.values() for name in pair):
        return read_idx_dir(location)  # a partial set is an error, not "absent"
    if (location / "mnist.npz").is_file():
        return read_npz(location / "mnist.npz")
    return None


# --- downloading ------------------------------------------------------------------------------


def keras_cache_dir() -> Path:
    """Keras' dataset cache: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(home) / "datasets"


def _download_one(url: str, target: Path, md5: str) -> None:
    """Download ``url`` to ``target`` atomically, verifying its md5 (a mismatch writes nothing)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        digest = hashlib.md5()
        with (
            open(tmp, "wb") as out,
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
        ):
            for chunk in iter(lambda: response.read(1 << 16), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise DataError(f"{url}: checksum mismatch (md5 {digest.hexdigest()}, expected {md5})")


def download_mnist(target_dir: str | Path, mirrors: Sequence[str] = MIRRORS) -> Path:
    """Download the four idx .gz files into ``target_dir``, trying each mirror in turn.

    Files already present with the right md5 are kept. Returns ``target_dir``.

    Raises:
        DataError: no mirror delivered a file with the published checksum; says what was tried.
    """
    target_dir = Path(target_dir)
    failures: list[str] = []
    for name, md5 in OFFICIAL_MD5.items():
        target = target_dir / name
        if target.is_file() and file_digest(target, "md5") == md5:
            continue
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            log.info("downloading %s", url)
            try:
                _download_one(url, target, md5)
                break
            except DataError as exc:
                log.warning("%s", exc)
                failures.append(str(exc))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                log.warning("%s: %s", url, reason)
                failures.append(f"{url}: {reason}")
        else:
            raise DataError(f"could not download {name}: " + "; ".join(failures))
    return target_dir


# --- the search -------------------------------------------------------------------------------


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
) -> Mnist:
    """Load MNIST from the first place that has it, validating everything read.

    Order: ``data_dir`` (a directory with the four idx files or ``mnist.npz``, or an npz file),
    ``$DIGITS_DATA_DIR``, the Keras cache (``mnist.npz`` or a ``digitlite-mnist/`` directory
    holding the idx files), then - if ``download`` - the public ``mirrors`` into that cache.

    Args:
        data_dir: where to look first; None skips this step.
        download: allow downloading as the last resort.
        mirrors: base URLs to try, in order, for each idx .gz file.

    Returns:
        The validated :class:`Mnist`.

    Raises:
        DataError: a file found is truncated, corrupt or inconsistent (naming it), or MNIST is
            nowhere to be found (saying everything tried and how to fix it).
    """
    cache = keras_cache_dir()
    tried: list[str] = []
    candidates: list[tuple[str, Path]] = []
    if data_dir is not None:
        candidates.append(("--data-dir", Path(data_dir).expanduser()))
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        candidates.append((f"${ENV_DATA_DIR}", Path(env).expanduser()))
    else:
        tried.append(f"${ENV_DATA_DIR} (not set)")
    candidates += [("Keras cache", cache / "mnist.npz"), ("Keras cache", cache / "digitlite-mnist")]

    for label, location in candidates:
        mnist = _read_location(location)
        if mnist is not None:
            if data_dir is not None and label != "--data-dir":  # say so, it may be a typo
                log.warning("no MNIST in --data-dir %s; using %s instead", data_dir, location)
            log.info("MNIST from %s %s (official files: %s)", label, location, mnist.official)
            return mnist
        log.debug("no MNIST at %s %s", label, location)
        tried.append(f"{label} {location} (no idx files or mnist.npz)")

    if download:
        target = cache / "digitlite-mnist"
        try:
            download_mnist(target, mirrors)
        except DataError as exc:
            tried.append(f"download ({exc})")
        else:
            mnist = read_idx_dir(target)
            if data_dir is not None:
                log.warning("no MNIST in --data-dir %s; downloaded it instead", data_dir)
            log.info("MNIST downloaded to %s", target)
            return mnist
    else:
        tried.append("download (disabled)")
    raise DataError(
        "MNIST not found; tried " + "; ".join(tried) + f". Fix: set {ENV_DATA_DIR} (or pass "
        "--data-dir) to a directory holding the four *-idx?-ubyte.gz files or mnist.npz"
    )


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split training data into (x_train, y_train, x_val, y_val), stratified by class.

    The validation part chooses epochs and checkpoints; the test set is never used for that.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    val_idx = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        val_idx.append(idx[: max(1, round(len(idx) * fraction))])
    val = np.sort(np.concatenate(val_idx))
    train_mask = np.ones(len(y), dtype=bool)
    train_mask[val] = False
    if not train_mask.any():
        raise DataError(f"too few training images ({len(y)}) to carve a validation split")
    return x[train_mask], y[train_mask], x[val], y[val]
