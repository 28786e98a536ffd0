"""Trainer errors: the cases a user can cause, each printed by ``main()`` as one line."""

from edge_app.errors import DigitLiteError


class TrainerError(DigitLiteError):
    """Base class of every error the trainer raises on purpose."""


class DataError(TrainerError):
    """MNIST cannot be found, is truncated or corrupt, or fails its checksum."""


class ConfigError(TrainerError):
    """A training configuration that cannot work (unknown architecture, bad numbers)."""


class OutputError(TrainerError):
    """The run directory cannot be written, or holds no run to resume."""


class TrainingInterrupted(TrainerError):
    """Training stopped by Ctrl-C; the last finished epoch is checkpointed."""

    exit_code = 130
