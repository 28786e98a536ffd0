"""Benchmark errors: the cases a user can cause, each printed by ``main()`` as one line."""

from edge_app.errors import DigitLiteError


class BenchError(DigitLiteError):
    """Base class of every error the benchmarks raise on purpose."""


class RunDirError(BenchError):
    """The run directory is missing or holds nothing to benchmark."""


class WorkerError(BenchError):
    """A benchmark worker process died or answered with something that is not a result."""
