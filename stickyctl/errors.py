"""Errors that end in one clear line on stderr and a documented exit code, never a traceback."""

from __future__ import annotations

from stickyctl.exitcodes import ExitStatus


class StickyError(Exception):
    """An expected failure: the message is the one line the user sees."""

    exit_status: ExitStatus = ExitStatus.UNCHECKED

    def __init__(self, message: str, *, exit_status: ExitStatus | None = None) -> None:
        from stickyctl.sanitize import scrub

        super().__init__(scrub(message))
        if exit_status is not None:
            self.exit_status = exit_status


class InputError(StickyError):
    """An input file cannot be read or is not what it must be (STK0001 / STK0002)."""

    def __init__(self, source: str, message: str, *, code: str = "STK0002") -> None:
        from stickyctl.sanitize import scrub

        super().__init__(f"{source}: {message}")
        self.source = scrub(source)
        self.detail = scrub(message)
        self.code = code


class UsageError(StickyError):
    exit_status = ExitStatus.USAGE


class WrongInputError(UsageError):
    """An input given where another kind belongs (a config dump to ``--services``, a manifest to
    ``-f``): a usage error (exit 2), and nothing is checked from it."""


MAX_SECONDS = 86_400.0


def check_seconds(value: float, option: str = "--timeout", maximum: float = MAX_SECONDS) -> float:
    """A usable duration from the command line: finite, above 0, at most ``maximum`` (typer reads
    ``nan`` and ``inf`` as floats; neither may reach a socket timeout)."""
    import math

    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= maximum):
        raise UsageError(f"{option} must be a number of seconds above 0 and at most {maximum:g}")
    return float(value)
