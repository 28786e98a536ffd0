"""``digits-serve``: the REST API and the offline web page, for a Raspberry Pi or a server.

Parses flags into a :class:`~edge_app.serve.config.ServeConfig`, checks what can be checked
before listening (the model loads, the TLS files pair up, the port is free), then runs
:func:`~edge_app.serve.app.create_app` on uvicorn (:mod:`edge_app.serve.running`): in this
process, or in ``--workers N`` processes, each with its own interpreter.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import ssl
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from edge_app.cliparts import (
    HelpFormatter,
    add_verbosity,
    choice,
    log_level,
    number,
    positive_int,
    probability,
    run_main,
)
from edge_app.errors import DigitLiteError
from edge_app.serve.config import MB, ServeConfig, configure_logging

log = logging.getLogger(__name__)

PROG = "digits-serve"
EXIT_OK, EXIT_ERROR = 0, 2
TOKEN_ENV = "DIGITS_SERVE_TOKEN"
MAX_MEGAPIXELS = 50  # what edge_app.imageio decodes at full size at most

EPILOG = f"""\
examples:
  digits-serve                                  http://127.0.0.1:8000/ on this machine only
  digits-serve --host 0.0.0.0 --token s3cret    the whole LAN, API behind a bearer token
  digits-serve --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem
                                                HTTPS, so a phone's browser may use its camera
  digits-serve --workers 2 --model runs/latest/model_int8.tflite

API (schema at /openapi.json):
  POST /v1/read       an image (multipart field 'image', or the raw body) -> digits + boxes
  POST /v1/classify   one digit (image of any size, or JSON {{"pixels": 28x28}}) -> top 3
  POST /v1/save       like /v1/read, and files each digit under --save-crops DIR/<digit>/
  GET  /v1/model      the model's contract      GET /healthz   liveness (no token)
  curl -F image=@photo.jpg http://127.0.0.1:8000/v1/read

