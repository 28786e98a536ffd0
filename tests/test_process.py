"""edge_app.process and edge_app.native_output: the thread counts and the native-noise filter
every edge command shares."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import pytest

from edge_app.native_output import NATIVE_NOISE
from edge_app.process import DEFAULT_THREADS, configure_threads


@pytest.fixture
def opencv_threads():
    before = cv2.getNumThreads()
    yield
    cv2.setNumThreads(before)


def test_configure_threads_caps_opencv_and_returns_the_interpreter_count(opencv_threads):
    assert configure_threads(1) == 1 and cv2.getNumThreads() == 1
    assert configure_threads(2) == 2 and cv2.getNumThreads() == 2
    assert DEFAULT_THREADS == 1


def test_configure_threads_refuses_zero(opencv_threads):
    with pytest.raises(ValueError, match="at least 1"):
        configure_threads(0)


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_native_noise_is_dropped_and_everything_else_kept_in_order():
    noise = NATIVE_NOISE[0]
    err = run_python(
        f"""
        import logging, os, sys
        from edge_app.native_output import quiet_native_output
        logging.basicConfig(stream=sys.stderr, format="log: %(message)s", level=logging.INFO)
        os.write(2, b"before\\n")
        with quiet_native_output():
            os.write(2, b"INFO: {noise} for CPU.\\n")  # what C++ code writes
            logging.info("loaded")
            os.write(2, b"a real native warning\\n")
        os.write(2, b"after\\n")
        with quiet_native_output(enabled=False):
            os.write(2, b"INFO: {noise} again\\n")
        """
    ).stderr
    assert err.splitlines() == [
        "before",
        "log: loaded",
        "a real native warning",
        "after",
        f"INFO: {noise} again",
    ]


def test_filters_in_two_threads_at_once_leave_stderr_working():
    err = run_python(
        f"""
        import os, threading, time
        from edge_app.native_output import quiet_native_output

        def load(name):
            with quiet_native_output():
                os.write(2, b"{NATIVE_NOISE[0]}\\n")
                time.sleep(0.05)
                os.write(2, name.encode() + b" done\\n")

        threads = [threading.Thread(target=load, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        os.write(2, b"still on stderr\\n")
        """
    ).stderr
    assert sorted(err.splitlines()) == ["a done", "b done", "still on stderr"]


def test_hold_output_hands_back_what_reached_the_descriptors():
    out = run_python(
        """
        import os, sys
        from edge_app.native_output import hold_output
        with hold_output((1, 2)) as held:
            os.write(1, b"native out\\n")
            os.write(2, b"native err\\n")
            print("python out", flush=True)
        print(sorted(held.text.splitlines()))
        """
    )
    assert out.stdout.splitlines() == ["['native err', 'native out', 'python out']"]
    assert out.stderr == ""
