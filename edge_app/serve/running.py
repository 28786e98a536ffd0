"""Running the app on uvicorn: the listening socket and the server, in this process.

``--workers N`` does not multiply servers: this one process keeps the HTTP side and starts N
reader processes behind one request queue (:mod:`edge_app.serve.pool`).
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

from edge_app.errors import DigitLiteError
from edge_app.serve.config import ServeConfig

if TYPE_CHECKING:
    from edge_app.serve.engine import Reader

log = logging.getLogger(__name__)

BACKLOG = 2048


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (port 0: a free one).

    Raises:
        DigitLiteError: the address cannot be used (in use, not an address of this machine).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=BACKLOG)
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DigitLiteError(f"cannot listen on {host}:{port}: {reason}") from exc


def _uvicorn_server(config: ServeConfig, app: Any) -> Any:
    import uvicorn

    return uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,  # ours: edge_app.serve.config.configure_logging
            access_log=config.access_log,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=5,
            ssl_certfile=config.tls_cert,
            ssl_keyfile=config.tls_key,
            backlog=BACKLOG,
        )
    )


def run(config: ServeConfig, sock: socket.socket, reader: Reader | None = None) -> int:
    """Serve on ``sock`` until Ctrl-C / SIGTERM; returns the number of requests read.

    Args:
        reader: with one worker, an already loaded reader to use (the command loaded it to
            check the model); with several, None: each reader process loads its own.
    """
    from edge_app.serve.app import create_app

    factory = (lambda: reader) if reader is not None and config.workers == 1 else None
    app = create_app(config, reader_factory=factory)
    _uvicorn_server(config, app).run(sockets=[sock])
    return app.state.service.served