The token may also come from ${TOKEN_ENV} (not visible in the process list).
Browsers allow the camera only on http://localhost or over HTTPS.
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``digits-serve`` argument parser."""
    from edge_app.runtime import RUNTIME_NAMES

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the DigitLite REST API and web page (upload, draw, camera): "
        "offline, no TensorFlow, no CDN.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    net.add_argument("--port", type=_port, default=8000, help="TCP port")
    net.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"require 'Authorization: Bearer TOKEN' on /v1/* (default: ${TOKEN_ENV} if set)",
    )
    net.add_argument("--tls-cert", type=Path, metavar="PEM", help="certificate: serve HTTPS")
    net.add_argument("--tls-key", type=Path, metavar="PEM", help="its private key")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model", type=Path, metavar="FILE", help="a DigitLite .tflite (default: shipped int8)"
    )
    model.add_argument(
        "--runtime",
        type=choice(RUNTIME_NAMES, "runtime"),
        metavar="NAME",
        help=f"force a TFLite interpreter: {', '.join(RUNTIME_NAMES)} (default: first installed)",
    )
    model.add_argument(
        "--min-confidence",
        type=probability,
        default=0.5,
        metavar="P",
        help="drop digits the model is less sure of than P, 0..1",
    )
    model.add_argument(
        "--save-crops",
        type=Path,
        metavar="DIR",
        help="let POST /v1/save (the page's Save button) file each digit read as "
        "DIR/<digit>/<id>.png + .mnist.png, for digits-train --finetune (default: off)",
    )
    work = parser.add_argument_group("load and limits")
    work.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="reader processes, each with its own interpreter, behind one request queue "
        "(one per core; 1: read in this process)",
    )
    work.add_argument(
        "--threads", type=positive_int, default=1, metavar="N", help="threads per process"
    )
    work.add_argument(
        "--max-queue",
        type=positive_int,
        default=64,
        metavar="N",
        help="requests waiting to be read before more get 503 busy",
    )
    work.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="seconds a request may take, body upload included (then 408 or 503)",
    )
    work.add_argument(
        "--max-upload-mb", type=_megabytes, default=10.0, metavar="MB", help="largest body"
    )
    work.add_argument(
        "--max-megapixels",
        type=_megapixels,
        default=24.0,
        metavar="MP",
        help=f"largest image, checked before decoding (at most {MAX_MEGAPIXELS})",
    )
    add_verbosity(parser, verbose="debug logging: every request and its details")
    return parser


def _number(text: str, low: float, high: float, what: str) -> float:
    value = number(text)
    if not low < value <= high:
        raise argparse.ArgumentTypeError(f"{what} must be above {low:g} and at most {high:g}")
    return value


def _seconds(text: str) -> float:
    return _number(text, 0, 3600, "seconds")


def _megabytes(text: str) -> float:
    return _number(text, 0, 1024, "megabytes")


def _megapixels(text: str) -> float:
    return _number(text, 0, MAX_MEGAPIXELS, "megapixels")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not within 0..65535")
    return value


def parse_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ServeConfig:
    """Check what argparse cannot and freeze the flags into a :class:`ServeConfig`."""
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together: give both PEM files, or neither")
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None and not path.is_file():
            parser.error(f"argument {flag}: no such file: {path}")
    if args.token is not None and not args.token.strip():
        parser.error("argument --token: the token is empty")
    if args.token is not None and any(c.isspace() for c in args.token):
        parser.error("argument --token: a bearer token cannot contain spaces")
    return ServeConfig(
        host=args.host,
        port=args.port,
        model=args.model,
        runtime=args.runtime,
        threads=args.threads,
        min_confidence=args.min_confidence,
        workers=args.workers,
        token=args.token,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        max_upload_bytes=int(args.max_upload_mb * MB),
        max_pixels=int(args.max_megapixels * 1e6),
        timeout_s=args.timeout,
        max_queue=args.max_queue,
        log_level=logging.getLevelName(log_level(args)),
        access_log=args.verbose,
        save_crops=args.save_crops.expanduser().resolve() if args.save_crops else None,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_tls(config: ServeConfig) -> None:
    if config.tls_cert is None:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            config.tls_cert, config.tls_key
        )
    except (ssl.SSLError, OSError) as exc:
        raise DigitLiteError(
            f"cannot use --tls-cert {config.tls_cert} / --tls-key {config.tls_key}: {exc}"
        ) from exc


def serve(config: ServeConfig) -> int:
    """Load the model (to fail early and clearly), listen, and serve until interrupted.

    Raises:
        DigitLiteError: the model, TLS files or address cannot be used.
    """
    from edge_app.serve import running
    from edge_app.serve.engine import load_reader

    _check_tls(config)
    reader = load_reader(config)  # ModelError / RuntimeNotFoundError: one clear line
    if config.save_crops is not None:
        from edge_app.collect import CropSaver

        CropSaver(config.save_crops)  # CropFolderError now, not on the first save
        log.info("POST /v1/save files digits under %s", config.save_crops)
    sock = running.listen(config.host, config.port)
    config = replace(config, port=sock.getsockname()[1])  # port 0 asked for a free one
    if not _is_loopback(config.host) and not config.token:
        log.warning(
            "listening on %s without --token: anyone who can reach this machine can use the API",
            config.host,
        )
    shown_host = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    readers = "1 reader" if config.workers == 1 else f"{config.workers} reader processes"
    log.info(
        "serving %s (%s, %s model on %s); Ctrl-C stops",
        replace(config, host=shown_host).url,
        readers,
        reader.classifier.format,
        reader.classifier.runtime,
    )
    if config.workers > 1:
        reader = None  # each reader process loads its own
    with sock:
        served = running.run(config, sock, reader)
    log.info("stopped after %d requests", served)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``digits-serve``; returns the exit status."""
    parser = build_parser()

    def body(args: argparse.Namespace) -> int:
        try:
            return serve(parse_config(parser, args))
        except KeyboardInterrupt:  # Ctrl-C is how a server is stopped
            return EXIT_OK

    def setup(args: argparse.Namespace) -> None:  # the readers' log format, at the one level
        configure_logging(logging.getLevelName(log_level(args)))

    return run_main(PROG, parser, argv, body, setup=setup)
