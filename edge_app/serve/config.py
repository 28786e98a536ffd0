"""What ``digits-serve`` was asked to do (one frozen dataclass), and how its processes log.

The command parses flags into a :class:`ServeConfig` and hands it to
:func:`edge_app.serve.app.create_app`; nothing below the command sees argparse. Reader
processes receive it pickled; :meth:`ServeConfig.to_json` is its readable form.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """Everything the server needs.

    Attributes:
        host, port: where to listen (loopback unless told otherwise).
        model: a DigitLite .tflite (None: the shipped int8 model).
        runtime: force a TFLite interpreter (None: the first installed).
        threads: interpreter and OpenCV threads per worker process.
        min_confidence: digits the model is less sure of are dropped (as ``digits-predict``).
        workers: 1: read on one thread of the server process; N: in N reader processes,
            each with its own interpreter, behind one request queue.
        token: when set, ``/v1/*`` requires ``Authorization: Bearer <token>``.
        tls_cert, tls_key: PEM files; both or neither (HTTPS lets phones use their camera).
        max_upload_bytes: larger bodies get 413 before they are read.
        max_pixels: larger images get 413 before they are decoded.
        timeout_s: a request not answered in this time gets 408 (body too slow) or 503.
        max_queue: requests waiting to be read (or being read) beyond this get 503.
        log_level: the ``logging`` level name, for worker processes to log like the parent.
        access_log: log one line per request.
        save_crops: ``POST /v1/save`` files the digits it reads here (None: saving is off).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    model: Path | None = None
    runtime: str | None = None
    threads: int = 1
    min_confidence: float = 0.5
    workers: int = 1
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_upload_bytes: int = 10 * MB
    max_pixels: int = 24_000_000
    timeout_s: float = 30.0
    max_queue: int = 64
    log_level: str = "INFO"
    access_log: bool = False
    save_crops: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/"

    def to_json(self) -> str:
        """The config as JSON (paths as strings)."""
        data: dict[str, Any] = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        """Inverse of :meth:`to_json`; unknown keys are ignored, missing ones take defaults."""
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("model", "tls_cert", "tls_key", "save_crops"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        return cls(**values)


def configure_logging(level: str, prog: str = "digits-serve") -> None:
    """Log lines as ``digits-serve[PID]: LEVEL: message`` on stderr, in every process alike
    (the command, and each reader process it starts)."""
    logging.basicConfig(
        level=getattr(logging, level),
        format=f"{prog}[%(process)d]: %(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # uvicorn's "Started server process" lines repeat ours; its warnings and errors still show
    if level != "DEBUG":
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
