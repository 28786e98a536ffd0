"""Which TFLite interpreter loads: LiteRT, then tflite-runtime, then TensorFlow (imports faked)."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest

from edge_app import runtime as rt
from edge_app.errors import ModelError, RuntimeNotFoundError

MODELS = Path(__file__).parent / "data" / "models"

# module names each runtime is imported by (the package and the submodule holding Interpreter)
MODULES = {
    "litert": ("ai_edge_litert", "ai_edge_litert.interpreter"),
    "tflite-runtime": ("tflite_runtime", "tflite_runtime.interpreter"),
    "tensorflow": ("tensorflow",),
}


class FakeInterpreter:
    """Records how it was built; behaves like a loaded interpreter."""

    made: list[dict] = []
    fail_with: Exception | None = None

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        FakeInterpreter.made.append(kwargs)

    def allocate_tensors(self):
        if FakeInterpreter.fail_with is not None:
            raise FakeInterpreter.fail_with

    def get_input_details(self):
        return [{"name": "pixels", "index": 0}]

    def get_output_details(self):
        return [{"name": "probs", "index": 1}]


def _fake_module(name: str, runtime: str) -> types.ModuleType:
    module = types.ModuleType(name)
    cls = type(f"Interpreter_{runtime}", (FakeInterpreter,), {})
    if runtime == "tensorflow":
        module.lite = types.SimpleNamespace(Interpreter=cls)
    else:
        module.Interpreter = cls
    module.__version__ = f"9.9-{runtime}"
    return module


@pytest.fixture
def installed(monkeypatch):
    """Declare which runtimes are 'installed': ``installed("tensorflow")`` fakes just that one."""

    def declare(*names: str) -> None:
        FakeInterpreter.made = []
        FakeInterpreter.fail_with = None
        for runtime, modules in MODULES.items():
            for cached in [m for m in sys.modules if m.split(".")[0] == modules[0]]:
                monkeypatch.delitem(sys.modules, cached, raising=False)
            for module in modules:
                # None in sys.modules makes `import` raise ImportError, as if not installed
                fake = _fake_module(module, runtime) if runtime in names else None
                monkeypatch.setitem(sys.modules, module, fake)

    return declare


def test_litert_comes_first(installed):
    installed("litert", "tflite-runtime", "tensorflow")
    cls, name = rt.resolve_interpreter_class()
    assert name == "litert"
    assert cls.__name__ == "Interpreter_litert"


def test_litert_missing_falls_back_to_tflite_runtime(installed):
    installed("tflite-runtime", "tensorflow")
    assert rt.resolve_interpreter_class()[1] == "tflite-runtime"


def test_both_missing_falls_back_to_tensorflow(installed):
    installed("tensorflow")
    cls, name = rt.resolve_interpreter_class()
    assert name == "tensorflow"
    assert cls.__name__ == "Interpreter_tensorflow"


def test_none_installed_names_the_pip_packages(installed):
    installed()
    with pytest.raises(RuntimeNotFoundError) as err:
        rt.resolve_interpreter_class()
    message = str(err.value)
    for package in ("ai-edge-litert", "tflite-runtime", "tensorflow"):
        assert package in message
    assert "pip install" in message


def test_broken_install_falls_back(installed, monkeypatch):
    """tflite-runtime built for numpy 1 raises ImportError under numpy 2: try the next one."""
    installed("litert", "tensorflow")
    real_import = rt.importlib.import_module

    def import_module(name, *args):
        if name.startswith("ai_edge_litert"):
            raise ImportError("numpy.core.multiarray failed to import")
        return real_import(name, *args)

    monkeypatch.setattr(rt, "importlib", types.SimpleNamespace(import_module=import_module))
    assert rt.resolve_interpreter_class()[1] == "tensorflow"


def test_forcing_a_runtime_skips_the_order(installed):
    installed("litert", "tflite-runtime", "tensorflow")
    assert rt.resolve_interpreter_class("tensorflow")[1] == "tensorflow"
    assert rt.resolve_interpreter_class("tflite-runtime")[1] == "tflite-runtime"


def test_forcing_a_missing_runtime_says_what_to_install(installed):
    installed("litert")
    with pytest.raises(RuntimeNotFoundError, match="pip install tflite-runtime"):
        rt.resolve_interpreter_class("tflite-runtime")


def test_runtime_typo_suggests_the_closest_name():
    with pytest.raises(RuntimeNotFoundError, match="did you mean 'litert'"):
        rt.resolve_interpreter_class("litrt")
    with pytest.raises(RuntimeNotFoundError, match="choose from litert, tflite-runtime"):
        rt.resolve_interpreter_class("onnx")


def test_runtime_version(installed):
    installed("tflite-runtime")
    assert rt.runtime_version("tflite-runtime") == "9.9-tflite-runtime"
    assert rt.runtime_version("litert") is None


def test_load_interpreter_passes_threads_and_logs_the_runtime(installed, caplog):
    installed("tflite-runtime")
    with caplog.at_level(logging.INFO, logger="edge_app.runtime"):
        interpreter, name = rt.load_interpreter(b"TFL3-bytes", threads=3, source="m.tflite")
    assert name == "tflite-runtime"
    assert interpreter.kwargs == {"num_threads": 3, "model_content": b"TFL3-bytes"}
    assert "m.tflite" in caplog.text and "tflite-runtime 9.9-tflite-runtime" in caplog.text


def test_load_interpreter_from_a_path_without_threads(installed, tmp_path):
    installed("litert")
    interpreter, _ = rt.load_interpreter(tmp_path / "m.tflite")
    assert interpreter.kwargs == {"model_path": str(tmp_path / "m.tflite")}


def test_a_model_the_runtime_rejects_is_a_model_error(installed):
    installed("litert")
    FakeInterpreter.fail_with = RuntimeError("Encountered unresolved custom op: Foo.\nmore")
    with pytest.raises(ModelError, match=r"^litert cannot load x.tflite: Encountered unresolved"):
        rt.load_interpreter(b"...", source="x.tflite")


def test_the_real_runtime_here_is_litert():
    """This machine has ai-edge-litert: the real lookup must pick it, not TensorFlow."""
    pytest.importorskip("ai_edge_litert.interpreter")
    interpreter, name = rt.load_interpreter((MODELS / "band_int8.tflite").read_bytes())
    assert name == "litert"
    assert interpreter.get_input_details()[0]["shape"].tolist() == [1, 28, 28, 1]
