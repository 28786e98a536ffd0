"""Fine-tuning and ensembles, for real on mnist-mini: train tiny runs, fine-tune them on digit
folders, convert the results, read them on the edge.

* a 10-class run fine-tuned on folders of scans (mnist-mini test digits written as dark ink on
  paper) prints and reports the before/after table, keeps its class set, and converts;
* a 12-class run (a few vision photos) fine-tuned the same way stays 12-class and takes the
  vision crops along, so ``digits-convert`` calibrates and verifies it on them;
* bad folders stop a fine-tune before anything is written;
* an ensemble of two tiny members converts to float32 and int8, verifies, carries its contract
  and reads fixture digits through the edge Classifier.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from converter import cli as convert_cli
from edge_app.classifier import Classifier
from edge_app.contract import LABELS, VISION_LABELS, read_contract
from trainer import cli

pytestmark = [pytest.mark.slow, pytest.mark.tf]

MINI = Path(__file__).parent / "data" / "mnist-mini"


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch):
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)


def _mini():
    from trainer.data import load_mnist

    return load_mnist(MINI, download=False)


def _train(out: Path, *extra: str) -> Path:
    code = cli.main(["--out", str(out), "--data-dir", str(MINI), "--epochs", "1", "--no-eda",
                     "-q", *extra])  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def run10(tmp_path_factory) -> Path:
    pytest.importorskip("tensorflow")
    return _train(tmp_path_factory.mktemp("r10") / "run", "--vision-photos", "0", "--seed", "1")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    """A user's folders: 8 scans each of 0, 1 and 7, from mnist-mini's test digits."""
    root = tmp_path_factory.mktemp("user") / "mine"
    mnist = _mini()
    for digit in (0, 1, 7):
        for i, k in enumerate(np.flatnonzero(mnist.y_test == digit)[:8]):
            scan = 255 - cv2.resize(mnist.x_test[k], (56, 56), interpolation=cv2.INTER_CUBIC)
            (root / str(digit)).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / str(digit) / f"scan{i}.png"), scan)
    return root


def _finetune(run: Path, folders: Path, out: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = cli.main(["--finetune", str(run), "--extra-data", str(folders), "--out", str(out),
                     "--data-dir", str(MINI), "--epochs", "1", "--mnist-images", "300",
                     "--holdout", "0.5", "-q", *extra])  # fmt: skip
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_finetune_a_10_class_run_shows_before_and_after_and_converts(run10, folders, tmp_path,
                                                                     capsys):  # fmt: skip
    out = tmp_path / "tuned"
    code, stdout, stderr = _finetune(run10, folders, out, capsys)
    assert code == 0, stderr
    header, *rows = stdout.splitlines()[:4]
    assert header.split() == ["before", "after", "change"]
    assert [r.split("  ")[0] for r in rows] == ["your held-out images", "your training images",
                                                "MNIST test"]  # fmt: skip
    assert "wrong of 12)" in rows[0] and "wrong of 500)" in rows[2]
    assert f"report: {out / 'report.md'}" in stdout

    report = (out / "report.md").read_text()
    assert "## Before and after" in report and "| your held-out images |" in report
    assert "## Your images still read wrong" in report and (out / "still_wrong.png").is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "finetune" and run["arch"] == "edge-cnn"
    assert run["data"]["extra"]["held_out"] == {"0": 4, "1": 4, "7": 4}
    assert run["seconds"] > 0 and run["cpu_seconds"] > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["before"]) == {"held_out", "user_train", "mnist_test"}
    wrong = metrics["still_wrong"]
    assert len(wrong) == metrics["after"]["held_out"]["errors"]
    assert all(Path(w["path"]).is_file() for w in wrong)

    code = convert_cli.main([str(out), "--formats", "float32", "--data-dir", str(MINI), "-q"])
    assert code in (0, 1)  # 1: the gate; an untrained model may still differ - it converted
    model = Classifier(out / "model_float32.tflite")
    assert model.labels == LABELS and read_contract(model.model_path).arch == "edge-cnn"


def test_bad_folders_stop_before_anything_is_written(run10, folders, tmp_path, capsys):
    bad = tmp_path / "bad"
    (bad / "seven").mkdir(parents=True)
    (bad / "3").mkdir()
    cv2.imwrite(str(bad / "3" / "a.png"), np.full((30, 30), 255, np.uint8))
    out = tmp_path / "never"
    code, stdout, stderr = _finetune(run10, bad, out, capsys)
    assert code == 2 and stdout == "" and not out.exists()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert any("'seven' is not a digit" in line for line in lines)
    assert any("a.png: the image holds no ink" in line for line in lines)
    assert lines[-1].startswith("digits-train: error: 2 problem(s) in the extra data")


def test_finetune_into_the_source_run_is_refused(run10, folders, capsys):
    code, _, stderr = _finetune(run10, folders, run10, capsys)
    assert code == 2 and "is the source run" in stderr


def test_finetune_a_12_class_run_keeps_none_and_cut(folders, tmp_path, capsys):
    run = _train(tmp_path / "run12", "--vision-photos", "20", "--seed", "2")
    out = tmp_path / "tuned12"
    code, stdout, stderr = _finetune(run, folders, out, capsys)
    assert code == 0, stderr
    assert "vision test crops" in stdout
    record = json.loads((out / "run.json").read_text())
    assert record["data"]["vision"]["from"].endswith("vision_val.npz")
    assert record["data"]["vision"]["images"] > 0
    for name in ("vision_val.npz", "vision_test.npz"):
        assert (out / name).is_file()  # the converter calibrates and verifies on them
    code = convert_cli.main([str(out), "--formats", "int8", "--data-dir", str(MINI), "-q",
                             "--max-drop", "100"])  # fmt: skip
    assert code == 0
    conversion = json.loads((out / "conversion.json").read_text())
    assert conversion["source"]["vision_test_samples"] > 0
    assert Classifier(out / "model_int8.tflite").labels == VISION_LABELS


def test_an_ensemble_of_two_converts_verifies_and_reads_on_the_edge(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    out = _train(tmp_path / "ens", "--ensemble", "2", "--arch", "seed-cnn,mlp",
                 "--vision-photos", "0")  # fmt: skip
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in table[1:4]] == ["member1-seed-cnn", "member2-mlp",
                                                        "ensemble"]  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["arch"] == "ensemble" and metrics["members"] == ["member1-seed-cnn",
                                                                    "member2-mlp"]  # fmt: skip
    members = metrics["models"]
    assert metrics["params"] == members["member1-seed-cnn"]["params"] + members["member2-mlp"][
        "params"]  # fmt: skip
    assert metrics["macs"] == members["member1-seed-cnn"]["macs"] + members["member2-mlp"]["macs"]
    assert (out / "models" / "member1-seed-cnn.keras").is_file()
    assert "## ensemble (primary)" in (out / "report.md").read_text()

    code = convert_cli.main([str(out), "--formats", "float32,int8", "--data-dir", str(MINI),
                             "-q", "--max-drop", "100"])  # fmt: skip
    assert code == 0
    mnist = _mini()
    x, y = mnist.x_test[:200], mnist.y_test[:200]
    import keras

    reference = keras.saving.load_model(out / "model.keras").predict(
        x[..., None].astype(np.float32), verbose=0
    )
    for fmt in ("float32", "int8"):
        model = Classifier(out / f"model_{fmt}.tflite")
        contract = read_contract(model.model_path)
        assert contract.arch == "ensemble:seed-cnn,mlp" and contract.labels == LABELS
        probs = model.predict_proba(x)
        assert probs.shape == (200, 10) and np.allclose(probs.sum(axis=1), 1, atol=0.02)
        agreement = np.mean(probs.argmax(axis=1) == reference.argmax(axis=1))
        assert agreement >= (0.999 if fmt == "float32" else 0.9), fmt
        digits = [p.digit for p in model.classify(x[:20])]
        assert np.mean(np.array(digits) == y[:20]) >= 0.5  # one epoch of 1,000 images
