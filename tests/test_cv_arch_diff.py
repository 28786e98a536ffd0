"""scripts/cv_arch_diff.py and its probe: exact variants, call modes, lining traces up.

No emulation: the probe's helpers run on this machine, the traces are made up.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import cv_arch_diff  # noqa: E402
import cv_trace_probe as probe  # noqa: E402


def test_inter_linear_becomes_inter_linear_exact_wherever_the_flag_is_given():
    img = np.zeros((4, 4), np.uint8)
    _, kw = probe._linear_exact("resize", (img, (8, 8)), {"interpolation": cv2.INTER_LINEAR})
    assert kw["interpolation"] == cv2.INTER_LINEAR_EXACT
    args, _ = probe._linear_exact("resize", (img, (8, 8), None, 0, 0, cv2.INTER_LINEAR), {})
    assert args[5] == cv2.INTER_LINEAR_EXACT
    _, kw = probe._linear_exact("resize", (img, (8, 8)), {})  # resize's default is linear
    assert kw["interpolation"] == cv2.INTER_LINEAR_EXACT
    m = np.eye(2, 3, dtype=np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    _, kw = probe._linear_exact("warpAffine", (img, m, (4, 4)), {"flags": flags})
    assert kw["flags"] == cv2.INTER_LINEAR_EXACT | cv2.WARP_INVERSE_MAP
    assert probe._linear_exact("resize", (img, (8, 8)), {"interpolation": cv2.INTER_AREA}) is None
    assert probe._linear_exact("dilate", (img, img), {}) is None


def test_divide_in_float32_follows_opencv_saturation_and_zero_divisor():
    a = np.array([[10, 200, 7, 0]], np.uint8)
    b = np.array([[20, 100, 0, 0]], np.uint8)
    out = probe._divide_float32((a, b), {"scale": 255})
    assert out.tolist() == [[128, 255, 0, 0]]  # 127.5 rounds to even, 510 saturates, /0 is 0
    assert probe._divide_float32((a, b.astype(np.float32)), {"scale": 255}) is None


def test_mode_names_the_dtypes_and_the_interpolation():
    img = np.zeros((4, 4), np.float32)
    assert probe.mode("resize", (img, (2, 2)), {"interpolation": cv2.INTER_AREA}) == (
        "float32 INTER_AREA"
    )
    assert probe.mode("dilate", (img, np.ones((3, 3), np.uint8)), {}) == "float32,uint8"


def test_digest_sees_values_shapes_and_dtypes():
    a = np.arange(6, dtype=np.uint8)
    assert probe.digest(a) == probe.digest(a.copy())
    assert probe.digest(a) != probe.digest(a.reshape(2, 3))
    assert probe.digest(a) != probe.digest(a.astype(np.int8))
    assert probe.digest((1, [a])) != probe.digest((2, [a]))


def _call(fn, site, i, o):
    return {"fn": fn, "site": site, "mode": "uint8", "in": i, "out": o, "call": 0}


def test_a_difference_is_born_where_inputs_agree_and_outputs_do_not():
    x86 = {0: [_call("resize", "a.py:1", "i1", "o1"), _call("divide", "a.py:2", "o1", "o2")]}
    arm = {0: [_call("resize", "a.py:1", "i1", "oX"), _call("divide", "a.py:2", "oX", "oY")]}
    groups, notes = cv_arch_diff.line_up(x86, arm)
    resize, divide = groups["resize a.py:1 uint8"], groups["divide a.py:2 uint8"]
    assert (resize.born, resize.inherited, resize.same) == (1, 0, 0)
    assert (divide.born, divide.inherited, divide.same) == (0, 1, 0)
    assert notes == []


def test_lining_up_stops_where_the_code_takes_another_path():
    x86 = {3: [_call("resize", "a.py:1", "i", "o"), _call("erode", "a.py:5", "o", "p")]}
    arm = {3: [_call("resize", "a.py:1", "i", "o"), _call("dilate", "a.py:9", "o", "q")]}
    groups, notes = cv_arch_diff.line_up(x86, arm)
    assert list(groups) == ["resize a.py:1 uint8"] and groups["resize a.py:1 uint8"].same == 1
    assert notes == ["photo 3: the code took another path at call 1"]
