"""The real round trip: a tiny Keras model, the converter, then the bench with Keras and peers."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.tf]


@pytest.fixture(scope="module")
def converted_run(tmp_path_factory, data_dir_module):
    """model.keras (an untrained tiny CNN is enough) converted to float32 and int8."""
    import keras

    from converter.pipeline import ConvertConfig, run_conversion
    from edge_app.contract import INPUT_SHAPE

    run = tmp_path_factory.mktemp("bench-run")
    inputs = keras.Input(INPUT_SHAPE)
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model(np.zeros((1, *INPUT_SHAPE), np.float32))
    model.save(run / "model.keras")
    run_conversion(
        ConvertConfig(source=run, formats=("float32", "int8"), data_dir=data_dir_module,
                      max_drop=100.0)
    )  # fmt: skip
    return run


@pytest.fixture(scope="module")
def data_dir_module():
    from pathlib import Path

    return Path(__file__).parent / "data" / "mnist-mini"


def test_keras_reference_and_agreement(converted_run, data_dir_module, capsys):
    from benchmarks.cli import main

    args = ["--threads", "1", "--runtimes", "litert", "--peers", "--max-seconds", "0.3"]
    code = main([str(converted_run), *args, "--limit", "200", "--data-dir", str(data_dir_module)])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads((converted_run / "bench.json").read_text())
    rows = {(r["variant"], r["runtime"]): r for r in doc["rows"]}
    keras_row = rows[("keras", "keras")]
    assert keras_row["status"] == "passed" and keras_row["agreement"] == 1.0
    assert keras_row["latency_call"].startswith("model(x)")
    float32 = rows[("float32", "litert")]
    assert float32["agreement"] >= 0.99
    assert float32["converter_accuracy"] is not None
    assert doc["max_drop_source"] == "from conversion.json"
    ratios = doc["summary"]["ratios"]
    assert ratios["int8_vs_keras_call_latency"] is not None
    for peer in (r for r in doc["rows"] if r["peer"]):
        # every peer either ran (and then agrees with Keras) or says why it could not
        assert peer["status"] in ("passed", "load-failed", "run-failed"), peer
        if peer["status"] == "passed":
            assert peer["agreement"] >= 0.99, peer
        else:
            assert peer["error"], peer
