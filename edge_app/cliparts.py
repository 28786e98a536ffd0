"""The command layer every DigitLite command shares, so all of them behave and read alike.

* :func:`run_main` - the one boundary between a command and the shell: parse, set up logging,
  run; a :class:`~edge_app.errors.DigitLiteError` becomes one line on stderr and its exit code,
  Ctrl-C one line and 130, argparse's usage errors exit 2 - returned, never raised.
* :func:`add_verbosity` / :func:`configure_logging` - one meaning of ``-v`` (debug: every
  detail, native libraries' chatter too) and ``-q`` (warnings and errors only, no progress bars)
  for every command.
* :func:`choice` / :func:`did_you_mean` - a name from a fixed set, with a suggestion when
  mistyped.
* :class:`HelpFormatter` and the number types - ``--help`` pages that show their defaults.

Only the standard library and :mod:`edge_app.errors`: ``digits-predict --help`` and
``digits-app --help`` stay instant on a Pi.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import sys
from collections.abc import Callable, Sequence

from edge_app.errors import DigitLiteError

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in ``--help`` (but not the empty ``None``/``False`` of optional flags, nor twice
    where the help text already says its default); epilogs keep their line breaks (examples)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text is None or action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def number(text: str, kind: type = float) -> float:
    """The number in ``text`` (``kind`` int: a whole one), for argparse types; a flag's value
    that is no number is one line: ``'x' is not a number``."""
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    value = number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def probability(text: str) -> float:
    """argparse type: a number within 0..1."""
    value = number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not within 0..1")
    return value


def did_you_mean(text: str, options: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the option closest to a mistyped ``text``, else ``""``."""
    close = difflib.get_close_matches(text.strip().lower(), list(options), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def choice(options: Sequence[str], what: str) -> Callable[[str], str]:
    """argparse type: one of ``options`` (a ``what``), with a suggestion when mistyped.

    Unlike ``choices=``, the error names the closest option, and ``--help`` is not cluttered
    with a list the help text already gives.
    """

    def parse(text: str) -> str:
        if text in options:
            return text
        hint = did_you_mean(text, options)
        raise argparse.ArgumentTypeError(
            f"unknown {what} '{text}' (choose from {', '.join(options)}){hint}"
        )

    parse.__name__ = what  # argparse names the type in its messages
    return parse


def add_verbosity(
    parser: argparse.ArgumentParser,
    *,
    verbose: str = "debug logging: every detail, native libraries' messages too",
    quiet: str = "warnings and errors only, no progress bars",
) -> None:
    """``-v/--verbose`` and ``-q/--quiet``, mutually exclusive; a command may say what its
    details are, but the meaning is the same everywhere (see :func:`log_level`)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", help=verbose)
    group.add_argument("-q", "--quiet", action="store_true", help=quiet)


def log_level(args: argparse.Namespace) -> int:
    """DEBUG with ``-v``, WARNING with ``-q``, INFO otherwise."""
    if getattr(args, "verbose", False):
        return logging.DEBUG
    return logging.WARNING if getattr(args, "quiet", False) else logging.INFO


def configure_logging(args: argparse.Namespace, fmt: str = LOG_FORMAT) -> int:
    """Log to stderr at :func:`log_level`; returns the level."""
    level = log_level(args)
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    return level


def run_main(
    prog: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace], int],
    *,
    log_format: str = LOG_FORMAT,
    interrupted: str = "interrupted",
    setup: Callable[[argparse.Namespace], object] | None = None,
) -> int:
    """Parse ``argv``, set up logging, run ``body(args)``; returns the exit code.

    A :class:`~edge_app.errors.DigitLiteError` is printed as ``PROG: error: ...`` and exits with
    its code; Ctrl-C prints ``PROG: <interrupted>`` and exits 130; a usage error (argparse, or
    ``parser.error`` in ``body``) exits 2 after argparse's own message, ``--help`` 0.
    ``setup(args)``, when given, sets up logging instead of :func:`configure_logging` (at the
    same :func:`log_level`).
    """
    try:
        args = parser.parse_args(argv)
        if setup is None:
            configure_logging(args, log_format)
        else:
            setup(args)
        return body(args)
    except SystemExit as exc:  # --help, or a usage error: argparse has printed it
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    except DigitLiteError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
