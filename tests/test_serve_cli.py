"""digits-serve the command: flags, one-line errors, and real server processes.

The process tests start ``python -m edge_app.serve --port 0`` (benchmarks.http_load's
ServerProcess) with the band fixture model: a few seconds each, no browser.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from benchmarks.http_load import ServerProcess  # noqa: E402
from edge_app.serve import cli  # noqa: E402
from edge_app.serve.config import ServeConfig  # noqa: E402

MODEL = Path(__file__).parent / "data" / "models" / "band_int8.tflite"


def parse(*argv: str) -> ServeConfig:
    parser = cli.build_parser()
    return cli.parse_config(parser, parser.parse_args(list(argv)))


def test_defaults_are_safe(monkeypatch):
    monkeypatch.delenv(cli.TOKEN_ENV, raising=False)
    config = parse()
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 8000, 1)
    assert config.token is None and config.tls_cert is None
    assert config.max_upload_bytes == 10 * 2**20 and config.max_pixels == 24_000_000
    assert config.timeout_s == 30.0


def test_flags_become_the_config(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("y")
    config = parse(
        "--host", "0.0.0.0", "--port", "9000", "--workers", "2", "--token", "abc",
        "--tls-cert", str(cert), "--tls-key", str(key), "--max-upload-mb", "2.5",
        "--max-megapixels", "12", "--timeout", "5", "--max-queue", "8", "--min-confidence", "0.7",
        "-v",
    )  # fmt: skip
    assert config.url == "https://0.0.0.0:9000/"
    assert config.max_upload_bytes == int(2.5 * 2**20) and config.max_pixels == 12_000_000
    assert (config.workers, config.token, config.max_queue) == (2, "abc", 8)
    assert config.min_confidence == 0.7 and config.log_level == "DEBUG" and config.access_log


def test_token_from_the_environment(monkeypatch):
    monkeypatch.setenv(cli.TOKEN_ENV, "from-env")
    assert parse().token == "from-env"
    assert parse("--token", "flag").token == "flag"
    assert "from-env" not in cli.build_parser().format_help()  # never printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "nope.pem", "--tls-key", "nope.pem"], "no such file: nope.pem"),
        (["--runtime", "litrt"], "did you mean 'litert'"),
        (["--port", "70000"], "not within 0..65535"),
        (["--workers", "0"], "must be at least 1"),
        (["--max-megapixels", "80"], "at most 50"),
        (["--timeout", "0"], "must be above 0"),
        (["--token", "two words"], "cannot contain spaces"),
        (["--token", " "], "the token is empty"),
    ],
)
def test_bad_flags(capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_help_lists_the_api_and_the_camera_rule(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for text in ("/v1/read", "/v1/classify", "/v1/model", "/healthz", "HTTPS", "default: 8000"):
        assert text in out


def test_a_bad_model_is_one_line(tmp_path, capsys):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a model")
    assert cli.main(["--model", str(bad), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "digits-serve: error:" in err and "TFLite" in err


def test_a_busy_port_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["--model", str(MODEL), "--port", str(port), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err


def test_bad_tls_files_are_one_line(tmp_path, capsys):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    code = cli.main(["--model", str(MODEL), "--tls-cert", str(cert), "--tls-key", str(key)])
    assert code == 2
    assert "cannot use --tls-cert" in capsys.readouterr().err


# --- real processes --------------------------------------------------------------------------


def _post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_server_process_serves_and_stops_on_ctrl_c():
    with ServerProcess(["--model", str(MODEL), "--token", "tok"]) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, body = _post(server.url + "/v1/read", b"garbage", {"Content-Type": "image/png"})
        assert status == 401 and body["error"] == "unauthorized"
        auth = {"Content-Type": "image/png", "Authorization": "Bearer tok"}
        status, body = _post(server.url + "/v1/read", b"garbage", auth)
        assert status == 422 and body["error"] == "not_an_image"
        assert server.get_json("/healthz")["status"] == "ok"
        assert "litert" in server.log
        assert server.stop() == 0
    assert "Traceback" not in server.log


def test_two_workers_are_two_reader_processes_each_with_its_model():
    with ServerProcess(["--model", str(MODEL), "--workers", "2"]) as server:
        assert server.proc is not None
        loaded = server.wait_for_models(3)  # the command's check, then one per reader process
        readers = loaded - {server.proc.pid}
        health = server.get_json("/healthz")
        assert health["pid"] == server.proc.pid and set(health["readers"]) == readers
        assert readers <= set(server.pids())
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(20) == 0
        for pid in readers:  # the readers went with it
            assert "zombie" in _state(pid)
    assert "Traceback" not in server.log


def _read_concurrently(url: str, body: bytes, count: int, threads: int = 8) -> list[int]:
    from concurrent.futures import ThreadPoolExecutor

    def post(_: int) -> int:
        return _post(url + "/v1/read", body, {"Content-Type": "image/png"})[0]

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(post, range(count)))


def test_requests_spread_over_the_readers_and_a_dead_reader_is_replaced():
    import cv2
    import numpy as np

    from benchmarks.http_load import cpu_seconds

    page = np.full((480, 640), 230, np.uint8)
    cv2.putText(page, "4207", (120, 300), cv2.FONT_HERSHEY_SIMPLEX, 4, 20, 12)
    body = cv2.imencode(".png", page)[1].tobytes()
    with ServerProcess(["--model", str(MODEL), "--workers", "2"]) as server:
        readers = sorted(server.wait_for_models(3) - {server.proc.pid})
        before = [cpu_seconds([pid]) for pid in readers]
        assert _read_concurrently(server.url, body, 40) == [200] * 40
        used = [cpu_seconds([pid]) - b for pid, b in zip(readers, before, strict=True)]
        assert min(used) > 0.2 * max(used), used  # both read: one queue feeds both

        os.kill(readers[0], signal.SIGKILL)
        assert _read_concurrently(server.url, body, 10) == [200] * 10  # none is lost
        assert f"reader process {readers[0]} exited" in server.log
        now = set(server.get_json("/healthz")["readers"])
        assert readers[0] not in now and readers[1] in now and len(now) == 2
    assert "Traceback" not in server.log


def test_a_port_held_by_another_server_is_refused(capsys):
    with ServerProcess(["--model", str(MODEL)]) as server:
        code = cli.main(["--model", str(MODEL), "--port", str(server.port), "--workers", "2"])
        assert code == 2
        assert f"cannot listen on 127.0.0.1:{server.port}" in capsys.readouterr().err


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # the certificate names localhost, the URL 127.0.0.1
    args = ["--model", str(MODEL), "--tls-cert", str(cert), "--tls-key", str(key)]
    with ServerProcess(args, ssl_context=context) as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert server.get_json("/healthz")["status"] == "ok"
        assert server.get_json("/v1/model")["format"] == "int8"
        with pytest.raises(OSError):  # plain http is not answered
            urllib.request.urlopen(server.url.replace("https", "http") + "/healthz", timeout=5)
