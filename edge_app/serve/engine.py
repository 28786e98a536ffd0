"""One reader per server process, on one thread of its own: requests queue for it.

A TFLite interpreter must not be invoked from two threads at once, and a 2-core Pi gains
nothing from two readers in one process fighting over the GIL and the cores. So each process
owns exactly one :class:`~edge_app.reader.DigitReader`, built on and used from a single worker
thread; requests wait for it in a FIFO queue instead of failing, up to ``max_queue`` of them
(beyond that: 503 ``busy``), each until its deadline (then: 503 ``timeout``; a job still waiting
then is cancelled, so a backlog drains instead of being computed for nobody). ``--workers N``
runs N such processes for N cores.

Decoding runs on that thread too, so the event loop only moves bytes and stays responsive
(``/healthz`` answers while an image is being read).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from edge_app.serve.errors import ApiError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Reader(Protocol):
    """What the server needs of a :class:`~edge_app.reader.DigitReader` (tests pass a fake)."""

    classifier: Any  # .classify(images, top_k), .contract, .runtime, .format

    def read(self, image: Any) -> Any: ...


ReaderFactory = Callable[[], Reader]


class ReadingService:
    """Runs jobs ``job(reader) -> result`` one at a time on the reader's own thread.

    Args:
        factory: builds the reader; called once, on the reader thread, by :meth:`start`.
        max_queue: jobs allowed to wait or run at once; one more gets ``busy``.
    """

    def __init__(self, factory: ReaderFactory, *, max_queue: int) -> None:
        self._factory = factory
        self.max_queue = max_queue
        self._executor: ThreadPoolExecutor | None = None
        self._reader: Reader | None = None
        self.pending = 0
        self.served = 0

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            raise RuntimeError("ReadingService.start() has not run")
        return self._reader

    async def start(self) -> None:
        """Create the thread and build the reader on it (raises what the factory raises)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digit-reader")
        loop = asyncio.get_running_loop()
        self._reader = await loop.run_in_executor(self._executor, self._factory)

    def close(self) -> None:
        """Stop the thread; jobs still waiting are cancelled."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def run(self, job: Callable[[Reader], T], deadline: float) -> tuple[T, float]:
        """Run ``job(reader)`` on the reader thread before ``deadline`` (``loop.time()``).

        Returns:
            ``(result, queued_ms)``: the job's result and how long it waited for the thread.

        Raises:
            ApiError: ``busy`` (queue full) or ``timeout`` (deadline passed); whatever the
                job raises.
        """
        if self._executor is None:
            raise RuntimeError("ReadingService.start() has not run")
        if self.pending >= self.max_queue:
            raise ApiError(
                "busy",
                f"{self.pending} requests are already waiting for this worker "
                "(--max-queue); retry shortly",
                headers={"Retry-After": "1"},
            )
        loop = asyncio.get_running_loop()
        submitted = time.perf_counter()
        started: list[float] = []

        def timed() -> T:
            started.append(time.perf_counter())
            return job(self.reader)

        self.pending += 1
        try:
            async with asyncio.timeout_at(deadline):
                result = await loop.run_in_executor(self._executor, timed)
        except TimeoutError:
            raise ApiError(
                "timeout",
                "the request was not answered within the server's --timeout "
                f"({self.pending} requests were waiting); retry later",
                headers={"Retry-After": "1"},
            ) from None
        finally:
            self.pending -= 1
        self.served += 1
        return result, (started[0] - submitted) * 1000.0
