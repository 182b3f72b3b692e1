"""The CLI's one error type and its exit codes (kept import-free: `--help` loads it)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status `scalp-radar` returns (the README's table)."""

    OK = 0
    INCOMPLETE = 1  # a run that could not finish (windows named, exchange unreachable)
    USAGE = 2  # bad input: one line, nothing started, nothing stored changed
    CANCELLED = 130  # Ctrl-C / SIGTERM on a backfill: what was written is valid


class UsageError(Exception):
    """A mistake in the user's input: printed as one line, exit 2, no traceback."""


def print_error(message: object) -> None:
    """`scalp-radar: error: ...` on stderr, always one line."""
    import sys

    print(f"scalp-radar: error: {' '.join(str(message).split())}", file=sys.stderr)
