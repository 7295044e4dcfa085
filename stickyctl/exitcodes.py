"""Exit statuses, one meaning each (documented in the README and `stickyctl check --help`), and the
one function that turns a check's findings into its status."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stickyctl.catalog import Severity


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


INPUT_CODES = frozenset({"STK0001", "STK0002"})
"""Codes that mean a target could not be checked: the run exits 3 whatever the threshold."""


def check_exit_status(codes: Iterable[str], failure_threshold: Severity | None, *,
                      partial_ok: bool = False) -> ExitStatus:
    """What `stickyctl check` exits with when it reports findings of ``codes``.

    ``failure_threshold`` None is `--failure-threshold none`. ``partial_ok`` is --allow-partial:
    targets that could not be read (STK0001) then count as ordinary error findings, but input
    that is not supported (STK0002) still means "could not check"."""
    # The catalog is imported here, not above: decode imports this module and never checks.
    from stickyctl.catalog import CATALOG

    present = set(codes)
    if present & ({"STK0002"} if partial_ok else INPUT_CODES):
        return ExitStatus.UNCHECKED
    if failure_threshold is None:
        return ExitStatus.OK
    rank = failure_threshold.rank
    if any(CATALOG[code].severity.rank >= rank for code in present):
        return ExitStatus.FINDINGS
    return ExitStatus.OK
