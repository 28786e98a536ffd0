"""Converter errors: the cases a user can cause, each printed by ``main()`` as one line."""

from edge_app.errors import DigitLiteError


class ConverterError(DigitLiteError):
    """Base class of every error the converter raises on purpose."""


class SourceModelError(ConverterError):
    """The input is not a loadable Keras model, or not a 28x28x1 -> 10-class one."""


class UnknownFormatError(ConverterError):
    """A format name that is not in :data:`converter.formats.FORMATS`."""


class CalibrationError(ConverterError):
    """The int8 representative dataset is too small or unusable."""


class ConversionFailed(ConverterError):
    """TensorFlow Lite could not convert the model to a format, or the result is unusable."""
