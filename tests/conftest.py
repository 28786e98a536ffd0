"""Shared test set-up: no test downloads, writes into the repo, or depends on the working dir."""

import os
from pathlib import Path

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
