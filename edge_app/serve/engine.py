"""Who reads: one reader on a thread of this process (``--workers 1``), or N reader processes.

A TFLite interpreter must not be invoked from two threads at once, so every reader - the
model plus the vision step - is used by one thread only, and requests queue for the readers in
one FIFO queue instead of failing: up to ``max_queue`` requests wait (beyond that: 503
``busy``), each until its deadline (then: 503 ``timeout``; a job still waiting then is
dropped, so a backlog drains instead of being computed for nobody).

* :class:`ThreadReaders` (``--workers 1``, and the tests' fake readers): one reader, built on
  and used from one thread of this process;
* :class:`edge_app.serve.pool.ProcessReaders` (``--workers N``): N processes, each loading its
  own reader, fed from the same queue - a reader takes the next request the moment it is free,
  so no reader idles while another has a backlog.

Decoding is part of each job, so the event loop only moves bytes and stays responsive
(``/healthz`` answers while images are being read). A job is ``fn(reader, *args)`` with ``fn``
a module-level function, so it can be sent to another process.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from edge_app.files import file_digest
from edge_app.serve.config import ServeConfig
from edge_app.serve.errors import ApiError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Reader(Protocol):
    """What the server needs of a :class:`~edge_app.reader.DigitReader` (tests pass a fake)."""

    classifier: Any  # .classify(images, top_k), .contract, .runtime, .format

    def read(self, image: Any) -> Any: ...


ReaderFactory = Callable[[], Reader]
Job = Callable[..., Any]


class Readers(Protocol):
    """The interface the app uses; see :class:`ThreadReaders`."""

    pending: int
    served: int
    model_info: dict[str, Any]

    async def start(self) -> None: ...

    def close(self) -> None: ...

    def pids(self) -> list[int]: ...

    async def run(self, fn: Job, args: tuple[Any, ...], deadline: float) -> tuple[Any, float]: ...


def load_reader(config: ServeConfig) -> Reader:
    """The model of ``config``, loaded the way ``digits-predict`` loads it (same messages, same
    native-noise filter), as a :class:`~edge_app.reader.DigitReader`.

    Raises:
        ModelError, RuntimeNotFoundError: the model or interpreter cannot be used.
    """
    from edge_app.cli import PredictConfig
    from edge_app.cli import load_reader as load_predict_reader

    predict = PredictConfig(
        images=(),
        model=config.model,
        min_confidence=config.min_confidence,
        runtime=config.runtime,
        threads=config.threads,
    )
    return load_predict_reader(predict)


def default_reader_factory(config: ServeConfig) -> ReaderFactory:
    """:func:`load_reader` for ``config``, as a picklable factory (reader processes get it)."""
    return functools.partial(load_reader, config)


def model_info(reader: Reader) -> dict[str, Any]:
    """``GET /v1/model``: format, runtime, file hash and the contract (computed once)."""
    classifier = reader.classifier
    contract = getattr(classifier, "contract", None)
    info: dict[str, Any] = {
        "format": getattr(classifier, "format", "unknown"),
        "runtime": getattr(classifier, "runtime", "unknown"),
        "min_confidence": getattr(reader, "min_confidence", None),
        "file": None,
        "contract": json.loads(contract.to_json()) if contract is not None else None,
    }
    path = getattr(classifier, "model_path", None)
    if path is not None and Path(path).is_file():
        path = Path(path)
        info["file"] = {
            "name": path.name,
            "bytes": path.stat().st_size,
            "sha256": file_digest(path),
        }
    return info


def busy(pending: int) -> ApiError:
    return ApiError(
        "busy",
        f"{pending} requests are already waiting (--max-queue); retry shortly",
        headers={"Retry-After": "1"},
    )


def timed_out(pending: int) -> ApiError:
    return ApiError(
        "timeout",
        f"the request was not answered within the server's --timeout ({pending} requests were "
        "waiting); retry later",
        headers={"Retry-After": "1"},
    )


class ThreadReaders:
    """One reader on one thread of this process.

    Args:
        factory: builds the reader; called once, on the reader thread, by :meth:`start`.
        max_queue: requests allowed to wait or run at once; one more gets ``busy``.
    """

    def __init__(self, factory: ReaderFactory, *, max_queue: int) -> None:
        self._factory = factory
        self.max_queue = max_queue
        self._executor: ThreadPoolExecutor | None = None
        self._reader: Reader | None = None
        self.pending = 0
        self.served = 0
        self.model_info: dict[str, Any] = {}

    async def start(self) -> None:
        """Create the thread and build the reader on it (raises what the factory raises)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digit-reader")
        loop = asyncio.get_running_loop()

        def build() -> tuple[Reader, dict[str, Any]]:
            reader = self._factory()
            return reader, model_info(reader)

        self._reader, self.model_info = await loop.run_in_executor(self._executor, build)

    def close(self) -> None:
        """Stop the thread; jobs still waiting are cancelled."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def pids(self) -> list[int]:
        return []

    async def run(self, fn: Job, args: tuple[Any, ...], deadline: float) -> tuple[Any, float]:
        """``fn(reader, *args)`` on the reader thread, answered before ``deadline``
        (``loop.time()``).

        Returns:
            ``(result, queued_ms)``: the job's result and how long it waited for the reader.

        Raises:
            ApiError: ``busy`` (queue full) or ``timeout`` (deadline passed); whatever the
                job raises.
        """
        if self._executor is None or self._reader is None:
            raise RuntimeError("ThreadReaders.start() has not run")
        if self.pending >= self.max_queue:
            raise busy(self.pending)
        loop = asyncio.get_running_loop()
        reader = self._reader
        submitted = time.monotonic()
        started: list[float] = []

        def timed() -> Any:
            started.append(time.monotonic())
            return fn(reader, *args)

        self.pending += 1
        try:
            async with asyncio.timeout_at(deadline):
                result = await loop.run_in_executor(self._executor, timed)
        except TimeoutError:
            raise timed_out(self.pending) from None
        finally:
            self.pending -= 1
        self.served += 1
        return result, (started[0] - submitted) * 1000.0
