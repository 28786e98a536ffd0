"""Shared test set-up: no test downloads, writes into the repo, or depends on the working dir."""

import gzip
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path_factory, monkeypatch):
    """Keep Keras and Kivy caches out of $HOME, and make accidental downloads fail fast."""
    homes = tmp_path_factory.getbasetemp() / "homes"
    for sub in ("keras", "kivy"):  # Kivy creates only the last level of KIVY_HOME
        (homes / sub).mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("KERAS_HOME", str(homes / "keras"))
    monkeypatch.setenv("KIVY_HOME", str(homes / "kivy"))
    monkeypatch.setenv("KIVY_NO_ARGS", "1")
    monkeypatch.setenv("SDL_VIDEODRIVER", os.environ.get("SDL_VIDEODRIVER", "offscreen"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def data_dir() -> Path:
    """The small MNIST subset shipped in tests/data (same idx .gz format as the real files)."""
    return DATA / "mnist-mini"


# --- digits-serve in process (tests/serve_client.py): shared by test_serve_api and _limits ---


@pytest.fixture(scope="module")
def shared_reader():
    """One band-model reader with exact fake vision per test module (loading it takes time)."""
    from serve_client import band_reader

    return band_reader()


@pytest.fixture
def client(shared_reader):
    """digits-serve in process on :func:`shared_reader`, as Starlette's TestClient."""
    from serve_client import client_for

    with client_for(lambda: shared_reader) as c:
        yield c


# --- the Kivy app's photo (test_app_kivy.py and test_app_kivy_events.py) ---------------------


def mnist_digits(labels_wanted: str) -> list[np.ndarray]:
    """Real handwritten digits from the shipped MNIST subset, one per wanted label."""
    mini = DATA / "mnist-mini"
    with gzip.open(mini / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(mini / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    out = []
    for ch in labels_wanted:
        index = int(np.flatnonzero(labels == int(ch))[0])
        out.append(images[index])
    return out


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A 'photo' of the handwritten number 3 8 5: dark ink on light paper, off-centre.

    For the Kivy app's tests (test_app_kivy.py, test_app_kivy_events.py); other modules that
    want a photo of their own define a ``photo`` fixture, which takes precedence.
    """
    page = np.full((480, 640, 3), 225, np.uint8)
    page += np.linspace(0, 20, 640, dtype=np.uint8)[None, :, None]  # uneven light
    for i, digit in enumerate(mnist_digits("385")):
        big = cv2.resize(digit, (112, 112), interpolation=cv2.INTER_CUBIC)
        ink = big.astype(np.float32) / 255.0
        x, y = 150 + i * 110, 150
        region = page[y : y + 112, x : x + 112].astype(np.float32)
        page[y : y + 112, x : x + 112] = (region * (1 - ink[..., None] * 0.85)).astype(np.uint8)
    path = tmp_path / "number.png"
    cv2.imwrite(str(path), page)
    return path
