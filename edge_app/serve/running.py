"""Running the app: the listening socket, uvicorn, and the ``--workers N`` processes.

With one worker the app runs in this process. With N, this process only supervises: it starts
N fresh (``spawn``) processes, each loading its own model and running uvicorn, restarts one
that dies, and stops them all on Ctrl-C / SIGTERM.

Each worker listens on **its own socket** bound to the same port with ``SO_REUSEPORT``, so the
kernel spreads new connections evenly over the workers. With one shared listening socket (what
uvicorn's own ``--workers`` does) the first worker to wake accepts every connection waiting,
and a burst of keep-alive clients can all land on one worker while the other idles (measured:
16 of 16 connections on one of two workers, p99 up to 4x). Where ``SO_REUSEPORT`` is missing
(Windows) the workers share one socket.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

from edge_app.errors import DigitLiteError
from edge_app.serve.config import ServeConfig

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from edge_app.serve.engine import Reader

log = logging.getLogger(__name__)

PROG = "digits-serve"
BACKLOG = 2048
RESTART_WINDOW_S = 10.0  # a worker dying this soon after starting, 3 times running: give up
STOP_TIMEOUT_S = 10.0


def configure_logging(level: str) -> None:
    """Log lines as ``digits-serve[PID]: LEVEL: message`` on stderr (every process alike)."""
    logging.basicConfig(
        level=getattr(logging, level),
        format=f"{PROG}[%(process)d]: %(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # uvicorn's "Started server process" lines repeat ours; its warnings and errors still show
    if level != "DEBUG":
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def reuse_port_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith(("linux", "freebsd"))


def listen(
    host: str, port: int, *, reuse_port: bool, backlog: int | None = BACKLOG
) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one), listening unless ``backlog``
    is None.

    Raises:
        DigitLiteError: the address cannot be used (in use, not an address of this machine).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if backlog is not None:
            sock.listen(backlog)
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DigitLiteError(f"cannot listen on {host}:{port}: {reason}") from exc
    sock.set_inheritable(True)
    return sock


def claim_port(host: str, port: int, workers: int) -> tuple[socket.socket, socket.socket | None]:
    """The socket that holds the port for this server, and the one workers share (if any).

    One worker: a listening socket, served in this process. Several with ``SO_REUSEPORT``: a
    bound, non-listening socket that only reserves the port (each worker listens on its own).
    The port is first bound *without* ``SO_REUSEPORT``, so a port another server already
    holds - even one listening with ``SO_REUSEPORT`` itself - is an error, not a silent share.

    Raises:
        DigitLiteError: the address cannot be used.
    """
    if workers == 1 or not reuse_port_available():
        sock = listen(host, port, reuse_port=False)
        return sock, (sock if workers > 1 else None)
    probe = listen(host, port, reuse_port=False, backlog=None)
    port = probe.getsockname()[1]
    probe.close()
    return listen(host, port, reuse_port=True, backlog=None), None


def _uvicorn_server(config: ServeConfig, app: Any) -> Any:
    import uvicorn

    return uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,  # ours: configure_logging
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


def run_here(config: ServeConfig, sock: socket.socket, reader: Reader) -> None:
    """Serve in this process with ``reader`` (already loaded) until Ctrl-C / SIGTERM."""
    from edge_app.serve.app import create_app

    app = create_app(config, reader_factory=lambda: reader)
    _uvicorn_server(config, app).run(sockets=[sock])
    log.info("stopped after %d requests", app.state.service.served)


def _worker_main(config_json: str, shared: socket.socket | None) -> None:
    """One ``--workers`` process: its own socket (or the shared one), its own model."""
    from edge_app.serve.app import create_app

    config = ServeConfig.from_json(config_json)
    configure_logging(config.log_level)
    sock = shared or listen(config.host, config.port, reuse_port=True)
    app = create_app(config)
    _uvicorn_server(config, app).run(sockets=[sock])
    log.debug("worker stopped after %d requests", app.state.service.served)


class Supervisor:
    """Starts ``config.workers`` worker processes, restarts those that die, stops them all.

    Args:
        config: the server's config; its port must be the real one (not 0).
        shared: a listening socket the workers share, or None: each binds its own with
            ``SO_REUSEPORT`` (the caller holds the port meanwhile).
    """

    def __init__(self, config: ServeConfig, shared: socket.socket | None) -> None:
        self.config = config
        self.shared = shared
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[tuple[BaseProcess, float]] = []
        self.stopping = False
        self.quick_deaths = 0

    def _start(self) -> tuple[BaseProcess, float]:
        process = self.context.Process(
            target=_worker_main,
            args=(self.config.to_json(), self.shared),
            name="digits-serve-worker",
        )
        process.start()
        return process, time.monotonic()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def run(self) -> None:
        """Until Ctrl-C / SIGTERM; then stop every worker (SIGTERM, SIGKILL after 10 s).

        Raises:
            DigitLiteError: workers keep dying right after they start (3 times in a row).
        """
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.workers = [self._start() for _ in range(self.config.workers)]
            while not self.stopping:
                self._replace_dead()
                time.sleep(0.2)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self._stop_all()

    def _replace_dead(self) -> None:
        for i, (process, started) in enumerate(self.workers):
            if process.is_alive() or self.stopping:
                continue
            time.sleep(0.2)  # a Ctrl-C reaches the workers too; let our handler see it first
            if self.stopping:
                return
            quick = time.monotonic() - started < RESTART_WINDOW_S
            self.quick_deaths = self.quick_deaths + 1 if quick else 0
            if self.quick_deaths >= 3:
                raise DigitLiteError(
                    f"worker processes keep exiting right after they start (last exit code "
                    f"{process.exitcode}); see the log above"
                )
            log.warning(
                "worker %d exited (code %s); starting another", process.pid, process.exitcode
            )
            self.workers[i] = self._start()

    def _stop_all(self) -> None:
        for process, _ in self.workers:
            if process.is_alive():
                with contextlib.suppress(OSError):
                    process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process, _ in self.workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning(
                    "worker %d did not stop in %.0f s; killing it", process.pid, STOP_TIMEOUT_S
                )
                process.kill()
                process.join(5)
