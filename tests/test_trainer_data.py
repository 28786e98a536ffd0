"""trainer.data: reading, validating, searching for and downloading MNIST (no TensorFlow)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import logging
import shutil
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from trainer import data
from trainer.data import FILES, load_mnist, read_idx_dir, split_validation
from trainer.errors import DataError

IMAGES, LABELS = FILES["train"]


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch):
    """CI points DIGITS_DATA_DIR at the real data; these tests decide for themselves."""
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)


@pytest.fixture
def mini_copy(data_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of mnist-mini to corrupt."""
    return Path(shutil.copytree(data_dir, tmp_path / "mini"))


def _rewrite(path: Path, transform) -> None:
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(transform(raw)))


def test_loads_mini_subset(data_dir):
    mnist = load_mnist(data_dir, download=False)
    assert mnist.x_train.shape == (1000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.y_train.shape == (1000,) and mnist.y_train.dtype == np.uint8
    assert mnist.x_test.shape == (500, 28, 28) and mnist.y_test.shape == (500,)
    assert np.bincount(mnist.y_train).tolist() == [100] * 10
    assert np.bincount(mnist.y_test).tolist() == [50] * 10
    assert mnist.x_train.max() == 255  # raw pixels, white ink on black
    assert np.median(mnist.x_train) == 0
    assert set(mnist.checksums) == {n for pair in FILES.values() for n in pair}
    assert all(v.startswith("md5:") for v in mnist.checksums.values())
    assert not mnist.official  # a subset, not the published files
    assert Path(mnist.source) == data_dir.resolve()


def test_mini_subset_is_small_and_regenerable(data_dir):
    assert sum(p.stat().st_size for p in data_dir.iterdir()) < 300_000
    assert (data_dir.parent / "make_mnist_mini.py").is_file()


def test_uncompressed_idx_files_are_read(mini_copy):
    for gz in list(mini_copy.glob("*.gz")):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert read_idx_dir(mini_copy).x_train.shape == (1000, 28, 28)


def test_npz_file_and_directory(data_dir, tmp_path):
    mini = load_mnist(data_dir, download=False)
    npz = tmp_path / "npz" / "mnist.npz"
    npz.parent.mkdir()
    np.savez_compressed(npz, x_train=mini.x_train, y_train=mini.y_train,
                        x_test=mini.x_test, y_test=mini.y_test)  # fmt: skip
    for where in (npz, npz.parent):
        got = load_mnist(where, download=False)
        np.testing.assert_array_equal(got.x_test, mini.x_test)
        assert list(got.checksums) == ["mnist.npz"]
        assert got.checksums["mnist.npz"].startswith("sha256:")


def test_truncated_npz_names_the_file(data_dir, tmp_path):
    mini = load_mnist(data_dir, download=False)
    npz = tmp_path / "mnist.npz"
    np.savez(
        npz, x_train=mini.x_train, y_train=mini.y_train, x_test=mini.x_test, y_test=mini.y_test
    )
    npz.write_bytes(npz.read_bytes()[:5000])
    with pytest.raises(DataError, match="mnist.npz"):
        load_mnist(npz, download=False)


def test_truncated_gzip_names_the_file(mini_copy):
    path = mini_copy / IMAGES
    path.write_bytes(path.read_bytes()[:20_000])
    with pytest.raises(DataError, match=IMAGES) as err:
        load_mnist(mini_copy, download=False)
    assert "truncated" in str(err.value)


def test_truncated_idx_payload_names_the_file(mini_copy):
    _rewrite(mini_copy / IMAGES, lambda raw: raw[:-784])  # valid gzip, one image short
    with pytest.raises(DataError, match=f"{IMAGES}.*header promises"):
        load_mnist(mini_copy, download=False)


def test_garbage_file_names_the_file(mini_copy):
    (mini_copy / LABELS).write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match=LABELS):
        load_mnist(mini_copy, download=False)


def test_bad_magic_number(mini_copy):
    shutil.copy(mini_copy / LABELS, mini_copy / IMAGES)  # labels where images belong
    with pytest.raises(DataError, match=f"{IMAGES}.*magic number 2049"):
        load_mnist(mini_copy, download=False)


def test_label_out_of_range(mini_copy):
    _rewrite(mini_copy / LABELS, lambda raw: raw[:-1] + bytes([10]))
    with pytest.raises(DataError, match="labels go up to 10"):
        load_mnist(mini_copy, download=False)


def test_image_and_label_counts_must_agree(mini_copy):
    shutil.copy(mini_copy / FILES["test"][1], mini_copy / LABELS)  # 500 labels for 1000 images
    with pytest.raises(DataError, match="1000 train images but 500 labels"):
        load_mnist(mini_copy, download=False)


