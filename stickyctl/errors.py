"""Errors that end in one clear line on stderr and a documented exit code, never a traceback."""

from __future__ import annotations

from stickyctl.exitcodes import ExitStatus


class StickyError(Exception):
    """An expected failure: the message is the one line the user sees."""

    exit_status: ExitStatus = ExitStatus.UNCHECKED

    def __init__(self, message: str, *, exit_status: ExitStatus | None = None) -> None:
        super().__init__(message)
        if exit_status is not None:
            self.exit_status = exit_status


class InputError(StickyError):
    """An input file cannot be read or is not what it must be (STK0001 / STK0002)."""

    def __init__(self, source: str, message: str, *, code: str = "STK0002") -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.detail = message
        self.code = code


class UsageError(StickyError):
    exit_status = ExitStatus.USAGE
