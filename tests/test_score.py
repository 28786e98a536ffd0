"""digits-score: scoring digits-predict --json output against a labels.csv, per kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.score import edit_distance, main, read_labels, score


def _write(folder: Path, labels: str, predictions: list[dict]) -> tuple[Path, Path]:
    csv = folder / "labels.csv"
    csv.write_text(labels)
    jsonl = folder / "read.jsonl"
    jsonl.write_text("".join(json.dumps(p) + "\n" for p in predictions) + "not json, a log line\n")
    return csv, jsonl


LABELS = (
    "kind,file,digits,source\n"
    '"crop","images/a.png","7","x"\n'
    '"multi","images/b.jpg","123 45","x"\n'
    '"multi","images/c.jpg","0042","x"\n'
    '"blank","images/d.png","","x"\n'
)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("123", "123", 0), ("123", "13", 1), ("", "42", 2), ("90210", "09210", 2)],
)
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance == edit_distance(b, a)


def test_scores_per_kind_with_spaces_ignored_for_exact_and_kept_for_lines(tmp_path):
    csv, jsonl = _write(tmp_path, LABELS, [
        {"path": "/anywhere/images/a.png", "digits": "7"},
        {"path": "images/b.jpg", "digits": "12345"},  # right digits, line break missing
        {"path": "c.jpg", "digits": "042"},  # one digit dropped
        {"path": "d.png", "digits": "1"},  # a digit on a blank page
    ])  # fmt: skip
    from benchmarks.score import read_predictions

    scores = score(read_labels(csv), read_predictions(jsonl.open(), "x"), tmp_path)
    assert scores["crop"].exact == 1 and scores["crop"].digit_accuracy == 1.0
    multi = scores["multi"]
    assert multi.exact == 1 and multi.images == 2
    assert multi.lines == 0  # "12345" is not "123 45"
    assert multi.digit_accuracy == pytest.approx(1 - 1 / 9)  # 5 + 4 label digits, one lost
    assert scores["blank"].exact == 0 and scores["blank"].digit_accuracy == 0.0
    assert scores["all"].images == 4


def test_missing_prediction_and_error_read_as_nothing(tmp_path):
    csv, jsonl = _write(tmp_path, LABELS, [{"path": "b.jpg", "error": "truncated"}])
    from benchmarks.score import read_predictions

    scores = score(read_labels(csv), read_predictions(jsonl.open(), "x"), tmp_path)
    assert scores["all"].exact == 1  # only the blank page, read as nothing, is right
    assert {m["file"] for m in scores["all"].misses} == {
        "images/a.png", "images/b.jpg", "images/c.jpg"
    }  # fmt: skip


def test_cli_prints_a_table_and_json(tmp_path, capsys):
    csv, jsonl = _write(tmp_path, LABELS, [{"path": "a.png", "digits": "7"}])
    assert main([str(csv), str(jsonl), "--misses"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["kind", "images", "exact"]
    assert "images/b.jpg: '123 45' read as ''" in out
    assert main([str(csv), str(jsonl), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["crop"]["exact_rate"] == 1.0 and data["all"]["images"] == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kind,file\n crop,a.png\n", "lacks the column(s) digits"),
        ("kind,file,digits\ncrop,a.png,7a\n", "is not digits and spaces"),
        ("kind,file,digits\n", "holds no labelled images"),
    ],
)
def test_bad_labels_are_one_line_and_exit_2(tmp_path, capsys, content, message):
    csv = tmp_path / "labels.csv"
    csv.write_text(content)
    assert main([str(csv), str(tmp_path / "none.jsonl")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_predictions_file_is_one_line(tmp_path, capsys):
    csv, _ = _write(tmp_path, LABELS, [])
    assert main([str(csv), str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
