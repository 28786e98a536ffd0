"""The pieces of a server load test: a real ``digits-serve`` process, and a lean HTTP client.

:class:`ServerProcess` starts ``python -m edge_app.serve --port 0`` (a free port, so runs never
collide), learns its URL from the line it logs, waits for ``/healthz``, and always stops it
(SIGINT, then SIGKILL), its worker processes with it. The browser test uses it too.

:class:`Connection` is a keep-alive HTTP/1.1 client on asyncio streams that sends pre-built
requests: a load generator that shares two cores with the server must spend as little CPU as
it can per request (a full client library costs about as much as the server's own parsing).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SERVING = re.compile(r"serving (https?://\S+?)/? \(")
_MODEL_LOADED = re.compile(r"\[(\d+)\]: INFO: model .*\.tflite: ")


class ServerError(RuntimeError):
    """The server did not start, or died."""


class ServerProcess:
    """A ``digits-serve`` subprocess on a free localhost port (a context manager).

    Args:
        args: extra ``digits-serve`` flags (``--workers 2``, ``--model FILE``, ...).
        startup_timeout: seconds to wait for the URL and a healthy ``/healthz``.
        env: extra environment variables.
        ssl_context: for a server started with ``--tls-cert``: how to trust its certificate.
    """

    def __init__(
        self,
        args: list[str] | tuple[str, ...] = (),
        *,
        startup_timeout: float = 90.0,
        env: dict[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log_lines: collections.deque[str] = collections.deque(maxlen=2000)
        self._url_found = threading.Event()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the process and wait until it answers ``/healthz``.

        Raises:
            ServerError: it exited or did not become healthy in time (its log is in the message).
        """
        cmd = [sys.executable, "-m", "edge_app.serve", "--host", "127.0.0.1", "--port", "0"]
        self.proc = subprocess.Popen(
            [*cmd, *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._url_found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"digits-serve did not start:\n{self.log}")
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.get_json("/healthz").get("status") == "ok":
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"digits-serve never became healthy:\n{self.log}")

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log_lines.append(line.rstrip("\n"))
            match = _SERVING.search(line)
            if match and not self.url:
                self.url = match.group(1).rstrip("/")
                self._url_found.set()

    def wait_for_models(self, count: int, timeout: float = 90.0) -> set[int]:
        """Wait until ``count`` processes have logged their model load (the parent checks the
        model once, then each ``--workers`` process loads its own); returns their pids.

        Raises:
            ServerError: not within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            pids = {int(m.group(1)) for m in map(_MODEL_LOADED.search, self.log_lines) if m}
            if len(pids) >= count:
                return pids
            if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                raise ServerError(f"{len(pids)} of {count} models loaded:\n{self.log}")
            time.sleep(0.1)

    @property
    def log(self) -> str:
        return "\n".join(self.log_lines)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def get_json(self, path: str, timeout: float = 5.0) -> dict[str, Any]:
        url = self.url + path
        with urllib.request.urlopen(url, timeout=timeout, context=self.ssl_context) as response:
            return json.loads(response.read())

    def pids(self) -> list[int]:
        """The server process and all its descendants (the worker processes)."""
        if self.proc is None:
            return []
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                    todo += [int(c) for c in children]
        return found

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT (uvicorn stops its workers and exits), SIGKILL if that takes too long."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in reversed(self.pids()):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of ``pids``, summed (from /proc; 0 for those gone)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` so far (from /proc/PID/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- requests and the client -----------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A pre-built HTTP request and what a correct answer is.

    Attributes:
        raw: the request bytes, headers and body.
        kind: a label for the report (``good``, ``not_an_image``, ...).
        expect_status: the status a correct server answers.
        truth: for a good photo, the digits written on it.
    """

    raw: bytes
    kind: str
    expect_status: int
    truth: str | None = None


def build_request(
    path: str, body: bytes, content_type: str, *, host: str = "127.0.0.1", token: str | None = None
) -> bytes:
    """``POST path`` with ``body``: the bytes to write on a keep-alive connection."""
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    """A one-file multipart/form-data body and its Content-Type."""
    boundary = "digitlite-load-boundary"
    disposition = f'form-data; name="{field}"; filename="{filename}"'
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def send(self, raw: bytes) -> Response:
        """Send one request, read its response (raises ``OSError`` on transport failure)."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        try:
            self._writer.write(raw)
            await self._writer.drain()
        except ConnectionError:
            # the server answered early (413) and closed; its answer may still be readable
            pass
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            await self.close()
            raise ConnectionError("the server closed the connection without answering") from exc
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, body, headers)
