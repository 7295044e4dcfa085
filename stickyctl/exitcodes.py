"""Exit statuses, one meaning each (documented in the README and `stickyctl check --help`)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    """Nothing at or above the failure threshold."""
    FINDINGS = 1
    """Findings at or above the threshold (check), or an unusable session value (decode)."""
    USAGE = 2
    """Bad command line: typer/click use this code too."""
    UNCHECKED = 3
    """A target could not be checked (unreadable or unsupported input, unreachable proxy)."""
    INTERRUPTED = 130
