"""digits-train's command line: flags, errors as one line on stderr, stdout kept for results.

None of these tests trains a model or imports TensorFlow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer import cli, pipeline
from trainer.config import TrainConfig
from trainer.errors import ConfigError
from trainer.report import markdown_table, text_table


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and " INFO " not in line]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    return lines[0]


def test_help_lists_flags_and_defaults(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--out", "--arch", "--compare", "--epochs", "--batch-size", "--limit", "--seed",
                 "--data-dir", "--resume", "--no-eda", "-v", "-q"):  # fmt: skip
        assert flag in out
    assert f"(default: {TrainConfig().epochs})" in out and "edge-cnn" in out
    for flag in ("--ensemble", "--finetune", "--extra-data", "--holdout", "--mnist-images"):
        assert flag in out


def test_finetune_flags_make_a_finetune_config(tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args(["--finetune", str(tmp_path / "run"), "--extra-data", "a", "b",
                              "--holdout", "0.5", "--seed", "3"])  # fmt: skip
    config = cli.finetune_config_from_args(parser, args)
    assert config.out == tmp_path / "run-tuned" and config.extra == (Path("a"), Path("b"))
    assert (config.epochs, config.learning_rate, config.holdout, config.seed) == (5, 5e-4, 0.5, 3)
    args = parser.parse_args(["--ensemble", "3", "--arch", "edge-cnn,mlp"])
    train = cli.config_from_args(parser, args)
    assert train.ensemble == 3 and train.archs == ("edge-cnn", "mlp")
    assert train.epochs == TrainConfig().epochs


def test_a_missing_finetune_run_is_one_line(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    code = cli.main(["--finetune", str(tmp_path / "nope"), "--extra-data", str(tmp_path / "mine")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "give a run directory digits-train wrote" in _one_error_line(captured.err)


def test_help_does_not_import_heavy_packages():
    code = (
        "import sys, contextlib, io\n"
        "from trainer.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "mods = ('tensorflow', 'keras', 'matplotlib', 'sklearn')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--arch", "edge-cn"], "did you mean 'edge-cnn'"),
        (["--arch", "sead-cnn"], "did you mean 'seed-cnn'"),
        (["--compare", "mlp,edgecnn"], "did you mean 'edge-cnn'"),
        (["--compare", "mlp,mlp"], "listed twice"),
        (["--arch", "mlp,seed-cnn"], "use --compare"),
        (["--arch", "mlp", "--compare", "seed-cnn,edge-cnn"], "'mlp' is not in --compare"),
        (["--epochs", "0"], "must be at least 1"),
        (["--batch-size", "many"], "is not a whole number"),
        (["--frobnicate"], "unrecognized arguments"),
        (["--ensemble", "1"], "at least 2 members"),
        (["--crossed-sevens", "1.5"], "share between 0 and 1"),
        (["--ensemble", "3", "--compare", "mlp,edge-cnn"], "do not mix"),
        (["--ensemble", "2", "--arch", "mlp,edgecnn"], "did you mean 'edge-cnn'"),
        (["--finetune", "runs/x"], "needs --extra-data"),
        (["--extra-data", "mine"], "needs --finetune"),
        (
            ["--finetune", "runs/x", "--extra-data", "d", "--compare", "mlp,edge-cnn"],
            "--compare cannot be used with --finetune",
        ),
        (
            ["--finetune", "runs/x", "--extra-data", "d", "--vision-photos", "9"],
            "--vision-photos cannot be used",
        ),
        (["--finetune", "runs/x", "--extra-data", "d", "--holdout", "1.5"], "not between 0 and 1"),
        (["--finetune", "runs/x", "--extra-data", "d", "--mnist-images", "-1"], "0 or more"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, expected, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert expected in captured.err
    assert "Traceback" not in captured.err


def _config(argv: list[str]) -> TrainConfig:
    parser = cli.build_parser()
    return cli.config_from_args(parser, parser.parse_args(argv))


def test_flags_become_a_frozen_config(tmp_path):
    config = _config(["--out", str(tmp_path), "--epochs", "3", "--limit", "500", "--seed", "7",
                      "--no-eda", "--batch-size", "64", "--data-dir", "rel/dir"])  # fmt: skip
    assert config.archs == ("edge-cnn",) and config.epochs == 3 and config.limit == 500
    assert config.seed == 7 and not config.eda and config.batch_size == 64
    assert config.data_dir.is_absolute()  # resume works from any working directory
    assert not config.deterministic and _config(["--deterministic"]).deterministic
    with pytest.raises(AttributeError):
        config.epochs = 4  # type: ignore[misc]


def test_compare_puts_the_primary_first(tmp_path):
    assert _config(["--compare", "mlp,seed-cnn,edge-cnn"]).archs == ("edge-cnn", "mlp", "seed-cnn")
    assert _config(["--compare", "mlp,seed-cnn"]).archs == ("mlp", "seed-cnn")
    assert _config(["--compare", "mlp,seed-cnn", "--arch", "seed-cnn"]).primary == "seed-cnn"


def test_config_round_trips_through_json(tmp_path):
    config = TrainConfig(out=tmp_path, archs=("mlp", "edge-cnn"), limit=100, data_dir=tmp_path)
    again = TrainConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert again == config
    with pytest.raises(ConfigError, match="unknown architecture"):
        TrainConfig(archs=("resnet",))


def test_missing_data_is_one_clear_line(tmp_path, capsys):
    code = cli.main(["--out", str(tmp_path / "run"), "--data-dir", str(tmp_path / "no-data"),
                     "--no-download"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    line = _one_error_line(captured.err)
    assert line.startswith("digits-train: error: MNIST not found") and "DIGITS_DATA_DIR" in line
    assert not (tmp_path / "run" / "run.json").exists()


def test_truncated_data_names_the_file(data_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in data_dir.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    images = broken / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:1000])
    code = cli.main(["--out", str(tmp_path / "run"), "--data-dir", str(broken), "-q"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "t10k-images-idx3-ubyte.gz" in _one_error_line(captured.err)


def test_unwritable_output_directory(tmp_path, capsys, data_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = cli.main(["--out", str(blocker / "run"), "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "cannot write to output directory" in _one_error_line(captured.err)


def test_resume_without_a_run(tmp_path, capsys):
    code = cli.main(["--out", str(tmp_path / "empty"), "--resume"])
    assert code == 2
    assert "nothing to resume" in _one_error_line(capsys.readouterr().err)


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    def interrupted(config, verbose=1):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run", interrupted)
    code = cli.main(["--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert code == 130 and captured.out == ""
    assert "--resume" in _one_error_line(captured.err)


def test_results_go_to_stdout(tmp_path, capsys, monkeypatch):
    rows = [_row("edge-cnn", 0.9961)]

    def fake_run(config, verbose=1):
        return pipeline.RunSummary(config.out, config.out / "model.keras",
                                   config.out / "report.md", rows)  # fmt: skip

    monkeypatch.setattr(pipeline, "run", fake_run)
    assert cli.main(["--out", str(tmp_path / "run"), "-q"]) == 0
    captured = capsys.readouterr()
    assert "edge-cnn" in captured.out and "99.61%" in captured.out
    assert str(tmp_path / "run" / "report.md") in captured.out
    assert captured.err == ""


def _row(arch: str, acc: float) -> dict:
    return {"arch": arch, "accuracy": acc, "errors": 39, "precision": 0.99, "recall": 0.98,
            "f1": 0.985, "params": 12345, "macs": 2_000_000, "size_kb": 180.4, "epochs": 20,
            "training_seconds": 401.2}  # fmt: skip


def test_comparison_tables():
    rows = [_row("edge-cnn", 0.9961), _row("mlp", 0.98)]
    text = text_table(rows).splitlines()
    assert len(text) == 3 and text[0].startswith("arch") and "99.61%" in text[1]
    assert len({len(line) for line in text}) == 1  # aligned
    md = markdown_table(rows).splitlines()
    assert md[0].startswith("| arch |") and md[1].startswith("|---") and "12,345" in md[2]


def test_python_dash_m_trainer(tmp_path):
    done = subprocess.run([sys.executable, "-m", "trainer", "--arch", "nope"],
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "unknown architecture" in done.stderr
    assert Path(tmp_path).is_dir()