def test_wrong_image_shape(mini_copy):
    header = struct.pack(">IIII", 2051, 10, 28, 27)
    (mini_copy / IMAGES).write_bytes(gzip.compress(header + bytes(10 * 28 * 27)))
    with pytest.raises(DataError, match=r"shape \(10, 28, 27\)"):
        load_mnist(mini_copy, download=False)


def test_a_missing_file_is_an_error_not_a_fallback(mini_copy):
    (mini_copy / LABELS).unlink()
    with pytest.raises(DataError, match=f"{LABELS}: missing"):
        load_mnist(mini_copy, download=False)


def test_environment_variable_is_searched(data_dir, monkeypatch):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(data_dir))
    assert load_mnist(download=False).source == str(data_dir.resolve())


def test_data_dir_argument_wins_over_environment(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path / "elsewhere"))
    assert load_mnist(data_dir, download=False).source == str(data_dir.resolve())


def test_fallback_from_an_empty_data_dir_is_a_warning(data_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(data_dir))
    with caplog.at_level(logging.WARNING, logger="trainer.data"):
        assert load_mnist(tmp_path / "typo", download=False).source == str(data_dir.resolve())
    assert "no MNIST in --data-dir" in caplog.text and "typo" in caplog.text


def test_keras_cache_npz_is_searched(data_dir, tmp_path, monkeypatch):
    mini = load_mnist(data_dir, download=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    cache = tmp_path / "keras" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", x_train=mini.x_train, y_train=mini.y_train,
             x_test=mini.x_test, y_test=mini.y_test)  # fmt: skip
    assert load_mnist(tmp_path / "nothing-here", download=False).source == str(
        (cache / "mnist.npz").resolve()
    )


def test_nothing_found_says_what_was_tried_and_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path / "empty", download=False)
    message = str(err.value)
    assert "\n" not in message
    for part in ("--data-dir", "empty", "DIGITS_DATA_DIR (not set)", "Keras cache",
                 "download (disabled)", "Fix: set DIGITS_DATA_DIR"):  # fmt: skip
        assert part in message


def test_split_validation_is_stratified_disjoint_and_seeded():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (1000, 28, 28), dtype=np.uint8)
    y = np.repeat(np.arange(10, dtype=np.uint8), 100)
    x_tr, y_tr, x_val, y_val = split_validation(x, y, 0.1, seed=3)
    assert len(y_val) == 100 and len(y_tr) == 900
    assert np.bincount(y_val).tolist() == [10] * 10
    seen = {a.tobytes() for a in x_tr}
    assert not any(a.tobytes() in seen for a in x_val)
    again = split_validation(x, y, 0.1, seed=3)
    np.testing.assert_array_equal(again[2], x_val)
    with pytest.raises(DataError):
        split_validation(x, y, 1.5, seed=3)


# --- the download path, against a local HTTP server -------------------------------------------


@pytest.fixture
def mirror_root(data_dir: Path, tmp_path: Path, monkeypatch) -> Iterator[tuple[str, Path]]:
    """A web server on 127.0.0.1 serving ``good/`` (mnist-mini) and ``bad/`` (corrupted copies).

    OFFICIAL_MD5 is pointed at the mini files so the real verification code runs on them.
    """
    root = tmp_path / "www"
    shutil.copytree(data_dir, root / "good")
    (root / "bad").mkdir()
    for path in (root / "good").iterdir():
        (root / "bad" / path.name).write_bytes(path.read_bytes()[:-10] + b"0123456789")
    md5s = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (root / "good").iterdir()}
    monkeypatch.setattr(data, "OFFICIAL_MD5", md5s)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path / "keras" / "datasets"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


def test_download_skips_missing_and_corrupt_mirrors(mirror_root, caplog):
    base, cache = mirror_root
    mirrors = (f"{base}/nowhere/", f"{base}/bad/", f"{base}/good/")
    with caplog.at_level(logging.WARNING, logger="trainer.data"):
        mnist = load_mnist(None, mirrors=mirrors)
    assert mnist.x_train.shape == (1000, 28, 28)
    assert mnist.official  # every file matched the (patched) published checksum
    assert Path(mnist.source) == (cache / "digitlite-mnist").resolve()
    assert "checksum mismatch" in caplog.text and "404" in caplog.text
    # a second load finds the cache and downloads nothing
    assert load_mnist(None, mirrors=()).source == mnist.source


def test_download_checksum_mismatch_everywhere_fails_cleanly(mirror_root):
    base, cache = mirror_root
    with pytest.raises(DataError) as err:
        load_mnist(None, mirrors=(f"{base}/bad/",))
    assert "checksum mismatch" in str(err.value) and "DIGITS_DATA_DIR" in str(err.value)
    leftovers = list((cache / "digitlite-mnist").iterdir())
    assert leftovers == []  # no half-downloaded or unverified file is kept


def test_download_unreachable_server(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 2.0)
    with pytest.raises(DataError, match="could not download"):
        load_mnist(None, mirrors=("http://127.0.0.1:9/",))  # discard port: refused
