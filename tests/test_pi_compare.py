"""make pi-check's pure parts: run comparison, verdict, set-ups, wheel tags, apt mirror lookup.

No emulation and no network: the slow end-to-end check is ``make pi-check`` itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import pi_check  # noqa: E402
import pi_env  # noqa: E402
import pi_setups  # noqa: E402
from pi_compare import compare, parse_jsonl, verdict  # noqa: E402


def _line(path: str, *detections: tuple[int, float, list[int]], **extra) -> str:
    obj = {
        "path": path,
        "digits": "".join(str(d) for d, _, _ in detections),
        "detections": [
            {"digit": d, "confidence": c, "box": box, "line": 0} for d, c, box in detections
        ],
        "latency_ms": 1.0,
        "runtime": "litert",
    }
    obj.update(extra)
    return json.dumps(obj)


REFERENCE = "\n".join(
    [
        _line("a.png", (4, 0.9961, [1, 2, 3, 4]), (2, 0.8, [9, 2, 3, 4])),
        _line("blank.png"),
        json.dumps({"path": "broken.png", "error": "not an image"}),
    ]
)


def test_identical_runs_agree_in_everything():
    ref = parse_jsonl(REFERENCE)
    agreement = compare(ref, parse_jsonl(REFERENCE))
    assert agreement.files == 3
    assert agreement.digits_identical and agreement.boxes_identical and agreement.identical
    assert agreement.max_confidence_diff == 0.0
    assert verdict([("litert/int8/cortex-a72", agreement)]) == (
        True,
        "PASS: 3 photos x 1 aarch64 set-ups: digits and boxes identical; confidences identical too",
    )


def test_latency_and_runtime_do_not_count():
    other = REFERENCE.replace('"latency_ms": 1.0', '"latency_ms": 90.0')
    assert compare(parse_jsonl(REFERENCE), parse_jsonl(other)).identical


def test_a_confidence_difference_is_measured_but_digits_still_pass():
    other = REFERENCE.replace("0.8,", "0.7969,")
    agreement = compare(parse_jsonl(REFERENCE), parse_jsonl(other))
    assert agreement.digits_identical and agreement.boxes_identical
    assert not agreement.identical
    assert agreement.confidences_same == 2
    assert agreement.max_confidence_diff == pytest.approx(0.0031)
    assert agreement.confidence_diffs == (("a.png", pytest.approx(0.0031)),)
    ok, line = verdict([("x", agreement)])
    assert ok and "confidences identical in 0/1 set-ups (max difference 0.0031)" in line


def test_a_moved_box_is_a_box_difference_only():
    other = REFERENCE.replace("[9, 2, 3, 4]", "[9, 2, 3, 5]")
    agreement = compare(parse_jsonl(REFERENCE), parse_jsonl(other))
    assert agreement.digits_identical and not agreement.boxes_identical
    assert agreement.differences == (
        "a.png: detection 1 digit/box/line (2, (9, 2, 3, 4), 0) vs (2, (9, 2, 3, 5), 0)",
    )
    ok, line = verdict([("litert/int8/cortex-a53", agreement)])
    assert ok and "boxes differ in litert/int8/cortex-a53" in line


def test_different_digits_fail_the_verdict():
    other = "\n".join([_line("a.png", (4, 0.9961, [1, 2, 3, 4])), *REFERENCE.splitlines()[1:]])
    agreement = compare(parse_jsonl(REFERENCE), parse_jsonl(other))
    assert agreement.digits_same == 2
    assert agreement.differences == ("a.png: digits '42' vs '4'",)
    ok, line = verdict(
        [("good", compare(parse_jsonl(REFERENCE), parse_jsonl(REFERENCE))), ("bad", agreement)]
    )
    assert not ok
    assert line == "FAIL: digits differ from x86_64 in 1/2 set-ups (bad)"


def test_a_missing_file_or_a_one_sided_error_is_a_difference():
    lines = REFERENCE.splitlines()
    missing = compare(parse_jsonl(REFERENCE), parse_jsonl("\n".join(lines[:2])))
    assert missing.digits_same == 2
    assert missing.differences == ("broken.png: only in the reference run",)
    readable = lines[:2] + [_line("broken.png", (1, 0.5, [0, 0, 1, 1]))]
    one_sided = compare(parse_jsonl(REFERENCE), parse_jsonl("\n".join(readable)))
    assert not one_sided.digits_identical


def test_parse_rejects_what_is_not_digits_predict_output():
    with pytest.raises(ValueError, match="line 1"):
        parse_jsonl('{"digits": "1"}')
    with pytest.raises(ValueError, match="twice"):
        parse_jsonl(_line("a.png") + "\n" + _line("a.png"))
    assert parse_jsonl("\n\n") == {}
    assert verdict([]) == (False, "FAIL: nothing was compared")


def test_setups_change_the_edge_extra_as_the_readme_says():
    edge = pi_setups.edge_requirements()
    setups = {s.name: s for s in pi_setups.SETUPS}
    assert setups["litert"].requirements(edge) == edge
    fallback = setups["tflite-runtime"].requirements(edge)
    assert not any(r.startswith("ai-edge-litert") for r in fallback)
    assert {"tflite-runtime==2.14.0", "numpy<2", "opencv-python-headless<4.12"} <= set(fallback)
    assert {"numpy<2", "opencv-python-headless<4.12"} <= set(setups["picamera2"].requirements(edge))


def test_each_setup_model_and_cpu_is_varied_once_each_with_its_x86_64_reference():
    cfg = pi_check.CheckConfig(setups=("litert", "picamera2"), cpus=("cortex-a72", "cortex-a53"))
    labels = [j.label for j in pi_check.jobs_for(cfg, ["int8", "float32"])]
    assert labels == [
        "litert/int8/x86_64",
        "litert/int8/cortex-a72",
        "litert/float32/x86_64",
        "litert/float32/cortex-a72",
        "picamera2/int8/x86_64",
        "picamera2/int8/cortex-a72",
        "litert/int8/cortex-a53",
    ]


def test_full_runs_every_combination():
    cfg = pi_check.CheckConfig(
        setups=("litert", "picamera2"), cpus=("cortex-a72", "cortex-a53"), full=True
    )
    jobs = pi_check.jobs_for(cfg, ["int8", "float32"])
    assert len([j for j in jobs if j.cpu]) == 8 and len([j for j in jobs if not j.cpu]) == 4
    assert len(set(jobs)) == len(jobs)


def test_wheel_tags_cover_every_glibc_up_to_the_pis():
    emu = pi_env.Emulator(Path("qemu"), Path("root"), "2.36", "3.11.2", "10.0.2")
    tags = emu.wheel_platforms()
    # tflite-runtime 2.14 ships manylinux_2_34, ai-edge-litert manylinux_2_27, numpy 2_17/2_28
    assert {"manylinux_2_36_aarch64", "manylinux_2_34_aarch64", "manylinux_2_27_aarch64"} <= set(
        tags
    )
    assert "manylinux_2_17_aarch64" in tags and "manylinux_2_37_aarch64" not in tags
    assert emu.python("cortex-a53") == [
        "qemu",
        "-L",
        "root",
        "-cpu",
        "cortex-a53",
        "root/usr/bin/python3.11",
    ]


def test_the_mirror_comes_from_this_machines_apt_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /k.gpg\n"
    )
    assert pi_env.system_mirror(etc=tmp_path) == ("http://mirror.example/debian", "/k.gpg")
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb http://old.example/debian trixie main\n")
    assert pi_env.system_mirror(etc=tmp_path) == (
        "http://old.example/debian",
        pi_env.DEFAULT_KEYRING,
    )
    (tmp_path / "sources.list").write_text("# nothing\n")
    with pytest.raises(pi_env.PiEnvError, match="--apt-mirror"):
        pi_env.system_mirror(etc=tmp_path)


def test_strict_needs_identical_confidences_only_from_integer_models():
    ref = parse_jsonl(REFERENCE)
    rounding = compare(ref, parse_jsonl(REFERENCE.replace("0.8,", "0.8001,")))
    moved = compare(ref, parse_jsonl(REFERENCE.replace("[9, 2, 3, 4]", "[9, 2, 3, 5]")))
    int8, float32 = pi_check.Job("litert", "int8", "a72"), pi_check.Job("litert", "float32", "a72")
    assert pi_check.strictly_same(float32, rounding)
    assert not pi_check.strictly_same(int8, rounding)
    assert not pi_check.strictly_same(float32, moved)
