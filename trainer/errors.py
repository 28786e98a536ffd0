"""Trainer errors: the cases a user can cause, each printed by ``main()`` as one line.

:class:`~edge_app.errors.OutputError` (a run directory that cannot be written, or holds no run to
resume) is the one class every package shares; it is importable from here too.
"""

from edge_app.errors import DigitLiteError
from edge_app.errors import OutputError as OutputError


class TrainerError(DigitLiteError):
    """Base class of every error the trainer raises on purpose."""


class DataError(TrainerError):
    """MNIST cannot be found, is truncated or corrupt, or fails its checksum."""


class ConfigError(TrainerError):
    """A training configuration that cannot work (unknown architecture, bad numbers)."""


class TrainingInterrupted(TrainerError):
    """Training stopped by Ctrl-C; the last finished epoch is checkpointed."""

    exit_code = 130
