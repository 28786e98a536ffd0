"""``digits-predict --workers N``: read many image files in N processes, results in input order.

Each worker process loads its own reader once (an interpreter is not shared between processes,
nor safe between threads) and reads a small chunk of files per task with the very function the
sequential path uses (:func:`edge_app.cli.read_images`), so a bad file is that file's error and
the others are still read. Results come back in input order, as soon as they and all before
them are done; only a few chunks per worker are in flight, so a million paths cost no million
futures.

Workers are started with ``spawn`` (a fresh interpreter each): forking a process that has
already loaded a TFLite interpreter and OpenCV's thread pool is not safe.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from edge_app.errors import DigitLiteError

if TYPE_CHECKING:
    from edge_app.cli import PredictConfig
    from edge_app.collect import CropSaver
    from edge_app.reader import DigitReader, Reading

log = logging.getLogger(__name__)

IN_FLIGHT_PER_WORKER = 4
"""Tasks queued per worker: enough to keep each busy, few enough to keep order cheap."""

MAX_CHUNK = 16
"""Files per task at most. One file per task spent ~1 ms of inter-process overhead per file
(pickling, queue threads), a third of reading a 640x480 photo; chunks amortise it, and stay
small enough that the first results still come quickly and the work spreads evenly."""


class WorkerError(DigitLiteError):
    """A worker process died (killed, or crashed inside native code)."""


class _Worker:
    """The state of one worker process: its reader (and crop saver), built by
    :func:`_start_worker`.

    A process pool's initializer can hand state to later tasks only through the worker
    process's globals; this class is that one global, and exists only in worker processes.
    """

    reader: DigitReader | None = None
    saver: CropSaver | None = None


def _start_worker(config: PredictConfig, log_level: int) -> None:
    # Ctrl-C goes to the whole process group: the parent alone decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=max(log_level, logging.WARNING),  # the parent already said which model loaded
        format="digits-predict[worker %(process)d]: %(levelname)s: %(message)s",
        force=True,
    )
    from edge_app.cli import load_reader, load_saver

    _Worker.reader = load_reader(config)
    _Worker.saver = load_saver(config, _Worker.reader)


def _read_chunk(paths: list[Path]) -> list[tuple[Path, Reading | DigitLiteError]]:
    from edge_app.cli import read_images

    assert _Worker.reader is not None, "worker started without its reader"
    return list(read_images(_Worker.reader, paths, _Worker.saver))


def chunk_size(files: int, workers: int) -> int:
    """Files per task: about 8 tasks per worker, 1..:data:`MAX_CHUNK` files each."""
    return max(1, min(MAX_CHUNK, files // (workers * 8)))


def read_images_parallel(
    config: PredictConfig, paths: Sequence[Path], workers: int
) -> Iterator[tuple[Path, Reading | DigitLiteError]]:
    """Yield ``(path, Reading)`` or ``(path, DigitLiteError)`` for each image, in input order.

    Args:
        config: what to load in every worker (model, runtime, threads, min confidence).
        paths: the image files.
        workers: processes to read with (>= 1).

    Raises:
        WorkerError: a worker process died; the files not yet yielded are not read.
    """
    context = multiprocessing.get_context("spawn")
    window = max(1, workers * IN_FLIGHT_PER_WORKER)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(config, logging.getLogger().getEffectiveLevel()),
    )
    size = chunk_size(len(paths), workers)
    chunks = (list(paths[i : i + size]) for i in range(0, len(paths), size))
    pending: deque[tuple[list[Path], Future]] = deque()
    finished = False
    try:

        def top_up() -> None:
            while len(pending) < window:
                chunk = next(chunks, None)
                if chunk is None:
                    return
                pending.append((chunk, pool.submit(_read_chunk, chunk)))

        top_up()
        while pending:
            chunk, future = pending.popleft()
            try:
                results = future.result()
            except BrokenProcessPool as exc:
                raise WorkerError(
                    f"a worker process died while reading {chunk[0]} or a file after it; "
                    "files from there on were not read"
                ) from exc
            top_up()
            yield from results
        finished = True
    finally:
        # Interrupted (Ctrl-C, or the consumer stopped early): drop the queue, do not wait for it.
        pool.shutdown(wait=finished, cancel_futures=not finished)
