"""The one small exception hierarchy of DigitLite.

Library code raises these; only a ``main()`` turns them into one line on stderr and an exit
code. The trainer, converter and benchmarks subclass :class:`DigitLiteError` for their own cases.
"""


class DigitLiteError(Exception):
    """Anything a user can cause (bad file, bad flag, missing package). Printed as one line."""

    exit_code = 2


class ModelError(DigitLiteError):
    """A model file that is not TFLite, carries no DigitLite contract, or has the wrong shape."""


class RuntimeNotFoundError(DigitLiteError):
    """No TFLite interpreter package is installed (or the one asked for is missing)."""


class ImageError(DigitLiteError):
    """An image that cannot be read: missing, empty, truncated, not an image, absurd size."""


class OutputError(DigitLiteError):
    """An output file or directory cannot be created or written (a run directory, a report)."""


class CropFolderError(DigitLiteError):
    """A folder of saved digits that cannot be written, or is not laid out one folder per digit."""
