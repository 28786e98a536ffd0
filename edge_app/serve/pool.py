"""``--workers N``: N reader processes, each with its own model, fed from one FIFO queue.

The server stays one process with one event loop (HTTP, uploads, JSON: cheap); reading - the
CPU work - happens in N processes started with ``spawn``, each loading its own interpreter.
One dispatcher task per process takes the next request off the shared queue as soon as its
process is free, so the load spreads evenly whatever the connections do. (Running N whole
servers on one shared listening socket instead, as uvicorn's ``--workers`` does, let one of
two servers accept all 16 keep-alive connections of a load test while the other idled; with
``SO_REUSEPORT`` the kernel hashed them 10/6, and the 10 waited longer.)

A job crosses to its process through a pipe, written and read by a thread of this process so
the event loop never blocks on it. A process that dies (a crash in native code) costs the
request it was reading a 500 and is replaced; its queue goes on to the others meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import pickle
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from edge_app.errors import DigitLiteError
from edge_app.serve.config import configure_logging
from edge_app.serve.engine import Job, ReaderFactory, busy, model_info, timed_out
from edge_app.serve.errors import ApiError

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
_TAKEN = "taken"
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError naming it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _reader_process(conn: Any, factory: ReaderFactory, log_level: str) -> None:
    """A reader process: load the reader, then answer ``(fn, args)`` jobs until told to stop."""
    # Ctrl-C reaches the whole process group; the server decides when its readers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(log_level)
    try:
        reader = factory()
        conn.send(("ready", model_info(reader)))
    except Exception as exc:
        conn.send(("failed", str(exc) if isinstance(exc, DigitLiteError) else repr(exc)))
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        if message is None:
            return
        fn, args = message
        started = time.monotonic()
        conn.send(_TAKEN)  # from here on, a crash is this job's fault: it is not retried
        try:
            reply = ("ok", fn(reader, *args), started)
        except ApiError as exc:
            reply = ("error", exc, started)
        except Exception as exc:
            log.error("reading failed unexpectedly", exc_info=exc)
            reply = ("error", _sendable(exc), started)
        conn.send(reply)


class _Process:
    """One reader process and the pipe to it; its blocking methods run on a pipe thread."""

    def __init__(self, context: Any, factory: ReaderFactory, log_level: str, name: str) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_reader_process, args=(child, factory, log_level), name=name, daemon=True
        )
        self.process.start()
        child.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def wait_ready(self) -> dict[str, Any]:
        """Block until the model is loaded; its model info.

        Raises:
            DigitLiteError: the reader could not be built (or the process died first).
        """
        try:
            status, payload = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            raise DigitLiteError(
                f"reader process {self.pid} exited (code {self.process.exitcode}) while loading"
            ) from None
        if status != "ready":
            raise DigitLiteError(f"reader process {self.pid} could not load the model: {payload}")
        return payload

    def call(self, fn: Job, args: tuple[Any, ...]) -> tuple[str, Any, float] | None:
        """Send a job and block for its answer.

        Returns:
            The answer, or None when the process was gone before it took the job (so it can
            safely go to another).

        Raises:
            EOFError, OSError: the process died while it had the job.
        """
        try:
            self.conn.send((fn, args))
            taken = self.conn.recv()
        except (EOFError, OSError, ValueError):
            return None
        assert taken == _TAKEN, taken
        return self.conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(STOP_TIMEOUT_S)
        if self.process.is_alive():
            log.warning("reader process %d did not stop; killing it", self.pid)
            self.process.kill()
            self.process.join(5)
        self.conn.close()


@dataclass
class _Job:
    fn: Job
    args: tuple[Any, ...]
    future: asyncio.Future
    submitted: float = field(default_factory=time.monotonic)


class ProcessReaders:
    """N reader processes behind one queue (the interface of :class:`ThreadReaders`).

    Args:
        factory: builds a reader in each process; must be picklable (a module-level function,
            or :func:`~edge_app.serve.engine.default_reader_factory`).
        workers: reader processes.
        max_queue: requests allowed to wait or run at once; one more gets ``busy``.
        log_level: the reader processes log at this level (``logging`` name).
    """

    def __init__(
        self, factory: ReaderFactory, *, workers: int, max_queue: int, log_level: str = "INFO"
    ) -> None:
        self._factory = factory
        self.workers = workers
        self.max_queue = max_queue
        self.log_level = log_level
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[_Process] = []
        self._threads: ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._dispatchers: list[asyncio.Task] = []
        self.pending = 0
        self.served = 0
        self.model_info: dict[str, Any] = {}

    def _spawn(self, index: int) -> _Process:
        name = f"digits-serve-reader-{index}"
        return _Process(self._context, self._factory, self.log_level, name)

    async def start(self) -> None:
        """Start the processes and wait until every one has loaded its model.

        Raises:
            DigitLiteError: a process could not load the model.
        """
        loop = asyncio.get_running_loop()
        # one thread per process for its pipe, plus one for starting replacements
        self._threads = ThreadPoolExecutor(self.workers + 1, thread_name_prefix="reader-pipe")
        self._queue = asyncio.Queue()
        self._processes = [self._spawn(i) for i in range(self.workers)]
        try:
            infos = await asyncio.gather(
                *(loop.run_in_executor(self._threads, p.wait_ready) for p in self._processes)
            )
        except BaseException:
            self.close()
            raise
        self.model_info = infos[0]
        log.info("%d reader processes ready: %s", self.workers, ", ".join(map(str, self.pids())))
        self._dispatchers = [
            asyncio.create_task(self._dispatch(i), name=f"dispatch-{i}")
            for i in range(self.workers)
        ]

    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def close(self) -> None:
        """Stop dispatching, then every process (jobs still queued are dropped)."""
        for task in self._dispatchers:
            task.cancel()
        for process in self._processes:
            process.stop()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None

    async def run(self, fn: Job, args: tuple[Any, ...], deadline: float) -> tuple[Any, float]:
        """``fn(reader, *args)`` in the next free reader process, answered before ``deadline``.

        Returns / raises: as :meth:`ThreadReaders.run`; a process dying on this request is a
        500 ``internal``.
        """
        if self._queue is None:
            raise RuntimeError("ProcessReaders.start() has not run")
        if self.pending >= self.max_queue:
            raise busy(self.pending)
        job = _Job(fn, args, asyncio.get_running_loop().create_future())
        self.pending += 1
        try:
            self._queue.put_nowait(job)
            async with asyncio.timeout_at(deadline):
                return await job.future  # cancelled on timeout: its dispatcher skips it
        except TimeoutError:
            raise timed_out(self.pending) from None
        finally:
            self.pending -= 1

    async def _dispatch(self, index: int) -> None:
        assert self._queue is not None and self._threads is not None
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            if job.future.done():  # timed out while it waited
                continue
            answer = None
            while answer is None:  # a process found dead before it took the job: replace, retry
                if job.future.done():  # timed out while a replacement started
                    break
                process = self._processes[index]
                if not process.process.is_alive():
                    await self._replace(index, "exited")
                    continue
                try:
                    answer = await loop.run_in_executor(
                        self._threads, process.call, job.fn, job.args
                    )
                except (EOFError, OSError):
                    if not job.future.done():
                        job.future.set_exception(
                            ApiError("internal", "the reader process died reading this request")
                        )
                    await self._replace(index, "died while reading a request")
                    break
                if answer is None:
                    await self._replace(index, "exited")
            if answer is None:
                continue
            status, payload, started = answer
            self.served += status == "ok"
            if job.future.done():
                continue
            if status == "ok":
                job.future.set_result((payload, (started - job.submitted) * 1000.0))
            else:
                job.future.set_exception(payload)

    async def _replace(self, index: int, why: str) -> None:
        """Start a new process in slot ``index``; retry with back-off while it fails."""
        assert self._threads is not None
        loop = asyncio.get_running_loop()
        old = self._processes[index]
        old.process.join(1)
        log.error(
            "reader process %s %s (exit code %s); starting another",
            old.pid,
            why,
            old.process.exitcode,
        )
        for attempt in itertools.count():
            process = self._spawn(index)
            try:
                await loop.run_in_executor(self._threads, process.wait_ready)
            except DigitLiteError as exc:
                delay = RESTART_BACKOFF_S[min(attempt, len(RESTART_BACKOFF_S) - 1)]
                log.error("%s; retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            old.conn.close()
            self._processes[index] = process
            log.info("reader process %d replaces the one that died", process.pid)
            return
