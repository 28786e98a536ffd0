"""The argparse pieces every DigitLite command shares, so all five ``--help`` pages read alike.

Only the standard library: ``digits-predict --help`` and ``digits-app --help`` stay instant on a Pi.
"""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in ``--help`` (but not the empty ``None``/``False`` of optional flags, nor twice
    where the help text already says its default); epilogs keep their line breaks (examples)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text is None or action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def probability(text: str) -> float:
    """argparse type: a number within 0..1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not within 0..1")
    return value


def add_verbosity(parser: argparse.ArgumentParser, *, verbose: str, quiet: str) -> None:
    """``-v/--verbose`` and ``-q/--quiet``, mutually exclusive, with the command's own wording."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", help=verbose)
    group.add_argument("-q", "--quiet", action="store_true", help=quiet)
