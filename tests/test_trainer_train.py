"""End to end on mnist-mini: a tiny real training run writes every report file; Ctrl-C, resume."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from trainer import cli

pytestmark = [pytest.mark.slow, pytest.mark.tf]

EDA_FIGURES = ("eda_samples.png", "eda_class_distribution.png", "eda_pixel_histogram.png",
               "eda_mean_images.png")  # fmt: skip
EVAL_FIGURES = ("curves", "confusion", "misclassified")


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch):
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_epoch_compare_run_writes_every_report_file(data_dir, tmp_path, capsys):
    pytest.importorskip("tensorflow")
    out = tmp_path / "run"
    code = cli.main(["--out", str(out), "--data-dir", str(data_dir), "--epochs", "1",
                     "--compare", "mlp,seed-cnn,edge-cnn", "--seed", "1",
                     "--vision-photos", "0", "--crossed-sevens", "0.2"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # stdout: the comparison table and where things are; stderr: logs and progress
    assert captured.out.splitlines()[0].startswith("arch")
    assert "report:" in captured.out and "INFO" not in captured.out
    assert "Epoch" not in captured.out and "step" not in captured.out
    assert "INFO" in captured.err

    for name in EDA_FIGURES:
        assert _is_png(out / name), name
    for arch in ("mlp", "seed-cnn", "edge-cnn"):
        for kind in EVAL_FIGURES:
            assert _is_png(out / f"{arch}_{kind}.png")
    assert zipfile.is_zipfile(out / "model.keras")
    assert zipfile.is_zipfile(out / "models" / "mlp.keras")
    assert not list(out.glob(".*"))  # no temp files left behind

    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["seed"] == 1
    assert run["config"]["archs"] == ["edge-cnn", "mlp", "seed-cnn"]
    assert run["versions"]["tensorflow"] and run["versions"]["keras"]
    assert set(run["data"]["checksums"]) == {p.name for p in data_dir.iterdir()}
    assert run["data"] == run["data"] | {"val": 100, "test": 500}
    # a crossed twin for a fifth of the training 7s (mnist-mini's 900 have about 90)
    assert run["config"]["crossed_sevens"] == 0.2 and 900 + 10 <= run["data"]["train"] <= 900 + 25

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["arch"] == "edge-cnn" and metrics["n"] == 500
    assert 0 <= metrics["accuracy"] <= 1
    assert set(metrics["per_class"]) == {str(d) for d in range(10)}
    assert {"precision", "recall", "f1"} <= set(metrics["macro"])
    assert sum(map(sum, metrics["confusion_matrix"])) == 500
    assert metrics["params"] > 0 and metrics["macs"] > 0 and metrics["training_seconds"] >= 0
    assert set(metrics["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert set(metrics["models"]) == {"mlp", "seed-cnn", "edge-cnn"}
    assert [r["arch"] for r in metrics["comparison"]] == ["edge-cnn", "mlp", "seed-cnn"]
    assert metrics["models"]["mlp"]["accuracy"] > 0.5  # it learned something in one epoch

    report = (out / "report.md").read_text()
    for name in EDA_FIGURES:
        assert f"]({name})" in report
    for arch in ("mlp", "seed-cnn", "edge-cnn"):
        for kind in EVAL_FIGURES:
            assert f"]({arch}_{kind}.png)" in report
    assert "| arch | test acc |" in report

    import keras
    import numpy as np

    model = keras.models.load_model(out / "model.keras")
    probs = model.predict(np.zeros((1, 28, 28, 1), np.float32), verbose=0)
    assert probs.shape == (1, 10)


def test_ctrl_c_then_resume_loses_at_most_one_epoch(data_dir, tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorflow")
    import trainer.train as train_module

    real_write_json = train_module.write_json

    def interrupt_after_first_epoch(path, data):
        real_write_json(path, data)
        if Path(path).name == "state.json" and data["epoch"] == 1 and not data["finished"]:
            raise KeyboardInterrupt

    out = tmp_path / "run"
    argv = ["--out", str(out), "--data-dir", str(data_dir), "--epochs", "2", "--no-eda",
            "--arch", "seed-cnn", "--vision-photos", "0", "-q"]  # fmt: skip
    monkeypatch.setattr(train_module, "write_json", interrupt_after_first_epoch)
    assert cli.main(argv) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err and "--resume" in captured.err
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()
    state = json.loads((out / "checkpoints" / "seed-cnn" / "state.json").read_text())
    assert state["epoch"] == 1

    monkeypatch.setattr(train_module, "write_json", real_write_json)
    assert cli.main(["--out", str(out), "--resume", "-q"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2  # the first epoch was kept, only the second was trained
    assert len(metrics["history"]["loss"]) == 2
    assert json.loads((out / "run.json").read_text())["config"]["archs"] == ["seed-cnn"]
